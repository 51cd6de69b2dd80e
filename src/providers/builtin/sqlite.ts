import { openDatabase, metaValue, writeNow, type Db, type OpenOptions, type Schema } from '../../store/sqlite/db.js';
import { storeSchema } from '../../store/sqlite/schema.js';
import { decodeRecords, encodeRecords } from '../../domain/codec.js';
import { assert } from '../../util/assert.js';
import {
  GuardedProvider, firstWriteRefusedAt, guardedCompaction, removalOf, type FoundMarker, type GuardedChange,
  type SwapOutcome,
} from '../guard.js';
import type { RemovalCompaction, ServedChange, ServedChangeFeed, ServedState } from '../types.js';

interface ServedRow { name: string; generation: number; version: number; records: string }

function toState(row: ServedRow): ServedState {
  return {
    name: row.name,
    generation: row.generation,
    version: String(row.version),
    records: decodeRecords(row.records),
  };
}

/** The built-in provider's tables, in the installation's SQLite file beside the store's (store/sqlite/db.ts). */
export const servedSchema: Schema = {
  ddl: `
INSERT OR IGNORE INTO meta (key, value) VALUES ('served_version', 0);
-- The removal floor (types.ts: RemovalCompaction): a first write at or below it is refused, as below a tombstone.
INSERT OR IGNORE INTO meta (key, value) VALUES ('removals_floor', 0);

CREATE TABLE IF NOT EXISTS served (
  name TEXT PRIMARY KEY, generation INTEGER NOT NULL, version INTEGER NOT NULL, records TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS served_by_version ON served (version);
CREATE TABLE IF NOT EXISTS served_tombstones (name TEXT PRIMARY KEY, version INTEGER NOT NULL);
-- Names removed by a plan, with the generation that removed them: a first
-- write at or below it is refused (S2). A hand delete leaves no row here.
CREATE TABLE IF NOT EXISTS served_removals (name TEXT PRIMARY KEY, generation INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS served_removals_by_generation ON served_removals (generation);

-- A hand edit (an UPDATE that leaves the version alone) still changes the
-- version, so the compare-and-swap and the DNS server's refresh both see it.
CREATE TRIGGER IF NOT EXISTS served_hand_edit AFTER UPDATE OF records, generation ON served
WHEN NEW.version = OLD.version
BEGIN
  UPDATE meta SET value = value + 1 WHERE key = 'served_version';
  UPDATE served SET version = (SELECT value FROM meta WHERE key = 'served_version') WHERE name = NEW.name;
END;
CREATE TRIGGER IF NOT EXISTS served_delete AFTER DELETE ON served
BEGIN
  UPDATE meta SET value = value + 1 WHERE key = 'served_version';
  INSERT OR REPLACE INTO served_tombstones (name, version) `
  + `VALUES (OLD.name, (SELECT value FROM meta WHERE key = 'served_version'));
END;
`,
  tables: ['served', 'served_tombstones', 'served_removals'],
};

/** Sets up an installation's SQLite file as `dnsplane up` does: the store's tables and the built-in provider's. */
export function setUpSqliteInstallation(path: string): void {
  openDatabase(path, storeSchema).close();
  openDatabase(path, servedSchema).close();
}

export interface SqliteProviderHooks {
  /**
   * Called inside the write transaction, halfway through every apply's
   * changes (a test holds the transaction open there, half written, so that
   * a kill lands mid-apply).
   */
  insideApply?: () => void;
}

/**
 * The built-in provider: what dnsplane's own DNS server answers, kept in the `served` table — per name the records
 * (compact text, see codec.ts: "address/weight/target,...") and the marker (generation, version). `apply` is one
 * `BEGIN IMMEDIATE` transaction that compares each name's version and writes records and marker together (DESIGN.md
 * §3).
 */
export class BuiltinSqliteProvider extends GuardedProvider implements ServedChangeFeed {
  readonly kind = 'builtin';
  readonly db: Db;

