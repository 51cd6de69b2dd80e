import { existsSync } from 'node:fs';
import type { IWatchResponse, Watcher } from 'etcd3';
import { assert, UserError } from '../util/assert.js';
import { EtcdConnection, prefixEnd, revisionOf, type EtcdConnectionOptions } from '../store/etcd/client.js';
import { keys } from '../store/etcd/keys.js';
import { EtcdStore } from '../store/etcd/store.js';
import { BuiltinEtcdProvider, decodeServed } from '../providers/builtin/etcd.js';
import type { ServedChange, ServedState } from '../providers/types.js';
import type { ServedSource } from './served.js';
import {
  entryState, readSnapshotFile, snapshotEntry, snapshotIntervalDefaultMs, writeSnapshotFile, type SnapshotCopyOptions,
  type SnapshotEntry,
} from './snapshot-file.js';

/** Keys per page when the mirror loads every served name. */
const loadPageKeys = 5000;

/** How the mirror follows etcd, and where it keeps its copy of the served names (snapshot-file.ts). */
export interface MirrorOptions extends SnapshotCopyOptions {
  /** How often the mirror checks that etcd answers and that it has seen the newest write. */
  probeIntervalMs?: number;
  /** A probe not answered within this long counts as a failure. */
  probeTimeoutMs?: number;
  /** A mirror behind served-meta for this long (a watch that silently stopped) reloads everything. */
  resyncAfterMs?: number;
}

interface MirrorName {
  state: ServedState;
  version: number;
}

/**
 * A local copy of every served name that follows etcd by watch, with the
 * same reads as BuiltinSqliteProvider offers the DNS server:
 * `currentVersion()` (the newest etcd revision applied) and
 * `changesSince(version)` (states and removals above it, in version order),
 * both synchronous and answered from memory. When etcd cannot be reached
 * the copy simply stops moving (the server keeps answering from it) and
 * `unreachableSinceMs` says since when; a watch that breaks or falls behind
 * is replaced by a full reload.
 */
/** How long a reload waits for etcd to acknowledge the old watch's cancellation before going on without it. */
const watchCancelWaitMs = 2000;
/** How long a reload waits for its new watch to be established before it gives up (the next probe tries again). */
const watchCreateWaitMs = 5000;

/**
 * Stops a watcher: its events are ignored from now on, and its cancellation
 * is awaited only briefly — on a connection that died without a word the
 * acknowledgement can take until gRPC notices, and a reload must not wait
 * that long (the DNS server would follow nothing meanwhile).
 */
async function stopWatcher(watcher: Watcher): Promise<void> {
  watcher.removeAllListeners('data');
  watcher.removeAllListeners('error');
  watcher.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolveWait) => {
    timer = setTimeout(resolveWait, watchCancelWaitMs);
  });
  await Promise.race([watcher.cancel().catch(() => undefined), waited]);
  clearTimeout(timer);
}

export class EtcdServedMirror {
  private readonly names = new Map<string, MirrorName>();
  private readonly tombstones = new Map<string, number>();
  /** (version, name) in version order: the index changesSince searches. Rebuilt when it outgrows the names. */
  private log: { version: number; name: string }[] = [];
  private version = 0;
  private watcher: Watcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private behindSinceMs: number | null = null;
  private reloading = false;
  private closed = false;
  /** Loaded from the snapshot file, not (yet) from etcd. */
  private fromFile = false;
  private savedVersion = -1;
  private savedAtMs = 0;
  private saving = false;
  /**
   * Set when a mirror started from its file has loaded from etcd: its versions are etcd's now, readers must rebuild.
   */
  rebuilt = false;
  unreachableSinceMs: number | null = null;
  lastError = '';

  constructor(private readonly etcd: EtcdConnection, private readonly options: MirrorOptions = {}) {}

  get size(): number {
    return this.names.size;
  }

  async start(): Promise<void> {
    assert(this.timer === null, 'internal', 'mirror started twice');
    await this.reload();
    this.startProbing();
    await this.saveSnapshot();
  }

  private startProbing(): void {
    const interval = this.options.probeIntervalMs ?? 500;
    this.timer = setInterval(() => void this.probe(), interval);
    this.timer.unref();
  }

