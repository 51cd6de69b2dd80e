import { openDatabase, metaValue, type Db } from '../../store/sqlite/db.js';
import { assert } from '../../util/assert.js';
import { validateRecordSet } from '../../domain/validate.js';
import { decodeRecords, encodeRecords } from '../../store/sqlite/codec.js';
import type { ApplyChange, ApplyOutcome, Provider, ServedState } from '../types.js';

interface ServedRow { name: string; generation: number; version: number; records: string }

function toState(row: ServedRow): ServedState {
  return { name: row.name, generation: row.generation, version: String(row.version), records: decodeRecords(row.records) };
}

/** A change seen by the DNS server's incremental refresh: a new state, or a removal (`state: null`). */
export interface ServedChange {
  name: string;
  version: number;
  state: ServedState | null;
}

/**
 * The built-in provider: what dnsplane's own DNS server answers, kept in the
 * `served` table — per name the records (compact text, see codec.ts:
 * "address/weight/target,...") and the marker (generation, version). `apply` is one `BEGIN IMMEDIATE` transaction that compares each
 * name's version and writes records and marker together (DESIGN.md §3).
 */
export class BuiltinSqliteProvider implements Provider {
  readonly kind = 'builtin';
  readonly db: Db;
  /** Test-only (DNSPLANE_TEST_APPLY_SPIN_MS): hold the write transaction this long halfway through, so a kill lands mid-apply. */
  private readonly spinMs: number;

  constructor(path: string) {
    this.db = openDatabase(path);
    this.spinMs = Number(process.env.DNSPLANE_TEST_APPLY_SPIN_MS ?? 0) || 0;
  }

  private spinForTest(): void {
    const until = Date.now() + this.spinMs;
    while (Date.now() < until) {
      // Busy-wait on purpose: the transaction must stay open, half written.
    }
  }

  async read(names: readonly string[]): Promise<Map<string, ServedState>> {
    const select = this.db.prepare('SELECT * FROM served WHERE name = ?');
    const run = this.db.transaction(() => {
      const states = new Map<string, ServedState>();
      for (const name of names) {
        const row = select.get(name) as ServedRow | undefined;
        if (row !== undefined) states.set(name, toState(row));
      }
      return states;
    });
    return run.deferred();
  }

  async readRemovals(names: readonly string[]): Promise<Map<string, number>> {
    const select = this.db.prepare('SELECT r.generation FROM served_removals r WHERE r.name = ? AND NOT EXISTS (SELECT 1 FROM served s WHERE s.name = r.name)').pluck();
    const run = this.db.transaction(() => {
      const removals = new Map<string, number>();
      for (const name of names) {
        const generation = select.get(name) as number | undefined;
        if (generation !== undefined) removals.set(name, generation);
      }
      return removals;
    });
    return run.deferred();
  }

  async list(afterName: string | null, limit: number): Promise<ServedState[]> {
    const rows = this.db.prepare('SELECT * FROM served WHERE name > ? ORDER BY name LIMIT ?').all(afterName ?? '', limit) as ServedRow[];
    return rows.map(toState);
  }

  async apply(changes: readonly ApplyChange[]): Promise<ApplyOutcome[]> {
    const db = this.db;
    const insert = db.prepare('INSERT INTO served (name, generation, version, records) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING');
    // The compare-and-swap: the row changes only if its version is the one the caller read and the generation does not go back.
    const update = db.prepare('UPDATE served SET generation = ?, version = ?, records = ? WHERE name = ? AND version = ? AND generation <= ?');
    const remove = db.prepare('DELETE FROM served WHERE name = ? AND version = ? AND generation <= ?');
    const select = db.prepare('SELECT generation, version FROM served WHERE name = ?');
    const removedAt = db.prepare('SELECT generation FROM served_removals WHERE name = ?').pluck();
    const recordRemoval = db.prepare('INSERT OR REPLACE INTO served_removals (name, generation) VALUES (?, ?)');
    const forgetRemoval = db.prepare('DELETE FROM served_removals WHERE name = ?');
    const setVersion = db.prepare("UPDATE meta SET value = ? WHERE key = 'served_version'");
    const run = db.transaction((): ApplyOutcome[] => {
      const outcomes: ApplyOutcome[] = [];
      let version = metaValue(db, 'served_version');
      for (const [index, change] of changes.entries()) {
        if (this.spinMs > 0 && index === Math.floor(changes.length / 2)) this.spinForTest();
        const expected = change.expectedVersion === null ? null : Number(change.expectedVersion);
        let written: boolean;
        if (change.records === null) {
          // The delete trigger takes its tombstone version from meta, so meta must be current first.
          setVersion.run(version);
          // A removal, like an update, never takes a name below its served generation (S2).
          written = expected !== null && remove.run(change.name, expected, change.generation).changes === 1;
          if (written) {
            version = metaValue(db, 'served_version');
            recordRemoval.run(change.name, change.generation);
          } else if (expected !== null) this.assertNotBackwards(select.get(change.name) as { generation: number; version: number } | undefined, change);
        } else {
          // The last line of defence for S1 at the place that serves DNS: never write an invalid or empty set.
          const problems = validateRecordSet(change.name, change.records);
          assert(problems.length === 0, 'S1', problems.join('; '));
          const encoded = encodeRecords(change.records);
          if (expected === null) {
            const removal = removedAt.get(change.name) as number | undefined;
            if (removal !== undefined && removal >= change.generation) {
              outcomes.push({ name: change.name, outcome: 'superseded', generation: removal });
              continue;
            }
          }
          written = expected === null
            ? insert.run(change.name, change.generation, version + 1, encoded).changes === 1
            : update.run(change.generation, version + 1, encoded, change.name, expected, change.generation).changes === 1;
          if (written) {
            version += 1;
            if (expected === null) forgetRemoval.run(change.name);
          } else if (expected !== null) this.assertNotBackwards(select.get(change.name) as { generation: number; version: number } | undefined, change);
        }
        outcomes.push(written ? { name: change.name, outcome: 'applied', version: String(version) } : { name: change.name, outcome: 'conflict' });
      }
      setVersion.run(version);
      return outcomes;
    });
    return run.immediate();
  }

  /** A refused update whose version did match can only mean a lower generation: a caller bug, made loud (S2). */
  private assertNotBackwards(row: { generation: number; version: number } | undefined, change: ApplyChange): void {
    const versionMatched = row !== undefined && String(row.version) === change.expectedVersion;
    assert(!versionMatched, 'S2', `${change.name}: writing generation ${change.generation} over ${row?.generation}`);
  }

  /** Current high-water mark of served versions; the DNS server refreshes from here. */
  currentVersion(): number {
    return metaValue(this.db, 'served_version');
  }

  /** Rows and removals whose version is above `afterVersion`, for an incremental snapshot refresh. */
  changesSince(afterVersion: number): { version: number; changes: ServedChange[] } {
    const run = this.db.transaction(() => {
      const version = metaValue(this.db, 'served_version');
      const rows = this.db.prepare('SELECT * FROM served WHERE version > ?').all(afterVersion) as ServedRow[];
      const tombstones = this.db.prepare('SELECT name, version FROM served_tombstones WHERE version > ?').all(afterVersion) as { name: string; version: number }[];
      const changes: ServedChange[] = [];
      for (const tombstone of tombstones) changes.push({ name: tombstone.name, version: tombstone.version, state: null });
      for (const row of rows) changes.push({ name: row.name, version: row.version, state: toState(row) });
      // Apply in version order so a removal followed by a re-creation ends with the re-creation.
      changes.sort((a, b) => a.version - b.version);
      return { version, changes };
    });
    return run.deferred();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
