/**
 * The role processes of the scale benchmark (bench/scale.bench.ts): `tsx bench/scale-child.ts ROLE DATA_DIR`.
 * Each role is one process, as in production, over the SQLite file DATA_DIR/state.db. It prints one JSON line when it
 * is ready, then reads commands from stdin, one a line, and answers each with one JSON line: the times it measured
 * (monotonic clock, inside the process, so nothing of the pipe is counted) and what the call returned. A failure is
 * answered `{"error": ...}` and ends the process; so does the end of stdin (the benchmark is gone). Each role loads
 * only its own modules, so that its peak RSS, which the benchmark reads from /proc, is its own.
 */
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { EndpointSpec } from '../src/domain/types.js';
import type { RoleSettings } from '../src/roles/build.js';
import { nowMs, safetyOff } from './common.js';

/** The zone every role works in. */
export const scaleZone = 'dnsplane.test';
export const targetsPerName = 8;

/** Names of the run: DNSPLANE_BENCH_SCALE_NAMES (a trial at 20,000-50,000 runs in a minute), else the size. */
export function scaleNamesCount(): number {
  const raw = process.env.DNSPLANE_BENCH_SCALE_NAMES;
  const count = raw === undefined || raw === '' ? 1_000_000 : Number(raw);
  if (!Number.isInteger(count) || count < 1000 || count > 10_000_000) {
    throw new Error(`DNSPLANE_BENCH_SCALE_NAMES=${raw}: a whole number of names from 1,000 to 10,000,000`);
  }
  // A 1% generation changes one name of every hundred.
  if (count % 100 !== 0) throw new Error(`DNSPLANE_BENCH_SCALE_NAMES=${raw}: a multiple of 100`);
  return count;
}

/** The inventory of core.bench.ts at this run's size: `targetsPerName` targets a name, in three AZs. */
function inventory(namesCount: number): EndpointSpec[] {
  return Array.from({ length: namesCount }, (_, n) => ({
    name: `svc${n}.${scaleZone}`,
    targets: Array.from({ length: targetsPerName }, (_, t) => ({
      id: `t${n}-${t}`, address: `127.${1 + (n >> 16)}.${(n >> 8) & 255}.${(n & 255) ^ t}`, az: `az${t % 3}`,
      capacity: 100 + t,
    })),
  }));
}

/** The targets whose health a 1% generation flips: target 0 of every hundredth name. */
export function churnTargets(namesCount: number): string[] {
  return Array.from({ length: namesCount / 100 }, (_, n) => `t${n * 100}-0`);
}

/**
 * The settings of every role, through the config's own schema and the roles' one builder (src/roles/build.ts), so
 * a setting the roles gain later gets its config default here too. The planner publishes whatever it computes
 * (benchmark safety); the janitor keeps 2 generations so that its tick after the run's few generations has
 * superseded versions to delete; the rest is the config's defaults but for the enactor's batch (5,000 names, as in
 * core.bench.ts) and the reconciler's interval, maxLag and page, stated here as an installation would: a maxLag of
 * a minute, as the README sizes it for a million names (a pass reads some 50,000 names a second; with the default
 * 10 s no sweep could read the zone in time, and every pass would read all of it).
 */
export const scaleSettingsInput = {
  safety: { ...safetyOff, retainGenerations: 2 },
  planner: { leaseTtl: '10m' },
  enactor: { batchNamesMax: 5000 },
  reconciler: { interval: '2s', maxLag: '60s', pageNamesMax: 5000 },
} as const;

type Reply = Record<string, unknown>;
interface Role {
  ready: Reply;
  commands: Record<string, () => Promise<Reply>>;
}

/**
 * The numbers and flags of a role's result (a reconciler pass's `checked`, its sweep's `names`...), whatever fields
 * it has at run time: those of a nested object are named `outer.inner`.
 */
function numbersOf(result: object | null): Reply {
  if (result === null) return { result: null };
  const numbers: Reply = {};
  for (const [key, value] of Object.entries(result)) {
    if (typeof value === 'number' || typeof value === 'boolean') numbers[key] = value;
    else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [inner, nested] of Object.entries(value as object)) {
        if (typeof nested === 'number' || typeof nested === 'boolean') numbers[`${key}.${inner}`] = nested;
      }
    }
  }
  return numbers;
}

