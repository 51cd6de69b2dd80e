import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildEnactor, buildJanitor, buildReconciler, parseRoleSettings } from '../../src/roles/build.js';
import { recordSetKey, type EndpointSpec, type Generation } from '../../src/domain/types.js';
import { seededRng, type Clock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/log.js';
import type { Provider, ServedState } from '../../src/providers/types.js';
import type { Store } from '../../src/store/types.js';
import type { Janitor } from '../../src/enactor/janitor.js';
import { endpoints, makePlanner } from '../helpers/fixtures.js';

/**
 * The roles contract: what the janitor (S4) and the reconciler (L2) must do on every store and provider, whatever
 * holds the plans and serves the records (DESIGN.md: S4, L2). `rolesContract(family)` runs every case below on one
 * family; roles-contract.test.ts lists the families (SQLite, etcd, RFC 2136 on Knot DNS and BIND 9, the simulator's
 * memory store). The roles are the real ones, built as `dnsplane up` builds them (src/roles/build.ts), on a clock
 * the case moves by hand; drift is made by each family's own kind of hand edit at the DNS.
 */

export interface RolesFamily {
  /** As the test names it: "SQLite store, builtin provider on SQLite". */
  name: string;
  /** Starts what the store and provider run on (once for all cases) and returns how to open one backend per case. */
  start(): Promise<RolesServers>;
}

export interface RolesServers {
  /** A store and a provider of their own for one case: empty, or on names no other case uses. */
  open(): Promise<RolesBackend>;
  stop(): Promise<void>;
}

/** A clock moved only by the case (lease and heartbeat expiry without waiting). */
export type HandClock = Clock & { advance(ms: number): void };

export interface RolesBackend {
  store: Store;
  provider: Provider;
  /** The clock of the store and of every role of the case. */
  clock: HandClock;
  /** The zone the case's names lie in (a fresh label on a server shared by the cases). */
  zone: string;
  /**
   * The enactor `id`, which heartbeat with `ttlMs`, has stopped: returns once the store no longer counts it live.
   * A store whose liveness is its clock moves the clock past `ttlMs` (so every heartbeat as old lapses too: the
   * case heartbeats again for those still running); etcd ends that enactor's lease.
   */
  stopEnactor(id: string, ttlMs: number): Promise<void>;
  /** An operator replaces the addresses a served name answers with, by hand, at the DNS (its marker untouched). */
  handPut(name: string, addresses: readonly string[]): Promise<void>;
  /** An operator deletes a served name by hand at the DNS: records and marker, leaving no removal tombstone. */
  handDelete(name: string): Promise<void>;
  close(): Promise<void>;
}

/** The heartbeat TTL of the enactors the cases run, and of an enactor that holds an old plan for longer. */
const enactorTtlMs = 60_000;
const holderTtlMs = 3_600_000;

/** The role settings of a case, through the config's own schema (as `up` reads them). */
function settingsOf(retainGenerations: number) {
  return parseRoleSettings({
    safety: { retainGenerations },
    enactor: { heartbeatInterval: '100ms', heartbeatTtl: enactorTtlMs, backoffBase: '1ms', backoffMax: '20ms' },
    janitor: { batchVersionsMax: 10_000 },
    reconciler: { maxLag: '1m', pageNamesMax: 7 },
  });
}

/** The real roles of one case on its backend. */
function rolesOf(backend: RolesBackend, retainGenerations: number) {
  const settings = settingsOf(retainGenerations);
  const { store, provider, clock } = backend;
  let seed = 0;
  const deps = () => ({ store, provider, clock, rng: seededRng((seed += 1)), log: silentLogger });
  return {
    enactor: (id: string) => buildEnactor(settings, id, deps()),
    janitor: () => buildJanitor(settings, { store, provider, clock, log: silentLogger }),
    reconciler: () => buildReconciler(settings, 'reconciler', deps()),
  };
}

/** A planner on the case's inventory, whose lease outlasts every clock move of the case. */
function plannerOf(backend: RolesBackend, inventory: () => readonly EndpointSpec[]) {
  const planner = makePlanner('planner', backend.store, inventory, { leaseTtlMs: 86_400_000, clock: backend.clock });
  const publish = async () => assert.equal((await planner.tick()).kind, 'published');
  let down = false;
  /** Publishes `count` generations, each flipping the health of one target of the first name. */
  const churn = async (count: number) => {
    for (let index = 0; index < count; index += 1) {
      down = !down;
      await backend.store.setHealth('t0-0', down ? 'down' : 'up', 'test');
      await publish();
    }
  };
  return { planner, publish, churn };
}

/** One janitor pass, checked not to change what any of `names` serves: plans live apart from served records (S4). */
async function cleanUp(janitor: Janitor, provider: Provider, names: readonly string[]) {
  const before = await provider.read(names);
  const result = await janitor.tick();
  assert.deepEqual(await provider.read(names), before, 'clean-up changed what DNS serves');
  return result;
}

async function entryAt(store: Store, name: string, generation: Generation) {
  return (await store.readEntriesAt([name], generation)).get(name);
}

async function servedOne(provider: Provider, name: string): Promise<ServedState | undefined> {
  return (await provider.read([name])).get(name);
}

type Case = (backend: RolesBackend) => Promise<void>;

/** The cases, each on a backend of its own. */
export const rolesCases: Record<string, Case> = {
  'janitor: the floor stops at every live enactor\'s hold, and a served name keeps its version below it (S4)':
  async (backend) => {
    const { store, provider, zone } = backend;
    const inventory = endpoints(3, 3, zone);
    const names = inventory.map((endpoint) => endpoint.name);
    const [svc0, svc1] = names as [string, string];
    const roles = rolesOf(backend, 3);
    const { publish, churn } = plannerOf(backend, () => inventory);
    await publish(); // generation 1
    const az1 = roles.enactor('az1');
    assert.equal((await az1.step())?.applied, 3);
    await churn(4); // generations 2-5: only svc0 changes
    // An enactor paused in the middle of applying plan 5: it announced its hold and has written nothing yet.
    await store.heartbeat({ id: 'paused', heldGeneration: 5, enactedGeneration: 1 }, holderTtlMs);
    await churn(26); // generations 6-31
    const janitor = roles.janitor();

    const held = await cleanUp(janitor, provider, names);
    assert.deepEqual(held, { floor: 1, versions: 0, headers: 0 }, 'az1, live, holds generation 1: nothing goes');
    assert.notEqual(await store.readPlan(1), null);

    await backend.stopEnactor('az1', enactorTtlMs);
    const paused = await cleanUp(janitor, provider, names);
    assert.deepEqual(paused, { floor: 5, versions: 0, headers: 4 }, 'the paused enactor\'s hold is the floor');
    assert.equal(await store.oldestGeneration(), 5);
    assert.equal((await servedOne(provider, svc0))?.generation, 1, 'svc0 still serves generation 1');
    assert.ok((await entryAt(store, svc0, 1))?.records, 'the version svc0 serves stays, though below the floor');

    const az2 = roles.enactor('az2');
    assert.equal((await az2.step())?.generation, 31);
    const moved = await cleanUp(janitor, provider, names);
    assert.deepEqual(moved, { floor: 5, versions: 4, headers: 0 }, 'svc0@1-4, served by nothing, go; plan 5 stays');
    assert.equal(await entryAt(store, svc0, 4), undefined);
    const plan5 = await store.readPlan(5);
    assert.deepEqual(plan5?.entries.map((entry) => entry.name), names, 'the held plan stays whole');
    assert.ok(plan5.entries.every((entry) => entry.records !== null && entry.records.length > 0));

    await backend.stopEnactor('paused', holderTtlMs);
    assert.equal(await az2.step(), null, 'az2, still running, heartbeats its hold of 31');
    const released = await cleanUp(janitor, provider, names);
    assert.deepEqual(released, { floor: 28, versions: 23, headers: 23 }, 'newest − retain, once released');
    assert.equal(await store.oldestGeneration(), 28);
    assert.ok((await entryAt(store, svc1, 1))?.records, 'a set unchanged since generation 1 is never superseded');
    for (const state of (await provider.read(names)).values()) {
      const entry = await entryAt(store, state.name, state.generation);
      assert.equal(recordSetKey(entry?.records ?? null), recordSetKey(state.records), `${state.name} has its plan`);
    }
  },

  'janitor: a removed name\'s versions go only once its removal tombstone is served; a hand delete keeps them (S4)':
  async (backend) => {
    const { store, provider, zone } = backend;
    let inventory = endpoints(3, 3, zone);
    const names = inventory.map((endpoint) => endpoint.name);
    const [svc0, svc1, svc2] = names as [string, string, string];
    const roles = rolesOf(backend, 2);
    const { publish, churn } = plannerOf(backend, () => inventory);
    await publish(); // generation 1
    await roles.enactor('az1').step();
    inventory = inventory.filter((endpoint) => endpoint.name !== svc2);
    await publish(); // generation 2 removes svc2; no enactor runs it yet
    await churn(3); // generations 3-5: svc0
    await backend.stopEnactor('az1', enactorTtlMs);
    const janitor = roles.janitor();

    const pending = await cleanUp(janitor, provider, names);
    assert.deepEqual(pending, { floor: 3, versions: 0, headers: 2 }, 'svc2@1 is still served: its removal is not');
    assert.equal((await servedOne(provider, svc2))?.generation, 1);
    assert.deepEqual(await provider.readRemovals([svc2]), new Map());
    assert.ok((await entryAt(store, svc2, 1))?.records, 'svc2@1 stays while it is what svc2 serves');

    await roles.enactor('az2').step(); // enacts generation 5: svc2's removal leaves its tombstone
    assert.equal(await servedOne(provider, svc2), undefined);
    assert.deepEqual(await provider.readRemovals([svc2]), new Map([[svc2, 5]]));
    await backend.handDelete(svc1);
    assert.equal(await servedOne(provider, svc1), undefined, 'the hand delete took effect');
    // Where the provider compacts, the clean-up above raised the removal floor to 2 (one below its floor, 3): that
    // is all that stands for svc1 — not enough to let svc1@1 (superseded at 6) go below.
    const floorOnly = provider.removalCompaction() === null ? new Map() : new Map([[svc1, 2]]);
    assert.deepEqual(await provider.readRemovals([svc1]), floorOnly, 'a hand delete leaves no tombstone');
    await store.setHealth('t1-0', 'down', 'test');
    await publish(); // generation 6: svc1 changes, which nothing enacts
    await churn(2); // generations 7-8
    await backend.stopEnactor('az2', enactorTtlMs);

    const served = await cleanUp(janitor, provider, names);
    assert.deepEqual(served, { floor: 6, versions: 4, headers: 3 }, 'svc2@1 and svc0@1, 3, 4 go');
    assert.equal(await entryAt(store, svc2, 1), undefined, 'svc2@1 went once its tombstone was served');
    assert.deepEqual(await entryAt(store, svc2, 2), { name: svc2, since: 2, records: null }, 'the removal stays');
    assert.ok((await entryAt(store, svc1, 1))?.records, 'svc1@1 stays: a late first write could still serve it');
    assert.equal(await entryAt(store, svc0, 4), undefined);
    assert.ok((await entryAt(store, svc0, 5))?.records, 'svc0 serves generation 5');
  },

  'reconciler: a hand put and a hand delete at the DNS are found, alarmed and repaired to the newest plan (L2)':
  async (backend) => {
    const { store, provider, zone } = backend;
    const inventory = endpoints(4, 3, zone);
    const names = inventory.map((endpoint) => endpoint.name);
    const [svc0, svc1, svc2, svc3] = names as [string, string, string, string];
    const roles = rolesOf(backend, 3);
    const { publish, churn } = plannerOf(backend, () => inventory);
    await publish(); // generation 1
    const az1 = roles.enactor('az1');
    await az1.step();
    await churn(1); // generation 2: svc0
    await az1.step();
    const reconciler = roles.reconciler();
    assert.deepEqual((await reconciler.tick()).drifts, [], 'a freshly enacted zone has no drift');

    await backend.handPut(svc1, ['192.0.2.99']);
    await backend.handDelete(svc2);
    assert.deepEqual((await servedOne(provider, svc1))?.records.map((record) => record.address), ['192.0.2.99']);
    assert.equal(await servedOne(provider, svc2), undefined);
    await store.setHealth('t1-0', 'down', 'test');
    await publish(); // generation 3 changes svc1; no enactor runs it
    const plan = (await store.readPlan(3))!;
    const planned = new Map(plan.entries.map((entry) => [entry.name, entry]));

    const pass = await reconciler.tick();
    assert.deepEqual(pass.drifts.map((drift) => [drift.name, drift.kind]), [[svc1, 'edited'], [svc2, 'missing']]);
    assert.match(pass.drifts[0]!.detail, /serves 192\.0\.2\.99\/.*plan 1 says/);
    assert.match(pass.drifts[1]!.detail, /not served; plan 3 has 3 records/);
    assert.equal(pass.repaired, 2);
    const states = await provider.read(names);
    for (const name of [svc1, svc2]) {
      assert.equal(states.get(name)?.generation, 3, `${name} repaired at the newest plan`);
      assert.equal(recordSetKey(states.get(name)!.records), recordSetKey(planned.get(name)!.records), name);
    }
    assert.equal(states.get(svc0)?.generation, 2, 'a sound name is left alone');
    assert.equal(states.get(svc3)?.generation, 1);
    const alarms = (await store.listAlarms(true)).filter((alarm) => alarm.kind === 'drift');
    assert.deepEqual(alarms.map((alarm) => [alarm.name, alarm.message.split(':')[0]]).sort(), [
      [svc1, 'edited'], [svc2, 'missing'],
    ]);
    const counters = new Map((await store.readCounters()).map((counter) => [counter.name, counter.value]));
    assert.equal(counters.get('reconciler_repairs'), 2);
    assert.equal(counters.get('alarms_drift'), 2);
    for (const [name, detail] of [[svc1, 'edited'], [svc2, 'missing']] as const) {
      const repairs = (await store.readHistory(name, 10)).filter((entry) => entry.kind === 'repair');
      assert.deepEqual(repairs.map((entry) => [entry.actor, entry.toGeneration, entry.detail]),
        [['reconciler', 3, detail]]);
    }
    assert.deepEqual((await reconciler.tick()).drifts, [], 'sound on the next pass');
    assert.deepEqual((await store.listAlarms(true)).filter((alarm) => alarm.kind === 'drift'), [], 'alarms cleared');
  },

  'reconciler: a name behind the newest plan and a name it removed wait for maxLag, then are enacted and removed (L1)':
  async (backend) => {
    const { store, provider, clock, zone } = backend;
    let inventory = endpoints(4, 3, zone);
    const names = inventory.map((endpoint) => endpoint.name);
    const [svc0, svc1, svc2, svc3] = names as [string, string, string, string];
    const roles = rolesOf(backend, 3);
    const { publish, churn } = plannerOf(backend, () => inventory);
    await publish(); // generation 1
    await roles.enactor('az1').step();
    await churn(1); // generation 2 changes svc0; no enactor runs it
    inventory = inventory.filter((endpoint) => endpoint.name !== svc3);
    await publish(); // generation 3 removes svc3; no enactor runs it
    const reconciler = roles.reconciler();
    assert.deepEqual((await reconciler.tick()).drifts, [], 'within maxLag lag is the enactors\' job');
    clock.advance(59_000);
    assert.deepEqual((await reconciler.tick()).drifts, [], 'still within maxLag (1 minute)');
    assert.equal((await servedOne(provider, svc0))?.generation, 1, 'the reconciler wrote nothing meanwhile');

    clock.advance(2_000);
    const late = await reconciler.tick();
    assert.deepEqual(late.drifts.map((drift) => [drift.name, drift.kind]), [[svc0, 'lagging'], [svc3, 'lagging']]);
    assert.match(late.drifts[0]!.detail, /at generation 1, behind plan 3 for 61000 ms/);
    assert.match(late.drifts[1]!.detail, /still served at generation 1, removed by plan 3/);
    assert.equal(late.repaired, 2);
    const plan = new Map((await store.readPlan(3))!.entries.map((entry) => [entry.name, entry]));
    const states = await provider.read(names);
    assert.equal(states.get(svc0)?.generation, 3, 'svc0 enacted at the newest plan');
    assert.equal(recordSetKey(states.get(svc0)!.records), recordSetKey(plan.get(svc0)!.records));
    assert.equal(states.has(svc3), false, 'svc3 removed');
    assert.deepEqual(await provider.readRemovals([svc3]), new Map([[svc3, 3]]), 'with its removal tombstone');
    const repairs = async (name: string) => (await store.readHistory(name, 10))
      .filter((entry) => entry.kind === 'repair').map((entry) => [entry.actor, entry.toGeneration, entry.detail]);
    assert.deepEqual(await repairs(svc0), [['reconciler', 3, 'lagging']]);
    assert.deepEqual(await repairs(svc3), [['reconciler', 3, 'lagging (removal)']]);
    assert.equal(states.get(svc1)?.generation, 1, 'a name unchanged since generation 1 is left alone');
    assert.equal(states.get(svc2)?.generation, 1);
    assert.deepEqual((await reconciler.tick()).drifts, [], 'sound on the next pass');
  },

  'reconciler: absent names of a plan no live enactor has finished are being enacted; after maxLag they are lag':
  async (backend) => {
    const { store, provider, clock, zone } = backend;
    const inventory = endpoints(2, 3, zone);
    const names = inventory.map((endpoint) => endpoint.name);
    const roles = rolesOf(backend, 3);
    const { publish } = plannerOf(backend, () => inventory);
    await publish(); // generation 1; nothing enacted yet
    // The start-up race: an enactor is live and holds the plan, and has not written it yet.
    await store.heartbeat({ id: 'az1', heldGeneration: 1, enactedGeneration: 0 }, holderTtlMs);
    const reconciler = roles.reconciler();
    assert.deepEqual((await reconciler.tick()).drifts, [], 'a name an enactor is still working on is not drift');
    assert.deepEqual(await store.listAlarms(true), [], 'no start-up alarm');
    assert.equal((await provider.read(names)).size, 0, 'the reconciler left the enactment to the enactor');
    clock.advance(61_000);
    const late = await reconciler.tick();
    assert.deepEqual(late.drifts.map((drift) => [drift.name, drift.kind]), names.map((name) => [name, 'lagging']));
    assert.match(late.drifts[0]!.detail, /not served, behind plan 1/);
    assert.equal(late.repaired, 2);
    const states = await provider.read(names);
    assert.deepEqual([...states.values()].map((state) => state.generation), [1, 1], 'enacted by the reconciler');
  },

  'reconciler: a name whose addresses were all deleted by hand, its marker left, is "empty" drift and repaired':
  async (backend) => {
    const { store, provider, zone } = backend;
    const inventory = endpoints(2, 3, zone);
    const names = inventory.map((endpoint) => endpoint.name);
    const [svc0, svc1] = names as [string, string];
    const roles = rolesOf(backend, 3);
    const { publish } = plannerOf(backend, () => inventory);
    await publish(); // generation 1
    await roles.enactor('az1').step();
    await backend.handPut(svc1, []);
    const emptied = await servedOne(provider, svc1);
    assert.deepEqual(emptied?.records, [], 'the name is still there, with no address');
    const pass = await roles.reconciler().tick();
    assert.deepEqual(pass.drifts.map((drift) => [drift.name, drift.kind]), [[svc1, 'empty']]);
    assert.equal(pass.repaired, 1);
    const plan = new Map((await store.readPlan(1))!.entries.map((entry) => [entry.name, entry]));
    for (const name of [svc0, svc1]) {
      const state = await servedOne(provider, name);
      assert.equal(recordSetKey(state!.records), recordSetKey(plan.get(name)!.records), `${name} serves its plan`);
    }
  },
};

/** Every case on one family: the family's servers start once, each case opens a backend of its own. */
export function rolesContract(family: RolesFamily): void {
  describe(family.name, () => {
    let servers: RolesServers | undefined;
    before(async () => {
      servers = await family.start();
    });
    after(async () => {
      await servers?.stop();
    });
    for (const [title, body] of Object.entries(rolesCases)) {
      test(title, async () => {
        assert.ok(servers !== undefined, `${family.name} did not start`);
        const backend = await servers.open();
        try {
          await body(backend);
        } finally {
          await backend.close();
        }
      });
    }
  });
}
