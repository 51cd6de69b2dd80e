import { openDatabase, metaValue, type Db } from '../../store/sqlite/db.js';
import { assert } from '../../util/assert.js';
import { validateRecordSet } from '../../domain/validate.js';
import type { RecordEntry } from '../../domain/types.js';
import type { ApplyChange, ApplyOutcome, Provider, ServedState } from '../types.js';

interface ServedRow { name: string; generation: number; version: number; records: string }

function toState(row: ServedRow): ServedState {
  return { name: row.name, generation: row.generation, version: String(row.version), records: JSON.parse(row.records) as RecordEntry[] };
}

/** A change seen by the DNS server's incremental refresh: a new state, or a removal (`state: null`). */
export interface ServedChange {
  name: string;
  version: number;
  state: ServedState | null;
}

/**
 * The built-in provider: what dnsplane's own DNS server answers, kept in the
 * `served` table — per name the records and the marker (generation,
 * version). `apply` is one `BEGIN IMMEDIATE` transaction that compares each
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

  async list(afterName: string | null, limit: number): Promise<ServedState[]> {
    const rows = this.db.prepare('SELECT * FROM served WHERE name > ? ORDER BY name LIMIT ?').all(afterName ?? '', limit) as ServedRow[];
    return rows.map(toState);
  }

  async apply(changes: readonly ApplyChange[]): Promise<ApplyOutcome[]> {
    const select = this.db.prepare('SELECT * FROM served WHERE name = ?');
    const upsert = this.db.prepare('INSERT OR REPLACE INTO served (name, generation, version, records) VALUES (?, ?, ?, ?)');
    const remove = this.db.prepare('DELETE FROM served WHERE name = ?');
    const setVersion = this.db.prepare("UPDATE meta SET value = ? WHERE key = 'served_version'");
    const run = this.db.transaction((): ApplyOutcome[] => {
      const outcomes: ApplyOutcome[] = [];
      let version = metaValue(this.db, 'served_version');
      for (const [index, change] of changes.entries()) {
        if (this.spinMs > 0 && index === Math.floor(changes.length / 2)) this.spinForTest();
        const row = select.get(change.name) as ServedRow | undefined;
        const current = row === undefined ? null : String(row.version);
        if (current !== change.expectedVersion) {
          outcomes.push({ name: change.name, outcome: 'conflict' });
          continue;
        }
        // The caller decided on the state it read; the version compare above proves that state is still current.
        // These assertions are the last line of defence for S1 and S2 at the place that serves DNS.
        assert(row === undefined || change.generation >= row.generation, 'S2', `${change.name}: writing generation ${change.generation} over ${row?.generation}`);
        version += 1;
        if (change.records === null) {
          remove.run(change.name);
          version = metaValue(this.db, 'served_version');
        } else {
          const problems = validateRecordSet(change.name, change.records);
          assert(problems.length === 0, 'S1', problems.join('; '));
          upsert.run(change.name, change.generation, version, JSON.stringify(change.records));
          setVersion.run(version);
        }
        outcomes.push({ name: change.name, outcome: 'applied', version: String(version) });
      }
      setVersion.run(version);
      return outcomes;
    });
    return run.immediate();
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
