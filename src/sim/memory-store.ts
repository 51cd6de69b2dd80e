import { assert } from '../util/assert.js';
import { historyBeyond } from '../store/history-retention.js';
import type { Clock } from '../util/clock.js';
import type {
  EndpointSpec, Generation, HealthState, PlanEntry, PlanHeader, RecordEntry, ServiceSpec,
} from '../domain/types.js';
import { checkedOwnerId, checkGrant, migratedIdentity } from '../store/ownership.js';
import type {
  Adoption, Alarm, CheckerView, Counter, EnactorInfo, HealthRecord, HistoryEntry, HistoryRetention, InventoryStore,
  InventoryVersionInfo,
  LeaseGrant, OperatorRequest, OwnerIdentity, PlanReadOptions, PlanView, PublishRequest, PublishResult,
  PutInventoryRequest, PutInventoryResult, Store, StoredHistoryEntry, StoredInventory, SelectiveHealthReads,
  SupersededVersion, WatchableInventory, WatchablePlanInputs, WatchablePlans,
} from '../store/types.js';

/**
 * An in-memory Store with the semantics of `SqliteStore` (src/store/sqlite/store.ts),
 * query for query: every method is one atomic step, as each SQLite
 * transaction is. The state is shared; each actor gets its own `MemoryStore`
 * view with its own clock, as each process opens the SQLite file with its
 * own clock (so clock skew reaches lease and heartbeat expiry exactly as it
 * would in production).
 */

export interface StoredVersion {
  name: string;
  since: Generation;
  records: RecordEntry[] | null;
  supersededBy: Generation | null;
}

interface LeaseRow { holder: string; token: number; expiresAtMs: number }

export interface HeartbeatRow extends EnactorInfo {
  /** Checker-only: the true (unskewed) virtual time of the heartbeat. */
  trueHeartbeatAtMs: number;
}

/** What a clean-up deleted, for the invariant checker (S4). */
export interface DeletionEvent {
  deleter: string;
  headers: Generation[];
  versions: SupersededVersion[];
  /** The enactor rows the deleter saw in its last `listEnactors`, and the true time of that read. */
  seenEnactors: readonly HeartbeatRow[];
  seenAtTrueMs: number;
}

/** Every accepted publish, for the invariant checker (S6). */
export interface PublishEvent {
  generation: Generation;
  holder: string;
  token: number;
  latestBefore: Generation;
  /** The inventory version the plan records (I1). */
  inventoryVersion: number;
}

/** Bound on kept history rows: the simulator never reads history, and a run must stay small. */
const historyRowsMax = 256;
/** Bound on stored inventory versions: a run applies a handful; thousands would be a runaway operator. */
const inventoryVersionsMax = 10_000;

export class MemoryStoreState {
  generationLast: Generation = 0;
  readonly headers = new Map<Generation, PlanHeader>();
  /** Versions by name, ordered by `since`. */
  readonly versions = new Map<string, StoredVersion[]>();
  readonly leases = new Map<string, LeaseRow>();
  readonly enactors = new Map<string, HeartbeatRow>();
  readonly health = new Map<string, HealthRecord>();
  readonly checkers = new Map<string, CheckerView>();
  readonly history: StoredHistoryEntry[] = [];
  historyNextId = 1;
  readonly alarms = new Map<string, Alarm>();
  readonly counters = new Map<string, number>();
  readonly drains = new Set<string>();
  readonly freezes = new Set<string>();
  readonly requests: OperatorRequest[] = [];
  requestsNextId = 1;
  /** Inventory versions, oldest first: `inventories[v - 1]` is version v. Frozen, as versions are immutable. */
  readonly inventories: StoredInventory[] = [];
  /** Adoption grants by name (the first grant of each). */
  readonly adoptions = new Map<string, Adoption>();
  /** The installation's owner id, once the first actor has stored one. */
  owner: OwnerIdentity | null = null;
  /** Bumped by every write that the checker cares about (plans, leases, heartbeats, health). */
  mutations = 0;
  readonly deletions: DeletionEvent[] = [];
  readonly publishes: PublishEvent[] = [];
  /** Publishes refused by the fencing check (a planner whose lease expired while it was paused). */
  fencedPublishes = 0;

