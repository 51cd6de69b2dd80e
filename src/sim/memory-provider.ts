import { assert } from '../util/assert.js';
import { validateRecordSet } from '../domain/validate.js';
import { recordSetKey, type Generation, type RecordEntry } from '../domain/types.js';
import type { ApplyChange, ApplyOutcome, Provider, ServedState } from '../providers/types.js';

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
  /** Mutant "no-cas": apply ignores expectedVersion, and with it the last-line S2 assertion (a provider without a conditional write). */
  ignoreExpectedVersion?: boolean;
  /** Mutant "no-removal-tombstone": a removal leaves no tombstone, so a stale first write can bring the name back. */
  ignoreRemovals?: boolean;
}

export class MemoryProviderState {
  readonly served = new Map<string, ServedRow>();
  /** Names removed by a plan, with the removing generation: first writes at or below it are superseded (as served_removals in SQLite). */
  readonly removals = new Map<string, Generation>();
  versionLast = 0;
  /** First writes refused by a removal tombstone. */
  supersededWrites = 0;
  readonly writes: ServedWrite[] = [];

  constructor(readonly switches: MemoryProviderSwitches = {}) {}

  /** An operator's hand edit: replaces the records, keeps the generation, bumps the version (the SQLite trigger does the same). */
  handEdit(name: string, records: RecordEntry[]): void {
    const row = this.served.get(name);
    assert(row !== undefined, 'internal', `hand edit of ${name}, which is not served`);
    this.versionLast += 1;
    const after: ServedRow = { generation: row.generation, version: this.versionLast, records: records.map((record) => ({ ...record })) };
    this.served.set(name, after);
    this.writes.push({ name, writer: 'operator', kind: 'hand-edit', generation: row.generation, before: row, after });
  }
}

function toState(name: string, row: ServedRow): ServedState {
  return { name, generation: row.generation, version: String(row.version), records: row.records.map((record) => ({ ...record })) };
}

export class MemoryProvider implements Provider {
  readonly kind = 'memory';

  constructor(readonly state: MemoryProviderState, private readonly writer: string) {}

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
      const removal = this.state.removals.get(name);
      if (removal !== undefined && !this.state.served.has(name)) removals.set(name, removal);
    }
    return removals;
  }

  async list(afterName: string | null, limit: number): Promise<ServedState[]> {
    const names = [...this.state.served.keys()].filter((name) => name > (afterName ?? '')).sort().slice(0, limit);
    return names.map((name) => toState(name, this.state.served.get(name)!));
  }

  async apply(changes: readonly ApplyChange[]): Promise<ApplyOutcome[]> {
    const outcomes: ApplyOutcome[] = [];
    for (const change of changes) outcomes.push(this.applyOne(change));
    return outcomes;
  }

  private applyOne(change: ApplyChange): ApplyOutcome {
    const state = this.state;
    const row = state.served.get(change.name);
    const unconditional = state.switches.ignoreExpectedVersion === true;
    const versionMatches = row === undefined ? change.expectedVersion === null : String(row.version) === change.expectedVersion;
    if (change.records === null) {
      // A removal deletes the row only if its version is the one read (a removal of an absent name writes nothing).
      if (row === undefined || (!versionMatches && !unconditional)) return { name: change.name, outcome: 'conflict' };
      // As an update: a matching version with a lower generation is a caller bug, made loud (S2).
      assert(unconditional || change.generation >= row.generation, 'S2', `${change.name}: removing at generation ${change.generation} over ${row.generation}`);
      state.versionLast += 1;
      state.served.delete(change.name);
      if (state.switches.ignoreRemovals !== true) state.removals.set(change.name, change.generation);
      state.writes.push({ name: change.name, writer: this.writer, kind: 'remove', generation: change.generation, before: row, after: null });
      return { name: change.name, outcome: 'applied', version: String(state.versionLast) };
    }
    // The last line of defence for S1 at the place that serves DNS: never write an invalid or empty set.
    const problems = validateRecordSet(change.name, change.records);
    assert(problems.length === 0, 'S1', problems.join('; '));
    if (!unconditional) {
      if (!versionMatches) return { name: change.name, outcome: 'conflict' };
      const removal = row === undefined ? state.removals.get(change.name) : undefined;
      if (removal !== undefined && removal >= change.generation) {
        state.supersededWrites += 1;
        return { name: change.name, outcome: 'superseded', generation: removal };
      }
      // As in the SQLite provider: a matching version with a lower generation is a caller bug, made loud (S2).
      assert(row === undefined || change.generation >= row.generation, 'S2', `${change.name}: writing generation ${change.generation} over ${row?.generation}`);
    }
    state.versionLast += 1;
    const after: ServedRow = { generation: change.generation, version: state.versionLast, records: change.records.map((record) => ({ ...record })) };
    state.served.set(change.name, after);
    state.removals.delete(change.name);
    state.writes.push({ name: change.name, writer: this.writer, kind: 'apply', generation: change.generation, before: row ?? null, after });
    return { name: change.name, outcome: 'applied', version: String(state.versionLast) };
  }

  async close(): Promise<void> {}
}

export function describeRow(row: ServedRow | null | undefined): string {
  return row === null || row === undefined ? 'absent' : `gen ${row.generation} [${recordSetKey(row.records)}]`;
}
