import type {
  EndpointSpec, Generation, HealthState, PlanChange, PlanEntry, PlanHeader, ServiceSpec,
} from '../domain/types.js';

/**
 * The store keeps everything except what DNS serves: plans, leases, enactor
 * heartbeats, health, history and alarms. It is an interface so that SQLite
 * (embedded, one machine) and etcd (distributed) can both implement it.
 *
 * Plans are stored as record-set *versions*: a version (name, since) holds the
 * set a name has in every plan from generation `since` until the version that
 * supersedes it. Plan g is therefore the set of versions visible at g. A plan
 * that changes 1% of names writes 1% of the rows, and an enactor that has
 * applied generation p reads only the versions introduced after p.
 */

export interface LeaseGrant {
  name: string;
  holder: string;
  /** Fencing token: strictly increases every time the lease changes hands. */
  token: number;
  expiresAtMs: number;
}

export interface PublishRequest {
  lease: LeaseGrant;
  /** The inventory version the plan was computed from (0: none recorded). */
  inventoryVersion?: number;
  /** The generation the changes were computed against; the publish fails if it is no longer the newest. */
  baseGeneration: Generation;
  changes: PlanChange[];
  namesTotal: number;
  forced: boolean;
  note: string;
}

export type PublishResult =
  | { ok: true; header: PlanHeader }
  | { ok: false; reason: 'fenced' | 'stale-base'; detail: string };

export interface PlanView {
  header: PlanHeader;
  /** Entries visible at `header.generation`, restricted as requested. */
  entries: PlanEntry[];
}

export interface PlanReadOptions {
  /** Only versions with since > sinceAfter (a delta for an enactor that applied sinceAfter). */
  sinceAfter?: Generation;
  /** Only these names. */
  names?: readonly string[];
  /** Paging: only names after this one (exclusive), in name order... */
  afterName?: string;
  /**
   * ...and at most this many. A plan is immutable, so pages read in separate transactions still form one plan
   * while its header exists.
   */
  limit?: number;
}

export interface SupersededVersion {
  name: string;
  since: Generation;
  supersededBy: Generation;
}

export interface EnactorInfo {
  id: string;
  /** The generation the enactor is working on; the janitor keeps it (S4). */
  heldGeneration: Generation;
  /** The newest generation the enactor has completely applied. */
  enactedGeneration: Generation;
  heartbeatAtMs: number;
  expiresAtMs: number;
}

/**
 * One health checker's own view, published every round with a heartbeat. Several checkers may run in different
 * places; a target is taken as down only when a majority of the live, non-suspect checkers see it down
 * (src/health/quorum.ts), so one checker whose own network broke withdraws nothing.
 */
export interface CheckerView {
  id: string;
  /** Targets this checker probed. */
  probed: number;
  /** Targets this checker sees down (after its rise/fall hysteresis), sorted. */
  down: string[];
  /** The checker suspects itself (most targets failing at once): its view does not count. */
  suspect: boolean;
  heartbeatAtMs: number;
  expiresAtMs: number;
}

export interface HealthRecord {
  target: string;
  state: HealthState;
  source: string;
  updatedAtMs: number;
}

export type HistoryKind = 'enact' | 'repair' | 'remove' | 'action';

export interface HistoryEntry {
  name: string;
  fromGeneration: Generation;
  toGeneration: Generation;
  actor: string;
  kind: HistoryKind;
  detail: string;
  atMs?: number;
}

export interface StoredHistoryEntry extends Required<HistoryEntry> {
  id: number;
}

export interface Alarm {
  kind: string;
  name: string;
  message: string;
  count: number;
  raisedAtMs: number;
  lastAtMs: number;
  clearedAtMs: number | null;
}

/** An operator request that a role carries out: force-publish a refused plan, or re-enact a name. */
export interface OperatorRequest {
  id: number;
  kind: 'force' | 'reenact';
  subject: string;
  actor: string;
  reason: string;
  createdAtMs: number;
}