async function settings(): Promise<RoleSettings> {
  const { parseRoleSettings } = await import('../src/roles/build.js');
  return parseRoleSettings(scaleSettingsInput);
}

async function timed<T>(call: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = nowMs();
  const value = await call();
  return { ms: nowMs() - started, value };
}

/** Plan computation alone (computePlan, pure), for the compute row: no store. */
async function computeRole(namesCount: number): Promise<Role> {
  const { computePlan } = await import('../src/planner/compute.js');
  const built = await timed(async () => inventory(namesCount));
  const endpoints = built.value;
  return {
    ready: { inventoryMs: built.ms },
    commands: {
      compute: async () => {
        const run = await timed(async () => {
          return computePlan({ endpoints, health: new Map([['t5-0', 'down']]), current: new Map() }).changes.length;
        });
        if (run.value !== namesCount) throw new Error(`the plan changes ${run.value} names, not ${namesCount}`);
        return { ms: run.ms, changes: run.value };
      },
    },
  };
}

async function plannerRole(namesCount: number, dbPath: string): Promise<Role> {
  const [{ buildPlanner }, { drainedFrom }, { SqliteStore }, { silentLogger }, { systemClock }] = await Promise.all([
    import('../src/roles/build.js'), import('../src/roles/installation.js'), import('../src/store/sqlite/store.js'),
    import('../src/util/log.js'), import('../src/util/clock.js'),
  ]);
  const built = await timed(async () => inventory(namesCount));
  const endpoints = built.value;
  const store = new SqliteStore(dbPath);
  const planner = buildPlanner(await settings(), 'bench-planner', scaleZone, {
    store, clock: systemClock, log: silentLogger, inventory: () => endpoints, drained: drainedFrom(store),
  });
  return {
    ready: { inventoryMs: built.ms },
    commands: {
      tick: async () => {
        const { ms, value } = await timed(() => planner.tick());
        const header = value.kind === 'published' ? value.header : null;
        const evaluated = 'evaluated' in value ? value.evaluated : null;
        const { kind } = value;
        return { ms, kind, generation: header?.generation ?? null, namesChanged: header?.namesChanged, evaluated };
      },
    },
  };
}

async function enactorRole(dbPath: string): Promise<Role> {
  const [{ buildEnactor }, { frozenFrom }, { SqliteStore }, { BuiltinSqliteProvider }, { silentLogger }, clock] =
    await Promise.all([
      import('../src/roles/build.js'), import('../src/roles/installation.js'), import('../src/store/sqlite/store.js'),
      import('../src/providers/builtin/sqlite.js'), import('../src/util/log.js'), import('../src/util/clock.js'),
    ]);
  const store = new SqliteStore(dbPath);
  const provider = new BuiltinSqliteProvider(dbPath);
  const enactor = buildEnactor(await settings(), 'az1', {
    store, provider, clock: clock.systemClock, rng: clock.seededRng(1), log: silentLogger, frozen: frozenFrom(store),
  });
  return {
    ready: {},
    commands: {
      step: async () => {
        const { ms, value } = await timed(() => enactor.step());
        return { ms, ...numbersOf(value) };
      },
    },
  };
}

async function reconcilerRole(dbPath: string): Promise<Role> {
  const [{ buildReconciler }, { frozenFrom }, { SqliteStore }, { BuiltinSqliteProvider }, { silentLogger }, clock] =
    await Promise.all([
      import('../src/roles/build.js'), import('../src/roles/installation.js'), import('../src/store/sqlite/store.js'),
      import('../src/providers/builtin/sqlite.js'), import('../src/util/log.js'), import('../src/util/clock.js'),
    ]);
  const store = new SqliteStore(dbPath);
  const provider = new BuiltinSqliteProvider(dbPath);
  const reconciler = buildReconciler(await settings(), 'bench-reconciler', {
    store, provider, clock: clock.systemClock, rng: clock.seededRng(2), log: silentLogger, frozen: frozenFrom(store),
  });
  return {
    ready: {},
    commands: {
      tick: async () => {
        const { ms, value } = await timed(() => reconciler.tick());
        return { ms, ...numbersOf(value), drifts: value.drifts.length };
      },
    },
  };
}

