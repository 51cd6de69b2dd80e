import type { Statement } from 'better-sqlite3';
import { openDatabase, metaValue, writeNow, type Db, type OpenOptions } from './db.js';
import { storeSchema } from './schema.js';
import { watchCommits } from './watch.js';
import { decodeRecords, encodeRecords } from '../../domain/codec.js';
import { assert, UserError } from '../../util/assert.js';
import { systemClock, type Clock } from '../../util/clock.js';
import type { EndpointSpec, Generation, HealthState, PlanEntry, PlanHeader, ServiceSpec } from '../../domain/types.js';
import { checkedOwnerId, checkGrant, migratedIdentity, storedIdentity } from '../ownership.js';
import type {
  Adoption, Alarm, CheckerView, Counter, EnactorInfo, HealthRecord, HistoryEntry, HistoryRetention, LeaseGrant,
  OperatorRequest,
  OwnerIdentity, PlanReadOptions, PlanView, InventoryStore, InventoryVersionInfo, PublishRequest, PublishResult,
  PutInventoryRequest, PutInventoryResult, Store, SelectiveHealthReads, StoredHistoryEntry, StoredInventory,
  SupersededVersion, WatchableInventory, WatchablePlanInputs, WatchablePlans,
} from '../types.js';

interface HeaderRow {
  generation: number; base_generation: number; created_at_ms: number; planner_id: string; fencing_token: number;
  names_total: number; names_changed: number; forced: number; note: string; inventory_version: number;
}
interface InventoryRow {
  version: number; created_at_ms: number; actor: string; reason: string; forced: number; names: number; summary: string;
  endpoints: string;
  /** Absent in a store created before services, opened read-only (no migration). */
  services?: string;
}

function toInventoryInfo(row: Omit<InventoryRow, 'endpoints' | 'services'>): InventoryVersionInfo {
  return {
    version: row.version, createdAtMs: row.created_at_ms, actor: row.actor, reason: row.reason,
    forced: row.forced === 1, names: row.names, summary: row.summary,
  };
}
interface VersionRow { name: string; since: number; records: string | null }
interface AdoptionRow { name: string; actor: string; reason: string; granted_at_ms: number }
interface OwnerRow { owner: string; former: string }

function toAdoption(row: AdoptionRow): Adoption {
  return { name: row.name, actor: row.actor, reason: row.reason, grantedAtMs: row.granted_at_ms };
}

/** Names per `IN (...)` query of readAdoptions: far below SQLite's limit on bound parameters (32,766). */
const adoptionNamesPerQuery = 500;

function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}
interface LeaseRow { name: string; holder: string; token: number; expires_at_ms: number }
interface HealthRow { target: string; state: HealthState; source: string; updated_at_ms: number }

function toHealth(row: HealthRow): HealthRecord {
  return { target: row.target, state: row.state, source: row.source, updatedAtMs: row.updated_at_ms };
}

function toHeader(row: HeaderRow): PlanHeader {
  return {
    generation: row.generation, baseGeneration: row.base_generation, createdAtMs: row.created_at_ms,
    plannerId: row.planner_id, fencingToken: row.fencing_token, namesTotal: row.names_total,
    namesChanged: row.names_changed, forced: row.forced === 1, note: row.note, inventoryVersion: row.inventory_version,
  };
}

function toEntry(row: VersionRow): PlanEntry {
  return { name: row.name, since: row.since, records: row.records === null ? null : decodeRecords(row.records) };
}

/**
 * The embedded store: one SQLite file shared by every process on a machine.
 * Every write is a `BEGIN IMMEDIATE` transaction, so checks and writes
 * (fencing token, base generation) are one atomic step; reads of a plan run
 * inside one read transaction, so they see one consistent snapshot.
 */
export class SqliteStore implements Store, InventoryStore, SelectiveHealthReads {
  readonly kind = 'sqlite';
  readonly db: Db;
  private readonly clock: Clock;
  private readonly statements: Record<string, Statement>;

