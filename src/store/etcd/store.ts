/**
 * The distributed store: every dnsplane role on any host shares one etcd
 * cluster (v3 API, etcd 3.4+). No replication of dnsplane's own: etcd's Raft
 * log is the only copy that matters, and every conditional write is one etcd
 * transaction (Txn) whose compares decide it.
 *
 * Key layout, below the configured prefix P (default "/dnsplane/"). <g> is a
 * generation zero-padded to 12 digits so key order is numeric order; "!"
 * separates a DNS name from what follows because it sorts below every
 * character a name may contain, so key order is name order. Free-form
 * components (<kind>, <target>, <id>, <scope>) are URI-encoded.
 *
 *   P plan/latest                         newest published generation ("42"); absent = 0. Only the flip writes it.
 *   P plan/header/<g>                     header of published plan g (JSON: PlanHeader + attempt id + delta chunk
 *                                         count)
 *   P plan/stage                          the publication in progress: {generation, attempt, holder, token}
 *   P plan/delta/<g>/<n:06>               chunk n of the versions introduced at g: "name<TAB>records" lines, name
 *                                         order, at most 512 KiB each; deleted together with header g
 *   P plan/version/<name>!<since>         record set of version (name, since): compact codec, "-" for a removal
 *   P plan/superseded/<by>/<name>!<since> "" — version (name, since) was superseded at generation <by> (janitor's
 *                                         index)
 *   P lease/<name>                        {"holder"} attached to an etcd lease; the fencing token is the key's create
 *                                         revision
 *   P enactor/<id>                        {heldGeneration, enactedGeneration, heartbeatAtMs, ttlMs} (kept after death,
 *                                         like SQLite)
 *   P enactor-live/<id>                   "" attached to the enactor's etcd lease: present exactly while it is alive
 *   P health/<target>                     {state, source, updatedAtMs}
 *   P checker/<id>                        a health checker's view {probed, down, suspect, heartbeatAtMs, ttlMs}, under
 *                                         its lease
 *   P inventory/latest                    newest inventory version ("7"); only an apply's compare-and-swap writes it
 *   P inventory/version/<v>               InventoryVersionInfo + {attempt, chunks} of version v (immutable)
 *   P inventory/data/<attempt>/<n:06>     chunk n of a version's endpoints (JSON text split at 512 KiB); written before
 *                                         the flip, so a version is whole once inventory/latest names it
 *   P history/<name>!<writer>.<seq>       one history entry (JSON); id = create revision * 1024 + index in its
 *                                         transaction
 *   P alarm/<kind>/<name>                 Alarm (JSON)
 *   P counter/<name>                      decimal value
 *   P drain/<target>, P freeze/<scope>    "" while set
 *   P request-seq                         last operator request id
 *   P request/<kind>/<id:012>             pending operator request (JSON); moved to P request-done/<kind>/<id> when
 *                                         taken
 *   P served/<name>                       built-in provider: "<g>|<records>"; the marker's version is the key's mod
 *                                         revision
 *   P served-meta                         built-in provider: rewritten by every apply, so one read tells a follower it
 *                                         is behind
 *   P adoption/<name>                     an adoption grant {actor, reason, grantedAtMs}: put if absent, so the first
 *                                         grant stays
 *   P owner                               the installation's owner id {owner, former}: put if absent by the first
 *                                         process, changed only by a migration's compare-and-swap on its mod revision
 *
 * Publication (plans.ts): the leader's fencing token is the create revision
 * of P lease/planner; every write of a publication compares it and the mod
 * revision of P plan/latest. A plan that fits in one transaction is written
 * by that one transaction. A larger one is staged: P plan/stage first, then
 * the data under generation latest+1 in bounded transactions (at most 120
 * ops and 1 MiB each, below etcd's 128 ops and 1.5 MiB defaults) that also
 * compare the stage record's mod revision, then one transaction flips
 * P plan/latest together with the header. Readers only look at generations
 * up to P plan/latest, so they never see half a plan. A plan read pins one
 * etcd revision for all its ranges, so it is one snapshot.
 */
