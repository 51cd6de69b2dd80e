import type { Generation, RecordEntry } from '../domain/types.js';
import { validateRecordSet } from '../domain/validate.js';
import { assert } from '../util/assert.js';
import type {
  ApplyChange, ApplyOutcome, Provider, RemovalCompaction, ServedChangeFeed, ServedState,
} from './types.js';

/**
 * The guard every provider's `apply` goes through: the one place where the
 * rules that do not depend on how a provider stores its records are written
 * and asserted (DESIGN.md §2-3). A provider implements only its atomic
 * compare-and-swap (`compareAndSwap`) and reports, with each outcome, what
 * its compare found; the guard checks the changes before they reach it and
 * the outcomes before they reach the caller:
 *
 * - before: names are distinct in one apply; no empty or invalid record set
 *   is ever handed to a provider (S1); a removal names the version it
 *   removes, or it is refused here as a conflict and never sent (never
 *   delete blind);
 * - after: one outcome per change, in order, with the same name; an applied
 *   write changed the version and did not go below the generation it
 *   replaced (S2); a write refused although the version matched was refused
 *   for its generation: the caller wrote below what is served (S2); only a
 *   first write is superseded, and only by a removal at or above it (S2).
 *
 * Providers extend `GuardedProvider`, so a provider constructed anywhere
 * (the CLI, the DNS server, tests, the simulator) is guarded.
 */

/** A provider's marker as its compare found it. */
export interface FoundMarker {
  generation: Generation;
  version: string;
}

/** A change that passed the guard: its records are a valid set, or it is a removal of a version read. */
export type GuardedChange =
  | { name: string; records: RecordEntry[]; generation: Generation; expectedVersion: string | null }
  | { name: string; records: null; generation: Generation; expectedVersion: string };

/**
 * What a provider's compare-and-swap reports for one change: the outcome,
 * with the evidence the guard checks (stripped before the caller sees it).
 * - applied: `replaced` is the generation the write replaced, null when the
 *   name was absent (or the provider does not compare and cannot know);
 * - conflict: `found` is the marker the compare found, null when the name
 *   was absent or the provider does not know it (a refused DNS UPDATE).
 */
export type SwapOutcome =
  | { name: string; outcome: 'applied'; version: string; replaced: Generation | null }
  | { name: string; outcome: 'conflict'; found: FoundMarker | null }
  | { name: string; outcome: 'superseded'; generation: Generation };

export type CompareAndSwap = (changes: readonly GuardedChange[]) => Promise<SwapOutcome[]>;

/** The pre-conditions of one apply; returns the changes to hand to the provider (blind removals are left out). */
export function checkChanges(changes: readonly ApplyChange[]): GuardedChange[] {
  const names = new Set(changes.map((change) => change.name));
  assert(names.size === changes.length, 'internal', 'a name appears twice in one apply');
  const sendable: GuardedChange[] = [];
  for (const change of changes) {
    const generationValid = Number.isSafeInteger(change.generation) && change.generation >= 0;
    assert(generationValid, 'internal', () => `${change.name}: generation ${change.generation}`);
    const { name, records, generation, expectedVersion } = change;
    if (records === null) {
      if (expectedVersion !== null) sendable.push({ name, records, generation, expectedVersion });
      continue;
    }
    // The last line of defence for S1 before the place that serves DNS: never hand it an invalid or empty set.
    const problems = validateRecordSet(name, records);
    assert(problems.length === 0, 'S1', () => problems.join('; '));
    sendable.push({ name, records, generation, expectedVersion });
  }
  return sendable;
}

/** The post-conditions of one change's outcome; returns it as the caller sees it. */
export function checkOutcome(change: GuardedChange, result: SwapOutcome | undefined): ApplyOutcome {
  assert(result !== undefined, 'internal', `${change.name}: no outcome`);
  assert(result.name === change.name, 'internal', () => `outcome for ${result.name} where ${change.name} was expected`);
  const name = change.name;
  switch (result.outcome) {
    case 'applied': {
      const versionChanged = result.version !== '' && result.version !== change.expectedVersion;
      assert(versionChanged, 'internal', () => `${name}: a write that kept its version`);
      const replaced = result.replaced;
      const forward = replaced === null || replaced <= change.generation;
      assert(forward, 'S2', () => `${name}: wrote generation ${change.generation} over ${replaced}`);
      return { name, outcome: 'applied', version: result.version };
    }
    case 'conflict': {
      // A refused write whose version did match can only mean a lower generation: a caller bug, made loud.
      const found = result.found;
      const versionMatched = found !== null && found.version === change.expectedVersion;
      assert(!versionMatched, 'S2', () => `${name}: writing generation ${change.generation} over ${found?.generation}`);
      return { name, outcome: 'conflict' };
    }
    case 'superseded': {
      // A first write, or an adoption (whose expected version is an unmanaged name's): each starts where no marker of
      // this installation stands, so a removal of its own at or above it refuses it (S2).
      assert(change.records !== null, 'internal', () => `${name}: only a write of records is superseded`);
      const atOrAbove = result.generation >= change.generation;
      assert(atOrAbove, 'S2',
        () => `${name}: superseded by a removal at ${result.generation}, below ${change.generation}`);
      return { name, outcome: 'superseded', generation: result.generation };
    }
  }
}