export interface Counter {
  name: string;
  value: number;
}

/*
 * The store is split by concern into role-sized interfaces: a role's deps name only the ones it uses (the enactor
 * reads plans, heartbeats and writes history, alarms and counters; the janitor reads plans and heartbeats and
 * deletes old plan data; ...). `Store` is all of them: what the implementations (SQLite, etcd, the simulator's
 * memory store) provide.
 *
 * An optional capability (a watch, selective reads) is an interface of its own, reached through an accessor that
 * every implementation declares: it returns the capability, or null when the store lacks it. The compiler then
 * checks both sides; nothing is detected by looking for methods at run time.
 */

/** Reads of the immutable plans. */
export interface PlanReader {
  latestGeneration(): Promise<Generation>;
  /** A consistent snapshot of a plan, or null when the plan does not exist (never published or cleaned up). */
  readPlan(generation: Generation, options?: PlanReadOptions): Promise<PlanView | null>;
  /**
   * Each name's entry visible at `generation`, whether or not that plan's
   * header still exists (a name whose set has not changed keeps pointing at
   * an old generation). Names whose entry was cleaned up are absent.
   */
  readEntriesAt(names: readonly string[], generation: Generation): Promise<Map<string, PlanEntry>>;
  listPlans(limit: number): Promise<PlanHeader[]>;
  oldestGeneration(): Promise<Generation>;
  /** The watch on newly published generations, or null when this store has none (its readers poll). */
  watchablePlans(): WatchablePlans | null;
}

/**
 * An optional capability of a PlanReader (the etcd store has it): calls `listener` with each newly published
 * generation and returns a function that stops it. Best effort — a consumer keeps polling latestGeneration() as
 * the fallback.
 */
export interface WatchablePlans {
  watchGeneration(listener: (generation: Generation) => void): () => void;
}

/** Publication of the next plan, fenced by the planner's lease (S6). */
export interface PlanPublisher {
  publishPlan(request: PublishRequest): Promise<PublishResult>;
}

/** Clean-up of old plan data (the janitor, S4). */
export interface PlanCleanup {
  /** Versions superseded at or below `floor`, oldest first. */
  listSuperseded(floor: Generation, limit: number): Promise<SupersededVersion[]>;
  /** Deletes the given versions and plan headers strictly below `headersBelow`, in one transaction. */
  deletePlanData(
    versions: readonly SupersededVersion[], headersBelow: Generation,
  ): Promise<{ versions: number; headers: number }>;
}

/** Leases with fencing tokens (the planner's leadership). */
export interface Leases {
  acquireLease(name: string, holder: string, ttlMs: number): Promise<LeaseGrant | null>;
  renewLease(grant: LeaseGrant, ttlMs: number): Promise<LeaseGrant | null>;
  releaseLease(grant: LeaseGrant): Promise<void>;
}

/** Enactor registrations: the generation each live enactor holds and has enacted. */
export interface Heartbeats {
  heartbeat(info: Omit<EnactorInfo, 'heartbeatAtMs' | 'expiresAtMs'>, ttlMs: number): Promise<void>;
  listEnactors(): Promise<EnactorInfo[]>;
}

/**
 * Health. Source "operator" is an override (`dnsplane health set`): writes from any other source (the checker)
 * never replace it, until `clearHealth` removes it.
 */
export interface HealthStore {
  setHealth(target: string, state: HealthState, source: string): Promise<void>;
  /** Many targets in one transaction, same override rule. */
  setHealthMany(records: readonly { target: string; state: HealthState }[], source: string): Promise<void>;
  clearHealth(target: string): Promise<boolean>;
  readHealth(): Promise<HealthRecord[]>;
  /** Selective reads of the health table, or null when this store offers only `readHealth` (read it whole). */
  selectiveHealthReads(): SelectiveHealthReads | null;
  /**
   * The watch on what the planner plans from — health, drains, freezes, operator requests — or null when this store
   * has none (the planner then polls every `planner.interval`).
   */
  watchablePlanInputs(): WatchablePlanInputs | null;
}

