import Database from 'better-sqlite3';
import { statSync, watch as watchPath, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { BuiltinSqliteProvider, type ServedChange } from '../providers/builtin/sqlite.js';
import { SqliteStore } from '../store/sqlite/store.js';
import { assert } from '../util/assert.js';
import { EtcdServedSource } from '../providers/builtin/etcd.js';
import type { DnsServerOptions } from './options.js';
import type { Logger } from '../util/log.js';

/** The two reads the snapshot refresh needs (BuiltinSqliteProvider has both). */
export interface ServedReader {
  currentVersion(): number;
  changesSince(afterVersion: number): { version: number; changes: ServedChange[] };
}

/**
 * Where the DNS server reads served state from, and where it raises its
 * alarms. `open` throws when the store cannot be read; the refresher then
 * serves its last good snapshot (fail static).
 */
export interface ServedSource {
  /** The reader to use now; `fresh` means a new store was opened and the snapshot must be rebuilt from nothing. */
  open(): { reader: ServedReader; fresh: boolean };
  /** Optional asynchronous set-up before the first `open` (etcd: load every name and start watching). */
  start?(): Promise<void>;
  raiseAlarm(kind: string, message: string): Promise<void>;
  clearAlarm(kind: string): Promise<void>;
  /** Optional: calls `onChange` soon after the store may have changed; returns a function that stops watching. */
  watch?(onChange: () => void): () => void;
  close(): Promise<void>;
}

/** Milliseconds a read of the DNS server may wait for a lock: every tick holds up queries for at most this long. */
const readBusyTimeoutMs = 20;

interface FileIdentity {
  device: number;
  inode: number;
}

/**
 * The built-in provider's SQLite file as a served source. Each `open`
 * checks that the path still names the file that is open (one stat): a
 * file that was deleted is an error (fail static, never an empty zone); a
 * file that was replaced is opened anew once it is a readable store. It
 * never creates a store, so a missing file cannot turn into an empty zone.
 */
export class SqliteServedSource implements ServedSource {
  private opened: { provider: BuiltinSqliteProvider; store: SqliteStore; identity: FileIdentity } | null = null;

  /** `alarmName` tells this server's alarms apart from another's (alarms are keyed by kind and name). */
  constructor(readonly path: string, private readonly alarmName = 'dns-server') {}

  open(): { reader: ServedReader; fresh: boolean } {
    const identity = fileIdentity(this.path);
    if (this.opened !== null && sameFile(identity, this.opened.identity)) return { reader: this.opened.provider, fresh: false };
    checkReadableStore(this.path);
    const provider = new BuiltinSqliteProvider(this.path);
    const store = new SqliteStore(this.path);
    // Both connections are used from the thread that answers queries: never wait long for a lock.
    provider.db.pragma(`busy_timeout = ${readBusyTimeoutMs}`);
    store.db.pragma(`busy_timeout = ${readBusyTimeoutMs}`);
    this.closeOpened();
    this.opened = { provider, store, identity };
    return { reader: provider, fresh: true };
  }

  async raiseAlarm(kind: string, message: string): Promise<void> {
    await this.currentStore().raiseAlarm(kind, this.alarmName, message);
  }

  async clearAlarm(kind: string): Promise<void> {
    await this.currentStore().clearAlarm(kind, this.alarmName);
  }

  /**
   * Watches the store's directory (inotify on Linux): every commit writes the WAL file, so an enactment is
   * noticed within a millisecond or two instead of at the next poll. The directory, not the file, so that
   * a WAL deleted and created again, or a store file replaced, is still seen. Polling remains the safety net.
   */
  watch(onChange: () => void): () => void {
    const prefix = basename(this.path);
    let watcher: FSWatcher;
    try {
      watcher = watchPath(dirname(this.path), { persistent: false }, (_event, file) => {
        if (file === null || file.toString().startsWith(prefix)) onChange();
      });
    } catch {
      return () => {};
    }
    // A watcher that fails (the directory went away) just stops; polling carries on alone.
    watcher.on('error', () => watcher.close());
    return () => watcher.close();
  }

  async close(): Promise<void> {
    this.closeOpened();
  }

  private closeOpened(): void {
    if (this.opened === null) return;
    if (this.opened.provider.db.open) this.opened.provider.db.close();
    if (this.opened.store.db.open) this.opened.store.db.close();
    this.opened = null;
  }

  /** The open store, if the path still names its file: an alarm written into a deleted file would be lost. */
  private currentStore(): SqliteStore {
    if (this.opened === null) throw new Error(`store ${this.path} is not open`);
    if (!sameFile(fileIdentity(this.path), this.opened.identity)) throw new Error(`store ${this.path} was replaced`);
    return this.opened.store;
  }
}

function fileIdentity(path: string): FileIdentity {
  const stats = statSync(path);
  assert(stats.ino > 0 || stats.dev >= 0, 'internal', `no identity for ${path}`);
  return { device: stats.dev, inode: stats.ino };
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.device === b.device && a.inode === b.inode;
}

/** Throws unless `path` is an existing SQLite file with the served tables (read-only, never creating it). */
function checkReadableStore(path: string): void {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma(`busy_timeout = ${readBusyTimeoutMs}`);
    db.prepare("SELECT value FROM meta WHERE key = 'served_version'").get();
    db.prepare('SELECT name FROM served LIMIT 1').get();
  } finally {
    db.close();
  }
}

/** The source of a server's options: the etcd cluster when the store is etcd, else the SQLite file. */
export function servedSourceFor(options: DnsServerOptions, alarmName: string, log: Logger): ServedSource {
  if (options.etcd === null) return new SqliteServedSource(options.storePath, alarmName);
  return new EtcdServedSource(options.etcd, alarmName, {
    snapshotPath: options.snapshotPath,
    onSnapshotError: (error) => log.warn({ err: error, file: options.snapshotPath }, 'cannot write the DNS snapshot file: a restart while etcd is down would have nothing to serve'),
  });
}
