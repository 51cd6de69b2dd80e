import { backoffMs, type Clock, type Rng } from '../util/clock.js';
import { assert } from '../util/assert.js';
import type { Generation } from '../domain/types.js';
import type { ApplyChange, Provider, ServedState } from '../providers/types.js';

/**
 * The compare-and-swap loop of DESIGN §3, in one place for every writer (the enactors and the reconciler): read
 * the served state, decide each name against it, write the decided changes guarded by the versions read, and
 * re-read and decide again the names that lost a race — at most `retriesMax` rounds, with jittered backoff between
 * them. What to write is the caller's `decide`; the provider's guard asserts S1/S2 at the write.
 */

export interface CasRetryOptions {
  retriesMax: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export interface CasDeps {
  provider: Provider;
  clock: Clock;
  rng: Rng;
}

/** What to do with one name, given what is served: a guarded write, nothing, or a refusal of a bad set. */
export type CasDecision = ApplyChange | 'skip' | 'invalid';

export interface CasOutcome<T> {
  /** Written, with the generation each replaced (0: none). */
  applied: { item: T; change: ApplyChange; fromGeneration: Generation }[];
  skipped: T[];
  invalid: T[];
  /** First writes refused because a removal at or above them already decided the name. */
  superseded: T[];
  /** Conflicts met over all rounds (a name that lost twice counts twice). */
  conflicts: number;
  /** Still conflicting after retriesMax rounds: the caller tries again later. */
  unfinished: T[];
}

export async function compareAndSwapAll<T extends { name: string }>(
  items: readonly T[],
  decide: (item: T, state: ServedState | undefined) => CasDecision,
  options: CasRetryOptions,
  deps: CasDeps,
): Promise<CasOutcome<T>> {
  assert(options.retriesMax > 0, 'internal', 'retriesMax must be positive');
  assert(new Set(items.map((item) => item.name)).size === items.length, 'internal', 'each name once per compare-and-swap batch');
  const outcome: CasOutcome<T> = { applied: [], skipped: [], invalid: [], superseded: [], conflicts: 0, unfinished: [] };
  let pending = [...items];
  for (let attempt = 0; pending.length > 0 && attempt < options.retriesMax; attempt += 1) {
    if (attempt > 0) await deps.clock.sleep(backoffMs(deps.rng, attempt, options.backoffBaseMs, options.backoffMaxMs));
    const states = await deps.provider.read(pending.map((item) => item.name));
    const changes: ApplyChange[] = [];
    const byName = new Map<string, T>();
    for (const item of pending) {
      const decision = decide(item, states.get(item.name));
      if (decision === 'skip') outcome.skipped.push(item);
      else if (decision === 'invalid') outcome.invalid.push(item);
      else {
        assert(decision.name === item.name, 'internal', `decided ${decision.name} for ${item.name}`);
        changes.push(decision);
        byName.set(item.name, item);
      }
    }
    pending = [];
    if (changes.length === 0) break;
    const results = await deps.provider.apply(changes);
    for (const [index, result] of results.entries()) {
      const change = changes[index]!;
      const item = byName.get(change.name)!;
      if (result.outcome === 'conflict') pending.push(item);
      else if (result.outcome === 'superseded') outcome.superseded.push(item);
      else outcome.applied.push({ item, change, fromGeneration: states.get(change.name)?.generation ?? 0 });
    }
    outcome.conflicts += pending.length;
  }
  outcome.unfinished = pending;
  return outcome;
}