/**
 * An optional capability of a HealthStore (SQLite and etcd have it): calls `listener` soon after a planner input
 * changed (a burst of changes may be one call). Best effort — the planner keeps polling as the fallback.
 */
export interface WatchablePlanInputs {
  watchPlanInputs(listener: () => void): () => void;
}

/**
 * An optional capability of a HealthStore (the SQLite store has it): with a checker the health table has a row
 * per target (400,000 for 100,000 names × 4), and reading it whole takes over a second on the embedded store.
 */
export interface SelectiveHealthReads {
  /** Records of these targets only (targets without a record are absent). */
  readHealthOf(targets: readonly string[]): Promise<HealthRecord[]>;
  /** Records in `state`, in target order, a page at a time. */
  listHealth(state: HealthState, offset: number, limit: number): Promise<HealthRecord[]>;
  /** How many targets have a record in each state. */
  countHealth(): Promise<Record<HealthState, number>>;
}

/** The health checkers' own views, with heartbeats (the quorum, src/health/quorum.ts). */
export interface CheckerViews {
  /** A checker's own view with a heartbeat; it counts in the quorum until `ttlMs` after this call. */
  publishCheckerView(view: Omit<CheckerView, 'heartbeatAtMs' | 'expiresAtMs'>, ttlMs: number): Promise<void>;
  /** Every checker's newest view, by id (expired ones may be listed, with expiresAtMs <= now). */
  listCheckerViews(): Promise<CheckerView[]>;
}

export interface History {
  appendHistory(entries: readonly HistoryEntry[]): Promise<void>;
  readHistory(name: string | null, limit: number): Promise<StoredHistoryEntry[]>;
  /**
   * Deletes at most `limit` entries the retention rule lets go (config `history`): those written before `beforeMs`,
   * and those beyond the newest `perNameMax` of their name. Returns how many went; fewer than `limit` means none is
   * left to go.
   */
  pruneHistory(rule: HistoryRetention, limit: number): Promise<number>;
}

/** What history is kept: entries written at or after `beforeMs`, and at most the newest `perNameMax` per name. */
export interface HistoryRetention {
  beforeMs: number;
  perNameMax: number;
}

export interface Alarms {
  raiseAlarm(kind: string, name: string, message: string): Promise<void>;
  clearAlarm(kind: string, name: string): Promise<void>;
  listAlarms(activeOnly: boolean): Promise<Alarm[]>;
}

export interface Counters {
  incrementCounter(name: string, by?: number): Promise<void>;
  readCounters(): Promise<Counter[]>;
}

/**
 * Operator controls. Drains act through the planner (weight 0), freezes through the enactors and the reconciler
 * (they leave the name exactly as it is; "*" freezes the whole zone). Never a direct DNS write.
 */
export interface Controls {
  setDrain(target: string, drained: boolean): Promise<void>;
  listDrains(): Promise<string[]>;
  setFreeze(scope: string, frozen: boolean): Promise<void>;
  listFreezes(): Promise<string[]>;
  addRequest(kind: OperatorRequest['kind'], subject: string, actor: string, reason: string): Promise<number>;
  /** Atomically takes (and marks done) up to `limit` pending requests of a kind, oldest first. */
  takeRequests(kind: OperatorRequest['kind'], limit: number): Promise<OperatorRequest[]>;
}

/** An operator's leave to take over a name that holds records no dnsplane marker claims (issue #13: adoption). */
export interface Adoption {
  name: string;
  actor: string;
  reason: string;
  grantedAtMs: number;
}

/**
 * Adoption grants. A name with records but no marker is unmanaged: no writer touches it unless a grant names it
 * (`adopt: true` on its endpoint, which the planner grants before it publishes, or `dnsplane adopt NAME --reason`).
 * A grant is kept as the record of who allowed the takeover and why; granting a name again keeps the first grant.
 */