import { randomUUID } from 'node:crypto';
import type { ICompare, IRequestOp, Watcher } from 'etcd3';
import { assert } from '../../util/assert.js';
import { backoffMs, systemClock, systemRng, type Clock } from '../../util/clock.js';
import type { Generation, HealthState, PlanHeader, PlanEntry } from '../../domain/types.js';
import {
  adoptionNameProblem, checkedOwnerId, checkGrant, encodeIdentity, migratedIdentity, storedIdentity,
} from '../ownership.js';
import type {
  Adoption, Alarm, CheckerView, Counter, EnactorInfo, InventoryStore, InventoryVersionInfo, WatchableInventory,
  WatchablePlanInputs, WatchablePlans, OwnerIdentity,
  SelectiveHealthReads, PutInventoryRequest, PutInventoryResult, StoredInventory, HealthRecord, HistoryEntry,
  HistoryRetention,
  LeaseGrant, OperatorRequest, PlanReadOptions, PlanView,
  PublishRequest, PublishResult, Store, StoredHistoryEntry, SupersededVersion,
} from '../types.js';
import {
  batchOps, compare, EtcdConnection, forEachConcurrently, packedConcurrency, packGrouped, prefixEnd, rangeResponse,
  revisionOf, scanPageKeys, txnOpsMax, type EtcdConnectionOptions, type KeyValue,
} from './client.js';
import { keys } from './keys.js';
import { EtcdPlans } from './plans.js';
import { historyBeyond } from '../history-retention.js';
import { EtcdInventory } from './inventory.js';

/** Compare-and-swap loops (counters, alarms, request ids) give up after this many lost races. */
const casAttemptsMax = 50;
const casBackoffBaseMs = 2;
const casBackoffMaxMs = 100;
/** History ids: create revision * this + index within the transaction (a transaction holds at most 120 entries). */
const historyIdsPerRevision = 1024;
/** Keys whose last known state is cached for compare-and-swap. */
const lastSeenMax = 10_000;
/** Health targets decided and written per transaction (a compare and a put each, below txnOpsMax). */
const healthTargetsPerTxn = 60;
/**
 * History entries written per transaction (packed in nested groups, client.ts: packGrouped), below
 * historyIdsPerRevision.
 */
const historyEntriesPerTxn = 1000;
assert(historyEntriesPerTxn <= historyIdsPerRevision, 'internal', 'history indexes would collide within a revision');
/** Pages of this many keys when reading every history entry. */
const historyPageKeys = 5000;

export interface EtcdStoreOptions extends EtcdConnectionOptions {}

/** The value of P adoption/<name>. */
interface AdoptionValue {
  actor: string;
  reason: string;
  grantedAtMs: number;
}

interface CheckerRecord {
  probed: number;
  down: string[];
  suspect: boolean;
  heartbeatAtMs: number;
  ttlMs: number;
}

interface EnactorRecord {
  heldGeneration: Generation;
  enactedGeneration: Generation;
  heartbeatAtMs: number;
  ttlMs: number;
}

interface HistoryValue {
  fromGeneration: Generation;
  toGeneration: Generation;
  actor: string;
  kind: HistoryEntry['kind'];
  detail: string;
  atMs: number;
  index: number;
}

function parseJson<T>(kv: KeyValue): T {
  return JSON.parse(kv.value.toString()) as T;
}

function put(key: Buffer, value: string | object, lease?: string): IRequestOp {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return { request_put: { key, value: Buffer.from(text), ...(lease === undefined ? {} : { lease }) } };
}

export class EtcdStore implements Store, InventoryStore, WatchablePlans, WatchableInventory {
  readonly kind = 'etcd';
  readonly etcd: EtcdConnection;
  private readonly plans: EtcdPlans;
  private readonly inventory: EtcdInventory;
  /** The etcd lease behind each enactor id this process heartbeats for (kept alive, replaced when it expired). */
  private readonly heartbeatLeases = new Map<string, string>();
  /** Unique per store instance, so history keys written by different processes never collide. */
  private readonly writerId = randomUUID().slice(0, 8);
  private historySequence = 0;
  private readonly watchers = new Set<Watcher>();
  /** Last known state of keys this process updates by compare-and-swap (counters, alarms). */
  private readonly lastSeen = new Map<string, KeyValue | null>();

  constructor(options: EtcdStoreOptions, private readonly clock: Clock = systemClock) {
    this.etcd = new EtcdConnection(options);
    this.plans = new EtcdPlans(this.etcd, clock);
    this.inventory = new EtcdInventory(this.etcd, clock);
  }

  private key(path: string): Buffer {
    return this.etcd.key(path);
  }

  /** All keys under `prefix` (a path), in key order, at one revision (the first page's; later pages pinned to it). */
  private async listPrefix(prefix: string, pageKeys = scanPageKeys): Promise<KeyValue[]> {
    const start = this.key(prefix);
    const end = prefixEnd(start);
    const first = await this.etcd.range({ key: start, range_end: end, limit: pageKeys });
    if (!first.more || first.kvs.length === 0) return first.kvs;
    const all = [...first.kvs];
    const from = Buffer.concat([first.kvs[first.kvs.length - 1]!.key, Buffer.from([0])]);
    const pages = this.etcd.scan(from, end, revisionOf(first.header.revision), { pageKeys });
    for await (const page of pages) all.push(...page);
    return all;
  }

