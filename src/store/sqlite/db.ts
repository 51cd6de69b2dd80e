import Database from 'better-sqlite3';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { assert, UserError } from '../../util/assert.js';

export type Db = Database.Database;

/**
 * One SQLite file for the embedded installation: the store's tables (store/sqlite/schema.ts) and the built-in
 * provider's `served` tables (providers/builtin/sqlite.ts) live in it side by side, each set up by its owner, and no
 * statement ever touches both (deleting a plan never changes what DNS serves, S4). The `meta` table of counters is
 * shared: each owner keeps its own keys.
 */
export interface Schema {
  /** Idempotent DDL (CREATE ... IF NOT EXISTS, INSERT OR IGNORE), run at every writer's open. */
  ddl: string;
  /** Tables the DDL creates that a reader needs: a read-only open of a file without them fails, naming them. */
  tables: readonly string[];
  /** Changes to tables that may predate the DDL, applied in place (an old data directory opens as it is). */
  migrate?(db: Db): void;
}

const metaDdl = 'CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);';

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

/**
 * The error to report for `error` met while opening the store at `path`: a one-line UserError naming the path, when it
 * is the operator's to fix.
 */
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
export function openDatabase(path: string, schema: Schema, options: OpenOptions = {}): Db {
  const readonly = options.readonly ?? false;
  let db: Db | null = null;
  try {
    if (path !== ':memory:' && !readonly) mkdirSync(dirname(path), { recursive: true });
    db = new Database(path, { readonly, fileMustExist: readonly });
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 10_000}`);
    // The first read of the file: a file that is not a database (or cannot be read) fails here, before any write.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    if (!readonly) setUp(db, schema);
    else checkTables(db, path, schema);
  } catch (error) {
    if (db?.open) db.close();
    // SQLite says only "readonly" or "unable to open"; the directory says why (a read-only file system, permissions).
    throw storeOpenError(path, readonly || path === ':memory:' ? error : directoryProblem(dirname(path)) ?? error);
  }
  assert(
    db.readonly === readonly,
    'internal',
    `store ${path} opened ${db.readonly ? 'read-only' : 'for writing'}, not as asked`,
  );
  return db;
}

/** A reader cannot create tables: a file no writer has set up says so, instead of "no such table" at the first read. */
function checkTables(db: Db, path: string, schema: Schema): void {
  const rows = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
  const present = new Set(rows.map((row) => row.name));
  const missing = ['meta', ...schema.tables].filter((table) => !present.has(table));
  if (missing.length === 0) return;
  throw new UserError(
    `store ${path} has no ${missing.join(', ')} table${missing.length > 1 ? 's' : ''}: `
    + 'no dnsplane writer has set it up yet (start dnsplane up on it once)',
  );
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

/** How long a write waits between two tries for the lock another process holds. */
const writeRetryMs = 1;
/** Each connection's busy timeout, read once: how long a write may wait for the lock in all. */
const busyTimeouts = new WeakMap<Db, number>();

/**
 * Runs a write transaction (BEGIN IMMEDIATE) — `run` — taking the write lock as soon as another process lets it go,
 * without sleeping in SQLite's busy handler. That handler sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries,
 * blocking the whole process meanwhile: with several roles writing one file, a write then waits tens of
 * milliseconds for a lock held for one (measured here: p99 10-80 ms against 5.5 ms). Here a busy lock is tried
 * again every millisecond, the event loop free in between, until the connection's busy timeout has passed (then
 * SQLITE_BUSY, as before). A transaction whose BEGIN fails has run nothing, so trying again is safe.
 */
export async function writeNow<T>(db: Db, run: Database.Transaction<() => T>): Promise<T> {
  let timeoutMs = busyTimeouts.get(db);
  if (timeoutMs === undefined) {
    timeoutMs = Number(db.pragma('busy_timeout', { simple: true }));
    busyTimeouts.set(db, timeoutMs);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    db.pragma('busy_timeout = 0');
    try {
      return run.immediate();
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw error;
    } finally {
      db.pragma(`busy_timeout = ${timeoutMs}`);
    }
    await new Promise((resolve) => setTimeout(resolve, writeRetryMs));
  }
}

function setUp(db: Db, schema: Schema): void {
  db.pragma('journal_mode = WAL');
  // FULL: a committed generation survives power loss, so S2 holds across a crash of the machine.
  db.pragma('synchronous = FULL');
  db.transaction(() => {
    db.exec(metaDdl);
    db.exec(schema.ddl);
    schema.migrate?.(db);
  }).immediate();
}

export function metaValue(db: Db, key: string): number {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: number } | undefined;
  return row?.value ?? 0;
}