  /** `trueNowMs` is unskewed virtual time, kept for the checker only (the store's semantics use each actor's clock). */
  constructor(readonly trueNowMs: () => number) {}

  /** The version of `name` visible at `generation` (since <= g < supersededBy), if it still exists. */
  visible(name: string, generation: Generation): StoredVersion | undefined {
    const list = this.versions.get(name);
    if (list === undefined) return undefined;
    for (let index = list.length - 1; index >= 0; index -= 1) {
      const version = list[index]!;
      if (version.since > generation) continue;
      return version.supersededBy === null || version.supersededBy > generation ? version : undefined;
    }
    return undefined;
  }

  /** The newest inventory version, or null before the first is stored. */
  latestInventory(): StoredInventory | null {
    return this.inventories.at(-1) ?? null;
  }

  /** Names that have any version (current or superseded). */
  names(): string[] {
    return [...this.versions.keys()].sort();
  }
}

function toEntry(version: StoredVersion): PlanEntry {
  return { name: version.name, since: version.since, records: copyRecords(version.records) };
}

function copyRecords(records: readonly RecordEntry[] | null): RecordEntry[] | null {
  return records === null ? null : records.map((record) => ({ ...record }));
}

function inventoryInfo(stored: StoredInventory): InventoryVersionInfo {
  const { endpoints: _endpoints, services: _services, ...info } = stored;
  return info;
}

/**
 * A deep-frozen copy (by hand: structuredClone costs more than the rest of a put): a version is immutable, and a role
 * that mutated the endpoints it follows would throw at once.
 */
function frozenEndpoints(endpoints: readonly EndpointSpec[]): EndpointSpec[] {
  const frozenTarget = (target: EndpointSpec['targets'][number]) => {
    if (target.check === undefined) return Object.freeze({ ...target });
    return Object.freeze({ ...target, check: Object.freeze({ ...target.check }) });
  };
  const copy = endpoints.map((endpoint) => Object.freeze({
    ...endpoint,
    targets: Object.freeze(endpoint.targets.map(frozenTarget)),
  }));
  return Object.freeze(copy) as EndpointSpec[];
}

export class MemoryStore implements Store, InventoryStore {
  readonly kind = 'memory';
  private lastSeenEnactors: HeartbeatRow[] = [];
  private lastSeenAtTrueMs = -Infinity;

  constructor(readonly state: MemoryStoreState, private readonly clock: Clock, private readonly actorId: string) {}

  /** No watch, as SqliteStore: the simulated roles poll, so their wake-ups go through the scheduler. */
  watchablePlans(): WatchablePlans | null {
    return null;
  }

  async latestGeneration(): Promise<Generation> {
    return this.state.generationLast;
  }

  async oldestGeneration(): Promise<Generation> {
    let oldest = 0;
    for (const generation of this.state.headers.keys()) if (oldest === 0 || generation < oldest) oldest = generation;
    return oldest;
  }

  async publishPlan(request: PublishRequest): Promise<PublishResult> {
    const state = this.state;
    const now = this.clock.nowMs();
    const lease = state.leases.get(request.lease.name);
    // The fencing check at the write, as in SqliteStore.publishPlan.
    const { name, holder, token } = request.lease;
    if (lease === undefined || lease.holder !== holder || lease.token !== token || lease.expiresAtMs <= now) {
      state.fencedPublishes += 1;
      return { ok: false, reason: 'fenced', detail: `lease ${name} token ${token} is no longer held by ${holder}` };
    }
    const latest = state.generationLast;
    if (latest !== request.baseGeneration) {
      const detail = `plan computed against generation ${request.baseGeneration} but ${latest} is the newest`;
      return { ok: false, reason: 'stale-base', detail };
    }
    const generation = latest + 1;
    assert(generation > latest, 'S6', () => `generation ${generation} not above ${latest}`);
    assert(!state.headers.has(generation), 'S6', () => `generation ${generation} published twice`);
    const header: PlanHeader = {
      generation, baseGeneration: request.baseGeneration, createdAtMs: now, plannerId: request.lease.holder,
      fencingToken: request.lease.token, namesTotal: request.namesTotal, namesChanged: request.changes.length,
      forced: request.forced, note: request.note, inventoryVersion: request.inventoryVersion ?? 0,
    };
    state.headers.set(generation, header);
    for (const change of request.changes) this.addVersion(change.name, generation, change.records);
    state.generationLast = generation;
    const inventoryVersion = header.inventoryVersion ?? 0;
    state.publishes.push({ generation, holder, token, latestBefore: latest, inventoryVersion });
    state.mutations += 1;
    return { ok: true, header: { ...header } };
  }