  /** `options.readonly`: for the read commands and `serve`, on a store they may not write (every write then fails). */
  constructor(private readonly path: string, clock: Clock = systemClock, options: OpenOptions = {}) {
    this.db = openDatabase(path, storeSchema, options);
    this.clock = clock;
    const db = this.db;
    this.statements = {
      header: db.prepare('SELECT * FROM plans WHERE generation = ?'),
      insertHeader: db.prepare(`INSERT INTO plans
          (generation, base_generation, created_at_ms, planner_id, fencing_token,
          names_total, names_changed, forced, note, inventory_version)
        VALUES (@generation, @baseGeneration, @createdAtMs, @plannerId, @fencingToken,
          @namesTotal, @namesChanged, @forced, @note, @inventoryVersion)`),
      supersede: db.prepare('UPDATE plan_versions SET superseded_by = ? WHERE name = ? AND superseded_by IS NULL'),
      insertVersion: db.prepare(
        'INSERT INTO plan_versions (name, since, records, superseded_by) VALUES (?, ?, ?, NULL)',
      ),
      setMeta: db.prepare('UPDATE meta SET value = ? WHERE key = ?'),
      viewAll: db.prepare(`SELECT name, since, records FROM plan_versions
        WHERE name > ? AND since <= ? AND (superseded_by IS NULL OR superseded_by > ?) ORDER BY name LIMIT ?`),
      viewDelta: db.prepare(`SELECT name, since, records FROM plan_versions
        WHERE since > ? AND since <= ? AND (superseded_by IS NULL OR superseded_by > ?) AND name > ?
        ORDER BY name LIMIT ?`),
      viewName: db.prepare(
        'SELECT name, since, records FROM plan_versions WHERE name = ? AND since <= ? ORDER BY since DESC LIMIT 1',
      ),
      lease: db.prepare('SELECT * FROM leases WHERE name = ?'),
      upsertLease: db.prepare('INSERT OR REPLACE INTO leases (name, holder, token, expires_at_ms) VALUES (?, ?, ?, ?)'),
    };
  }

  /** Commit notices on the file (watch.ts), each checked against the newest generation (one cheap read). */
  watchablePlans(): WatchablePlans {
    return { watchGeneration: (listener) => this.watchMeta('generation_last', listener) };
  }

  /** Commit notices, each checked against `plan_inputs` (raised by triggers on health, drains, freezes, requests). */
  watchablePlanInputs(): WatchablePlanInputs {
    return { watchPlanInputs: (listener) => this.watchMeta('plan_inputs', () => listener()) };
  }

  /**
   * Calls `listener` with a meta value each time a commit to the file (by any process) has raised it: a burst of
   * notices costs one read. Best effort, as the watch: where none can be made the caller's polling goes on alone; a
   * read of the open file that fails is not caught here (it would be a broken database, and must be loud).
   */
  private watchMeta(key: string, listener: (value: number) => void): () => void {
    let last = metaValue(this.db, key);
    let scheduled = false;
    let stopped = false;
    const check = () => {
      scheduled = false;
      if (stopped || !this.db.open) return;
      const value = metaValue(this.db, key);
      if (value > last) {
        last = value;
        listener(value);
      }
    };
    const stopWatching = watchCommits(this.path, () => {
      if (scheduled || stopped) return;
      scheduled = true;
      setImmediate(check);
    });
    return () => {
      stopped = true;
      stopWatching();
    };
  }

  /** One write, alone in its transaction, taking the lock without sleeping in SQLite (db.ts: writeNow). */
  private write<T>(statement: () => T): Promise<T> {
    return writeNow(this.db, this.db.transaction(statement));
  }

  async latestGeneration(): Promise<Generation> {
    return metaValue(this.db, 'generation_last');
  }

  async oldestGeneration(): Promise<Generation> {
    const row = this.db.prepare('SELECT MIN(generation) AS g FROM plans').get() as { g: number | null };
    return row.g ?? 0;
  }

