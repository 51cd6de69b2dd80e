import { backoffMs, type Clock, type Rng } from '../util/clock.js';
import { assert, InvariantViolation } from '../util/assert.js';
import type { Generation } from '../domain/types.js';
import type { ApplyChange, ApplyOutcome, Held, Provider, ServedState } from '../providers/types.js';
import type { Adoptions, Alarms, Counters } from '../store/types.js';

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
  /**
   * The adoption grants (store/types.ts: Adoptions): an unmanaged name is adopted only when the store holds one for
   * it. Asked only when a read finds unmanaged names among those to write.
   */
  store: Pick<Adoptions, 'readAdoptions'>;
}

/** A name this writer left alone because it is not its to write (providers/types.ts: Held). */
export interface HeldItem<T> {
  item: T;
  held: Held;
  /** An adoption that lost its race: the records changed between the read and the write, and stay as they are. */
  raced: boolean;
}

/** What to do with one name, given what is served: a guarded write, nothing, or a refusal of a bad set. */
export type CasDecision = ApplyChange | 'skip' | 'invalid';

export interface CasOutcome<T> {
  /** Written, with the generation each replaced (0: none); `adopted`: what an adopted unmanaged name held. */
  applied: { item: T; change: ApplyChange; fromGeneration: Generation; adopted: Held | null }[];
  skipped: T[];
  invalid: T[];
  /** First writes refused because a removal at or above them already decided the name. */
  superseded: T[];
  /** Names held by another installation, or unmanaged and not adopted (or whose adoption lost a race). */
  held: HeldItem<T>[];
  /** Conflicts met over all rounds (a name that lost twice counts twice). */
  conflicts: number;
  /** Still conflicting after retriesMax rounds: the caller tries again later. */
  unfinished: T[];
}

/** One round's decisions: the guarded writes to send, and which item each write is for. */
interface RoundWrites<T> {
  changes: ApplyChange[];
  byName: Map<string, T>;
  /** The writes that adopt an unmanaged name, with what it held: a lost race leaves it held, never retried blind. */
  adopting: Map<string, Held>;
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
  adoptable: ReadonlySet<string>,
): RoundWrites<T> {
  const writes: RoundWrites<T> = { changes: [], byName: new Map(), adopting: new Map() };
  for (const item of pending) {
    const read = states.get(item.name);
    const held = read?.held;
    if (held !== undefined && (held.kind !== 'unmanaged' || aliased(held) || !adoptable.has(item.name))) {
      outcome.held.push({ item, held, raced: false });
      continue;
    }
    // An unmanaged name the store allows to adopt is decided as a name not served yet, and its first write expects
    // the records read (their version), not their absence: one atomic takeover, or a conflict.
    const state = held === undefined ? read : undefined;
    let decision = decide(item, state);
    if (held !== undefined && typeof decision === 'object' && decision.expectedVersion === null) {
      decision = { ...decision, expectedVersion: read!.version };
      writes.adopting.set(item.name, held);
    }
    // Ownership: the only write a held name ever gets is the adoption of an unmanaged one the store allows.
    assert(held === undefined || typeof decision !== 'object' || writes.adopting.has(item.name), 'internal',
      () => `${item.name}: a write to a ${held?.kind} name that is not an adoption`);
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
    const adopting = writes.adopting.get(change.name);
    if (result.outcome === 'conflict' && adopting !== undefined) {
      outcome.held.push({ item, held: adopting, raced: true });
    } else if (result.outcome === 'conflict') lost.push(item);
    else if (result.outcome === 'superseded') outcome.superseded.push(item);
    else {
      const fromGeneration = states.get(change.name)?.generation ?? 0;
      outcome.applied.push({ item, change, fromGeneration, adopted: adopting ?? null });
    }
  }
  return lost;
}

const noneAdoptable: ReadonlySet<string> = new Set();

/**
 * Whether an unmanaged name holds a CNAME: never adopted, grant or not. A CNAME is never deleted (issue 13), and no
 * address can stand beside one (a server ignores or refuses it), so dnsplane could only ever serve it empty.
 */
function aliased(held: Held): boolean {
  return held.kind === 'unmanaged' && held.records.some((record) => record.startsWith('CNAME'));
}

/** What an operator reads about a held name: whose it is, or what it holds and how to adopt it. */
export function heldMessage(name: string, held: Held, raced: boolean): string {
  if (held.kind === 'foreign') {
    return `owned by installation "${held.owner}" (the owner id in its marker): not written, removed or cleaned `
      + 'up here';
  }
  const records = held.records.join(', ');
  if (aliased(held)) {
    return `holds a CNAME (${records}): dnsplane never deletes a CNAME, and no address can stand beside one, so it `
      + 'is not written, adopted or not; remove the CNAME by hand to let dnsplane serve the name';
  }
  if (raced) return `adoption failed: its records (${records}) changed while it was adopted, and are left as they are`;
  return `holds records dnsplane did not write (${records}): not written. To take it over in one update that `
    + `requires exactly these records, run \`dnsplane adopt ${name} --reason TEXT\` or set adopt: true on its endpoint`;
}

