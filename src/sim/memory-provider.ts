import { assert } from '../util/assert.js';
import { recordSetKey, type Generation, type RecordEntry } from '../domain/types.js';
import {
  GuardedProvider, firstWriteRefusedAt, guardedCompaction, removalOf, type FoundMarker, type GuardedChange,
  type SwapOutcome,
} from '../providers/guard.js';
import type { RemovalCompaction, ServedState } from '../providers/types.js';

/**
 * An in-memory Provider with the semantics of `BuiltinSqliteProvider`
 * (src/providers/builtin/sqlite.ts): per name the records and the marker
 * (generation, version); `apply` compares each name's version and writes
 * records and marker together, in one atomic step; every write (a hand edit
 * included) gets a new version from one counter.
 */

export interface ServedRow {
  generation: Generation;
  version: number;
  records: RecordEntry[];
}

/** One change to what DNS serves, for the invariant checker (S1, S2, S5). */
export interface ServedWrite {
  name: string;
  writer: string;
  kind: 'apply' | 'remove' | 'hand-edit';
  /** The generation written (for a hand edit: the one kept). */
  generation: Generation;
  before: ServedRow | null;
  after: ServedRow | null;
}

export interface MemoryProviderSwitches {
  /**
   * Mutant "no-cas": apply ignores expectedVersion (a provider without a conditional write): it does not look at
   * what it overwrites, so it reports no replaced generation and the guard's S2 check has nothing to compare.
   */
  ignoreExpectedVersion?: boolean;
  /** Mutant "no-removal-tombstone": a removal leaves no tombstone, so a stale first write can bring the name back. */
  ignoreRemovals?: boolean;
  /**
   * Mutant "compaction-without-floor": compaction deletes the tombstones it may but never raises the removal floor,
   * so a stale first write below a compacted tombstone brings a removed name back.
   */
  compactWithoutFloor?: boolean;
}

export class MemoryProviderState {
  readonly served = new Map<string, ServedRow>();
  /**
   * Names removed by a plan, with the removing generation: first writes at or below it are superseded (as
   * served_removals in SQLite).
   */
  readonly removals = new Map<string, Generation>();
  /** The removal floor (types.ts: RemovalCompaction): first writes at or below it are refused for every name. */
  removalsFloor: Generation = 0;
  /** Tombstones deleted by compaction. */
  compactedRemovals = 0;
  /** The mutant compaction-without-floor's floor: reported and compacted below, never refusing a write. */
  unenforcedFloor: Generation = 0;
  versionLast = 0;
  /** First writes refused by a removal tombstone or the removal floor. */
  supersededWrites = 0;
  /** Of those, refused by the floor alone (the name's tombstone, if any, was below the write). */
  floorRefusedWrites = 0;
  readonly writes: ServedWrite[] = [];

  constructor(readonly switches: MemoryProviderSwitches = {}) {}

  /**
   * An operator's hand edit: replaces the records, keeps the generation, bumps the version (the SQLite trigger does the
   * same).
   */
  handEdit(name: string, records: RecordEntry[]): void {
    const row = this.served.get(name);
    assert(row !== undefined, 'internal', () => `hand edit of ${name}, which is not served`);
    this.versionLast += 1;
    const after: ServedRow = {
      generation: row.generation,
      version: this.versionLast,
      records: records.map((record) => ({ ...record })),
    };
    this.served.set(name, after);
    this.writes.push({ name, writer: 'operator', kind: 'hand-edit', generation: row.generation, before: row, after });
  }
}

function toState(name: string, row: ServedRow): ServedState {
  return {
    name,
    generation: row.generation,
    version: String(row.version),
    records: row.records.map((record) => ({ ...record })),
  };
}

function foundOf(row: ServedRow): FoundMarker {
  return { generation: row.generation, version: String(row.version) };
}

/** The generation a write replaced; a provider without a conditional write does not look, so it cannot say. */
function replacedOf(row: ServedRow | undefined, unconditional: boolean): Generation | null {
  return row === undefined || unconditional ? null : row.generation;
}

/** Guarded like every provider (src/providers/guard.ts): `apply` checks the changes and these outcomes. */
export class MemoryProvider extends GuardedProvider {
  readonly kind = 'memory';

  constructor(readonly state: MemoryProviderState, private readonly writer: string) {
    super();
  }

  async read(names: readonly string[]): Promise<Map<string, ServedState>> {
    const states = new Map<string, ServedState>();
    for (const name of names) {
      const row = this.state.served.get(name);
      if (row !== undefined) states.set(name, toState(name, row));
    }
    return states;
  }

