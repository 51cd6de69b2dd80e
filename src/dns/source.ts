import { existsSync, statSync } from 'node:fs';
import { BuiltinSqliteProvider } from '../providers/builtin/sqlite.js';
import { SqliteStore } from '../store/sqlite/store.js';
import { watchCommits } from '../store/sqlite/watch.js';
import { assert, UserError } from '../util/assert.js';
import { validateRecordSet } from '../domain/validate.js';
import {
  readSnapshotFile, snapshotEntry, SnapshotFileReader, snapshotIntervalDefaultMs, writeSnapshotPages,
  type SnapshotCopyOptions, type SnapshotEntry, type SnapshotPage,
} from './snapshot-file.js';
import { EtcdServedSource } from './etcd-source.js';
import type { DnsServerOptions } from './options.js';
import type { ServedReader, ServedSource } from './served.js';
import type { ServedChange } from '../providers/types.js';
import type { Logger } from '../util/log.js';

/** Milliseconds a read of the DNS server may wait for a lock: every tick holds up queries for at most this long. */
const readBusyTimeoutMs = 20;

interface FileIdentity {
  device: number;
  inode: number;
}

/**
 * The built-in provider's SQLite file as a served source. It reads the file
 * read-only, so a store that cannot be written (a read-only file, directory
 * or file system) is still served. Each `open` checks that the path still
 * names the file that is open (one stat): a file that was deleted is an
 * error (fail static, never an empty zone); a file that was replaced is
 * opened anew once it is a readable store. It never creates a store, so a
 * missing file cannot turn into an empty zone.
 *
 * With `snapshotPath`, it keeps a copy of the served records in that file
 * (snapshot-file.ts, the same file and format as on etcd), and a server
 * whose store cannot be read at start answers from the copy, failing static
 * from its first refresh until the store can be read again.
 */
export class SqliteServedSource implements ServedSource {
  private opened: { provider: BuiltinSqliteProvider; identity: FileIdentity } | null = null;
  /** The writer of alarms, opened only when an alarm is to be written (it fails on a store that cannot be written). */
  private alarms: { store: SqliteStore; identity: FileIdentity } | null = null;
  /** The copy `start` loaded because the store could not be read; handed to the first `open`, then dropped. */
  private fromFile: SnapshotFileReader | null = null;
  private savedVersion = -1;
  private savedAtMs = 0;
  private saving = false;

  /** `alarmName` tells this server's alarms apart from another's (alarms are keyed by kind and name). */
  constructor(
    readonly path: string,
    private readonly alarmName = 'dns-server',
    private readonly copy: SnapshotCopyOptions = {},
  ) {}

  /** Opens the store; if it cannot be read, loads the copy instead. With neither there is nothing to serve. */
  async start(): Promise<void> {
    try {
      this.open();
    } catch (error) {
      const copyPath = this.copy.snapshotPath;
      const cause = (error as Error).message;
      if (copyPath === undefined) throw error;
      if (!existsSync(copyPath)) {
        throw new UserError(
          `cannot read the store (${cause}) and there is no DNS snapshot file ${copyPath} yet: nothing to serve`,
        );
      }
      this.fromFile = new SnapshotFileReader(
        readSnapshotFile(copyPath, `the store cannot be read either (${cause}): nothing to serve`),
      );
      this.copy.onStartFromFile?.(copyPath, error as Error);
    }
  }

  open(): { reader: ServedReader; fresh: boolean } {
    if (this.fromFile !== null && this.opened === null) {
      const reader = this.fromFile;
      this.fromFile = null;
      return { reader, fresh: true };
    }
    const identity = fileIdentity(this.path);
    if (this.opened !== null && sameFile(identity, this.opened.identity)) {
      this.saveCopy(this.opened.provider);
      return { reader: this.opened.provider, fresh: false };
    }
    // The reads are made from the thread that answers queries: never wait long for a lock.
    const provider = new BuiltinSqliteProvider(this.path, {}, { readonly: true, busyTimeoutMs: readBusyTimeoutMs });
    try {
      checkServedTables(provider);
    } catch (error) {
      void provider.close();
      throw error;
    }
    this.closeOpened();
    this.opened = { provider, identity };
    this.saveCopy(provider);
    return { reader: provider, fresh: true };
  }

  async raiseAlarm(kind: string, message: string): Promise<void> {
    await this.alarmStore().raiseAlarm(kind, this.alarmName, message);
  }

  async clearAlarm(kind: string): Promise<void> {
    await this.alarmStore().clearAlarm(kind, this.alarmName);
  }

