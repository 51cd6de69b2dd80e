import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { Enactor, type EnactorOptions } from '../../src/enactor/enactor.js';
import { Planner, type PlannerDeps, type PlannerOptions } from '../../src/planner/planner.js';
import { silentLogger } from '../../src/util/log.js';
import { systemClock, seededRng, type Clock } from '../../src/util/clock.js';
import type { EndpointSpec, RecordEntry } from '../../src/domain/types.js';
import type { Provider } from '../../src/providers/types.js';
import type { Store } from '../../src/store/types.js';
import { tempDir } from './env.js';

/** In-process fixtures over a real SQLite file: store, built-in provider, and factories for the real roles. */

export interface Installation {
  dir: string;
  dbPath: string;
  store: SqliteStore;
  provider: BuiltinSqliteProvider;
  close(): Promise<void>;
}

export function openInstallation(): Installation {
  const dir = tempDir();
  const dbPath = join(dir.path, 'state.db');
  const store = new SqliteStore(dbPath);
  const provider = new BuiltinSqliteProvider(dbPath);
  return {
    dir: dir.path, dbPath, store, provider,
    async close() {
      await provider.close();
      await store.close();
      dir.cleanup();
    },
  };
}

export function endpoints(count: number, targets = 3, zone = 'dnsplane.test'): EndpointSpec[] {
  return Array.from({ length: count }, (_, n) => ({
    name: `svc${n}.${zone}`,
    targets: Array.from({ length: targets }, (_, t) => ({ id: `t${n}-${t}`, address: `127.${1 + Math.floor(n / 250)}.${n % 250}.${t + 1}`, az: `az${t + 1}`, capacity: 100 })),
  }));
}

export function records(...addresses: string[]): RecordEntry[] {
  return addresses.map((address, index) => ({ target: `t${index}`, address, weight: 10 }));
}

export const enactorDefaults: Omit<EnactorOptions, 'id'> = {
  pollIntervalMs: 10, batchNamesMax: 1000, retriesMax: 10, backoffBaseMs: 1, backoffMaxMs: 20, heartbeatIntervalMs: 100, heartbeatTtlMs: 5000,
};

export function makeEnactor(id: string, store: Store, provider: Provider, options: Partial<EnactorOptions> = {}, clock: Clock = systemClock): Enactor {
  return new Enactor({ id, ...enactorDefaults, ...options }, { store, provider, clock, rng: seededRng(id.length * 7919), log: silentLogger });
}

/** A planner whose guards are off unless a test sets them (`safety`). */
export function makePlanner(
  id: string, store: Store, inventory: () => readonly EndpointSpec[],
  overrides: {
    leaseTtlMs?: number; clock?: Clock; safety?: Partial<PlannerOptions['safety']>; drained?: PlannerDeps['drained'];
    services?: PlannerDeps['services'];
  } = {},
): Planner {
  const safety = { maxChangedFraction: 1, minNamesForThreshold: 10, maxWithdrawnCapacityFraction: 1, ...overrides.safety };
  const { drained, services } = overrides;
  return new Planner(
    { id, zone: 'dnsplane.test', intervalMs: 10, leaseTtlMs: overrides.leaseTtlMs ?? 5000, safety },
    {
      store, clock: overrides.clock ?? systemClock, log: silentLogger, inventory,
      ...(drained === undefined ? {} : { drained }), ...(services === undefined ? {} : { services }),
    },
  );
}

/** A clock whose time a test moves by hand (for lease expiry without waiting). */
export function manualClock(startMs = 1_000_000): Clock & { advance(ms: number): void } {
  let now = startMs;
  return {
    nowMs: () => now,
    sleep: async () => undefined,
    advance(ms: number) {
      now += ms;
    },
  };
}
