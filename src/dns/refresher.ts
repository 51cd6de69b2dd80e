import { assert } from '../util/assert.js';
import type { Logger } from '../util/log.js';
import type { DnsCounters } from './counters.js';
import { ServedSnapshot } from './snapshot.js';
import type { ServedReader, ServedSource } from './served.js';

export const failStaticAlarm = 'dns-fail-static';
/** Least time between two refreshes triggered by change notices (polling keeps its own interval). */
const noticeSpacingMs = 5;

export interface RefresherOptions {
  zone: string;
  intervalMs: number;
  /** While failing, the log repeats at most this often. */
  failureLogIntervalMs: number;
  /** While failing, an alarm that could not be written is retried at most this often. */
  alarmRetryIntervalMs: number;
}

/**
 * Keeps the in-memory snapshot in step with the store by polling
 * served_version (one indexed read) every `intervalMs` — and at once when
 * the source reports its files changed — reading only the rows above the
 * snapshot's version when it moved. Queries read the snapshot and never
 * the database.
 *
 * Fail static: when the store cannot be read, the last good snapshot stays
 * in service, the failure is counted, logged and alarmed (in the store,
 * as soon as it can be written), and every tick tries again. A managed
 * name never loses its answers because of a read error.
 */
export class SnapshotRefresher {
  snapshot: ServedSnapshot;
  private needsReload = false;
  private failingSinceMs: number | null = null;
  private lastFailureLogMs = 0;
  private alarm: 'none' | 'pending' | 'written' = 'none';
  private alarmAttemptMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopWatching: () => void = () => {};
  /** Set while a refresh triggered by a change notice is scheduled: a burst of notices costs one refresh. */
  private soon: NodeJS.Timeout | null = null;
  private lastTickMs = 0;

  constructor(
    private readonly source: ServedSource,
    private readonly options: RefresherOptions,
    private readonly counters: DnsCounters,
    private readonly log: Logger,
    private readonly nowMs: () => number = Date.now,
  ) {
    assert(options.intervalMs > 0, 'internal', 'refresh interval must be positive');
    this.snapshot = new ServedSnapshot(options.zone);
  }

  get failStatic(): boolean {
    return this.failingSinceMs !== null;
  }

  /** The first load must succeed: with no snapshot at all there is nothing to serve statically. */
  load(): void {
    const { reader } = this.source.open();
    this.snapshot = this.fullSnapshot(reader);
    this.publish();
  }

