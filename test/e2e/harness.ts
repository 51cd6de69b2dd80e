import { join } from 'node:path';
import assert from 'node:assert/strict';
import { openDatabase, type Db } from '../../src/store/sqlite/db.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/types.js';
import { recordSetKey } from '../../src/domain/types.js';
import { decodeRecords, encodeRecords } from '../../src/store/sqlite/codec.js';
import { loadConfigFile, inventoryOf } from '../../src/config/load.js';
import { Planner } from '../../src/planner/planner.js';
import { silentLogger } from '../../src/util/log.js';
import { systemClock, seededRng, randomInt, type Rng } from '../../src/util/clock.js';
import { pollUntil, sampleConfig, spawnCli, tempDir, writeConfig, type Child } from '../helpers/env.js';

/**
 * Multi-process harness: a real installation in a temporary directory with
 * `dnsplane` role processes, a planner driven in-process, and an invariant
 * checker that samples what DNS serves in one read transaction at a time.
 */

export interface Cluster {
  dir: string;
  data: string;
  configPath: string;
  dbPath: string;
  store: SqliteStore;
  children: Child[];
  spawnRole(args: string[], env?: Record<string, string>): Child;
  stop(): Promise<void>;
}

export function startCluster(names: number, extra: Record<string, unknown> = {}): Cluster {
  const dir = tempDir('dnsplane-e2e-');
  const data = join(dir.path, 'data');
  const config = sampleConfig(names, 3, {
    safety: { maxChangedFraction: 1, minNamesForThreshold: 10, retainGenerations: 5 },
    planner: { interval: '5ms', leaseTtl: '2s' },
    enactor: { pollInterval: '5ms', batchNamesMax: 4, retriesMax: 20, backoffBase: '1ms', backoffMax: '20ms', heartbeatInterval: '100ms', heartbeatTtl: '3s' },
    janitor: { interval: '20ms' },
    reconciler: { interval: '1s', maxLag: '30s' },
    ...extra,
  });
  const configPath = writeConfig(dir.path, config);
  const dbPath = join(data, 'state.db');
  const store = new SqliteStore(dbPath);
  const children: Child[] = [];
  return {
    dir: dir.path, data, configPath, dbPath, store, children,
    spawnRole(args, env = {}) {
      const child = spawnCli([...args, '--config', configPath, '--data', data], env);
      children.push(child);
      return child;
    },
    async stop() {
      await Promise.all(children.map((child) => child.stop()));
      await store.close();
      dir.cleanup();
    },
  };
}

/**
 * The real Planner, in-process, over the cluster's config, churning health at
 * random between generations; with `removalChance`, each churn may also take
 * an endpoint out of the inventory or put a removed one back.
 */
export function churningPlanner(cluster: Cluster, id: string, rng: Rng, options: { removalChance?: number } = {}) {
  const config = loadConfigFile(cluster.configPath);
  const everything = inventoryOf(config);
  let inventory = everything;
  const planner = new Planner(
    { id, zone: 'dnsplane.test', intervalMs: 1, leaseTtlMs: 2000, safety: { ...config.safety } },
    { store: cluster.store, clock: systemClock, log: silentLogger, inventory: () => inventory },
  );
  const targets = everything.flatMap((endpoint) => endpoint.targets.map((target) => target.id));
  const stats = { removals: 0, readds: 0 };
  const changeInventory = () => {
    const removed = everything.filter((endpoint) => !inventory.includes(endpoint));
    if (removed.length > 0 && (rng.next() < 0.5 || removed.length >= everything.length / 2)) {
      const back = removed[randomInt(rng, removed.length)]!;
      inventory = everything.filter((endpoint) => endpoint === back || inventory.includes(endpoint));
      stats.readds += 1;
    } else {
      const gone = inventory[randomInt(rng, inventory.length)]!;
      inventory = inventory.filter((endpoint) => endpoint !== gone);
      stats.removals += 1;
    }
  };
  return {
    planner,
    stats,
    /** Flips 1-3 random targets (and perhaps the inventory) and publishes; returns the new generation or null if nothing was published. */
    async churnOnce(): Promise<number | null> {
      if (options.removalChance !== undefined && rng.next() < options.removalChance) changeInventory();
      for (let flips = 1 + randomInt(rng, 3); flips > 0; flips -= 1) {
        await cluster.store.setHealth(targets[randomInt(rng, targets.length)]!, rng.next() < 0.5 ? 'down' : 'up', 'test');
      }
      const result = await planner.tick();
      return result.kind === 'published' ? result.header.generation : null;
    },
  };
}

interface Sample {
  generation: number;
  version: number;
  key: string;
  /** Absent from a later sample: removed since. */
  gone?: boolean;
}

/**
 * Samples every served name in one read transaction and checks S1 (never
 * empty), S2 (generation never decreases), S3 (the set equals the plan's set
 * at the served generation), S4 (that plan still exists) and S5 (a name on
 * the same generation is never rewritten). A name that disappears (a removal)
 * may only come back at a generation above the one it had (S2).
 */