  /** `options.readonly`: for `serve` and the read commands, which only read what is served (every apply then fails). */
  constructor(path: string, private readonly hooks: SqliteProviderHooks = {}, options: OpenOptions = {}) {
    super();
    this.db = openDatabase(path, servedSchema, options);
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

  /** For each absent name: the higher of its tombstone and the removal floor, when above 0. */
  async readRemovals(names: readonly string[]): Promise<Map<string, number>> {
    const served = this.db.prepare('SELECT 1 FROM served WHERE name = ?').pluck();
    const removed = this.db.prepare('SELECT generation FROM served_removals WHERE name = ?').pluck();
    const run = this.db.transaction(() => {
      const floor = metaValue(this.db, 'removals_floor');
      const removals = new Map<string, number>();
      for (const name of names) {
        if (served.get(name) !== undefined) continue;
        const generation = removalOf(removed.get(name) as number | undefined, floor);
        if (generation !== undefined) removals.set(name, generation);
      }
      return removals;
    });
    return run.deferred();
  }

  async list(afterName: string | null, limit: number): Promise<ServedState[]> {
    const rows = this.db
      .prepare('SELECT * FROM served WHERE name > ? ORDER BY name LIMIT ?')
      .all(afterName ?? '', limit) as ServedRow[];
    return rows.map(toState);
  }

  /**
   * The compare-and-swap, all names in one `BEGIN IMMEDIATE` transaction: a
   * row changes only if its version is the one the caller read and its
   * generation does not go back; a first write only over no row and no
   * removal (nor removal floor) at or above it. The guard (guard.ts) checks
   * what it reports.
   */
  protected async compareAndSwap(changes: readonly GuardedChange[]): Promise<SwapOutcome[]> {
    const db = this.db;
    const insert = db.prepare(
      'INSERT INTO served (name, generation, version, records) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING');
    const update = db.prepare(
      'UPDATE served SET generation = ?, version = ?, records = ? WHERE name = ? AND version = ? AND generation <= ?');
    const remove = db.prepare('DELETE FROM served WHERE name = ? AND version = ? AND generation <= ?');
    const select = db.prepare('SELECT generation, version FROM served WHERE name = ?');
    const removedAt = db.prepare('SELECT generation FROM served_removals WHERE name = ?').pluck();
    const recordRemoval = db.prepare('INSERT OR REPLACE INTO served_removals (name, generation) VALUES (?, ?)');
    const forgetRemoval = db.prepare('DELETE FROM served_removals WHERE name = ?');
    const setVersion = db.prepare("UPDATE meta SET value = ? WHERE key = 'served_version'");
    const found = (name: string): FoundMarker | null => {
      const row = select.get(name) as { generation: number; version: number } | undefined;
      return row === undefined ? null : { generation: row.generation, version: String(row.version) };
    };
    const run = db.transaction((): SwapOutcome[] => {
      const outcomes: SwapOutcome[] = [];
      let version = metaValue(db, 'served_version');
      const floor = metaValue(db, 'removals_floor');
      for (const [index, change] of changes.entries()) {
        if (index === Math.floor(changes.length / 2)) this.hooks.insideApply?.();
        const name = change.name;
        if (change.records === null) {
          const before = found(name);
          // The delete trigger takes its tombstone version from meta, so meta must be current first.
          setVersion.run(version);
          if (remove.run(name, Number(change.expectedVersion), change.generation).changes === 1) {
            version = metaValue(db, 'served_version');
            recordRemoval.run(name, change.generation);
            outcomes.push({ name, outcome: 'applied', version: String(version), replaced: before?.generation ?? null });
          } else {
            outcomes.push({ name, outcome: 'conflict', found: before });
          }
        } else if (change.expectedVersion === null) {
          // A first write: the insert succeeds only where no row is, so it replaced nothing; a conflict reads what is.
          const removal = removedAt.get(name) as number | undefined;
          const refusedAt = firstWriteRefusedAt(removal, floor, change.generation);
          if (refusedAt !== null) {
            outcomes.push({ name, outcome: 'superseded', generation: refusedAt });
          } else if (insert.run(name, change.generation, version + 1, encodeRecords(change.records)).changes === 1) {
            version += 1;
            if (removal !== undefined) forgetRemoval.run(name);
            outcomes.push({ name, outcome: 'applied', version: String(version), replaced: null });
          } else {
            outcomes.push({ name, outcome: 'conflict', found: found(name) });
          }
        } else {
          const before = found(name);
          const encoded = encodeRecords(change.records);
          const expected = Number(change.expectedVersion);
          if (update.run(change.generation, version + 1, encoded, name, expected, change.generation).changes === 1) {
            version += 1;
            outcomes.push({ name, outcome: 'applied', version: String(version), replaced: before?.generation ?? null });
          } else {
            outcomes.push({ name, outcome: 'conflict', found: before });
          }
        }
      }
      setVersion.run(version);
      return outcomes;
    });
    return writeNow(db, run);
  }

  override servedChangeFeed(): ServedChangeFeed {
    return this;
  }

  private readonly compaction = guardedCompaction((through, limit) => {
    const run = this.db.transaction(() => {
      this.db.prepare("UPDATE meta SET value = max(value, ?) WHERE key = 'removals_floor'").run(through);
      const floor = metaValue(this.db, 'removals_floor');
      const deleted = this.db.prepare(
        'DELETE FROM served_removals WHERE rowid IN (SELECT rowid FROM served_removals WHERE generation <= ? LIMIT ?)',
      ).run(floor, limit).changes;
      return { floor, deleted };
    });
    return writeNow(this.db, run);
  });

  /** Tombstones at or below the removal floor are deleted, a batch a call; the floor is in meta. */
  override removalCompaction(): RemovalCompaction {
    return this.compaction;
  }

  /** Current high-water mark of served versions; the DNS server refreshes from here. */
  currentVersion(): number {
    return metaValue(this.db, 'served_version');
  }

  /**
   * Every served row, `pageSize` at a time, all from one read snapshot at the served version it returns with each
   * page: for a copy of a large zone made a page at a time. The snapshot is held until the iteration ends, and no
   * other statement can run on this connection meanwhile: open one for it.
   */
  *servedPages(pageSize: number): Generator<{ version: number; changes: ServedChange[] }> {
    assert(Number.isInteger(pageSize) && pageSize >= 1, 'internal', `page size ${pageSize}`);
    this.db.exec('BEGIN');
    try {
      const version = metaValue(this.db, 'served_version');
      let page: ServedChange[] = [];
      for (const row of this.db.prepare('SELECT * FROM served').iterate() as IterableIterator<ServedRow>) {
        page.push({ name: row.name, version: row.version, state: toState(row) });
        if (page.length < pageSize) continue;
        yield { version, changes: page };
        page = [];
      }
      yield { version, changes: page };
    } finally {
      this.db.exec('COMMIT');
    }
  }

  /** Rows and removals whose version is above `afterVersion`, for an incremental snapshot refresh. */
  changesSince(afterVersion: number): { version: number; changes: ServedChange[] } {
    const run = this.db.transaction(() => {
      const version = metaValue(this.db, 'served_version');
      const rows = this.db.prepare('SELECT * FROM served WHERE version > ?').all(afterVersion) as ServedRow[];
      const tombstones = this.db
        .prepare('SELECT name, version FROM served_tombstones WHERE version > ?')
        .all(afterVersion) as { name: string; version: number }[];
      const changes: ServedChange[] = [];
      for (const tombstone of tombstones) {
        changes.push({ name: tombstone.name, version: tombstone.version, state: null });
      }
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