async function janitorRole(dbPath: string): Promise<Role> {
  const [{ buildJanitor }, { SqliteStore }, { BuiltinSqliteProvider }, { silentLogger }, { systemClock }] =
    await Promise.all([
      import('../src/roles/build.js'), import('../src/store/sqlite/store.js'),
      import('../src/providers/builtin/sqlite.js'), import('../src/util/log.js'), import('../src/util/clock.js'),
    ]);
  const store = new SqliteStore(dbPath);
  const provider = new BuiltinSqliteProvider(dbPath);
  const janitor = buildJanitor(await settings(), { store, provider, clock: systemClock, log: silentLogger });
  return {
    ready: {},
    commands: {
      tick: async () => {
        const { ms, value } = await timed(() => janitor.tick());
        return { ms, ...numbersOf(value) };
      },
      prune: async () => {
        const { ms, value } = await timed(() => janitor.pruneHistory());
        return { ms, deleted: value };
      },
    },
  };
}

/** The API as `dnsplane api` builds it (bench/common.ts), timed from the call that builds it to listening. */
async function apiRole(namesCount: number, dbPath: string): Promise<Role> {
  const { buildBenchApi } = await import('./common.js');
  const built = await timed(async () => inventory(namesCount));
  const started = nowMs();
  const app = await buildBenchApi(dbPath, built.value);
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { ready: { inventoryMs: built.ms, startMs: nowMs() - started, address }, commands: {} };
}

/** The DNS server of `dnsplane serve` with one worker (in this process), on a free port of 127.0.0.1. */
async function dnsRole(dataDir: string): Promise<Role> {
  const [{ parseConfig }, { dnsServerOptions, startDns }, { silentLogger }] = await Promise.all([
    import('../src/config/load.js'), import('../src/dns/index.js'), import('../src/util/log.js'),
  ]);
  const config = parseConfig({
    zone: `${scaleZone}.`,
    // One client address asks everything: rate limiting would answer for the limiter, not the server.
    dns: { listen: '127.0.0.1:0', rateLimit: { enabled: false } },
    endpoints: [{ name: 'placeholder', targets: [{ id: 'p1', address: '127.0.0.9' }] }],
  });
  const options = dnsServerOptions(config, dataDir, { port: 0, workers: 1 });
  let failure: Error | null = null;
  const started = nowMs();
  const running = await startDns(options, silentLogger, (error) => { failure = error; });
  const startMs = nowMs() - started;
  return {
    ready: { startMs, port: running.port },
    commands: {
      check: async () => {
        if (failure !== null) throw failure;
        return { counters: numbersOf(running.counters()) };
      },
    },
  };
}

/** Only Node and tsx: what every role's RSS includes before it loads anything of its own. */
async function idleRole(): Promise<Role> {
  return { ready: {}, commands: {} };
}

async function startRole(role: string, dataDir: string): Promise<Role> {
  const namesCount = scaleNamesCount();
  const dbPath = join(dataDir, 'state.db');
  switch (role) {
    case 'compute': return computeRole(namesCount);
    case 'planner': return plannerRole(namesCount, dbPath);
    case 'enactor': return enactorRole(dbPath);
    case 'reconciler': return reconcilerRole(dbPath);
    case 'janitor': return janitorRole(dbPath);
    case 'api': return apiRole(namesCount, dbPath);
    case 'dns': return dnsRole(dataDir);
    case 'idle': return idleRole();
    default: throw new Error(`unknown role ${role}`);
  }
}

function answer(reply: Reply): void {
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}

async function main(): Promise<void> {
  const [role, dataDir] = process.argv.slice(2);
  if (role === undefined || dataDir === undefined) throw new Error('usage: scale-child.ts ROLE DATA_DIR');
  const { ready, commands } = await startRole(role, dataDir);
  answer({ ready: role, ...ready });
  const lines = createInterface({ input: process.stdin });
  // One command at a time, in order: the next line is read only once this one is answered.
  for await (const line of lines) {
    const command = commands[line.trim()];
    if (command === undefined) throw new Error(`${role}: unknown command "${line}"`);
    answer(await command());
  }
  // stdin closed: the benchmark is done with this role (or gone).
  process.exit(0);
}

if (process.argv[1] === import.meta.filename) {
  main().catch((error: unknown) => {
    answer({ error: error instanceof Error ? error.stack ?? error.message : String(error) });
    process.exit(1);
  });
}
