import type { EndpointSpec, HealthState } from '../domain/types.js';

/**
 * Pure health policy: hysteresis per target, checker self-doubt and the
 * per-name withdrawal velocity limit. The checker process feeds it probe
 * results once per interval; tests drive it directly.
 */

export interface Thresholds {
  rise: number;
  fall: number;
}

export interface TargetHealth {
  state: HealthState;
  passes: number;
  failures: number;
}

/**
 * Rise/fall hysteresis: `fall` consecutive failures take an up target down, `rise` consecutive passes bring it back.
 */
export function observe(previous: TargetHealth | undefined, ok: boolean, thresholds: Thresholds): TargetHealth {
  const current = previous ?? { state: 'up', passes: 0, failures: 0 };
  const passes = ok ? current.passes + 1 : 0;
  const failures = ok ? 0 : current.failures + 1;
  let state = current.state;
  if (state === 'up' && failures >= thresholds.fall) state = 'down';
  if (state === 'down' && passes >= thresholds.rise) state = 'up';
  return { state, passes, failures };
}

export interface SelfDoubtPolicy {
  /** Above this share of all probed targets failing while believed up, suspect the checker. */
  fraction: number;
  /** Below this many probed targets, never suspect (one of two failing is not a pattern). */
  minTargets: number;
}

/**
 * Checker self-doubt: when more than `fraction` of all probed targets fail
 * while the snapshot still says they are up, the likelier story is that the
 * checker's own network broke. A slowly spreading failure keeps the share
 * low (targets already withdrawn no longer count) and still withdraws
 * targets one by one.
 */
export function suspectChecker(
  results: ReadonlyMap<string, boolean>,
  snapshot: ReadonlyMap<string, TargetHealth>,
  policy: SelfDoubtPolicy,
): { suspect: boolean; failingFraction: number } {
  if (results.size < policy.minTargets) return { suspect: false, failingFraction: 0 };
  let failingWhileUp = 0;
  for (const [target, ok] of results) if (!ok && (snapshot.get(target)?.state ?? 'up') === 'up') failingWhileUp += 1;
  const failingFraction = failingWhileUp / results.size;
  return { suspect: failingFraction > policy.fraction, failingFraction };
}

/**
 * Velocity limit: at most `maxFraction` of a name's capacity may be
 * withdrawn per interval (but always at least one target, or a name whose
 * largest target exceeds the share could never shed it). Returns the
 * withdrawals allowed now; the rest wait for a later interval.
 */
export function limitWithdrawals(
  candidates: readonly string[],
  endpoints: readonly EndpointSpec[],
  maxFraction: number,
): Set<string> {
  const allowed = new Set<string>();
  const withdrawn = new Map<string, number>();
  const candidateSet = new Set(candidates);
  const endpointsOf = new Map<string, EndpointSpec[]>();
  for (const endpoint of endpoints) {
    for (const target of endpoint.targets) {
      if (candidateSet.has(target.id)) endpointsOf.set(target.id, [...(endpointsOf.get(target.id) ?? []), endpoint]);
    }
  }
  for (const target of candidates) {
    const owners = endpointsOf.get(target) ?? [];
    const fits = owners.every((endpoint) => {
      const total = endpoint.targets.reduce((sum, t) => sum + t.capacity, 0);
      const capacity = endpoint.targets.find((t) => t.id === target)?.capacity ?? 0;
      const already = withdrawn.get(endpoint.name) ?? 0;
      return already === 0 || already + capacity <= maxFraction * total;
    });
    if (!fits) continue;
    allowed.add(target);
    for (const endpoint of owners) {
      withdrawn.set(
        endpoint.name,
        (withdrawn.get(endpoint.name) ?? 0) + (endpoint.targets.find((t) => t.id === target)?.capacity ?? 0),
      );
    }
  }
  return allowed;
}