  private addVersion(name: string, generation: Generation, records: RecordEntry[] | null): void {
    let list = this.state.versions.get(name);
    if (list === undefined) {
      list = [];
      this.state.versions.set(name, list);
    }
    for (const version of list) if (version.supersededBy === null) version.supersededBy = generation;
    list.push({ name, since: generation, records: copyRecords(records), supersededBy: null });
  }

  async readPlan(generation: Generation, options: PlanReadOptions = {}): Promise<PlanView | null> {
    const header = this.state.headers.get(generation);
    if (header === undefined) return null;
    const entries: PlanEntry[] = [];
    if (options.names !== undefined) {
      for (const name of options.names) {
        const version = this.latestSince(name, generation);
        if (version !== undefined) entries.push(toEntry(version));
      }
    } else {
      // viewDelta when sinceAfter > 0, viewAll otherwise: versions visible at `generation`, in name order, a page at a
      // time.
      const after = options.sinceAfter !== undefined && options.sinceAfter > 0 ? options.sinceAfter : null;
      const afterName = options.afterName ?? '';
      const limit = options.limit ?? Infinity;
      for (const name of this.state.names()) {
        if (entries.length >= limit) break;
        if (name <= afterName) continue;
        const version = this.state.visible(name, generation);
        if (version !== undefined && (after === null || version.since > after)) entries.push(toEntry(version));
      }
    }
    return { header: { ...header }, entries };
  }

  /** SqliteStore's `viewName`: the newest version with since <= generation, whether or not it is superseded. */
  private latestSince(name: string, generation: Generation): StoredVersion | undefined {
    const list = this.state.versions.get(name);
    if (list === undefined) return undefined;
    for (let index = list.length - 1; index >= 0; index -= 1) if (list[index]!.since <= generation) return list[index];
    return undefined;
  }

  async readEntriesAt(names: readonly string[], generation: Generation): Promise<Map<string, PlanEntry>> {
    const entries = new Map<string, PlanEntry>();
    for (const name of names) {
      const version = this.latestSince(name, generation);
      if (version !== undefined) entries.set(name, toEntry(version));
    }
    return entries;
  }

  async listPlans(limit: number): Promise<PlanHeader[]> {
    const newestFirst = [...this.state.headers.values()].sort((a, b) => b.generation - a.generation);
    return newestFirst.slice(0, limit).map((header) => ({ ...header }));
  }

  async listSuperseded(floor: Generation, limit: number): Promise<SupersededVersion[]> {
    const found: SupersededVersion[] = [];
    for (const list of this.state.versions.values()) {
      for (const version of list) {
        const { name, since, supersededBy } = version;
        if (supersededBy !== null && supersededBy <= floor) found.push({ name, since, supersededBy });
      }
    }
    // ORDER BY superseded_by; ties by (name, since) so the order is deterministic.
    const byName = (a: SupersededVersion, b: SupersededVersion) => {
      return a.name < b.name ? -1 : a.name > b.name ? 1 : a.since - b.since;
    };
    found.sort((a, b) => a.supersededBy - b.supersededBy || byName(a, b));
    return found.slice(0, limit);
  }

  async deletePlanData(
    versions: readonly SupersededVersion[], headersBelow: Generation,
  ): Promise<{ versions: number; headers: number }> {
    const state = this.state;
    const newest = `clean-up below ${headersBelow} would delete the newest plan ${state.generationLast}`;
    assert(headersBelow <= state.generationLast, 'S4', newest);
    const deletedVersions: SupersededVersion[] = [];
    for (const version of versions) {
      const order = `version ${version.name}@${version.since} superseded by ${version.supersededBy}`;
      assert(version.supersededBy > version.since, 'S4', order);
      const list = state.versions.get(version.name) ?? [];
      const index = list.findIndex((row) => {
        return row.since === version.since && row.supersededBy !== null && row.supersededBy <= version.supersededBy;
      });
      if (index < 0) continue;
      deletedVersions.push({ name: version.name, since: version.since, supersededBy: list[index]!.supersededBy! });
      list.splice(index, 1);
      if (list.length === 0) state.versions.delete(version.name);
    }
    const deletedHeaders = [...state.headers.keys()]
      .filter((generation) => generation < headersBelow)
      .sort((a, b) => a - b);
    for (const generation of deletedHeaders) state.headers.delete(generation);
    if (deletedVersions.length > 0 || deletedHeaders.length > 0) {
      state.mutations += 1;
      state.deletions.push({
        deleter: this.actorId, headers: deletedHeaders, versions: deletedVersions,
        seenEnactors: this.lastSeenEnactors, seenAtTrueMs: this.lastSeenAtTrueMs,
      });
    }
    return { versions: deletedVersions.length, headers: deletedHeaders.length };
  }