  /**
   * Read-modify-write of one key with a compare on its mod revision, retried
   * with jittered backoff when another writer got in between. `change`
   * returns the new value, or null to write nothing. The last value seen is
   * remembered and a failed compare reads the key in the same transaction,
   * so an uncontended update is one round trip.
   */
  private async compareAndSwap(path: string, change: (current: KeyValue | null) => string | null): Promise<boolean> {
    const key = this.key(path);
    // A remembered state may be stale: a write based on it fails its compare; a decision not to write is re-made fresh.
    let fresh = !this.lastSeen.has(path);
    let current = fresh ? await this.etcd.get(path) : this.lastSeen.get(path)!;
    for (let attempt = 0; attempt < casAttemptsMax; attempt += 1) {
      if (attempt > 0) await this.clock.sleep(backoffMs(systemRng, attempt, casBackoffBaseMs, casBackoffMaxMs));
      let next = change(current);
      if (next === null && !fresh) {
        current = await this.etcd.get(path);
        fresh = true;
        next = change(current);
      }
      if (next === null) return false;
      const guard = current === null ? compare.absent(key) : compare.modified(key, revisionOf(current.mod_revision));
      const failure = [{ request_range: { key } }];
      const response = await this.etcd.txn({ compare: [guard], success: [put(key, next)], failure });
      if (response.succeeded) {
        this.rememberWritten(path, key, next, revisionOf(response.header.revision), current);
        return true;
      }
      current = response.responses[0]?.response_range.kvs[0] ?? null;
      fresh = true;
    }
    this.lastSeen.delete(path);
    throw new Error(`etcd key ${path}: lost ${casAttemptsMax} compare-and-swap races in a row`);
  }

  /** What this process wrote last, as etcd holds it now (bounded: the cache forgets everything past its size). */
  private rememberWritten(path: string, key: Buffer, value: string, revision: number, previous: KeyValue | null): void {
    if (this.lastSeen.size >= lastSeenMax) this.lastSeen.clear();
    const createRevision = previous === null ? String(revision) : previous.create_revision;
    this.lastSeen.set(path, {
      key, value: Buffer.from(value), create_revision: createRevision, mod_revision: String(revision),
      version: '0', lease: '0',
    });
  }

  // Plans (plans.ts).

  async latestGeneration(): Promise<Generation> {
    return (await this.plans.latest()).generation;
  }

  async publishPlan(request: PublishRequest): Promise<PublishResult> {
    return this.plans.publish(request);
  }

  async readPlan(generation: Generation, options: PlanReadOptions = {}): Promise<PlanView | null> {
    return this.plans.read(generation, options);
  }

  async readEntriesAt(names: readonly string[], generation: Generation): Promise<Map<string, PlanEntry>> {
    return this.plans.entriesAt(names, generation);
  }

  async listPlans(limit: number): Promise<PlanHeader[]> {
    return this.plans.listHeaders(limit);
  }

  async oldestGeneration(): Promise<Generation> {
    return this.plans.oldest();
  }

  async listSuperseded(floor: Generation, limit: number): Promise<SupersededVersion[]> {
    return this.plans.listSuperseded(floor, limit);
  }

  async deletePlanData(
    versions: readonly SupersededVersion[], headersBelow: Generation,
  ): Promise<{ versions: number; headers: number }> {
    return this.plans.deleteData(versions, headersBelow);
  }

  watchablePlans(): WatchablePlans {
    return this;
  }

  watchableInventory(): WatchableInventory {
    return this;
  }

  watchablePlanInputs(): WatchablePlanInputs {
    return this;
  }

  /** Health is read whole (one range read): etcd has no index to read a page of targets by state. */
  selectiveHealthReads(): SelectiveHealthReads | null {
    return null;
  }

  /**
   * Calls `listener` with each newly published generation, from a watch on
   * P plan/latest; the returned function stops it. Best effort: a watch
   * that breaks only costs the enactor its early wake-up (it still polls).
   */
  watchGeneration(listener: (generation: Generation) => void): () => void {
    return this.watchNumber(keys.latest, listener);
  }

  watchInventory(listener: (version: number) => void): () => void {
    return this.watchNumber(keys.inventoryLatest, listener);
  }

  /** Calls `listener` on each write or delete under the health, drain, freeze and request prefixes. */
  watchPlanInputs(listener: () => void): () => void {
    const prefixes = [keys.healthPrefix, keys.drainPrefix, keys.freezePrefix, keys.requestPrefix];
    const stops = prefixes.map((prefix) => this.watchKeys(this.key(prefix), true, () => listener()));
    return () => stops.forEach((stop) => stop());
  }

  /** Calls `listener` with the number each put writes to `path` (best effort: errors end the watch quietly). */
  private watchNumber(path: string, listener: (value: number) => void): () => void {
    return this.watchKeys(this.key(path), false, (kv) => {
      if (kv !== null) listener(Number(kv.value.toString()));
    });
  }