  async publishPlan(request: PublishRequest): Promise<PublishResult> {
    const run = this.db.transaction((): PublishResult => {
      const now = this.clock.nowMs();
      const lease = this.statements.lease!.get(request.lease.name) as LeaseRow | undefined;
      // The fencing check happens here, at the write, not when the lease was taken (STYLE.md: a lease is not a lock).
      const { name, holder, token } = request.lease;
      if (lease === undefined || lease.holder !== holder || lease.token !== token || lease.expires_at_ms <= now) {
        return { ok: false, reason: 'fenced', detail: `lease ${name} token ${token} is no longer held by ${holder}` };
      }
      const latest = metaValue(this.db, 'generation_last');
      if (latest !== request.baseGeneration) {
        const detail = `plan computed against generation ${request.baseGeneration} but ${latest} is the newest`;
        return { ok: false, reason: 'stale-base', detail };
      }
      const generation = latest + 1;
      assert(generation > latest, 'S6', `generation ${generation} not above ${latest}`);
      const header: PlanHeader = {
        generation, baseGeneration: request.baseGeneration, createdAtMs: now, plannerId: request.lease.holder,
        fencingToken: request.lease.token, namesTotal: request.namesTotal, namesChanged: request.changes.length,
        forced: request.forced, note: request.note, inventoryVersion: request.inventoryVersion ?? 0,
      };
      this.statements.insertHeader!.run({ ...header, forced: header.forced ? 1 : 0 });
      for (const change of request.changes) {
        this.statements.supersede!.run(generation, change.name);
        const records = change.records === null ? null : encodeRecords(change.records);
        this.statements.insertVersion!.run(change.name, generation, records);
      }
      this.statements.setMeta!.run(generation, 'generation_last');
      return { ok: true, header };
    });
    return writeNow(this.db, run);
  }

  async readPlan(generation: Generation, options: PlanReadOptions = {}): Promise<PlanView | null> {
    const run = this.db.transaction((): PlanView | null => {
      const headerRow = this.statements.header!.get(generation) as HeaderRow | undefined;
      if (headerRow === undefined) return null;
      const afterName = options.afterName ?? '';
      const limit = options.limit ?? -1;
      let rows: VersionRow[];
      if (options.names !== undefined) {
        rows = [];
        for (const name of options.names) {
          const row = this.statements.viewName!.get(name, generation) as VersionRow | undefined;
          if (row !== undefined) rows.push(row);
        }
      } else if (options.sinceAfter !== undefined && options.sinceAfter > 0) {
        const { sinceAfter } = options;
        rows = this.statements.viewDelta!.all(sinceAfter, generation, generation, afterName, limit) as VersionRow[];
      } else {
        rows = this.statements.viewAll!.all(afterName, generation, generation, limit) as VersionRow[];
      }
      return { header: toHeader(headerRow), entries: rows.map(toEntry) };
    });
    return run.deferred();
  }

  async readEntriesAt(names: readonly string[], generation: Generation): Promise<Map<string, PlanEntry>> {
    const run = this.db.transaction(() => {
      const entries = new Map<string, PlanEntry>();
      for (const name of names) {
        const row = this.statements.viewName!.get(name, generation) as VersionRow | undefined;
        if (row !== undefined) entries.set(name, toEntry(row));
      }
      return entries;
    });
    return run.deferred();
  }

  async listPlans(limit: number): Promise<PlanHeader[]> {
    const rows = this.db.prepare('SELECT * FROM plans ORDER BY generation DESC LIMIT ?').all(limit) as HeaderRow[];
    return rows.map(toHeader);
  }

  async listSuperseded(floor: Generation, limit: number): Promise<SupersededVersion[]> {
    const rows = this.db
      .prepare(`SELECT name, since, superseded_by FROM plan_versions
        WHERE superseded_by IS NOT NULL AND superseded_by <= ? ORDER BY superseded_by LIMIT ?`)
      .all(floor, limit) as { name: string; since: number; superseded_by: number }[];
    return rows.map((row) => ({ name: row.name, since: row.since, supersededBy: row.superseded_by }));
  }