  async readRemovals(names: readonly string[]): Promise<Map<string, Generation>> {
    const removals = new Map<string, Generation>();
    for (const name of names) {
      if (this.state.served.has(name)) continue;
      const removal = removalOf(this.state.removals.get(name), this.state.removalsFloor);
      if (removal !== undefined) removals.set(name, removal);
    }
    return removals;
  }

  private readonly compaction = guardedCompaction(async (through, limit) => {
    const state = this.state;
    // The mutant raises a floor it reports and compacts below, but that refuses nothing (not `removalsFloor`).
    const mutant = state.switches.compactWithoutFloor === true;
    if (mutant) state.unenforcedFloor = Math.max(state.unenforcedFloor, through);
    else state.removalsFloor = Math.max(state.removalsFloor, through);
    const floor = mutant ? state.unenforcedFloor : state.removalsFloor;
    let deleted = 0;
    for (const [name, generation] of state.removals) {
      if (deleted >= limit) break;
      if (generation > floor) continue;
      state.removals.delete(name);
      deleted += 1;
    }
    state.compactedRemovals += deleted;
    return { floor, deleted };
  });

  override removalCompaction(): RemovalCompaction {
    return this.compaction;
  }

  async list(afterName: string | null, limit: number): Promise<ServedState[]> {
    const names = [...this.state.served.keys()].filter((name) => name > (afterName ?? '')).sort().slice(0, limit);
    return names.map((name) => toState(name, this.state.served.get(name)!));
  }

  protected async compareAndSwap(changes: readonly GuardedChange[]): Promise<SwapOutcome[]> {
    return changes.map((change) => (change.records === null
      ? this.removeOne(change)
      : this.writeOne(change, change.records)));
  }

  /** A removal deletes the row only if its version is the one read (a removal of an absent name writes nothing). */
  private removeOne(change: GuardedChange & { records: null }): SwapOutcome {
    const state = this.state;
    const row = state.served.get(change.name);
    const unconditional = state.switches.ignoreExpectedVersion === true;
    if (row === undefined) return { name: change.name, outcome: 'conflict', found: null };
    if (!unconditional && !this.compares(row, change)) return this.conflict(change, row);
    state.versionLast += 1;
    state.served.delete(change.name);
    if (state.switches.ignoreRemovals !== true) state.removals.set(change.name, change.generation);
    const generation = change.generation;
    state.writes.push({ name: change.name, writer: this.writer, kind: 'remove', generation, before: row, after: null });
    return this.applied(change, row, unconditional);
  }

  private writeOne(change: GuardedChange, records: RecordEntry[]): SwapOutcome {
    const state = this.state;
    const row = state.served.get(change.name);
    const unconditional = state.switches.ignoreExpectedVersion === true;
    if (!unconditional) {
      if (row !== undefined && !this.compares(row, change)) return this.conflict(change, row);
      if (row === undefined && change.expectedVersion !== null) return this.conflict(change, row);
      const tombstone = state.removals.get(change.name);
      const removal = row === undefined ? firstWriteRefusedAt(tombstone, state.removalsFloor, change.generation) : null;
      if (removal !== null) {
        state.supersededWrites += 1;
        if ((tombstone ?? -1) < change.generation) state.floorRefusedWrites += 1;
        return { name: change.name, outcome: 'superseded', generation: removal };
      }
    }
    state.versionLast += 1;
    const copy = records.map((record) => ({ ...record }));
    const after: ServedRow = { generation: change.generation, version: state.versionLast, records: copy };
    state.served.set(change.name, after);
    state.removals.delete(change.name);
    const write = { name: change.name, writer: this.writer, generation: change.generation, before: row ?? null, after };
    state.writes.push({ ...write, kind: 'apply' });
    return this.applied(change, row, unconditional);
  }

  private conflict(change: GuardedChange, row: ServedRow | undefined): SwapOutcome {
    return { name: change.name, outcome: 'conflict', found: row === undefined ? null : foundOf(row) };
  }

  private applied(change: GuardedChange, row: ServedRow | undefined, unconditional: boolean): SwapOutcome {
    const version = String(this.state.versionLast);
    return { name: change.name, outcome: 'applied', version, replaced: replacedOf(row, unconditional) };
  }

  /** The compare, as the SQLite provider's WHERE clause: the version read, and no lower generation. */
  private compares(row: ServedRow, change: GuardedChange): boolean {
    return String(row.version) === change.expectedVersion && row.generation <= change.generation;
  }

  async close(): Promise<void> {}
}

export function describeRow(row: ServedRow | null | undefined): string {
  return row === null || row === undefined ? 'absent' : `gen ${row.generation} [${recordSetKey(row.records)}]`;
}