  /**
   * Calls `listener` with each put (its key-value) and, for a prefix, each delete (null) of `key` or the keys under
   * it. Best effort: a watch that breaks only costs its caller an early wake-up (it still polls).
   */
  private watchKeys(key: Buffer, prefix: boolean, listener: (kv: KeyValue | null) => void): () => void {
    let watcher: Watcher | null = null;
    let stopped = false;
    const builder = this.etcd.client.watch();
    (prefix ? builder.prefix(key) : builder.key(key)).create().then(
      (created) => {
        if (stopped) return void created.cancel().catch(() => undefined);
        watcher = created;
        this.watchers.add(created);
        created.on('put', (kv) => listener(kv));
        if (prefix) created.on('delete', () => listener(null));
        created.on('error', () => undefined);
      },
      () => undefined,
    );
    return () => {
      stopped = true;
      if (watcher === null) return;
      this.watchers.delete(watcher);
      watcher.cancel().catch(() => undefined);
    };
  }

  // Leases: an etcd lease carries expiry; the key's create revision is the fencing token.

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<LeaseGrant | null> {
    assert(ttlMs > 0, 'internal', 'lease TTL must be positive');
    const path = keys.lease(name);
    const startedMs = this.clock.nowMs();
    const current = await this.etcd.get(path);
    if (current !== null) {
      if (parseJson<{ holder: string }>(current).holder !== holder) return null;
      // The same holder asking again in time keeps its token, as with SQLite.
      const grant = { name, holder, token: revisionOf(current.create_revision), expiresAtMs: 0 };
      const renewed = await this.renewLease(grant, ttlMs);
      if (renewed !== null) return renewed;
    }
    const leaseId = await this.etcd.grantLease(ttlMs);
    const key = this.key(path);
    const created = await this.etcd.txn({ compare: [compare.absent(key)], success: [put(key, { holder }, leaseId)] });
    if (!created.succeeded) {
      await this.etcd.revokeLease(leaseId);
      return null;
    }
    const token = revisionOf(created.header.revision);
    assert(token > 0, 'S6', `lease ${name} created at revision ${token}`);
    return { name, holder, token, expiresAtMs: startedMs + ttlMs };
  }

  async renewLease(grant: LeaseGrant, ttlMs: number): Promise<LeaseGrant | null> {
    const startedMs = this.clock.nowMs();
    const current = await this.etcd.get(keys.lease(grant.name));
    if (current === null || revisionOf(current.create_revision) !== grant.token) return null;
    if (parseJson<{ holder: string }>(current).holder !== grant.holder) return null;
    // The key cannot outlive its lease, so a keep-alive that finds the lease alive also proves the key is still ours.
    const remainingSeconds = await this.etcd.keepAliveOnce(current.lease);
    if (remainingSeconds <= 0) return null;
    return { ...grant, expiresAtMs: startedMs + Math.min(ttlMs, remainingSeconds * 1000) };
  }

  async releaseLease(grant: LeaseGrant): Promise<void> {
    const current = await this.etcd.get(keys.lease(grant.name));
    if (current === null || revisionOf(current.create_revision) !== grant.token) return;
    await this.etcd.revokeLease(current.lease);
  }

  // Enactor heartbeats: a record that stays, and a liveness key on an etcd lease.

  private async heartbeatLease(id: string, ttlMs: number): Promise<string> {
    const known = this.heartbeatLeases.get(id);
    if (known !== undefined && (await this.etcd.keepAliveOnce(known)) > 0) return known;
    const leaseId = await this.etcd.grantLease(ttlMs);
    this.heartbeatLeases.set(id, leaseId);
    return leaseId;
  }

  async heartbeat(info: Omit<EnactorInfo, 'heartbeatAtMs' | 'expiresAtMs'>, ttlMs: number): Promise<void> {
    const leaseId = await this.heartbeatLease(info.id, ttlMs);
    const { heldGeneration, enactedGeneration } = info;
    const record: EnactorRecord = { heldGeneration, enactedGeneration, heartbeatAtMs: this.clock.nowMs(), ttlMs };
    const live = put(this.key(keys.live(info.id)), '', leaseId);
    await this.etcd.txn({ success: [put(this.key(keys.enactor(info.id)), record), live] });
  }