  async deletePlanData(
    versions: readonly SupersededVersion[], headersBelow: Generation,
  ): Promise<{ versions: number; headers: number }> {
    const run = this.db.transaction(() => {
      const latest = metaValue(this.db, 'generation_last');
      assert(headersBelow <= latest, 'S4', `clean-up below ${headersBelow} would delete the newest plan ${latest}`);
      const remove = this.db.prepare(
        'DELETE FROM plan_versions WHERE name = ? AND since = ? AND superseded_by IS NOT NULL AND superseded_by <= ?',
      );
      let versionsDeleted = 0;
      for (const version of versions) {
        const order = `version ${version.name}@${version.since} superseded by ${version.supersededBy}`;
        assert(version.supersededBy > version.since, 'S4', order);
        versionsDeleted += remove.run(version.name, version.since, version.supersededBy).changes;
      }
      const headers = this.db.prepare('DELETE FROM plans WHERE generation < ?').run(headersBelow).changes;
      return { versions: versionsDeleted, headers };
    });
    return writeNow(this.db, run);
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<LeaseGrant | null> {
    const run = this.db.transaction((): LeaseGrant | null => {
      const now = this.clock.nowMs();
      const row = this.statements.lease!.get(name) as LeaseRow | undefined;
      if (row !== undefined && row.expires_at_ms > now && row.holder !== holder) return null;
      // A new token whenever the lease was free or expired; the same holder renewing in time keeps its token.
      const kept = row !== undefined && row.holder === holder && row.expires_at_ms > now;
      const token = kept ? row.token : (row?.token ?? 0) + 1;
      const expiresAtMs = now + ttlMs;
      this.statements.upsertLease!.run(name, holder, token, expiresAtMs);
      return { name, holder, token, expiresAtMs };
    });
    return writeNow(this.db, run);
  }

  async renewLease(grant: LeaseGrant, ttlMs: number): Promise<LeaseGrant | null> {
    const run = this.db.transaction((): LeaseGrant | null => {
      const now = this.clock.nowMs();
      const row = this.statements.lease!.get(grant.name) as LeaseRow | undefined;
      if (row === undefined || row.holder !== grant.holder || row.token !== grant.token) return null;
      if (row.expires_at_ms <= now) return null;
      const expiresAtMs = now + ttlMs;
      this.statements.upsertLease!.run(grant.name, grant.holder, grant.token, expiresAtMs);
      return { ...grant, expiresAtMs };
    });
    return writeNow(this.db, run);
  }

  async releaseLease(grant: LeaseGrant): Promise<void> {
    await this.write(() => this.db
      .prepare('UPDATE leases SET expires_at_ms = 0 WHERE name = ? AND holder = ? AND token = ?')
      .run(grant.name, grant.holder, grant.token));
  }

  async heartbeat(info: Omit<EnactorInfo, 'heartbeatAtMs' | 'expiresAtMs'>, ttlMs: number): Promise<void> {
    const now = this.clock.nowMs();
    await this.write(() => this.db
      .prepare(`INSERT OR REPLACE INTO enactors
        (id, held_generation, enacted_generation, heartbeat_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?)`)
      .run(info.id, info.heldGeneration, info.enactedGeneration, now, now + ttlMs));
  }

  async listEnactors(): Promise<EnactorInfo[]> {
    const rows = this.db.prepare('SELECT * FROM enactors ORDER BY id').all() as {
      id: string; held_generation: number; enacted_generation: number; heartbeat_at_ms: number; expires_at_ms: number;
    }[];
    return rows.map((row) => ({
      id: row.id, heldGeneration: row.held_generation, enactedGeneration: row.enacted_generation,
      heartbeatAtMs: row.heartbeat_at_ms, expiresAtMs: row.expires_at_ms,
    }));
  }

  // Inventory versions (InventoryStore).

  /** No watch: followers poll latestInventoryVersion() (one cheap read). */
  watchableInventory(): WatchableInventory | null {
    return null;
  }

  async latestInventoryVersion(): Promise<number> {
    const row = this.db.prepare('SELECT MAX(version) AS v FROM inventory_versions').get() as { v: number | null };
    return row.v ?? 0;
  }

  async readInventory(version?: number): Promise<StoredInventory | null> {
    const row = (version === undefined
      ? this.db.prepare('SELECT * FROM inventory_versions ORDER BY version DESC LIMIT 1').get()
      : this.db.prepare('SELECT * FROM inventory_versions WHERE version = ?').get(version)) as InventoryRow | undefined;
    if (row === undefined) return null;
    return {
      ...toInventoryInfo(row),
      endpoints: JSON.parse(row.endpoints) as EndpointSpec[],
      services: JSON.parse(row.services ?? '[]') as ServiceSpec[],
    };
  }

  async listInventoryVersions(limit: number): Promise<InventoryVersionInfo[]> {
    const rows = this.db
      .prepare(`SELECT version, created_at_ms, actor, reason, forced, names, summary FROM inventory_versions
        ORDER BY version DESC LIMIT ?`)
      .all(limit) as Omit<InventoryRow, 'endpoints' | 'services'>[];
    return rows.map(toInventoryInfo);
  }

  async putInventory(request: PutInventoryRequest): Promise<PutInventoryResult> {
    const run = this.db.transaction((): PutInventoryResult => {
      const row = this.db.prepare('SELECT MAX(version) AS v FROM inventory_versions').get() as { v: number | null };
      const current = row.v ?? 0;
      // The compare-and-swap of an apply: a change computed against an older version is refused (re-diff).
      if (current !== request.baseVersion) return { ok: false, reason: 'stale-base', current };
      const info: InventoryVersionInfo = {
        version: current + 1, createdAtMs: this.clock.nowMs(), actor: request.actor, reason: request.reason,
        forced: request.forced, names: request.endpoints.length, summary: request.summary,
      };
      this.db
        .prepare(`INSERT INTO inventory_versions
          (version, created_at_ms, actor, reason, forced, names, summary, endpoints, services)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(
          info.version, info.createdAtMs, info.actor, info.reason, info.forced ? 1 : 0, info.names, info.summary,
          JSON.stringify(request.endpoints), JSON.stringify(request.services),
        );
      return { ok: true, info };
    });
    return writeNow(this.db, run);
  }

  async publishCheckerView(view: Omit<CheckerView, 'heartbeatAtMs' | 'expiresAtMs'>, ttlMs: number): Promise<void> {
    const now = this.clock.nowMs();
    await this.write(() => this.db
      .prepare(`INSERT OR REPLACE INTO checkers
        (id, probed, down, suspect, heartbeat_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(view.id, view.probed, JSON.stringify(view.down), view.suspect ? 1 : 0, now, now + ttlMs));
  }

  async listCheckerViews(): Promise<CheckerView[]> {
    const rows = this.db.prepare('SELECT * FROM checkers ORDER BY id').all() as {
      id: string; probed: number; down: string; suspect: number; heartbeat_at_ms: number; expires_at_ms: number;
    }[];
    return rows.map((row) => ({
      id: row.id, probed: row.probed, down: JSON.parse(row.down) as string[], suspect: row.suspect === 1,
      heartbeatAtMs: row.heartbeat_at_ms, expiresAtMs: row.expires_at_ms,
    }));
  }

  async setHealth(target: string, state: HealthState, source: string): Promise<void> {
    await this.setHealthMany([{ target, state }], source);
  }

  async setHealthMany(records: readonly { target: string; state: HealthState }[], source: string): Promise<void> {
    // The WHERE makes the override rule atomic: a probe result never lands on an operator's row.
    const upsert = this.db.prepare(`INSERT INTO health (target, state, source, updated_at_ms) VALUES (?, ?, ?, ?)
      ON CONFLICT (target) DO UPDATE
      SET state = excluded.state, source = excluded.source, updated_at_ms = excluded.updated_at_ms
      WHERE health.source != 'operator' OR excluded.source = 'operator'`);
    const now = this.clock.nowMs();
    await writeNow(this.db, this.db.transaction(() => {
      for (const record of records) upsert.run(record.target, record.state, source, now);
    }));
  }

  async clearHealth(target: string): Promise<boolean> {
    return (await this.write(() => this.db.prepare('DELETE FROM health WHERE target = ?').run(target))).changes > 0;
  }

  async readHealth(): Promise<HealthRecord[]> {
    const rows = this.db.prepare('SELECT * FROM health ORDER BY target').all() as HealthRow[];
    return rows.map(toHealth);
  }

  // Selective health reads (the SelectiveHealthReads capability, used by src/api/health-reader.ts): with a checker
  // the health table holds a row per target, and readHealth() of 400,000 rows takes over a second.

  selectiveHealthReads(): SelectiveHealthReads {
    return this;
  }

  /** Records of these targets only, in one read transaction (targets without a record are absent). */
  async readHealthOf(targets: readonly string[]): Promise<HealthRecord[]> {
    const select = this.db.prepare('SELECT * FROM health WHERE target = ?');
    const run = this.db.transaction(() => {
      const records: HealthRecord[] = [];
      for (const target of targets) {
        const row = select.get(target) as HealthRow | undefined;
        if (row !== undefined) records.push(toHealth(row));
      }
      return records;
    });
    return run.deferred();
  }

  /** Records in `state`, in target order, a page at a time. */
  async listHealth(state: HealthState, offset: number, limit: number): Promise<HealthRecord[]> {
    const rows = this.db
      .prepare('SELECT * FROM health WHERE state = ? ORDER BY target LIMIT ? OFFSET ?')
      .all(state, limit, offset) as HealthRow[];
    return rows.map(toHealth);
  }

  /** Targets with a record in each state (a scan of the table: callers cache it). */
  async countHealth(): Promise<Record<HealthState, number>> {
    const rows = this.db
      .prepare('SELECT state, COUNT(*) AS n FROM health GROUP BY state')
      .all() as { state: HealthState; n: number }[];
    const counts: Record<HealthState, number> = { up: 0, down: 0 };
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  async appendHistory(entries: readonly HistoryEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const insert = this.db.prepare(`INSERT INTO history
      (name, from_generation, to_generation, actor, kind, detail, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`);
    const now = this.clock.nowMs();
    await writeNow(this.db, this.db.transaction(() => {
      for (const entry of entries) {
        const { name, fromGeneration, toGeneration, actor, kind, detail } = entry;
        insert.run(name, fromGeneration, toGeneration, actor, kind, detail, entry.atMs ?? now);
      }
    }));
  }

  async readHistory(name: string | null, limit: number): Promise<StoredHistoryEntry[]> {
    const rows = (name === null
      ? this.db.prepare('SELECT * FROM history ORDER BY id DESC LIMIT ?').all(limit)
      : this.db.prepare('SELECT * FROM history WHERE name = ? ORDER BY id DESC LIMIT ?').all(name, limit)) as {
      id: number; name: string; from_generation: number; to_generation: number; actor: string;
      kind: HistoryEntry['kind']; detail: string; at_ms: number;
    }[];
    return rows.reverse().map((row) => ({
      id: row.id, name: row.name, fromGeneration: row.from_generation, toGeneration: row.to_generation,
      actor: row.actor, kind: row.kind, detail: row.detail, atMs: row.at_ms,
    }));
  }

  /**
   * The retention rule of history-retention.ts in SQL: entries before `beforeMs` (by the time index), then, for each
   * name holding more than `perNameMax` (found on the name index alone), those below its newest `perNameMax`.
   */
  async pruneHistory(rule: HistoryRetention, limit: number): Promise<number> {
    const keeps = 'history keeps at least one per name';
    assert(Number.isInteger(rule.perNameMax) && rule.perNameMax >= 1, 'internal', keeps);
    return writeNow(this.db, this.db.transaction((): number => {
      let deleted = this.db.prepare('DELETE FROM history WHERE id IN (SELECT id FROM history WHERE at_ms < ? LIMIT ?)')
        .run(rule.beforeMs, limit).changes;
      if (deleted >= limit) return deleted;
      const crowded = this.db.prepare('SELECT name FROM history GROUP BY name HAVING COUNT(*) > ? LIMIT ?')
        .all(rule.perNameMax, limit) as { name: string }[];
      const beyond = this.db.prepare(`DELETE FROM history WHERE id IN (SELECT id FROM history WHERE name = ?
        ORDER BY id DESC LIMIT ? OFFSET ?)`);
      for (const { name } of crowded) {
        if (deleted >= limit) break;
        deleted += beyond.run(name, limit - deleted, rule.perNameMax).changes;
      }
      assert(deleted <= limit, 'internal', () => `${deleted} history entries deleted, limit ${limit}`);
      return deleted;
    }));
  }

  async raiseAlarm(kind: string, name: string, message: string): Promise<void> {
    const now = this.clock.nowMs();
    await this.write(() => this.db
      .prepare(`INSERT INTO alarms (kind, name, message, count, raised_at_ms, last_at_ms, cleared_at_ms)
        VALUES (?, ?, ?, 1, ?, ?, NULL)
        ON CONFLICT (kind, name) DO UPDATE
        SET message = excluded.message, count = count + 1, last_at_ms = excluded.last_at_ms,
          raised_at_ms = CASE WHEN cleared_at_ms IS NULL THEN raised_at_ms ELSE excluded.raised_at_ms END,
          cleared_at_ms = NULL`)
      .run(kind, name, message, now, now));
    await this.incrementCounter(`alarms_${kind}`);
  }

  async clearAlarm(kind: string, name: string): Promise<void> {
    await this.write(() => this.db
      .prepare('UPDATE alarms SET cleared_at_ms = ? WHERE kind = ? AND name = ? AND cleared_at_ms IS NULL')
      .run(this.clock.nowMs(), kind, name));
  }

  async listAlarms(activeOnly: boolean): Promise<Alarm[]> {
    const where = activeOnly ? 'WHERE cleared_at_ms IS NULL' : '';
    const rows = this.db.prepare(`SELECT * FROM alarms ${where} ORDER BY last_at_ms DESC`).all() as {
      kind: string; name: string; message: string; count: number; raised_at_ms: number; last_at_ms: number;
      cleared_at_ms: number | null;
    }[];
    return rows.map((row) => ({
      kind: row.kind, name: row.name, message: row.message, count: row.count, raisedAtMs: row.raised_at_ms,
      lastAtMs: row.last_at_ms, clearedAtMs: row.cleared_at_ms,
    }));
  }

  async incrementCounter(name: string, by = 1): Promise<void> {
    await this.write(() => this.db
      .prepare(`INSERT INTO counters (name, value) VALUES (?, ?)
        ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`)
      .run(name, by));
  }

  async readCounters(): Promise<Counter[]> {
    return this.db.prepare('SELECT name, value FROM counters ORDER BY name').all() as Counter[];
  }

  async setDrain(target: string, drained: boolean): Promise<void> {
    await this.write(() => {
      if (drained) this.db.prepare('INSERT OR IGNORE INTO drains (target) VALUES (?)').run(target);
      else this.db.prepare('DELETE FROM drains WHERE target = ?').run(target);
    });
  }

  async listDrains(): Promise<string[]> {
    const rows = this.db.prepare('SELECT target FROM drains ORDER BY target').all() as { target: string }[];
    return rows.map((row) => row.target);
  }

  async setFreeze(scope: string, frozen: boolean): Promise<void> {
    await this.write(() => {
      if (frozen) this.db.prepare('INSERT OR IGNORE INTO freezes (scope) VALUES (?)').run(scope);
      else this.db.prepare('DELETE FROM freezes WHERE scope = ?').run(scope);
    });
  }

  async listFreezes(): Promise<string[]> {
    const rows = this.db.prepare('SELECT scope FROM freezes ORDER BY scope').all() as { scope: string }[];
    return rows.map((row) => row.scope);
  }

  async addRequest(kind: OperatorRequest['kind'], subject: string, actor: string, reason: string): Promise<number> {
    const result = await this.write(() => this.db
      .prepare('INSERT INTO requests (kind, subject, actor, reason, created_at_ms) VALUES (?, ?, ?, ?, ?)')
      .run(kind, subject, actor, reason, this.clock.nowMs()));
    return Number(result.lastInsertRowid);
  }

  async takeRequests(kind: OperatorRequest['kind'], limit: number): Promise<OperatorRequest[]> {
    const run = this.db.transaction((): OperatorRequest[] => {
      const select = this.db.prepare(
        'SELECT * FROM requests WHERE kind = ? AND done_at_ms IS NULL ORDER BY id LIMIT ?',
      );
      const rows = select.all(kind, limit) as {
        id: number; kind: OperatorRequest['kind']; subject: string; actor: string; reason: string;
        created_at_ms: number;
      }[];
      const done = this.db.prepare('UPDATE requests SET done_at_ms = ? WHERE id = ?');
      for (const row of rows) done.run(this.clock.nowMs(), row.id);
      return rows.map((row) => ({
        id: row.id, kind: row.kind, subject: row.subject, actor: row.actor, reason: row.reason,
        createdAtMs: row.created_at_ms,
      }));
    });
    return writeNow(this.db, run);
  }

  // Adoption grants and the owner id (Adoptions, Ownership; their rules in ../ownership.ts).

  /** A reader of a file made before a table finds nothing in it (a writer's open creates it, see schema.ts). */
  private hasTable(table: 'adoptions' | 'owner_identity'): boolean {
    if (!this.db.readonly) return true;
    return this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
  }

  /** The first grant of a name stays: a second one changes nothing (INSERT OR IGNORE). */
  async grantAdoption(name: string, actor: string, reason: string): Promise<void> {
    checkGrant(name, actor, reason);
    await this.write(() => this.db
      .prepare('INSERT OR IGNORE INTO adoptions (name, actor, reason, granted_at_ms) VALUES (?, ?, ?, ?)')
      .run(name, actor, reason, this.clock.nowMs()));
  }

  /**
   * The grants among `names`, a bounded `IN (...)` query per slice of names, all in one read transaction (100,000
   * names are 200 queries of one prepared statement, never one giant statement).
   */
  async readAdoptions(names: readonly string[]): Promise<Map<string, Adoption>> {
    const found = new Map<string, Adoption>();
    if (names.length === 0 || !this.hasTable('adoptions')) return found;
    const select = (count: number) => this.db.prepare(`SELECT * FROM adoptions WHERE name IN (${placeholders(count)})`);
    const run = this.db.transaction(() => {
      const fullSize = Math.min(names.length, adoptionNamesPerQuery);
      const full = select(fullSize);
      for (let start = 0; start < names.length; start += adoptionNamesPerQuery) {
        const slice = names.slice(start, start + adoptionNamesPerQuery);
        const statement = slice.length === fullSize ? full : select(slice.length);
        for (const row of statement.all(...slice) as AdoptionRow[]) found.set(row.name, toAdoption(row));
      }
    });
    run.deferred();
    return found;
  }

  async revokeAdoption(name: string): Promise<boolean> {
    return (await this.write(() => this.db.prepare('DELETE FROM adoptions WHERE name = ?').run(name))).changes > 0;
  }

  async listAdoptions(): Promise<Adoption[]> {
    if (!this.hasTable('adoptions')) return [];
    return (this.db.prepare('SELECT * FROM adoptions ORDER BY name').all() as AdoptionRow[]).map(toAdoption);
  }

  private readIdentity(): OwnerIdentity | null {
    const row = this.db.prepare('SELECT owner, former FROM owner_identity WHERE singleton = 1').get() as
      OwnerRow | undefined;
    return row === undefined ? null : storedIdentity({ owner: row.owner, former: JSON.parse(row.former) });
  }

  /**
   * The stored identity, else `proposed` stored and returned: the read and the insert are one write transaction, so
   * of processes starting at once the first to take the write lock stores its id and every other one reads it.
   */
  async ownerIdentity(proposed: string): Promise<OwnerIdentity> {
    checkedOwnerId(proposed);
    // The common case, every start after the first: one read, no write lock (and it works on a read-only open).
    const stored = this.hasTable('owner_identity') ? this.readIdentity() : null;
    if (stored !== null) return stored;
    if (this.db.readonly) throw new UserError('the store holds no owner id yet, and it is open read-only');
    const run = this.db.transaction((): OwnerIdentity => {
      const current = this.readIdentity();
      if (current !== null) return current;
      this.db
        .prepare('INSERT INTO owner_identity (singleton, owner, former, changed_at_ms) VALUES (1, ?, ?, ?)')
        .run(proposed, '[]', this.clock.nowMs());
      return { owner: proposed, former: [] };
    });
    return writeNow(this.db, run);
  }

  /** The check (migratedIdentity) and the update are one write transaction: a refusal changes nothing. */
  async migrateOwner(owner: string): Promise<OwnerIdentity> {
    checkedOwnerId(owner);
    const run = this.db.transaction((): OwnerIdentity => {
      const next = migratedIdentity(this.readIdentity(), owner);
      const updated = this.db
        .prepare('UPDATE owner_identity SET owner = ?, former = ?, changed_at_ms = ? WHERE singleton = 1')
        .run(next.owner, JSON.stringify(next.former), this.clock.nowMs());
      assert(updated.changes === 1, 'internal', `owner migration updated ${updated.changes} rows`);
      return next;
    });
    return writeNow(this.db, run);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