  /**
   * A mirror that starts from the snapshot file because etcd cannot be
   * reached: it answers from the file (marked unreachable) and loads from
   * etcd as soon as etcd answers. Null when there is no file.
   */
  static fromSnapshotFile(etcd: EtcdConnection, options: MirrorOptions, cause: Error): EtcdServedMirror | null {
    const path = options.snapshotPath;
    if (path === undefined || !existsSync(path)) return null;
    const file = readSnapshotFile(path, 'etcd cannot be reached to load from instead');
    const mirror = new EtcdServedMirror(etcd, options);
    const entries = [...file.names].sort((a, b) => a[4] - b[4]);
    for (const entry of entries) mirror.setName(entry[0], entryState(entry), entry[4]);
    mirror.version = file.version;
    mirror.fromFile = true;
    mirror.unreachableSinceMs = Date.now();
    mirror.lastError = `etcd could not be reached at start (${cause.message}); `
      + `answering from ${path}, saved ${new Date(file.savedAtMs).toISOString()}`;
    mirror.startProbing();
    return mirror;
  }

  /** Writes the snapshot file when the names moved since the last write and the interval has passed; never throws. */
  private async saveSnapshot(): Promise<void> {
    const path = this.options.snapshotPath;
    const now = Date.now();
    if (path === undefined || this.fromFile || this.saving || this.version === this.savedVersion) return;
    if (now - this.savedAtMs < (this.options.snapshotIntervalMs ?? snapshotIntervalDefaultMs)) return;
    this.saving = true;
    try {
      const names: SnapshotEntry[] = [...this.names.values()].map((entry) => snapshotEntry(entry.state, entry.version));
      const version = this.version;
      await writeSnapshotFile(path, version, names, now);
      this.savedVersion = version;
      this.savedAtMs = now;
    } catch (error) {
      this.options.onSnapshotError?.(error as Error);
    } finally {
      this.saving = false;
    }
  }

  currentVersion(): number {
    return this.version;
  }