  // Inventory versions (InventoryStore), as SqliteStore: one atomic step each, the put a compare-and-swap.
  watchableInventory(): WatchableInventory | null {
    return null;
  }

  /** None: the simulated planners poll (every await a point where faults strike). */
  watchablePlanInputs(): WatchablePlanInputs | null {
    return null;
  }

  async latestInventoryVersion(): Promise<number> {
    return this.state.inventories.length;
  }

  async readInventory(version?: number): Promise<StoredInventory | null> {
    const inventories = this.state.inventories;
    const stored = version === undefined ? inventories.at(-1) : inventories[version - 1];
    if (stored === undefined) return null;
    const at = version ?? inventories.length;
    assert(stored.version === at, 'internal', () => `inventory version ${stored.version} stored at ${at}`);
    return { ...stored };
  }

  async listInventoryVersions(limit: number): Promise<InventoryVersionInfo[]> {
    assert(Number.isInteger(limit) && limit >= 0, 'internal', () => `inventory list limit ${limit}`);
    const { inventories } = this.state;
    return inventories.slice(Math.max(0, inventories.length - limit)).reverse().map(inventoryInfo);
  }

  async putInventory(request: PutInventoryRequest): Promise<PutInventoryResult> {
    const inventories = this.state.inventories;
    const current = inventories.length;
    // The compare-and-swap of an apply: a change computed against an older version is refused (re-diff).
    if (current !== request.baseVersion) return { ok: false, reason: 'stale-base', current };
    assert(current < inventoryVersionsMax, 'internal', () => `more than ${inventoryVersionsMax} inventory versions`);
    const info: InventoryVersionInfo = {
      version: current + 1, createdAtMs: this.clock.nowMs(), actor: request.actor, reason: request.reason,
      forced: request.forced, names: request.endpoints.length, summary: request.summary,
    };
    const services = Object.freeze(request.services.map((service) => Object.freeze({
      ...service, names: Object.freeze([...service.names]), services: Object.freeze([...service.services]),
    }))) as ServiceSpec[];
    inventories.push(Object.freeze({ ...info, endpoints: frozenEndpoints(request.endpoints), services }));
    this.state.mutations += 1;
    return { ok: true, info: { ...info } };
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<LeaseGrant | null> {
    const now = this.clock.nowMs();
    const row = this.state.leases.get(name);
    if (row !== undefined && row.expiresAtMs > now && row.holder !== holder) return null;
    // A new token whenever the lease was free or expired; the same holder renewing in time keeps its token.
    const kept = row !== undefined && row.holder === holder && row.expiresAtMs > now;
    const token = kept ? row.token : (row?.token ?? 0) + 1;
    const expiresAtMs = now + ttlMs;
    this.state.leases.set(name, { holder, token, expiresAtMs });
    this.state.mutations += 1;
    return { name, holder, token, expiresAtMs };
  }

  async renewLease(grant: LeaseGrant, ttlMs: number): Promise<LeaseGrant | null> {
    const now = this.clock.nowMs();
    const row = this.state.leases.get(grant.name);
    if (row === undefined || row.holder !== grant.holder || row.token !== grant.token) return null;
    if (row.expiresAtMs <= now) return null;
    const expiresAtMs = now + ttlMs;
    this.state.leases.set(grant.name, { holder: grant.holder, token: grant.token, expiresAtMs });
    this.state.mutations += 1;
    return { ...grant, expiresAtMs };
  }

  async releaseLease(grant: LeaseGrant): Promise<void> {
    const row = this.state.leases.get(grant.name);
    if (row !== undefined && row.holder === grant.holder && row.token === grant.token) {
      row.expiresAtMs = 0;
      this.state.mutations += 1;
    }
  }

  async heartbeat(info: Omit<EnactorInfo, 'heartbeatAtMs' | 'expiresAtMs'>, ttlMs: number): Promise<void> {
    const now = this.clock.nowMs();
    this.state.mutations += 1;
    this.state.enactors.set(info.id, {
      id: info.id, heldGeneration: info.heldGeneration, enactedGeneration: info.enactedGeneration,
      heartbeatAtMs: now, expiresAtMs: now + ttlMs, trueHeartbeatAtMs: this.state.trueNowMs(),
    });
  }

  async listEnactors(): Promise<EnactorInfo[]> {
    const rows = [...this.state.enactors.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.lastSeenEnactors = rows.map((row) => ({ ...row }));
    this.lastSeenAtTrueMs = this.state.trueNowMs();
    return rows.map(({ trueHeartbeatAtMs: _true, ...info }) => info);
  }

  async publishCheckerView(view: Omit<CheckerView, 'heartbeatAtMs' | 'expiresAtMs'>, ttlMs: number): Promise<void> {
    const now = this.clock.nowMs();
    this.state.mutations += 1;
    this.state.checkers.set(view.id, { ...view, down: [...view.down], heartbeatAtMs: now, expiresAtMs: now + ttlMs });
  }

  async listCheckerViews(): Promise<CheckerView[]> {
    const byId = [...this.state.checkers.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return byId.map((view) => ({ ...view, down: [...view.down] }));
  }

  async setHealth(target: string, state: HealthState, source: string): Promise<void> {
    await this.setHealthMany([{ target, state }], source);
  }

  async setHealthMany(records: readonly { target: string; state: HealthState }[], source: string): Promise<void> {
    const now = this.clock.nowMs();
    for (const record of records) {
      // As in SqliteStore: a probe result never replaces an operator's override.
      const current = this.state.health.get(record.target);
      if (current !== undefined && current.source === 'operator' && source !== 'operator') continue;
      this.state.health.set(record.target, { target: record.target, state: record.state, source, updatedAtMs: now });
    }
    this.state.mutations += 1;
  }

  async clearHealth(target: string): Promise<boolean> {
    const removed = this.state.health.delete(target);
    if (removed) this.state.mutations += 1;
    return removed;
  }

  /** Health is read whole, as the etcd store reads it. */
  selectiveHealthReads(): SelectiveHealthReads | null {
    return null;
  }

  async readHealth(): Promise<HealthRecord[]> {
    const byTarget = [...this.state.health.values()].sort((a, b) => (a.target < b.target ? -1 : 1));
    return byTarget.map((record) => ({ ...record }));
  }

  async appendHistory(entries: readonly HistoryEntry[]): Promise<void> {
    const now = this.clock.nowMs();
    const history = this.state.history;
    for (const entry of entries) {
      const { name, fromGeneration, toGeneration, actor, kind, detail } = entry;
      const id = this.state.historyNextId;
      history.push({ name, fromGeneration, toGeneration, actor, kind, detail, atMs: entry.atMs ?? now, id });
      this.state.historyNextId += 1;
    }
    // Trimmed in bulk, so that the bound costs one splice per historyRowsMax appends.
    if (history.length > 2 * historyRowsMax) history.splice(0, history.length - historyRowsMax);
  }

  async readHistory(name: string | null, limit: number): Promise<StoredHistoryEntry[]> {
    const rows = this.state.history.filter((entry) => name === null || entry.name === name);
    return rows.slice(Math.max(0, rows.length - limit)).map((row) => ({ ...row }));
  }

  async pruneHistory(rule: HistoryRetention, limit: number): Promise<number> {
    const doomed = new Set(historyBeyond(this.state.history, rule).slice(0, limit));
    const kept = this.state.history.filter((entry) => !doomed.has(entry.id));
    this.state.history.splice(0, this.state.history.length, ...kept);
    return doomed.size;
  }

  async raiseAlarm(kind: string, name: string, message: string): Promise<void> {
    const now = this.clock.nowMs();
    const key = `${kind}\u0000${name}`;
    const alarm = this.state.alarms.get(key);
    if (alarm === undefined) {
      this.state.alarms.set(key, { kind, name, message, count: 1, raisedAtMs: now, lastAtMs: now, clearedAtMs: null });
    } else {
      if (alarm.clearedAtMs !== null) alarm.raisedAtMs = now;
      alarm.message = message;
      alarm.count += 1;
      alarm.lastAtMs = now;
      alarm.clearedAtMs = null;
    }
    await this.incrementCounter(`alarms_${kind}`);
  }

  async clearAlarm(kind: string, name: string): Promise<void> {
    const alarm = this.state.alarms.get(`${kind}\u0000${name}`);
    if (alarm !== undefined && alarm.clearedAtMs === null) alarm.clearedAtMs = this.clock.nowMs();
  }

  async listAlarms(activeOnly: boolean): Promise<Alarm[]> {
    return [...this.state.alarms.values()]
      .filter((alarm) => !activeOnly || alarm.clearedAtMs === null)
      .sort((a, b) => b.lastAtMs - a.lastAtMs)
      .map((alarm) => ({ ...alarm }));
  }

  async incrementCounter(name: string, by = 1): Promise<void> {
    this.state.counters.set(name, (this.state.counters.get(name) ?? 0) + by);
  }

  async readCounters(): Promise<Counter[]> {
    const byName = [...this.state.counters.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
    return byName.map(([name, value]) => ({ name, value }));
  }

  // Operator controls: drains, freezes and requests, shared by every actor like the rest of the state.
  async setDrain(target: string, drained: boolean): Promise<void> {
    if (drained) this.state.drains.add(target);
    else this.state.drains.delete(target);
  }

  async listDrains(): Promise<string[]> {
    return [...this.state.drains].sort();
  }

  async setFreeze(scope: string, frozen: boolean): Promise<void> {
    if (frozen) this.state.freezes.add(scope);
    else this.state.freezes.delete(scope);
  }

  async listFreezes(): Promise<string[]> {
    return [...this.state.freezes].sort();
  }

  async addRequest(kind: OperatorRequest['kind'], subject: string, actor: string, reason: string): Promise<number> {
    const id = this.state.requestsNextId;
    this.state.requestsNextId += 1;
    this.state.requests.push({ id, kind, subject, actor, reason, createdAtMs: this.clock.nowMs() });
    return id;
  }

  /** Takes (and so marks done) up to `limit` pending requests of a kind, oldest first, in one atomic step. */
  async takeRequests(kind: OperatorRequest['kind'], limit: number): Promise<OperatorRequest[]> {
    const taken: OperatorRequest[] = [];
    const requests = this.state.requests;
    for (let index = 0; index < requests.length && taken.length < limit; ) {
      if (requests[index]!.kind === kind) taken.push(...requests.splice(index, 1));
      else index += 1;
    }
    return taken;
  }

  // Adoption grants and the owner id, as SqliteStore: each call one atomic step, the rules in src/store/ownership.ts.

  async grantAdoption(name: string, actor: string, reason: string): Promise<void> {
    checkGrant(name, actor, reason);
    if (this.state.adoptions.has(name)) return;
    this.state.adoptions.set(name, { name, actor, reason, grantedAtMs: this.clock.nowMs() });
  }

  async revokeAdoption(name: string): Promise<boolean> {
    return this.state.adoptions.delete(name);
  }

  async readAdoptions(names: readonly string[]): Promise<Map<string, Adoption>> {
    const found = new Map<string, Adoption>();
    for (const name of names) {
      const adoption = this.state.adoptions.get(name);
      if (adoption !== undefined) found.set(name, { ...adoption });
    }
    return found;
  }

  async listAdoptions(): Promise<Adoption[]> {
    const byName = [...this.state.adoptions.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return byName.map((adoption) => ({ ...adoption }));
  }

  async ownerIdentity(proposed: string): Promise<OwnerIdentity> {
    checkedOwnerId(proposed);
    this.state.owner ??= { owner: proposed, former: [] };
    return { owner: this.state.owner.owner, former: [...this.state.owner.former] };
  }

  async migrateOwner(owner: string): Promise<OwnerIdentity> {
    const next = migratedIdentity(this.state.owner, owner);
    this.state.owner = next;
    return { owner: next.owner, former: [...next.former] };
  }

  async close(): Promise<void> {}
}
