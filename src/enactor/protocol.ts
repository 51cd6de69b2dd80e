import { backoffMs, type Clock, type Rng } from '../util/clock.js';
import { assert } from '../util/assert.js';
import type { Generation } from '../domain/types.js';
import type { ApplyChange, ApplyOutcome, Provider, ServedState } from '../providers/types.js';

/**
 * The compare-and-swap loop of DESIGN §3, in one place for every writer (the enactors and the reconciler): read
 * the served state, decide each name against it, write the decided changes guarded by the versions read, and
 * re-read and decide again the names that lost a race — at most `retriesMax` rounds, with jittered backoff between
 * them. What to write is the caller's `decide`; the provider's guard asserts S1/S2 at the write, and this loop
 * asserts for every writer that no decision goes below what it read (S2) and that no name is written twice (S5).
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

/** One round's decisions: the guarded writes to send, and which item each write is for. */
interface RoundWrites<T> {
  changes: ApplyChange[];
  byName: Map<string, T>;
}

/**
 * Decides each pending item against the state just read: skips and refusals go to `outcome`, writes are returned.
 * The rules every writer shares are asserted here, once: a write is for the item's own name and never below the
 * generation it read (S2), so deciding again after a lost race can only move a name forward.
 */
function decideRound<T extends { name: string }>(
  pending: readonly T[],
  states: ReadonlyMap<string, ServedState>,
  decide: (item: T, state: ServedState | undefined) => CasDecision,
  outcome: CasOutcome<T>,
): RoundWrites<T> {
  const writes: RoundWrites<T> = { changes: [], byName: new Map() };
  for (const item of pending) {
    const state = states.get(item.name);
    const decision = decide(item, state);
    if (decision === 'skip') outcome.skipped.push(item);
    else if (decision === 'invalid') outcome.invalid.push(item);
    else {
      assert(decision.name === item.name, 'internal', () => `decided ${decision.name} for ${item.name}`);
      const servedGeneration = state?.generation ?? 0;
      assert(decision.generation >= servedGeneration, 'S2',
        () => `${item.name}: write at ${decision.generation} over ${servedGeneration}`);
      writes.changes.push(decision);
      writes.byName.set(item.name, item);
    }
  }
  assert(writes.byName.size === writes.changes.length, 'internal', 'one write per name in a round');
  return writes;
}

/** Sorts one round's outcomes into `outcome`; returns the items that lost a race (to re-read and decide again). */
function sortOutcomes<T extends { name: string }>(
  writes: RoundWrites<T>,
  results: readonly ApplyOutcome[],
  states: ReadonlyMap<string, ServedState>,
  outcome: CasOutcome<T>,
): T[] {
  const counts = `${results.length} outcomes for ${writes.changes.length} writes`;
  assert(results.length === writes.changes.length, 'internal', counts);
  const lost: T[] = [];
  for (const [index, result] of results.entries()) {
    const change = writes.changes[index]!;
    assert(result.name === change.name, 'internal',
      () => `outcome for ${result.name} where ${change.name} was written`);
    const item = writes.byName.get(change.name)!;
    if (result.outcome === 'conflict') lost.push(item);
    else if (result.outcome === 'superseded') outcome.superseded.push(item);
    else outcome.applied.push({ item, change, fromGeneration: states.get(change.name)?.generation ?? 0 });
  }
  return lost;
}

export async function compareAndSwapAll<T extends { name: string }>(
  items: readonly T[],
  decide: (item: T, state: ServedState | undefined) => CasDecision,
  options: CasRetryOptions,
  deps: CasDeps,
): Promise<CasOutcome<T>> {
  assert(options.retriesMax > 0, 'internal', 'retriesMax must be positive');
  assert(options.backoffMaxMs >= 0, 'internal', 'a backoff is never negative');
  assert(new Set(items.map((item) => item.name)).size === items.length, 'internal', 'each name once per batch');
  const outcome: CasOutcome<T> = {
    applied: [], skipped: [], invalid: [], superseded: [], conflicts: 0, unfinished: [],
  };
  let pending = [...items];
  for (let attempt = 0; pending.length > 0 && attempt < options.retriesMax; attempt += 1) {
    if (attempt > 0) {
      await deps.clock.sleep(backoffMs(deps.rng, attempt, options.backoffBaseMs, options.backoffMaxMs));
    }
    const states = await deps.provider.read(pending.map((item) => item.name));
    const writes = decideRound(pending, states, decide, outcome);
    if (writes.changes.length === 0) {
      pending = [];
      break;
    }
    pending = sortOutcomes(writes, await deps.provider.apply(writes.changes), states, outcome);
    outcome.conflicts += pending.length;
  }
  outcome.unfinished = pending;
  // S5: every item ends in exactly one place — a name written once is never decided or written again in this batch.
  const { applied, skipped, invalid, superseded } = outcome;
  const accounted = applied.length + skipped.length + invalid.length + superseded.length;
  const whole = `${accounted} decided and ${pending.length} unfinished of ${items.length} items`;
  assert(accounted + pending.length === items.length, 'S5', whole);
  const unfinished = `${pending.length} unfinished after ${outcome.conflicts} conflicts`;
  assert(outcome.conflicts >= pending.length, 'internal', unfinished);
  return outcome;
}
