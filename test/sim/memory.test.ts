// Goal: the simulator's in-memory Store and Provider have the semantics of
// the SQLite ones they stand in for — the simulator proves nothing about
// production unless its doubles answer exactly as production does. Method:
// differential testing: the same seeded random sequence of calls (publish
// with fresh and stale leases and bases, every kind of plan read, clean-up,
// leases and heartbeats under a moving clock, conditional applies with
// current, stale and missing versions, inventory versions put with current
// and stale bases and read back) goes to both, and every answer must
// be equal (provider versions compared by the order in which they appear).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { MemoryStore, MemoryStoreState } from '../../src/sim/memory-store.js';
import { MemoryProvider, MemoryProviderState } from '../../src/sim/memory-provider.js';
import { createRandom, type SimRandom } from '../../src/sim/random.js';
import type { Clock } from '../../src/util/clock.js';
import type { EndpointSpec, RecordEntry } from '../../src/domain/types.js';
import type { Provider } from '../../src/providers/types.js';
import type { InventoryStore, LeaseGrant, Store } from '../../src/store/types.js';
import { tempDir } from '../helpers/env.js';

const names = ['a.dnsplane.test', 'b.dnsplane.test', 'c.dnsplane.test', 'd.dnsplane.test'];
const operationsPerSeed = 400;

class ManualClock implements Clock {
  now = 1_000_000;
  nowMs(): number {
    return this.now;
  }
  async sleep(): Promise<void> {}
}

function randomRecords(random: SimRandom): RecordEntry[] | null {
  if (random.chance(0.1)) return null;
  const count = random.between(1, 3);
  return Array.from({ length: count }, (_, index) => ({ target: `t${index}`, address: `10.0.0.${index + 1}`, weight: random.between(1, 255) }));
}

function randomInventory(random: SimRandom): EndpointSpec[] {
  const chosen = names.filter(() => random.chance(0.6));
  return (chosen.length > 0 ? chosen : [names[0]!]).map((name, index) => ({
    name, targets: [{ id: `t${index}`, address: `10.0.1.${index + 1}`, az: 'az1', capacity: random.pick([50, 100]) }],
  }));
}

/** An inventory operation: a put against the newest version (or a stale one), or one of the reads. */
function inventoryOperation(random: SimRandom): Operation {
  if (random.chance(0.5)) {
    const stale = random.chance(0.2);
    const endpoints = randomInventory(random);
    const forced = random.chance(0.2);
    return async (side) => {
      const current = await side.store.latestInventoryVersion();
      return side.store.putInventory({ baseVersion: stale ? Math.max(0, current - 1) : current, endpoints, services: [], actor: 'test', reason: 'a change', forced, summary: `${endpoints.length} names` });
    };
  }
  const version = random.chance(0.4) ? undefined : random.int(5);
  const limit = random.int(4);
  return async (side) => ({
    latest: await side.store.latestInventoryVersion(), read: await side.store.readInventory(version), listed: await side.store.listInventoryVersions(limit),
  });
}

/** Maps each implementation's opaque versions to the order in which they first appeared. */
class Versions {
  private readonly canonical = new Map<string, number>();
  private readonly actual: string[] = [];
  of(version: string): number {
    if (!this.canonical.has(version)) {
      this.canonical.set(version, this.actual.length);
      this.actual.push(version);
    }
    return this.canonical.get(version)!;
  }
  actualOf(canonical: number): string | undefined {
    return this.actual[canonical];
  }
}

interface Side {
  store: Store & InventoryStore;
  provider: Provider;
  versions: Versions;
  leases: Map<string, LeaseGrant | null>;
}

/** Calls `body` on a side and returns a comparable answer (thrown errors become their invariant name). */
async function answer(side: Side, body: (side: Side) => Promise<unknown>): Promise<unknown> {
  try {
    return JSON.parse(JSON.stringify((await body(side)) ?? null)) as unknown;
  } catch (error) {
    return { threw: (error as { invariant?: string }).invariant ?? (error as Error).message };
  }
}

type Operation = (side: Side) => Promise<unknown>;