  /** Commits to the store's file, at once (store/sqlite/watch.ts); polling remains the safety net. */
  watch(onChange: () => void): () => void {
    return watchCommits(this.path, onChange);
  }

  async close(): Promise<void> {
    this.closeOpened();
    this.closeAlarms();
  }

  private closeOpened(): void {
    if (this.opened === null) return;
    if (this.opened.provider.db.open) this.opened.provider.db.close();
    this.opened = null;
  }

  private closeAlarms(): void {
    if (this.alarms === null) return;
    if (this.alarms.store.db.open) this.alarms.store.db.close();
    this.alarms = null;
  }

  /**
   * The alarm writer, if the path still names the file it has open: an alarm written into a deleted file would be
   * lost.
   */
  private alarmStore(): SqliteStore {
    const identity = fileIdentity(this.path);
    if (this.alarms !== null && sameFile(identity, this.alarms.identity)) return this.alarms.store;
    this.closeAlarms();
    if (this.opened === null || !sameFile(identity, this.opened.identity)) {
      throw new Error(`store ${this.path} is not open or was replaced`);
    }
    this.alarms = { store: new SqliteStore(this.path, undefined, { busyTimeoutMs: readBusyTimeoutMs }), identity };
    return this.alarms.store;
  }

  /**
   * Writes the copy of the served records when they moved and `snapshotIntervalMs` has passed since the last
   * attempt; never throws. The copy is read on a connection of its own and written a page at a time
   * (copyFromStore), so the thread that answers queries is given back between two pages however large the zone.
   */
  private saveCopy(reader: BuiltinSqliteProvider): void {
    const path = this.copy.snapshotPath;
    const nowMs = Date.now();
    if (path === undefined || this.saving) return;
    if (nowMs - this.savedAtMs < (this.copy.snapshotIntervalMs ?? snapshotIntervalDefaultMs)) return;
    if (reader.currentVersion() === this.savedVersion) return;
    this.savedAtMs = nowMs;
    this.saving = true;
    copyFromStore(this.path, path, nowMs).then(
      (version) => { this.savedVersion = version; },
      (error: Error) => this.copy.onSnapshotError?.(error),
    ).finally(() => { this.saving = false; });
  }
}

/** Served rows a page of the copy holds: the query thread is given back between two pages. */
const copyPageNames = 2000;

/**
 * The copy of the served records at `copyPath`, from one read snapshot of the store at `storePath` on a connection
 * of its own. Invalid record sets are left out: the copy must stay loadable. Returns the served version copied.
 */
async function copyFromStore(storePath: string, copyPath: string, nowMs: number): Promise<number> {
  const reader = new BuiltinSqliteProvider(storePath, {}, { readonly: true, busyTimeoutMs: readBusyTimeoutMs });
  try {
    return await writeSnapshotPages(copyPath, validPages(reader.servedPages(copyPageNames)), nowMs);
  } finally {
    await reader.close();
  }
}

function* validPages(pages: Iterable<{ version: number; changes: ServedChange[] }>): Generator<SnapshotPage> {
  for (const { version, changes } of pages) {
    const names: SnapshotEntry[] = [];
    for (const change of changes) {
      if (change.state !== null && validateRecordSet(change.name, change.state.records).length === 0) {
        names.push(snapshotEntry(change.state, change.version));
      }
    }
    yield { version, names };
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

/** Throws unless the store has the served tables (a SQLite file of something else is not an empty zone). */
function checkServedTables(provider: BuiltinSqliteProvider): void {
  provider.db.prepare("SELECT value FROM meta WHERE key = 'served_version'").get();
  provider.db.prepare('SELECT name FROM served LIMIT 1').get();
}

/** The source of a server's options: the etcd cluster when the store is etcd, else the SQLite file. */
export function servedSourceFor(options: DnsServerOptions, alarmName: string, log: Logger): ServedSource {
  const copy: SnapshotCopyOptions = {
    snapshotPath: options.snapshotPath,
    onSnapshotError: (error) => log.warn(
      { err: error, file: options.snapshotPath },
      'cannot write the DNS snapshot file: a restart while the store cannot be read would have nothing to serve',
    ),
    onStartFromFile: (file, cause) => log.error(
      { file, error: cause.message },
      'store unreadable at start: answering from the DNS snapshot file (fail static)',
    ),
  };
  if (options.etcd === null) return new SqliteServedSource(options.storePath, alarmName, copy);
  return new EtcdServedSource(options.etcd, alarmName, copy);
}
