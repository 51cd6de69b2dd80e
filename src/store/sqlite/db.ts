import Database from 'better-sqlite3';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { assert, UserError } from '../../util/assert.js';

export type Db = Database.Database;

/**
 * One schema for the embedded installation: the store's tables and the
 * built-in provider's `served` table live in the same SQLite file, but no
 * statement ever touches both (deleting a plan never changes what DNS
 * serves, S4).
 */
const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', 1), ('generation_last', 0), ('served_version', 0);

CREATE TABLE IF NOT EXISTS plans (
  generation INTEGER PRIMARY KEY,
  base_generation INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  planner_id TEXT NOT NULL,
  fencing_token INTEGER NOT NULL,
  names_total INTEGER NOT NULL,
  names_changed INTEGER NOT NULL,
  forced INTEGER NOT NULL,
  note TEXT NOT NULL,
  inventory_version INTEGER NOT NULL DEFAULT 0
);
-- The inventory, versioned: each row an immutable version with who, when and why (InventoryStore).
CREATE TABLE IF NOT EXISTS inventory_versions (
  version INTEGER PRIMARY KEY, created_at_ms INTEGER NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL,
  forced INTEGER NOT NULL, names INTEGER NOT NULL, summary TEXT NOT NULL, endpoints TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plan_versions (
  name TEXT NOT NULL,
  since INTEGER NOT NULL,
  records TEXT,
  superseded_by INTEGER,
  PRIMARY KEY (name, since)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS plan_versions_by_since ON plan_versions (since);
CREATE INDEX IF NOT EXISTS plan_versions_by_superseded ON plan_versions (superseded_by) WHERE superseded_by IS NOT NULL;

CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, token INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS enactors (
  id TEXT PRIMARY KEY, held_generation INTEGER NOT NULL, enacted_generation INTEGER NOT NULL,
  heartbeat_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS health (
  target TEXT PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('up', 'down')), source TEXT NOT NULL, updated_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkers (
  id TEXT PRIMARY KEY, probed INTEGER NOT NULL, down TEXT NOT NULL, suspect INTEGER NOT NULL,
  heartbeat_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, from_generation INTEGER NOT NULL, to_generation INTEGER NOT NULL,
  actor TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL, at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_name ON history (name, id);
CREATE TABLE IF NOT EXISTS alarms (
  kind TEXT NOT NULL, name TEXT NOT NULL, message TEXT NOT NULL, count INTEGER NOT NULL,
  raised_at_ms INTEGER NOT NULL, last_at_ms INTEGER NOT NULL, cleared_at_ms INTEGER,
  PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS drains (target TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS freezes (scope TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS requests (
  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, subject TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL, done_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS requests_pending ON requests (kind, id) WHERE done_at_ms IS NULL;

CREATE TABLE IF NOT EXISTS served (
  name TEXT PRIMARY KEY, generation INTEGER NOT NULL, version INTEGER NOT NULL, records TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS served_by_version ON served (version);
CREATE TABLE IF NOT EXISTS served_tombstones (name TEXT PRIMARY KEY, version INTEGER NOT NULL);
-- Names removed by a plan, with the generation that removed them: a first
-- write at or below it is refused (S2). A hand delete leaves no row here.
CREATE TABLE IF NOT EXISTS served_removals (name TEXT PRIMARY KEY, generation INTEGER NOT NULL);

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
  INSERT OR REPLACE INTO served_tombstones (name, version) VALUES (OLD.name, (SELECT value FROM meta WHERE key = 'served_version'));
END;
`;

export interface OpenOptions {
  /**
   * Open an existing file for reading only: no directory or file is created, no schema set-up or migration runs,
   * and every write fails. For `serve` and the read commands, so that they work on a store they cannot write.
   */
  readonly?: boolean;
  /** Milliseconds a writer waits for the lock before failing with SQLITE_BUSY. */
  busyTimeoutMs?: number;
}

/**
 * What the operator can fix about a store file or its directory: the path is unusable as it is (a file where a
 * directory should be, no permission, a read-only file system, a file that is not a SQLite database). Other errors
 * (a lock held too long, a bug) are not theirs and stay as they are.
 */
const storeProblemCodes: Record<string, string> = {
  SQLITE_NOTADB: 'is not a SQLite database',
  SQLITE_CORRUPT: 'is corrupted',
  SQLITE_CANTOPEN: 'cannot be opened',
  SQLITE_PERM: 'may not be accessed',
  SQLITE_READONLY: 'cannot be written',
  SQLITE_READONLY_DIRECTORY: 'cannot be written (its directory is read-only)',
  SQLITE_READONLY_DBMOVED: 'was moved while open',
  SQLITE_READONLY_CANTINIT: 'cannot be read (its -shm file is read-only and no writer has it open)',
  EEXIST: 'lies under a path that is a file, not a directory',
  ENOTDIR: 'lies under a path that is a file, not a directory',
  EROFS: 'is on a read-only file system',
  EACCES: 'may not be accessed (permission denied)',
  EPERM: 'may not be accessed (operation not permitted)',
  ENOENT: 'does not exist',
};

/** The error to report for `error` met while opening the store at `path`: a one-line UserError naming the path, when it is the operator's to fix. */
export function storeOpenError(path: string, error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || !(code in storeProblemCodes)) return error;
  return new UserError(`store ${path} ${storeProblemCodes[code]} (${(error as Error).message})`);
}

/**
 * Opens the store's SQLite file. A writer creates the file and its directory if needed and sets up the schema; a
 * reader (`readonly`) needs an existing store. Problems with the path become one-line UserErrors that name it, and
 * nothing is written before the file has been read as a SQLite database: a file that is not one stays byte-identical.
 *
 * A reader of a WAL database (every store is one): SQLite (3.22 and later) reads it read-only as long as the -wal
 * and -shm files exist, even when neither they nor the directory may be written (it then builds the WAL index in
 * its own memory). What it cannot do is create a missing -shm file in a directory it may not write: a store whose
 * last writer closed cleanly (which deletes -wal and -shm) in a read-only directory cannot be read
 * (SQLITE_READONLY_DIRECTORY at the first read). SQLite's `immutable` open would avoid that, but better-sqlite3 12
 * does not open URI file names, so such a store is reported as unreadable, and `serve` answers from its copy of the
 * served records instead (src/dns/snapshot-file.ts).
 */
export function openDatabase(path: string, options: OpenOptions = {}): Db {
  const readonly = options.readonly ?? false;
  let db: Db | null = null;
  try {
    if (path !== ':memory:' && !readonly) mkdirSync(dirname(path), { recursive: true });
    db = new Database(path, { readonly, fileMustExist: readonly });
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 10_000}`);
    // The first read of the file: a file that is not a database (or cannot be read) fails here, before any write.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    if (!readonly) setUp(db);
  } catch (error) {
    if (db?.open) db.close();
    // SQLite says only "readonly" or "unable to open"; the directory says why (a read-only file system, permissions).
    throw storeOpenError(path, readonly || path === ':memory:' ? error : directoryProblem(dirname(path)) ?? error);
  }
  assert(db.readonly === readonly, 'internal', `store ${path} opened ${db.readonly ? 'read-only' : 'for writing'}, not as asked`);
  return db;
}

/** The error of writing into `directory` (EROFS, EACCES), or null when it may be written. */
function directoryProblem(directory: string): Error | null {
  try {
    accessSync(directory, constants.W_OK);
    return null;
  } catch (error) {
    return error as Error;
  }
}

function setUp(db: Db): void {
  db.pragma('journal_mode = WAL');
  // FULL: a committed generation survives power loss, so S2 holds across a crash of the machine.
  db.pragma('synchronous = FULL');
  db.transaction(() => {
    db.exec(schema);
    migrate(db);
  }).immediate();
}

/** Columns added after a data directory may have been created: added in place, so an old store opens as it is. */
function migrate(db: Db): void {
  const planColumns = (db.prepare('PRAGMA table_info(plans)').all() as { name: string }[]).map((column) => column.name);
  if (!planColumns.includes('inventory_version')) db.exec('ALTER TABLE plans ADD COLUMN inventory_version INTEGER NOT NULL DEFAULT 0');
}

export function metaValue(db: Db, key: string): number {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: number } | undefined;
  return row?.value ?? 0;
}
