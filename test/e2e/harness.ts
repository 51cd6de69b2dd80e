import { join } from 'node:path';
import assert from 'node:assert/strict';
import { openDatabase, type Db } from '../../src/store/sqlite/db.js';
import { servedSchema } from '../../src/providers/builtin/sqlite.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { Store, StoredHistoryEntry } from '../../src/store/types.js';
import { recordSetKey, type EndpointSpec, type PlanHeader } from '../../src/domain/types.js';
import type { Provider } from '../../src/providers/types.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { decodeRecords } from '../../src/domain/codec.js';
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
  /** The built-in provider on the cluster's file, as the roles see what DNS serves. */
  provider: BuiltinSqliteProvider;
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
  const provider = new BuiltinSqliteProvider(dbPath);
  const children: Child[] = [];
  return {
    dir: dir.path, data, configPath, dbPath, store, provider, children,
    spawnRole(args, env = {}) {
      const child = spawnCli([...args, '--config', configPath, '--data', data], env);
      children.push(child);
      return child;
    },
    async stop() {
      await Promise.all(children.map((child) => child.stop()));
      await provider.close();
      await store.close();
      dir.cleanup();
    },
  };
}

/**
 * The inventory of a churning planner: all of the config's endpoints, minus
 * those an imagined operator took out; `maybeChange(chance)` now and then
 * takes one out or puts a removed one back (never more than half out).
 */
export class InventoryChurn {
  readonly stats = { removals: 0, readds: 0 };
  current: EndpointSpec[];

  constructor(readonly everything: EndpointSpec[], private readonly rng: Rng) {
    this.current = everything;
  }

  maybeChange(chance: number | undefined): void {
    if (chance === undefined || this.rng.next() >= chance) return;
    const removed = this.everything.filter((endpoint) => !this.current.includes(endpoint));
    if (removed.length > 0 && (this.rng.next() < 0.5 || removed.length >= this.everything.length / 2)) {
      const back = removed[randomInt(this.rng, removed.length)]!;
      this.current = this.everything.filter((endpoint) => endpoint === back || this.current.includes(endpoint));
      this.stats.readds += 1;
    } else {
      const gone = this.current[randomInt(this.rng, this.current.length)]!;
      this.current = this.current.filter((endpoint) => endpoint !== gone);
      this.stats.removals += 1;
    }
  }
}

/**
 * The real Planner, in-process, over the cluster's config, churning health at
 * random between generations; with `removalChance`, each churn may also take
 * an endpoint out of the inventory or put a removed one back.
 */
export function churningPlanner(cluster: Cluster, id: string, rng: Rng, options: { removalChance?: number } = {}) {
  const config = loadConfigFile(cluster.configPath);
  const inventory = new InventoryChurn(inventoryOf(config), rng);
  const planner = new Planner(
    { id, zone: 'dnsplane.test', intervalMs: 1, leaseTtlMs: 2000, safety: { ...config.safety } },
    { store: cluster.store, clock: systemClock, log: silentLogger, inventory: () => inventory.current },
  );
  const targets = inventory.everything.flatMap((endpoint) => endpoint.targets.map((target) => target.id));
  return {
    planner,
    stats: inventory.stats,
    /** Flips 1-3 random targets (and perhaps the inventory) and publishes; returns the new generation or null if nothing was published. */
    async churnOnce(): Promise<number | null> {
      inventory.maybeChange(options.removalChance);
      for (let flips = 1 + randomInt(rng, 3); flips > 0; flips -= 1) {
        await cluster.store.setHealth(targets[randomInt(rng, targets.length)]!, rng.next() < 0.5 ? 'down' : 'up', 'test');
      }
      const result = await planner.tick();
      return result.kind === 'published' ? result.header.generation : null;
    },
  };
}

/**
 * S2 and S5 across samples of what is served: per name the generation never
 * goes down and a name on the same generation is never rewritten; a name
 * that disappears (a removal) may only come back above the generation it had.
 */
export class ServedSequence {
  private readonly last = new Map<string, { generation: number; version: string; gone: boolean }>();

  constructor(private readonly allowRewrites = false) {}

  /** One whole sample: every served name. Returns what broke, each message ending with `at`. */
  observe(states: readonly { name: string; generation: number; version: string | number }[], at: string): string[] {
    const violations: string[] = [];
    const present = new Set(states.map((state) => state.name));
    for (const [name, previous] of this.last) if (!present.has(name)) previous.gone = true;
    for (const { name, generation, version } of states) {
      const previous = this.last.get(name);
      if (previous?.gone === true) {
        if (generation <= previous.generation) violations.push(`S2: ${name} came back at generation ${generation}, not above the ${previous.generation} it served before it was removed ${at}`);
      } else if (previous !== undefined) {
        if (generation < previous.generation) violations.push(`S2: ${name} went from generation ${previous.generation} to ${generation} ${at}`);
        if (!this.allowRewrites && generation === previous.generation && String(version) !== previous.version) violations.push(`S5: ${name} rewritten at the same generation ${generation} ${at}`);
      }
      this.last.set(name, { generation, version: String(version), gone: false });
    }
    return violations;
  }
}

/**
 * Samples every served name in one read transaction and checks S1 (never
 * empty), S3 (the set equals the plan's set at the served generation), S4
 * (that plan still exists), and S2 and S5 across samples (ServedSequence).
 */
export class InvariantChecker {
  readonly db: Db;
  readonly violations: string[] = [];
  samples = 0;
  private readonly sequence: ServedSequence;

  constructor(dbPath: string, allowRewrites = false) {
    this.db = openDatabase(dbPath, servedSchema);
    this.sequence = new ServedSequence(allowRewrites);
  }