function chooseOperation(random: SimRandom, clock: ManualClock, latest: number, servedVersions: number): Operation {
  const holder = random.pick(['p1', 'p2']);
  const generation = random.int(latest + 2);
  switch (random.int(12)) {
    case 0: {
      const base = random.chance(0.8) ? latest : random.int(latest + 1);
      const changes = random.chance(0.5) ? names.map((name) => ({ name, records: randomRecords(random) })) : [{ name: random.pick(names), records: randomRecords(random) }];
      const inventoryVersion = random.int(4);
      return async (side) => {
        const lease = side.leases.get(holder) ?? { name: 'planner', holder, token: 0, expiresAtMs: 0 };
        return side.store.publishPlan({ lease, baseGeneration: base, changes, namesTotal: 4, forced: false, note: '', inventoryVersion });
      };
    }
    case 1: {
      const ttl = random.pick([50, 500]);
      return async (side) => {
        const grant = await side.store.acquireLease('planner', holder, ttl);
        side.leases.set(holder, grant);
        return grant;
      };
    }
    case 2: {
      const ttl = random.pick([50, 500]);
      return async (side) => {
        const grant = side.leases.get(holder);
        if (grant === undefined || grant === null) return 'no grant';
        const renewed = await side.store.renewLease(grant, ttl);
        side.leases.set(holder, renewed);
        return renewed;
      };
    }
    case 3: {
      const by = random.pick([2, 30, 400]);
      return async () => {
        clock.now += by / 2; // each side advances half: the clock is shared
        return null;
      };
    }
    case 4: {
      const sinceAfter = random.chance(0.5) ? random.int(latest + 1) : undefined;
      const paged = random.chance(0.5);
      const afterName = paged ? random.pick(['', ...names]) : undefined;
      const limit = paged ? random.between(1, 3) : undefined;
      const byName = !paged && random.chance(0.3) ? [random.pick(names), random.pick(names)] : undefined;
      return async (side) => {
        const view = await side.store.readPlan(generation, { sinceAfter, afterName, limit, names: byName });
        return view === null ? null : { header: view.header, entries: [...view.entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.since - b.since)) };
      };
    }
    case 5:
      return async (side) => Object.fromEntries(await side.store.readEntriesAt(names, generation));
    case 6: {
      const floor = random.int(latest + 1);
      const keep = random.int(4);
      const below = random.int(Math.max(1, latest) + 1);
      return async (side) => {
        const candidates = await side.store.listSuperseded(floor, 10);
        const chosen = candidates.filter((_, index) => index % 4 !== keep);
        return { candidates, deleted: await side.store.deletePlanData(chosen, Math.min(below, latest)), oldest: await side.store.oldestGeneration() };
      };
    }
    case 7: {
      const id = random.pick(['e1', 'e2']);
      const held = random.int(latest + 1);
      const ttl = random.pick([10, 1000]);
      return async (side) => {
        await side.store.heartbeat({ id, heldGeneration: held, enactedGeneration: held }, ttl);
        return side.store.listEnactors();
      };
    }
    case 8:
    case 9: {
      const name = random.pick(names);
      const records = randomRecords(random);
      const expected = random.chance(0.2) ? null : random.int(servedVersions + 1);
      return async (side) => {
        const current = (await side.provider.read([name])).get(name);
        // Mostly the version just read; sometimes a stale one or none, so conflicts and the S2 guard are exercised.
        const expectedVersion = expected === null ? null : random.chance(0.7) && current !== undefined ? current.version : side.versions.actualOf(expected) ?? 'none';
        const outcomes = await side.provider.apply([{ name, records, generation, expectedVersion }]);
        return outcomes.map((outcome) => (outcome.outcome === 'applied' ? { name: outcome.name, outcome: 'applied', version: side.versions.of(outcome.version) } : outcome));
      };
    }
    case 10:
      return inventoryOperation(random);
    default:
      return async (side) => {
        const served = await side.provider.list(null, 10);
        return served.map((state) => ({ ...state, version: side.versions.of(state.version) }));
      };
  }
}

let supersededAcrossSeeds = 0;
for (const seed of [1n, 2n, 3n, 4n]) {
  test(`memory store and provider answer as the SQLite ones (seed ${seed})`, async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const dbPath = join(dir.path, 'state.db');
    const sqlite: Side = { store: new SqliteStore(dbPath, clock), provider: new BuiltinSqliteProvider(dbPath), versions: new Versions(), leases: new Map() };
    const memoryStoreState = new MemoryStoreState(() => clock.now);
    const memoryProviderState = new MemoryProviderState();
    const memory: Side = { store: new MemoryStore(memoryStoreState, clock, 'test'), provider: new MemoryProvider(memoryProviderState, 'test'), versions: new Versions(), leases: new Map() };
    try {
      // Both sides get identical streams: the choice of an operation and the draws inside it come from one seed per operation.
      const random = createRandom(seed);
      for (let index = 0; index < operationsPerSeed; index += 1) {
        const latest = await sqlite.store.latestGeneration();
        const operationSeed = BigInt(random.int(2 ** 31));
        const expected = await answer(sqlite, chooseOperation(createRandom(operationSeed), clock, latest, 8));
        const actual = await answer(memory, chooseOperation(createRandom(operationSeed), clock, latest, 8));
        assert.deepEqual(actual, expected, `operation ${index} (seed ${seed}) differs`);
      }
      assert.ok(memoryStoreState.generationLast > 3, 'plans were published');
      assert.ok(memoryStoreState.inventories.length > 3, 'inventory versions were stored');
      supersededAcrossSeeds += memoryProviderState.supersededWrites;
    } finally {
      await sqlite.provider.close();
      await sqlite.store.close();
      dir.cleanup();
    }
  });
}

test('the seeds above reached a first write refused by a removal tombstone (so that answer was compared too)', () => {
  assert.ok(supersededAcrossSeeds > 0, `superseded first writes: ${supersededAcrossSeeds}`);
});