export class InvariantChecker {
  readonly db: Db;
  readonly violations: string[] = [];
  samples = 0;
  private readonly last = new Map<string, Sample>();

  constructor(dbPath: string, private readonly allowRewrites = false) {
    this.db = openDatabase(dbPath);
  }

  sample(): void {
    const servedRows = this.db.prepare('SELECT name, generation, version, records FROM served');
    const version = this.db.prepare('SELECT records FROM plan_versions WHERE name = ? AND since <= ? ORDER BY since DESC LIMIT 1');
    this.db.transaction(() => {
      const rows = servedRows.all() as { name: string; generation: number; version: number; records: string }[];
      const present = new Set(rows.map((row) => row.name));
      for (const [name, sample] of this.last) if (!present.has(name)) sample.gone = true;
      for (const row of rows) {
        const records = decodeRecords(row.records);
        const key = recordSetKey(records);
        if (records.length === 0) this.violations.push(`S1: ${row.name} served no records at generation ${row.generation} (sample ${this.samples})`);
        const plan = version.get(row.name, row.generation) as { records: string | null } | undefined;
        if (plan === undefined || plan.records === null) this.violations.push(`S4: ${row.name} serves generation ${row.generation} whose plan is gone (sample ${this.samples})`);
        else if (recordSetKey(decodeRecords(plan.records)) !== key) this.violations.push(`S3: ${row.name} at generation ${row.generation} serves ${key}, plan says ${plan.records} (sample ${this.samples})`);
        const previous = this.last.get(row.name);
        if (previous?.gone === true) {
          if (row.generation <= previous.generation) this.violations.push(`S2: ${row.name} came back at generation ${row.generation}, not above the ${previous.generation} it served before it was removed (sample ${this.samples})`);
        } else if (previous !== undefined) {
          if (row.generation < previous.generation) this.violations.push(`S2: ${row.name} went from generation ${previous.generation} to ${row.generation} (sample ${this.samples})`);
          if (!this.allowRewrites && row.generation === previous.generation && row.version !== previous.version) this.violations.push(`S5: ${row.name} rewritten at the same generation ${row.generation} (sample ${this.samples})`);
        }
        this.last.set(row.name, { generation: row.generation, version: row.version, key });
      }
    }).deferred();
    this.samples += 1;
  }

  /** Samples until `done()` resolves true, yielding between samples. */
  async sampleWhile(running: () => boolean): Promise<void> {
    while (running()) {
      this.sample();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  close(): void {
    this.db.close();
  }
}

/** Waits until every name serves the newest plan (L1) and returns how long that took. */
export async function waitConverged(store: SqliteStore, timeoutMs: number): Promise<number> {
  const started = Date.now();
  await pollUntil(async () => {
    const latest = await store.latestGeneration();
    const view = await store.readPlan(latest);
    if (view === null) return false;
    const rows = store.db.prepare('SELECT name, generation, records FROM served').all() as { name: string; generation: number; records: string }[];
    const served = new Map(rows.map((row) => [row.name, row]));
    return view.entries.every((entry) => {
      const state = served.get(entry.name);
      if (entry.records === null) return state === undefined;
      return state !== undefined && state.generation >= entry.since && state.records === encodeRecords(entry.records);
    });
  }, 'every name to serve the newest plan', timeoutMs, 50);
  return Date.now() - started;
}

/**
 * Checks the enactment history: per name, generations strictly increase and
 * each change starts where the last ended (from nothing after a removal, so a
 * name brought back by a stale write below its removal shows as a gap).
 */
export async function checkHistory(store: Store): Promise<{ entries: number }> {
  const all = await store.readHistory(null, 10_000_000);
  const byName = new Map<string, typeof all>();
  for (const entry of all) {
    assert.ok(entry.fromGeneration < entry.toGeneration || entry.kind === 'repair', `history: ${entry.name} ${entry.fromGeneration} -> ${entry.toGeneration} is not forward`);
    if (entry.kind !== 'enact' && entry.kind !== 'remove') continue;
    byName.set(entry.name, [...(byName.get(entry.name) ?? []), entry]);
  }
  for (const [name, entries] of byName) {
    const sorted = [...entries].sort((a, b) => a.toGeneration - b.toGeneration);
    sorted.forEach((entry, index) => {
      const previous = sorted[index - 1];
      const expectedFrom = previous === undefined || previous.kind === 'remove' ? 0 : previous.toGeneration;
      assert.equal(entry.fromGeneration, expectedFrom, `history of ${name}: change to ${entry.toGeneration} started from ${entry.fromGeneration}, the previous write ended at ${expectedFrom}`);
    });
  }
  return { entries: all.length };
}

export function seeded(seed: number): Rng {
  return seededRng(seed);
}

export async function waitForEnactors(store: Store, ids: readonly string[], timeoutMs = 30_000): Promise<void> {
  await pollUntil(async () => {
    const live = new Set((await store.listEnactors()).filter((e) => e.expiresAtMs > Date.now()).map((e) => e.id));
    return ids.every((id) => live.has(id));
  }, `enactors ${ids.join(', ')} to heartbeat`, timeoutMs);
}