  sample(): void {
    const servedRows = this.db.prepare('SELECT name, generation, version, records FROM served');
    const version = this.db.prepare('SELECT records FROM plan_versions WHERE name = ? AND since <= ? ORDER BY since DESC LIMIT 1');
    this.db.transaction(() => {
      const rows = servedRows.all() as { name: string; generation: number; version: number; records: string }[];
      const at = `(sample ${this.samples})`;
      for (const row of rows) {
        const records = decodeRecords(row.records);
        const key = recordSetKey(records);
        if (records.length === 0) this.violations.push(`S1: ${row.name} served no records at generation ${row.generation} ${at}`);
        const plan = version.get(row.name, row.generation) as { records: string | null } | undefined;
        if (plan === undefined || plan.records === null) this.violations.push(`S4: ${row.name} serves generation ${row.generation} whose plan is gone ${at}`);
        else if (recordSetKey(decodeRecords(plan.records)) !== key) this.violations.push(`S3: ${row.name} at generation ${row.generation} serves ${key}, plan says ${plan.records} ${at}`);
      }
      this.violations.push(...this.sequence.observe(rows, at));
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

/**
 * Waits until every name serves the newest plan (L1), as `provider` reads
 * it (the built-in provider on SQLite or etcd, a DNS server through RFC
 * 2136), and returns how long that took.
 */
export async function waitConverged(store: Store, provider: Provider, timeoutMs: number): Promise<number> {
  const started = Date.now();
  await pollUntil(async () => {
    const latest = await store.latestGeneration();
    const view = await store.readPlan(latest);
    if (view === null) return false;
    const states = await provider.read(view.entries.map((entry) => entry.name));
    return view.entries.every((entry) => {
      const state = states.get(entry.name);
      if (entry.records === null) return state === undefined;
      return state !== undefined && state.generation >= entry.since && recordSetKey(state.records) === recordSetKey(entry.records);
    });
  }, 'every name to serve the newest plan', timeoutMs, 50);
  return Date.now() - started;
}

/**
 * S6 over every published plan header: generations consecutive and unique,
 * each computed against its predecessor, fencing tokens never lower and
 * higher at every change of leader. Returns the headers, oldest first.
 */
export async function checkPlanHeaders(store: Store): Promise<PlanHeader[]> {
  const plans = (await store.listPlans(100_000)).reverse();
  plans.forEach((plan, index) => {
    if (index === 0) return;
    const previous = plans[index - 1]!;
    assert.equal(plan.generation, previous.generation + 1, 'generations are consecutive and unique');
    assert.equal(plan.baseGeneration, previous.generation, 'each plan was computed against its predecessor');
    assert.ok(plan.fencingToken >= previous.fencingToken, `token went from ${previous.fencingToken} to ${plan.fencingToken} at generation ${plan.generation}`);
    if (plan.plannerId !== previous.plannerId) assert.ok(plan.fencingToken > previous.fencingToken, 'a change of leader comes with a higher token');
  });
  return plans;
}

/**
 * Checks the enactment history: per name, generations strictly increase and
 * each change starts where the last ended (from nothing after a removal, so a
 * name brought back by a stale write below its removal shows as a gap).
 */
/** Every write in the history moves its name forward (audit records of actions and inventory versions are not writes). */
export function assertHistoryForward(entries: readonly StoredHistoryEntry[]): void {
  for (const entry of entries) {
    if (entry.kind === 'action') continue;
    assert.ok(entry.fromGeneration < entry.toGeneration || entry.kind === 'repair', `history: ${entry.name} ${entry.fromGeneration} -> ${entry.toGeneration} is not forward`);
  }
}

export async function checkHistory(store: Store): Promise<{ entries: number }> {
  const all = await store.readHistory(null, 10_000_000);
  assertHistoryForward(all);
  const byName = new Map<string, typeof all>();
  for (const entry of all) {
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

/**
 * What shows that enactors really raced, from the enactment history: how many names each enactor wrote, and how
 * often a name's next write came from a different enactor than its previous one (the enactors interleaved on it).
 */
export async function raceEvidence(store: Pick<Store, 'readHistory'>): Promise<{ byActor: Map<string, number>; handovers: number }> {
  const all = (await store.readHistory(null, 10_000_000)).filter((entry) => entry.kind === 'enact' || entry.kind === 'remove');
  const byActor = new Map<string, number>();
  const lastActor = new Map<string, string>();
  let handovers = 0;
  for (const entry of [...all].sort((a, b) => a.toGeneration - b.toGeneration)) {
    byActor.set(entry.actor, (byActor.get(entry.actor) ?? 0) + 1);
    const previous = lastActor.get(entry.name);
    if (previous !== undefined && previous !== entry.actor) handovers += 1;
    lastActor.set(entry.name, entry.actor);
  }
  return { byActor, handovers };
}

/** Asserts that a race raced: compare-and-swap conflicts, every enactor wrote, and names changed hands. */
export async function assertRaced(store: Pick<Store, 'readHistory'>, conflicts: number, enactors: readonly string[]): Promise<string> {
  const { byActor, handovers } = await raceEvidence(store);
  assert.ok(conflicts > 0, 'the enactors met compare-and-swap conflicts (they raced on the same names)');
  for (const id of enactors) assert.ok((byActor.get(id) ?? 0) > 0, `enactor ${id} wrote names (${[...byActor].join(', ')})`);
  assert.ok(handovers > 10, `names changed hands between enactors (${handovers} times)`);
  return `${conflicts} CAS conflicts, ${handovers} hand-overs, writes by ${[...byActor].map(([id, n]) => `${id} ${n}`).join(', ')}`;
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