  changesSince(afterVersion: number): { version: number; changes: ServedChange[] } {
    let low = 0;
    let high = this.log.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.log[middle]!.version <= afterVersion) low = middle + 1;
      else high = middle;
    }
    const touched = new Set<string>();
    for (let index = low; index < this.log.length; index += 1) touched.add(this.log[index]!.name);
    const changes: ServedChange[] = [];
    for (const name of touched) {
      const entry = this.names.get(name);
      if (entry !== undefined) changes.push({ name, version: entry.version, state: entry.state });
      else changes.push({ name, version: this.tombstones.get(name)!, state: null });
    }
    changes.sort((a, b) => a.version - b.version);
    return { version: this.version, changes };
  }

  /**
   * Loads every served name at one revision, then watches from the next one.
   * The old watch stops first, and what was loaded is applied in one
   * synchronous step, in version order: a reader never sees half a reload,
   * and the change log stays sorted.
   */
  private async reload(): Promise<void> {
    const previous = this.watcher;
    this.watcher = null;
    if (previous !== null) await stopWatcher(previous);
    const prefix = this.etcd.key('served');
    const revision = await this.etcd.currentRevision();
    const loaded = new Map<string, MirrorName>();
    for await (const page of this.etcd.scan(prefix, prefixEnd(prefix), revision, { pageKeys: loadPageKeys })) {
      for (const kv of page) {
        const path = this.etcd.path(kv.key);
        if (!path.startsWith(keys.servedPrefix)) continue;
        const name = path.slice(keys.servedPrefix.length);
        loaded.set(name, { state: decodeServed(name, kv), version: revisionOf(kv.mod_revision) });
      }
    }
    if (this.fromFile) {
      // What the file held is replaced whole: etcd's revisions need not be the file's (a restored cluster).
      this.names.clear();
      this.tombstones.clear();
      this.log = [];
      this.version = 0;
      this.fromFile = false;
      this.rebuilt = true;
    }
    const changed = [...loaded]
      .filter(([name, entry]) => this.names.get(name)?.version !== entry.version)
      .sort((a, b) => a[1].version - b[1].version);
    for (const [name, entry] of changed) this.setName(name, entry.state, entry.version);
    // Names gone while the mirror was not watching: removed as of the reload's revision.
    for (const name of [...this.names.keys()]) if (!loaded.has(name)) this.removeName(name, revision);
    this.version = Math.max(this.version, revision);
    this.compactLog();
    await this.watchFrom(revision + 1);
  }

  private async watchFrom(revision: number): Promise<void> {
    assert(this.watcher === null, 'internal', 'a mirror watches once at a time');
    // Creating a watch is a stream, which has no call deadline: on a connection that etcd's restart left half dead it
    // can wait for ever, and with it this reload and every probe after it (the server would stay in fail static).
    const creating = this.etcd.client.watch().prefix(this.etcd.key('served')).startRevision(String(revision)).create();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      const message = `no etcd watch established within ${watchCreateWaitMs} ms`;
      timer = setTimeout(() => reject(new Error(message)), watchCreateWaitMs);
    });
    let watcher: Watcher;
    try {
      watcher = await Promise.race([creating, timeout]);
    } catch (error) {
      // A watch established after all is stopped, not leaked; the next probe's resync makes a new one.
      creating.then((late) => stopWatcher(late), () => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (this.closed) return void watcher.cancel().catch(() => undefined);
    this.watcher = watcher;
    watcher.on('data', (response: IWatchResponse) => this.applyWatch(response));
    // A cancelled watch (its revision was compacted) cannot resume: reload everything.
    watcher.on('error', (error: Error) => {
      this.lastError = error.message;
      void this.resync();
    });
  }

  private applyWatch(response: IWatchResponse): void {
    for (const event of response.events) {
      const path = this.etcd.path(event.kv.key);
      const revision = revisionOf(event.kv.mod_revision);
      if (path.startsWith(keys.servedPrefix)) {
        const name = path.slice(keys.servedPrefix.length);
        // Never an older revision over a newer one (a reload may already hold a later state of this name).
        if ((this.names.get(name)?.version ?? this.tombstones.get(name) ?? 0) >= revision) continue;
        if (event.type === 'Delete') this.removeName(name, revision);
        else this.setName(name, decodeServed(name, event.kv), revision);
      }
      this.version = Math.max(this.version, revision);
    }
    if (this.log.length > 2 * (this.names.size + this.tombstones.size) + 1000) this.compactLog();
  }

  private setName(name: string, state: ServedState, version: number): void {
    this.names.set(name, { state, version });
    this.tombstones.delete(name);
    this.log.push({ version, name });
  }

  private removeName(name: string, version: number): void {
    if (!this.names.delete(name)) return;
    this.tombstones.set(name, version);
    this.log.push({ version, name });
  }

  /** One log entry per name and tombstone, in version order. */
  private compactLog(): void {
    const log = [...this.names].map(([name, entry]) => ({ version: entry.version, name }));
    for (const [name, version] of this.tombstones) log.push({ version, name });
    this.log = log.sort((a, b) => a.version - b.version);
  }

  /** Is etcd answering, and has the mirror seen the newest served write? */
  private async probe(): Promise<void> {
    if (this.closed || this.reloading) return;
    if (this.fromFile) {
      await this.resync();
      if (!this.fromFile) this.unreachableSinceMs = null;
      return;
    }
    try {
      const response = await this.etcd.client.kv.range(
        { key: this.etcd.key(keys.servedMeta) },
        { deadline: Date.now() + (this.options.probeTimeoutMs ?? 1000) },
      );
      this.unreachableSinceMs = null;
      const meta = response.kvs[0];
      const behind = meta !== undefined && revisionOf(meta.mod_revision) > this.version;
      if (!behind) this.behindSinceMs = null;
      else {
        this.behindSinceMs ??= Date.now();
        if (Date.now() - this.behindSinceMs > (this.options.resyncAfterMs ?? 2000)) await this.resync();
      }
      await this.saveSnapshot();
    } catch (error) {
      this.lastError = (error as Error).message;
      this.unreachableSinceMs ??= Date.now();
    }
  }

  private async resync(): Promise<void> {
    if (this.reloading || this.closed) return;
    this.reloading = true;
    try {
      await this.reload();
      this.behindSinceMs = null;
    } catch (error) {
      this.lastError = (error as Error).message;
      this.unreachableSinceMs ??= Date.now();
    } finally {
      this.reloading = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.watcher !== null) await stopWatcher(this.watcher);
    this.watcher = null;
  }
}