/** One alarm per held name (kind "foreign" or "unmanaged"), and the count of names left alone. */
export async function raiseHeldAlarms(
  store: Pick<Alarms, 'raiseAlarm'> & Pick<Counters, 'incrementCounter'>,
  held: readonly { name: string; held: Held; raced: boolean }[],
): Promise<void> {
  for (const item of held) {
    await store.raiseAlarm(item.held.kind, item.name, heldMessage(item.name, item.held, item.raced));
  }
  if (held.length > 0) await store.incrementCounter('names_held', held.length);
}

/** The history detail of a write: what an adopted name held before it, or nothing. */
export function adoptedDetail(adopted: Held | null): string {
  return adopted?.kind === 'unmanaged' ? `adopted (${adopted.records.join(', ')})` : '';
}

/** Clears the "unmanaged" alarm of names just adopted. */
export async function clearAdoptedAlarms(
  store: Pick<Alarms, 'clearAlarm'>, applied: readonly { change: ApplyChange; adopted: Held | null }[],
): Promise<void> {
  for (const { change, adopted } of applied) if (adopted !== null) await store.clearAlarm('unmanaged', change.name);
}

/** The unmanaged names read that the store allows to adopt; the store is asked only when there are some. */
async function adoptableAmong(states: ReadonlyMap<string, ServedState>, deps: CasDeps): Promise<ReadonlySet<string>> {
  const unmanaged: string[] = [];
  for (const state of states.values()) if (state.held?.kind === 'unmanaged') unmanaged.push(state.name);
  return unmanaged.length === 0 ? noneAdoptable : new Set((await deps.store.readAdoptions(unmanaged)).keys());
}

/**
 * The one compare-and-swap loop. `record` is called once with every write it made (the caller's history), before it
 * returns — or, when a retry round fails after earlier rounds wrote, before the error goes on: no write goes
 * unrecorded, and no store call of the caller comes between the writes and their record.
 */
export async function compareAndSwapAll<T extends { name: string }>(
  items: readonly T[],
  decide: (item: T, state: ServedState | undefined) => CasDecision,
  options: CasRetryOptions,
  deps: CasDeps,
  record: (applied: CasOutcome<T>['applied']) => Promise<void> = async () => undefined,
): Promise<CasOutcome<T>> {
  assert(options.retriesMax > 0, 'internal', 'retriesMax must be positive');
  assert(options.backoffMaxMs >= 0, 'internal', 'a backoff is never negative');
  assert(new Set(items.map((item) => item.name)).size === items.length, 'internal', 'each name once per batch');
  const outcome: CasOutcome<T> = {
    applied: [], skipped: [], invalid: [], superseded: [], held: [], conflicts: 0, unfinished: [],
  };
  let pending = [...items];
  try {
    for (let attempt = 0; pending.length > 0 && attempt < options.retriesMax; attempt += 1) {
      if (attempt > 0) {
        await deps.clock.sleep(backoffMs(deps.rng, attempt, options.backoffBaseMs, options.backoffMaxMs));
      }
      const states = await deps.provider.read(pending.map((item) => item.name));
      const writes = decideRound(pending, states, decide, outcome, await adoptableAmong(states, deps));
      if (writes.changes.length === 0) {
        pending = [];
        break;
      }
      pending = sortOutcomes(writes, await deps.provider.apply(writes.changes), states, outcome);
      outcome.conflicts += pending.length;
    }
  } catch (error) {
    // A later round failed after earlier ones wrote: those writes are made, and their record must not be lost.
    if (outcome.applied.length > 0 && !(error instanceof InvariantViolation)) await record(outcome.applied);
    throw error;
  }
  await record(outcome.applied);
  outcome.unfinished = pending;
  // S5: every item ends in exactly one place — a name written once is never decided or written again in this batch.
  const { applied, skipped, invalid, superseded, held } = outcome;
  const accounted = applied.length + skipped.length + invalid.length + superseded.length + held.length;
  const whole = `${accounted} decided and ${pending.length} unfinished of ${items.length} items`;
  assert(accounted + pending.length === items.length, 'S5', whole);
  const unfinished = `${pending.length} unfinished after ${outcome.conflicts} conflicts`;
  assert(outcome.conflicts >= pending.length, 'internal', unfinished);
  return outcome;
}