  /**
   * Liveness is the etcd lease, not a clock: expiresAtMs is reported so that
   * `expiresAtMs > now` (the janitor's test) agrees with it — at least now+1
   * while the lease lives, at most now once it is gone.
   */
  async listEnactors(): Promise<EnactorInfo[]> {
    const records = this.key(keys.enactorPrefix);
    const live = this.key(keys.livePrefix);
    const { responses } = await this.etcd.readMany([
      { key: records, range_end: prefixEnd(records) }, { key: live, range_end: prefixEnd(live), keys_only: true },
    ]);
    const idOf = (kv: KeyValue) => decodeURIComponent(this.etcd.path(kv.key).slice(keys.livePrefix.length));
    const alive = new Set(responses[1]!.kvs.map(idOf));
    const now = this.clock.nowMs();
    return responses[0]!.kvs.map((kv) => {
      const id = decodeURIComponent(this.etcd.path(kv.key).slice(keys.enactorPrefix.length));
      const record = parseJson<EnactorRecord>(kv);
      const recorded = record.heartbeatAtMs + record.ttlMs;
      return {
        id, heldGeneration: record.heldGeneration, enactedGeneration: record.enactedGeneration,
        heartbeatAtMs: record.heartbeatAtMs,
        expiresAtMs: alive.has(id) ? Math.max(recorded, now + 1) : Math.min(recorded, now),
      };
    }).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  // Inventory versions (inventory.ts).

  async latestInventoryVersion(): Promise<number> {
    return this.inventory.latest();
  }

  async readInventory(version?: number): Promise<StoredInventory | null> {
    return this.inventory.read(version);
  }

  async listInventoryVersions(limit: number): Promise<InventoryVersionInfo[]> {
    return this.inventory.list(limit);
  }

  async putInventory(request: PutInventoryRequest): Promise<PutInventoryResult> {
    return this.inventory.put(request);
  }

  /** A checker's view lives under an etcd lease: when the checker stops renewing it, the view is gone. */
  async publishCheckerView(view: Omit<CheckerView, 'heartbeatAtMs' | 'expiresAtMs'>, ttlMs: number): Promise<void> {
    const leaseId = await this.heartbeatLease(`checker:${view.id}`, ttlMs);
    const { probed, down, suspect } = view;
    const record: CheckerRecord = { probed, down, suspect, heartbeatAtMs: this.clock.nowMs(), ttlMs };
    await this.etcd.txn({ success: [put(this.key(keys.checker(view.id)), record, leaseId)] });
  }

  async listCheckerViews(): Promise<CheckerView[]> {
    const now = this.clock.nowMs();
    return (await this.listPrefix(keys.checkerPrefix)).map((kv) => {
      const record = parseJson<CheckerRecord>(kv);
      const id = decodeURIComponent(this.etcd.path(kv.key).slice(keys.checkerPrefix.length));
      // Present means its lease lives: report it live whatever the clocks say (as listEnactors does).
      const { probed, down, suspect, heartbeatAtMs } = record;
      return { id, probed, down, suspect, heartbeatAtMs, expiresAtMs: Math.max(heartbeatAtMs + record.ttlMs, now + 1) };
    }).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  // Health.

  async setHealth(target: string, state: HealthState, source: string): Promise<void> {
    await this.setHealthMany([{ target, state }], source);
  }

  /**
   * Source "operator" is an override that writes from any other source never
   * replace: each slice is written in one transaction that compares the mod
   * revision of every key it decided on, and decided again if one moved.
   */
  async setHealthMany(records: readonly { target: string; state: HealthState }[], source: string): Promise<void> {
    for (let start = 0; start < records.length; start += healthTargetsPerTxn) {
      const slice = records.slice(start, start + healthTargetsPerTxn);
      for (let attempt = 0; ; attempt += 1) {
        assert(attempt < casAttemptsMax, 'internal', `health: lost ${casAttemptsMax} races in a row`);
        if (attempt > 0) await this.clock.sleep(backoffMs(systemRng, attempt, casBackoffBaseMs, casBackoffMaxMs));
        if (await this.tryWriteHealth(slice, source)) break;
      }
    }
  }

  private async tryWriteHealth(
    records: readonly { target: string; state: HealthState }[], source: string,
  ): Promise<boolean> {
    const reads = records.map(({ target }) => ({ key: this.key(keys.health(target)) }));
    const { responses } = await this.etcd.readMany(reads);
    const guards: ICompare[] = [];
    const ops: IRequestOp[] = [];
    const updatedAtMs = this.clock.nowMs();
    records.forEach((record, index) => {
      const key = this.key(keys.health(record.target));
      const current = responses[index]!.kvs[0];
      // The override rule: a probe result never lands on an operator's row.
      const overridden = current !== undefined && parseJson<{ source: string }>(current).source === 'operator';
      if (overridden && source !== 'operator') return;
      if (current === undefined) guards.push(compare.absent(key));
      else guards.push(compare.modified(key, revisionOf(current.mod_revision)));
      ops.push(put(key, { state: record.state, source, updatedAtMs }));
    });
    if (ops.length === 0) return true;
    return (await this.etcd.txn({ compare: guards, success: ops })).succeeded;
  }

  async clearHealth(target: string): Promise<boolean> {
    const response = await this.etcd.client.kv.deleteRange({ key: this.key(keys.health(target)) });
    return Number(response.deleted) > 0;
  }

  async readHealth(): Promise<HealthRecord[]> {
    return (await this.listPrefix(keys.healthPrefix)).map((kv) => {
      const value = parseJson<{ state: HealthState; source: string; updatedAtMs: number }>(kv);
      return { target: decodeURIComponent(this.etcd.path(kv.key).slice(keys.healthPrefix.length)), ...value };
    });
  }

  // History: one key per entry, ordered by the revision that wrote it.

  async appendHistory(entries: readonly HistoryEntry[]): Promise<void> {
    const now = this.clock.nowMs();
    // Sequence numbers in the order given, before anything is sent (keys of one writer never repeat).
    const first = this.historySequence + 1;
    this.historySequence += entries.length;
    // The entries go historyEntriesPerTxn to a packed transaction (packGrouped), each slice built when it is sent; an
    // entry's id is its transaction's revision and its position in it (below historyIdsPerRevision), which orders the
    // entries that share a revision. (Transactions go several at once: their revisions are in any order.)
    const slices: number[] = [];
    for (let start = 0; start < entries.length; start += historyEntriesPerTxn) slices.push(start);
    await forEachConcurrently(slices, packedConcurrency, async (start) => {
      const ops = entries.slice(start, start + historyEntriesPerTxn).map((entry, index) => {
        const sequence = String(first + start + index).padStart(12, '0');
        const key = this.key(`${keys.historyOf(entry.name)}${this.writerId}.${sequence}`);
        const value: HistoryValue = {
          fromGeneration: entry.fromGeneration, toGeneration: entry.toGeneration, actor: entry.actor, kind: entry.kind,
          detail: entry.detail, atMs: entry.atMs ?? now, index,
        };
        return put(key, value);
      });
      // One transaction, unless the slice's entries exceed txnBytesMax (the indexes stay distinct within each).
      for (const txn of packGrouped(ops, historyEntriesPerTxn)) await this.etcd.txn({ success: txn.groups });
    });
  }

  async readHistory(name: string | null, limit: number): Promise<StoredHistoryEntry[]> {
    const kvs = await this.listPrefix(name === null ? keys.historyPrefix : keys.historyOf(name), historyPageKeys);
    const entries = kvs.map((kv): StoredHistoryEntry => {
      const value = parseJson<HistoryValue>(kv);
      const path = this.etcd.path(kv.key).slice(keys.historyPrefix.length);
      const entryName = decodeURIComponent(path.slice(0, path.lastIndexOf('!')));
      assert(value.index < historyIdsPerRevision, 'internal', () => `history index ${value.index} too large`);
      return {
        id: revisionOf(kv.create_revision) * historyIdsPerRevision + value.index, name: entryName,
        fromGeneration: value.fromGeneration, toGeneration: value.toGeneration, actor: value.actor, kind: value.kind,
        detail: value.detail, atMs: value.atMs,
      };
    });
    entries.sort((a, b) => a.id - b.id);
    return entries.slice(Math.max(0, entries.length - limit));
  }

  /** The retention rule of history-retention.ts over every entry (read as readHistory reads them), deleted by key. */
  async pruneHistory(rule: HistoryRetention, limit: number): Promise<number> {
    const kvs = await this.listPrefix(keys.historyPrefix, historyPageKeys);
    const entries = kvs.map((kv) => {
      const value = parseJson<HistoryValue>(kv);
      const path = this.etcd.path(kv.key).slice(keys.historyPrefix.length);
      const id = revisionOf(kv.create_revision) * historyIdsPerRevision + value.index;
      return { id, name: decodeURIComponent(path.slice(0, path.lastIndexOf('!'))), atMs: value.atMs, key: kv.key };
    }).sort((a, b) => a.id - b.id);
    const byId = new Map(entries.map((entry) => [entry.id, entry.key]));
    const doomed = historyBeyond(entries, rule).slice(0, limit).map((id) => byId.get(id)!);
    const deletes: IRequestOp[] = doomed.map((key) => ({ request_delete_range: { key } }));
    for (const ops of batchOps(deletes)) await this.etcd.txn({ success: ops });
    return doomed.length;
  }

  // Alarms and counters: compare-and-swap on the key's mod revision.

  async raiseAlarm(kind: string, name: string, message: string): Promise<void> {
    const now = this.clock.nowMs();
    await this.compareAndSwap(keys.alarm(kind, name), (current) => {
      const previous = current === null ? null : parseJson<Alarm>(current);
      const alarm: Alarm = previous === null
        ? { kind, name, message, count: 1, raisedAtMs: now, lastAtMs: now, clearedAtMs: null }
        : {
          ...previous, message, count: previous.count + 1, lastAtMs: now,
          raisedAtMs: previous.clearedAtMs === null ? previous.raisedAtMs : now, clearedAtMs: null,
        };
      return JSON.stringify(alarm);
    });
    await this.incrementCounter(`alarms_${kind}`);
  }

  async clearAlarm(kind: string, name: string): Promise<void> {
    const now = this.clock.nowMs();
    await this.compareAndSwap(keys.alarm(kind, name), (current) => {
      if (current === null) return null;
      const alarm = parseJson<Alarm>(current);
      return alarm.clearedAtMs !== null ? null : JSON.stringify({ ...alarm, clearedAtMs: now });
    });
  }

  async listAlarms(activeOnly: boolean): Promise<Alarm[]> {
    const alarms = (await this.listPrefix(keys.alarmPrefix)).map((kv) => parseJson<Alarm>(kv));
    return alarms.filter((alarm) => !activeOnly || alarm.clearedAtMs === null).sort((a, b) => b.lastAtMs - a.lastAtMs);
  }

  async incrementCounter(name: string, by = 1): Promise<void> {
    await this.compareAndSwap(keys.counter(name), (current) => {
      return String((current === null ? 0 : Number(current.value.toString())) + by);
    });
  }

  async readCounters(): Promise<Counter[]> {
    return (await this.listPrefix(keys.counterPrefix)).map((kv) => ({
      name: decodeURIComponent(this.etcd.path(kv.key).slice(keys.counterPrefix.length)),
      value: Number(kv.value.toString()),
    })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  // Operator controls.

  private async setFlag(path: string, on: boolean): Promise<void> {
    if (on) await this.etcd.txn({ success: [put(this.key(path), '')] });
    else await this.etcd.client.kv.deleteRange({ key: this.key(path) });
  }

  private async listFlags(prefix: string): Promise<string[]> {
    const kvs = await this.listPrefix(prefix);
    return kvs.map((kv) => decodeURIComponent(this.etcd.path(kv.key).slice(prefix.length))).sort();
  }

  async setDrain(target: string, drained: boolean): Promise<void> {
    await this.setFlag(keys.drain(target), drained);
  }

  async listDrains(): Promise<string[]> {
    return this.listFlags(keys.drainPrefix);
  }

  async setFreeze(scope: string, frozen: boolean): Promise<void> {
    await this.setFlag(keys.freeze(scope), frozen);
  }

  async listFreezes(): Promise<string[]> {
    return this.listFlags(keys.freezePrefix);
  }

  async addRequest(kind: OperatorRequest['kind'], subject: string, actor: string, reason: string): Promise<number> {
    const sequenceKey = this.key(keys.requestSequence);
    for (let attempt = 0; attempt < casAttemptsMax; attempt += 1) {
      if (attempt > 0) await this.clock.sleep(backoffMs(systemRng, attempt, casBackoffBaseMs, casBackoffMaxMs));
      const current = await this.etcd.get(keys.requestSequence);
      const id = (current === null ? 0 : Number(current.value.toString())) + 1;
      const guard = current === null
        ? compare.absent(sequenceKey)
        : compare.modified(sequenceKey, revisionOf(current.mod_revision));
      const request = { kind, subject, actor, reason, createdAtMs: this.clock.nowMs() };
      const success = [put(sequenceKey, String(id)), put(this.key(keys.request(kind, id)), request)];
      const response = await this.etcd.txn({ compare: [guard], success });
      if (response.succeeded) return id;
    }
    throw new Error(`operator request id: lost ${casAttemptsMax} races in a row`);
  }

  /** Takes pending requests in one transaction that checks none was taken meanwhile (never one to two takers). */
  async takeRequests(kind: OperatorRequest['kind'], limit: number): Promise<OperatorRequest[]> {
    const prefix = this.key(keys.requestsOf(kind));
    for (let attempt = 0; attempt < casAttemptsMax; attempt += 1) {
      if (attempt > 0) await this.clock.sleep(backoffMs(systemRng, attempt, casBackoffBaseMs, casBackoffMaxMs));
      const pending = await this.etcd.rangeUpTo({ key: prefix, range_end: prefixEnd(prefix) }, Math.min(limit, 40));
      if (pending.length === 0) return [];
      const now = this.clock.nowMs();
      const taken = pending.map((kv) => {
        const id = Number(this.etcd.path(kv.key).slice(keys.requestsOf(kind).length));
        return { kv, id, value: parseJson<Omit<OperatorRequest, 'id'>>(kv) };
      });
      const response = await this.etcd.txn({
        compare: taken.map(({ kv }) => compare.modified(kv.key, revisionOf(kv.mod_revision))),
        success: taken.flatMap(({ kv, id, value }) => [
          { request_delete_range: { key: kv.key } },
          put(this.key(keys.requestDone(kind, id)), { ...value, doneAtMs: now }),
        ]),
      });
      if (response.succeeded) {
        return taken.map(({ id, value }) => {
          const { subject, actor, reason, createdAtMs } = value;
          return { id, kind, subject, actor, reason, createdAtMs };
        });
      }
    }
    throw new Error(`operator requests: lost ${casAttemptsMax} races in a row`);
  }

  // Adoption grants and the owner id (Adoptions, Ownership; their rules in ../ownership.ts).

  /** Put if absent: the first grant of a name stays, a second one changes nothing. */
  async grantAdoption(name: string, actor: string, reason: string): Promise<void> {
    checkGrant(name, actor, reason);
    const key = this.key(keys.adoption(name));
    const value: AdoptionValue = { actor, reason, grantedAtMs: this.clock.nowMs() };
    await this.etcd.txn({ compare: [compare.absent(key)], success: [put(key, value)] });
  }

  private adoptionOf(kv: KeyValue): Adoption {
    const { actor, reason, grantedAtMs } = parseJson<AdoptionValue>(kv);
    return { name: this.etcd.path(kv.key).slice(keys.adoptionPrefix.length), actor, reason, grantedAtMs };
  }

  /**
   * The grants among `names`, read at one revision: a point read per name when they are few (one transaction) or
   * fewer than the grants (counted first); otherwise the grants' prefix is scanned, so 100,000 names with few grants
   * cost a read of the grants, not 100,000 point reads.
   */
  async readAdoptions(names: readonly string[]): Promise<Map<string, Adoption>> {
    const found = new Map<string, Adoption>();
    const pointReads = async (revision?: number) => {
      // A name that cannot be granted has no grant (and no key to read).
      const wanted = names.filter((name) => adoptionNameProblem(name) === null);
      const ranges = wanted.map((name) => ({ key: this.key(keys.adoption(name)) }));
      for (const response of (await this.etcd.readMany(ranges, revision)).responses) {
        const adoption = response.kvs[0] === undefined ? undefined : this.adoptionOf(response.kvs[0]);
        if (adoption !== undefined) found.set(adoption.name, adoption);
      }
      return found;
    };
    if (names.length === 0) return found;
    if (names.length <= txnOpsMax) return pointReads();
    const start = this.key(keys.adoptionPrefix);
    const end = prefixEnd(start);
    const counted = await this.etcd.range({ key: start, range_end: end, count_only: true });
    const revision = revisionOf(counted.header.revision);
    if (Number(counted.count) > names.length) return pointReads(revision);
    const asked = new Set(names);
    for await (const page of this.etcd.scan(start, end, revision)) {
      for (const kv of page) {
        const adoption = this.adoptionOf(kv);
        if (asked.has(adoption.name)) found.set(adoption.name, adoption);
      }
    }
    return found;
  }

  async revokeAdoption(name: string): Promise<boolean> {
    if (adoptionNameProblem(name) !== null) return false; // a name that cannot be granted has no grant
    const response = await this.etcd.client.kv.deleteRange({ key: this.key(keys.adoption(name)) });
    return Number(response.deleted) > 0;
  }

  /** Every grant, in name order (key order). */
  async listAdoptions(): Promise<Adoption[]> {
    return (await this.listPrefix(keys.adoptionPrefix)).map((kv) => this.adoptionOf(kv));
  }

  /** One transaction: put `proposed` if P owner is absent (create revision 0), else read what is stored. */
  async ownerIdentity(proposed: string): Promise<OwnerIdentity> {
    checkedOwnerId(proposed);
    const key = this.key(keys.owner);
    const identity: OwnerIdentity = { owner: proposed, former: [] };
    const response = await this.etcd.txn({
      compare: [compare.absent(key)],
      success: [put(key, encodeIdentity(identity))],
      failure: [{ request_range: { key } }],
    });
    if (response.succeeded) return identity;
    const stored = rangeResponse(response.responses[0]!).kvs[0];
    assert(stored !== undefined, 'internal', 'etcd owner key is neither absent nor present');
    return storedIdentity(parseJson(stored));
  }

  /** A compare-and-swap on P owner's mod revision (retried on a lost race); a refusal writes nothing. */
  async migrateOwner(owner: string): Promise<OwnerIdentity> {
    checkedOwnerId(owner);
    // Decided on a fresh read: a refusal must name the identity as it is, not as this process last wrote it.
    this.lastSeen.delete(keys.owner);
    let next: OwnerIdentity | null = null;
    await this.compareAndSwap(keys.owner, (current) => {
      next = migratedIdentity(current === null ? null : storedIdentity(parseJson(current)), owner);
      return encodeIdentity(next);
    });
    assert(next !== null, 'internal', 'owner migration wrote no identity');
    return next;
  }

  async close(): Promise<void> {
    for (const watcher of this.watchers) await watcher.cancel().catch(() => undefined);
    this.watchers.clear();
    this.etcd.close();
  }
}