/**
 * The served records in etcd as a source for dnsplane's DNS server
 * (src/dns, the `ServedSource` shape): a mirror that follows etcd by watch.
 * `open` throws while etcd cannot be reached, so the server's refresher
 * marks itself failing static, alarms, and keeps answering from its last
 * snapshot; when etcd answers again the mirror has caught up and the
 * refresher reads what changed meanwhile. With a snapshot file, a server
 * also starts while etcd is down: it answers from the file (fail static from
 * its first tick) until etcd answers.
 */
export class EtcdServedSource implements ServedSource {
  private provider: BuiltinEtcdProvider | null = null;
  private mirror: EtcdServedMirror | null = null;
  private store: EtcdStore | null = null;
  private opened = false;

  constructor(
    private readonly settings: EtcdConnectionOptions,
    private readonly alarmName = 'dns-server',
    private readonly mirrorOptions: MirrorOptions = {},
    private readonly startTimeoutMs = 5000,
  ) {}

  /**
   * Loads every served name from etcd, within `startTimeoutMs`; failing
   * that, from the mirror's snapshot file. With neither there is nothing to
   * serve, and the error says why.
   */
  async start(): Promise<void> {
    assert(this.provider === null, 'internal', 'etcd served source started twice');
    const provider = new BuiltinEtcdProvider(this.settings);
    this.provider = provider;
    this.store = new EtcdStore(this.settings);
    const loading = followServed(provider, this.mirrorOptions);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer from etcd within ${this.startTimeoutMs} ms`)),
        this.startTimeoutMs,
      );
    });
    try {
      this.mirror = await Promise.race([loading, timeout]);
    } catch (error) {
      // A load that finishes after all is closed, not leaked.
      loading.then((late) => late.close(), () => undefined);
      const fromFile = EtcdServedMirror.fromSnapshotFile(provider.etcd, this.mirrorOptions, error as Error);
      if (fromFile === null) {
        const file = this.mirrorOptions.snapshotPath === undefined
          ? ''
          : ` and there is no snapshot file ${this.mirrorOptions.snapshotPath} yet`;
        // The operator's to fix, said plainly: a server that has run once with etcd keeps the copy it would start from.
        throw new UserError(
          `cannot load the served records from etcd (${(error as Error).message})${file}: nothing to serve; `
            + 'check store.endpoints and that etcd is up',
        );
      }
      this.mirror = fromFile;
      this.mirrorOptions.onStartFromFile?.(this.mirrorOptions.snapshotPath ?? '', error as Error);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The mirror; its first opening always succeeds (it was loaded from etcd or its file), later ones fail while etcd is
   * unreachable.
   */
  open(): { reader: EtcdServedMirror; fresh: boolean } {
    const mirror = this.mirror;
    assert(mirror !== null, 'internal', 'etcd served source used before start()');
    if (mirror.unreachableSinceMs !== null && this.opened) {
      throw new Error(
        `etcd unreachable since ${new Date(mirror.unreachableSinceMs).toISOString()}: ${mirror.lastError}`,
      );
    }
    const fresh = !this.opened || mirror.rebuilt;
    mirror.rebuilt = false;
    this.opened = true;
    return { reader: mirror, fresh };
  }

  async raiseAlarm(kind: string, message: string): Promise<void> {
    assert(this.store !== null, 'internal', 'etcd served source used before start()');
    await this.store.raiseAlarm(kind, this.alarmName, message);
  }

  async clearAlarm(kind: string): Promise<void> {
    assert(this.store !== null, 'internal', 'etcd served source used before start()');
    await this.store.clearAlarm(kind, this.alarmName);
  }

  async close(): Promise<void> {
    await this.mirror?.close();
    await this.provider?.close();
    await this.store?.close();
  }
}

/** Starts a local mirror that follows the built-in etcd provider's served records by watch (for DNS servers). */
export async function followServed(
  provider: BuiltinEtcdProvider,
  options: MirrorOptions = {},
): Promise<EtcdServedMirror> {
  const mirror = new EtcdServedMirror(provider.etcd, options);
  await mirror.start();
  return mirror;
}