/** One guarded apply: pre-conditions, the provider's compare-and-swap, post-conditions, outcomes in order. */
export async function guardedApply(changes: readonly ApplyChange[], swap: CompareAndSwap): Promise<ApplyOutcome[]> {
  const sendable = checkChanges(changes);
  const results = sendable.length === 0 ? [] : await swap(sendable);
  assert(results.length === sendable.length, 'internal',
    () => `${results.length} outcomes for ${sendable.length} changes`);
  // `sendable` is `changes` in order less the blind removals, and names are distinct: one pass pairs them.
  const outcomes: ApplyOutcome[] = [];
  let sent = 0;
  for (const change of changes) {
    const guarded = sendable[sent];
    if (guarded !== undefined && guarded.name === change.name) {
      outcomes.push(checkOutcome(guarded, results[sent]));
      sent += 1;
    } else {
      outcomes.push({ name: change.name, outcome: 'conflict' });
    }
  }
  assert(sent === sendable.length, 'internal', () => `${sendable.length - sent} guarded changes left unpaired`);
  return outcomes;
}

/** The base of every provider: `apply` is guarded; a provider implements `compareAndSwap`, its atomic write. */
export abstract class GuardedProvider implements Provider {
  abstract readonly kind: string;
  abstract read(names: readonly string[]): Promise<Map<string, ServedState>>;
  abstract list(afterName: string | null, limit: number): Promise<ServedState[]>;
  abstract readRemovals(names: readonly string[]): Promise<Map<string, Generation>>;
  abstract close(): Promise<void>;

  /** Conditional writes of changes that passed the guard, one outcome each, in order. Called only by `apply`. */
  protected abstract compareAndSwap(changes: readonly GuardedChange[]): Promise<SwapOutcome[]>;

  async apply(changes: readonly ApplyChange[]): Promise<ApplyOutcome[]> {
    return guardedApply(changes, (sendable) => this.compareAndSwap(sendable));
  }

  /** None unless a provider declares one. */
  servedChangeFeed(): ServedChangeFeed | null {
    return null;
  }

  /** None unless a provider declares one (through `guardedCompaction`). */
  removalCompaction(): RemovalCompaction | null {
    return null;
  }
}

/**
 * What refuses a first write at `generation` (S2): the name's removal tombstone at or above it, or a removal floor
 * (types.ts: RemovalCompaction) above 0 at or above it. Returns the generation to report as `superseded`, or null when
 * nothing refuses it. Every provider with a floor decides by this.
 */
export function firstWriteRefusedAt(
  tombstone: Generation | undefined, floor: Generation, generation: Generation,
): Generation | null {
  const refused = (tombstone !== undefined && tombstone >= generation) || (floor > 0 && floor >= generation);
  return refused ? Math.max(tombstone ?? 0, floor) : null;
}

/** What `readRemovals` reports for an absent name: the higher of its tombstone and a floor above 0, if either. */
export function removalOf(tombstone: Generation | undefined, floor: Generation): Generation | undefined {
  return tombstone === undefined && floor === 0 ? undefined : Math.max(tombstone ?? 0, floor);
}

/**
 * A provider's tombstone compaction, checked: the floor it reports is at least the one asked for and never lower
 * than one it reported before (a lowered floor would let a removed name come back, S2); it deleted no more than the
 * limit.
 */
export function guardedCompaction(compact: RemovalCompaction['compact']): RemovalCompaction {
  let floorSeen = 0;
  return {
    async compact(through: Generation, limit: number) {
      assert(Number.isSafeInteger(through) && through >= 0, 'internal', () => `compaction through ${through}`);
      assert(Number.isSafeInteger(limit) && limit >= 1, 'internal', () => `compaction limit ${limit}`);
      const result = await compact(through, limit);
      assert(result.floor >= through && result.floor >= floorSeen, 'S2',
        () => `the removal floor is ${result.floor} after raising it to ${through} (it was ${floorSeen})`);
      assert(result.deleted >= 0 && result.deleted <= limit, 'internal',
        () => `${result.deleted} tombstones compacted, limit ${limit}`);
      floorSeen = result.floor;
      return result;
    },
  };
}