export interface Adoptions {
  grantAdoption(name: string, actor: string, reason: string): Promise<void>;
  /** Withdraws the grant of `name`; whether there was one. A name adopted already stays this installation's. */
  revokeAdoption(name: string): Promise<boolean>;
  /** The grants among `names` (names without one are absent from the map). */
  readAdoptions(names: readonly string[]): Promise<Map<string, Adoption>>;
  /** Every grant, in name order. */
  listAdoptions(): Promise<Adoption[]>;
}

/** Who this installation is in the markers it writes: its owner id, and the ids it had before a migration. */
export interface OwnerIdentity {
  owner: string;
  /** Earlier owner ids, oldest first: markers they wrote are still this installation's (new id once rewritten). */
  former: string[];
}

/**
 * The installation's owner id, stored once for every process of the installation (they share the store, not a
 * machine). Changing it is `migrateOwner`, never a config edit.
 */
export interface Ownership {
  /** The stored identity; when none is stored yet, `proposed` is stored and returned (atomic: first caller wins). */
  ownerIdentity(proposed: string): Promise<OwnerIdentity>;
  /** Makes `owner` the owner id; the one before joins `former`. Refused (throws) before any identity is stored. */
  migrateOwner(owner: string): Promise<OwnerIdentity>;
}

/** Every concern: what a store implementation provides. */
export interface Store
  extends PlanReader, PlanPublisher, PlanCleanup, Leases, Heartbeats, HealthStore, CheckerViews, History, Alarms,
    Counters, Controls, Adoptions, Ownership {
  readonly kind: string;
  close(): Promise<void>;
}

/** One stored inventory version: who wrote it, when and why (the endpoints are read separately). */
export interface InventoryVersionInfo {
  version: number;
  createdAtMs: number;
  actor: string;
  reason: string;
  /** Applied over the name threshold with --force. */
  forced: boolean;
  names: number;
  /** One line: what changed from the version before. */
  summary: string;
}

export interface StoredInventory extends InventoryVersionInfo {
  endpoints: EndpointSpec[];
  /** The dependency graph's services ([] for versions stored before there were any). */
  services: ServiceSpec[];
}

export interface PutInventoryRequest {
  /** The version the change was computed against: the write fails if it is no longer the newest (re-diff). */
  baseVersion: number;
  endpoints: readonly EndpointSpec[];
  services: readonly ServiceSpec[];
  actor: string;
  reason: string;
  forced: boolean;
  summary: string;
}

export type PutInventoryResult =
  | { ok: true; info: InventoryVersionInfo }
  | { ok: false; reason: 'stale-base'; current: number };

/**
 * The inventory (names, targets, checks) versioned in the store, like plans: `putInventory` writes a new version
 * only if `baseVersion` is still the newest (a compare-and-swap, so two concurrent applies cannot both win), and
 * every role follows the newest version. Versions are immutable; a rollback writes an old version's endpoints as
 * a new version.
 */
export interface InventoryStore {
  /** 0 when no inventory was stored yet. */
  latestInventoryVersion(): Promise<number>;
  /** The newest version (no argument) or the given one; null when absent. */
  readInventory(version?: number): Promise<StoredInventory | null>;
  /** Newest first. */
  listInventoryVersions(limit: number): Promise<InventoryVersionInfo[]>;
  putInventory(request: PutInventoryRequest): Promise<PutInventoryResult>;
  /** The watch on new inventory versions, or null when this store has none (its followers poll). */
  watchableInventory(): WatchableInventory | null;
}

/**
 * An optional capability of an InventoryStore (the etcd store has it): calls `listener` with each new inventory
 * version. Best effort — InventoryFollower keeps polling as the fallback.
 */
export interface WatchableInventory {
  watchInventory(listener: (version: number) => void): () => void;
}