  start(): void {
    assert(this.timer === null, 'internal', 'refresher started twice');
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    // The refresh alone must not keep a process alive whose sockets are closed.
    this.timer.unref();
    this.stopWatching = this.source.watch?.(() => this.refreshSoon()) ?? (() => {});
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.soon !== null) clearTimeout(this.soon);
    this.stopWatching();
    this.timer = null;
    this.soon = null;
  }

  /**
   * A change notice (the store's files were written): refresh now rather than at the next poll, but at most
   * once per noticeSpacingMs, so a burst of writes (a large plan being stored) costs a few refreshes, not one each.
   */
  private refreshSoon(): void {
    if (this.soon !== null || this.timer === null) return;
    const waitMs = Math.max(0, this.lastTickMs + noticeSpacingMs - this.nowMs());
    this.soon = setTimeout(() => {
      this.soon = null;
      this.tick();
    }, waitMs);
    this.soon.unref();
  }

  /** One refresh; never throws. */
  tick(): void {
    this.lastTickMs = this.nowMs();
    try {
      const { reader, fresh } = this.source.open();
      if (fresh) this.needsReload = true;
      if (this.needsReload) this.reload(reader);
      else this.refresh(reader);
      this.counters.refreshes += 1;
      this.recovered();
    } catch (error) {
      this.failed(error);
    }
    this.publish();
  }

  private refresh(reader: ServedReader): void {
    const version = reader.currentVersion();
    if (version === this.snapshot.version) return;
    // A lower version means another store now sits under the same file: start over rather than apply a delta to it.
    if (version < this.snapshot.version) return this.reload(reader);
    const { version: readVersion, changes } = reader.changesSince(this.snapshot.version);
    if (readVersion < this.snapshot.version) return this.reload(reader);
    const report = this.snapshot.apply(changes, readVersion);
    this.counters.rejectedRecordSets += report.rejected.length;
    if (report.rejected.length > 0) {
      this.log.warn(
        { problems: report.rejected.slice(0, 5) },
        'invalid record sets in the store: kept serving the previous sets',
      );
    }
  }

  /** Rebuilds the snapshot from a store opened anew (the file was replaced). */
  private reload(reader: ServedReader): void {
    const next = this.fullSnapshot(reader);
    // A replaced file with no names at all is far more likely an accident (a blank file) than the operator's
    // intent; emptying the whole zone is exactly the outcome dnsplane exists to prevent (S1).
    if (next.size === 0 && this.snapshot.size > 0) {
      throw new Error('the store now serves no names at all; keeping the last good snapshot');
    }
    this.snapshot = next;
    this.needsReload = false;
    this.log.warn(
      { version: next.version, names: next.size },
      'store file replaced: snapshot rebuilt from the new file',
    );
  }

  private fullSnapshot(reader: ServedReader): ServedSnapshot {
    const next = new ServedSnapshot(this.options.zone);
    const { version, changes } = reader.changesSince(0);
    const report = next.apply(changes, version);
    this.counters.rejectedRecordSets += report.rejected.length;
    return next;
  }

  private failed(error: unknown): void {
    const now = this.nowMs();
    this.counters.refreshFailures += 1;
    const message = error instanceof Error ? error.message : String(error);
    if (this.failingSinceMs === null) {
      this.failingSinceMs = now;
      this.alarm = 'pending';
      this.alarmAttemptMs = 0;
    }
    if (now - this.lastFailureLogMs >= this.options.failureLogIntervalMs) {
      this.lastFailureLogMs = now;
      this.log.error(
        {
          alarm: failStaticAlarm,
          error: message,
          version: this.snapshot.version,
          names: this.snapshot.size,
          failingForMs: now - this.failingSinceMs,
        },
        'store unreadable: answering from the last good snapshot (fail static)',
      );
    }
    this.writeAlarm(
      `store unreadable since ${new Date(this.failingSinceMs).toISOString()} (${message}); `
        + `answering from snapshot version ${this.snapshot.version}`,
    );
  }

  private recovered(): void {
    if (this.failingSinceMs === null) return;
    const failedForMs = this.nowMs() - this.failingSinceMs;
    this.failingSinceMs = null;
    this.log.warn(
      { alarm: failStaticAlarm, failedForMs, version: this.snapshot.version },
      'store readable again: fail static ended',
    );
    // Record the episode even if the store was unwritable the whole time, then clear it: the condition is gone.
    const record = this.alarm === 'pending'
      ? this.source.raiseAlarm(
        failStaticAlarm,
        `store was unreadable for ${failedForMs} ms; answered from the last good snapshot`,
      )
      : Promise.resolve();
    this.alarm = 'none';
    record
      .then(() => this.source.clearAlarm(failStaticAlarm))
      .catch((error: unknown) => this.log.warn({ error: String(error) }, 'could not record the fail-static alarm'));
  }

  /** Best effort: the store may be the very thing that is broken. Retried while failing, at most once per interval. */
  private writeAlarm(message: string): void {
    const now = this.nowMs();
    if (this.alarm !== 'pending' || now - this.alarmAttemptMs < this.options.alarmRetryIntervalMs) return;
    this.alarmAttemptMs = now;
    this.source.raiseAlarm(failStaticAlarm, message).then(
      () => { if (this.alarm === 'pending') this.alarm = 'written'; },
      () => { /* still unwritable: retried on a later tick */ },
    );
  }

  private publish(): void {
    this.counters.failStatic = this.failStatic;
    this.counters.snapshotVersion = this.snapshot.version;
    this.counters.snapshotNames = this.snapshot.size;
  }
}
