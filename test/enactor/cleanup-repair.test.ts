// Goal: the janitor never deletes what a name enacts or a live enactor holds
// (S4) and deleting plans never changes what DNS serves; the reconciler
// detects each kind of drift, alarms, repairs within one pass (L2) and clears
// the alarm once the name is sound. Method: real roles in-process on a real
// SQLite file; drift is made with SQL written straight into the database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Janitor } from '../../src/enactor/janitor.js';
import { Reconciler } from '../../src/enactor/reconciler.js';
import { silentLogger } from '../../src/util/log.js';
import { seededRng, systemClock } from '../../src/util/clock.js';
import { endpoints, makeEnactor, makePlanner, openInstallation, type Installation } from '../helpers/fixtures.js';

function janitor(install: Installation, retainGenerations: number) {
  return new Janitor({ intervalMs: 10, retainGenerations, batchVersionsMax: 10_000 }, { store: install.store, provider: install.provider, clock: systemClock, log: silentLogger });
}

function reconciler(install: Installation, maxLagMs = 60_000) {
  return new Reconciler(
    { id: 'reconciler', intervalMs: 10, maxLagMs, pageSize: 7, retriesMax: 5, backoffBaseMs: 1, backoffMaxMs: 20 },
    { store: install.store, provider: install.provider, clock: systemClock, rng: seededRng(1), log: silentLogger },
  );
}

/** Publishes `count` generations, each flipping the health of one target of svc0. */
async function churn(install: Installation, planner: ReturnType<typeof makePlanner>, count: number) {
  for (let i = 0; i < count; i += 1) {
    await install.store.setHealth('t0-0', i % 2 === 0 ? 'down' : 'up', 'test');
    assert.equal((await planner.tick()).kind, 'published');
  }
}

test('janitor: keeps the versions that names enact and live enactors hold; deleting never changes served rows', async () => {
  const install = openInstallation();
  try {
    const inventory = endpoints(3);
    const planner = makePlanner('p', install.store, () => inventory);
    await planner.tick();
    const enactor = makeEnactor('az1', install.store, install.provider);
    await enactor.step(); // everything at generation 1
    await churn(install, planner, 30); // svc0 changes 30 times; svc1, svc2 never
    // az1 stops (its heartbeat expires, so it holds nothing); another live enactor holds generation 5 (paused mid-apply, say).
    await install.store.heartbeat({ id: 'az1', heldGeneration: 1, enactedGeneration: 1 }, -1);
    await install.store.heartbeat({ id: 'paused', heldGeneration: 5, enactedGeneration: 1 }, 60_000);
    const before = JSON.stringify(await install.provider.list(null, 100));
    const first = await janitor(install, 3).tick();
    assert.equal(first.floor, 5, 'the floor stops at the held generation');
    assert.equal(await install.store.oldestGeneration(), 5);
    // svc0 still serves generation 1: its version is superseded but still enacted, so it stays.
    assert.ok((await install.store.readEntriesAt(['svc0.dnsplane.test'], 1)).has('svc0.dnsplane.test'));
    assert.equal(JSON.stringify(await install.provider.list(null, 100)), before, 'served rows untouched by clean-up');
    // The paused enactor dies (heartbeat expires); the others move on.
    await install.store.heartbeat({ id: 'paused', heldGeneration: 5, enactedGeneration: 1 }, -1);
    await enactor.step();
    const second = await janitor(install, 3).tick();
    assert.equal(second.floor, 28);
    assert.ok(second.versions > 0);
    assert.equal(await install.store.oldestGeneration(), 28);
    // Every served name's enacted version still exists (S4), and the unchanged names' generation-1 sets remain.
    for (const state of await install.provider.list(null, 100)) {
      const entry = (await install.store.readEntriesAt([state.name], state.generation)).get(state.name);
      assert.ok(entry !== undefined, `${state.name}@${state.generation} still has its plan`);
    }
  } finally {
    await install.close();
  }
});

test('janitor: versions of a removed name go once its tombstone is at or above them; a name gone by hand keeps its version', async () => {
  const install = openInstallation();
  try {
    let inventory = endpoints(3);
    const planner = makePlanner('p', install.store, () => inventory);
    await planner.tick(); // generation 1: svc0, svc1, svc2
    const enactor = makeEnactor('az1', install.store, install.provider);
    await enactor.step();
    inventory = inventory.filter((endpoint) => endpoint.name !== 'svc2.dnsplane.test');
    await planner.tick(); // generation 2: svc2 removed
    await enactor.step();
    assert.deepEqual(await install.provider.readRemovals(['svc0.dnsplane.test', 'svc2.dnsplane.test']), new Map([['svc2.dnsplane.test', 2]]));
    // svc1 disappears by hand (no tombstone), then its set changes in generation 3, which nothing enacts.
    install.provider.db.prepare("DELETE FROM served WHERE name = 'svc1.dnsplane.test'").run();
    await install.store.setHealth('t1-0', 'down', 'test');
    assert.equal((await planner.tick()).kind, 'published');
    await churn(install, planner, 5); // generations 4-8: only svc0
    await install.store.heartbeat({ id: 'az1', heldGeneration: 2, enactedGeneration: 2 }, -1);
    const versions = (name: string) => (install.store.db.prepare('SELECT since FROM plan_versions WHERE name = ? ORDER BY since').pluck().all(name) as number[]);
    assert.deepEqual(versions('svc2.dnsplane.test'), [1, 2]);
    const result = await janitor(install, 2).tick();
    assert.equal(result.floor, 6);
    assert.deepEqual(versions('svc2.dnsplane.test'), [2], 'the removed name\'s generation-1 set is gone; its removal stays');
    assert.deepEqual(versions('svc1.dnsplane.test'), [1, 3], 'the hand-deleted name keeps the set a late first write could still serve');
    assert.deepEqual(versions('svc0.dnsplane.test').slice(0, 1), [1], 'svc0 still serves generation 1');
  } finally {
    await install.close();
  }
});

test('reconciler: an emptied name and a name pointing at a deleted plan are repaired in one pass and alarmed', async () => {
  const install = openInstallation();
  try {
    const inventory = endpoints(10);
    const planner = makePlanner('p', install.store, () => inventory);
    await planner.tick();
    const enactor = makeEnactor('az1', install.store, install.provider);
    await enactor.step();
    await churn(install, planner, 10);
    await enactor.step();
    await janitor(install, 2).tick();
    const latest = await install.store.latestGeneration();
    assert.equal(await install.store.readPlan(1), null, 'generation 1 was cleaned up');
    // Drift 1: empty a name by hand. Drift 2: point svc0 (which changed since) at the deleted generation 1.
    install.store.db.prepare("UPDATE served SET records = '' WHERE name = 'svc3.dnsplane.test'").run();
    install.store.db.prepare("UPDATE served SET generation = 1 WHERE name = 'svc0.dnsplane.test'").run();
    // Drift 3: a hand edit that swaps an address.
    install.store.db.prepare(`UPDATE served SET records = '192.0.2.99/1/x' WHERE name = 'svc5.dnsplane.test'`).run();
    // Drift 4: a row deleted by hand.
    install.store.db.prepare("DELETE FROM served WHERE name = 'svc7.dnsplane.test'").run();
    const r = reconciler(install);
    const pass = await r.tick();
    assert.deepEqual(pass.drifts.map((d) => [d.name, d.kind]).sort(), [
      ['svc0.dnsplane.test', 'deleted-plan'], ['svc3.dnsplane.test', 'empty'], ['svc5.dnsplane.test', 'edited'], ['svc7.dnsplane.test', 'missing'],
    ]);
    assert.equal(pass.repaired, 4);
    const served = new Map((await install.provider.list(null, 100)).map((s) => [s.name, s]));
    for (const name of ['svc0', 'svc3', 'svc5', 'svc7']) {
      const state = served.get(`${name}.dnsplane.test`)!;
      assert.equal(state.generation, latest);
      assert.ok(state.records.length > 0);
    }
    assert.equal((await install.store.listAlarms(true)).filter((a) => a.kind === 'drift').length, 4, 'alarms are up');
    const counters = Object.fromEntries((await install.store.readCounters()).map((c) => [c.name, c.value]));
    assert.equal(counters.reconciler_repairs, 4);
    assert.equal(counters.alarms_drift, 4);
    const clean = await r.tick();
    assert.equal(clean.drifts.length, 0);
    assert.equal((await install.store.listAlarms(true)).filter((a) => a.kind === 'drift').length, 0, 'alarms clear once sound');
  } finally {
    await install.close();
  }
});

test('reconciler: a name no live enactor has reached yet is being enacted, not drift; once one has, its absence is drift', async () => {
  // Goal: the start-up race (a pass between the first plan and the first enactment) raises no alarm, while a row
  // deleted by hand after enactment still does at once. Method: a live enactor heartbeat that has finished nothing,
  // then one that has finished the plan, with the served row absent both times.
  const install = openInstallation();
  try {
    const inventory = endpoints(2);
    const planner = makePlanner('p', install.store, () => inventory);
    await planner.tick(); // generation 1; nothing enacted yet
    await install.store.heartbeat({ id: 'az1', heldGeneration: 1, enactedGeneration: 0 }, 60_000);
    const starting = await reconciler(install, 60_000).tick();
    assert.deepEqual(starting.drifts, [], 'a name an enactor is still working on is not drift');
    assert.deepEqual(await install.store.listAlarms(true), [], 'no start-up alarm');
    assert.equal((await install.provider.list(null, 10)).length, 0, 'the reconciler left the enactment to the enactor');
    const late = await reconciler(install, 0).tick();
    assert.deepEqual(late.drifts.map((d) => [d.name, d.kind]), [['svc0.dnsplane.test', 'lagging'], ['svc1.dnsplane.test', 'lagging']], 'past maxLag it is lag, and repaired');
    assert.match(late.drifts[0]!.detail, /not served, behind plan 1/);
    assert.equal(late.repaired, 2);
    // The enactor finishes generation 1; a row deleted by hand afterwards is drift on the next pass.
    await install.store.heartbeat({ id: 'az1', heldGeneration: 1, enactedGeneration: 1 }, 60_000);
    install.provider.db.prepare("DELETE FROM served WHERE name = 'svc1.dnsplane.test'").run();
    const deleted = await reconciler(install, 60_000).tick();
    assert.deepEqual(deleted.drifts.map((d) => [d.name, d.kind]), [['svc1.dnsplane.test', 'missing']]);
    // With no live enactor at all, nothing else will write it: missing at once too.
    await install.store.heartbeat({ id: 'az1', heldGeneration: 1, enactedGeneration: 1 }, -1);
    install.provider.db.prepare("DELETE FROM served WHERE name = 'svc0.dnsplane.test'").run();
    const alone = await reconciler(install, 60_000).tick();
    assert.deepEqual(alone.drifts.map((d) => [d.name, d.kind]), [['svc0.dnsplane.test', 'missing']]);
  } finally {
    await install.close();
  }
});

test('planner: two planners on one store — only the lease holder publishes; generations strictly increase (S6)', async () => {
  const install = openInstallation();
  try {
    const inventory = endpoints(2);
    const a = makePlanner('a', install.store, () => inventory, { leaseTtlMs: 60_000 });
    const b = makePlanner('b', install.store, () => inventory, { leaseTtlMs: 60_000 });
    assert.equal((await a.tick()).kind, 'published');
    assert.equal((await b.tick()).kind, 'follower');
    await a.release();
    await install.store.setHealth('t0-0', 'down', 'test');
    const byB = await b.tick();
    assert.equal(byB.kind, 'published');
    assert.equal(byB.kind === 'published' && byB.header.fencingToken, 2);
    await install.store.setHealth('t0-1', 'down', 'test');
    const byA = await a.tick();
    assert.equal(byA.kind, 'follower');
    const plans = await install.store.listPlans(10);
    assert.deepEqual(plans.map((p) => [p.generation, p.plannerId, p.fencingToken]), [[2, 'b', 2], [1, 'a', 1]]);
  } finally {
    await install.close();
  }
});

test('planner: fail open with an alarm; an edit above the name threshold is refused, force publishes', async () => {
  const install = openInstallation();
  try {
    let inventory = endpoints(10);
    const planner = makePlanner('p', install.store, () => inventory, { safety: { maxChangedFraction: 0.3, minNamesForThreshold: 10, maxWithdrawnCapacityFraction: 0.5 } });
    assert.equal((await planner.tick()).kind, 'published');
    for (const t of inventory[0]!.targets) await install.store.setHealth(t.id, 'down', 'test');
    const failOpen = await planner.tick();
    assert.equal(failOpen.kind, 'unchanged', 'all-down serves every target, which is what was served');
    assert.deepEqual((await install.store.listAlarms(true)).map((a) => [a.kind, a.name]), [['fail-open', 'svc0.dnsplane.test']]);
    // An inventory edit of 5 of 10 names (a changed address) is above the name threshold.
    inventory = inventory.map((endpoint, n) => (n >= 1 && n <= 5 ? { ...endpoint, targets: endpoint.targets.map((t, i) => (i === 0 ? { ...t, address: `192.0.2.${n}` } : t)) } : endpoint));
    const refused = await planner.tick();
    assert.equal(refused.kind, 'refused');
    assert.equal(await install.store.latestGeneration(), 1, 'a refused plan publishes nothing');
    assert.ok((await install.store.listAlarms(true)).some((a) => a.kind === 'safety-threshold'));
    const forced = await planner.tick(true);
    assert.equal(forced.kind, 'published');
    assert.equal(forced.kind === 'published' && forced.header.forced, true);
  } finally {
    await install.close();
  }
});

test('planner: after a full pass, a health change re-evaluates only the endpoints of that target', async () => {
  const install = openInstallation();
  try {
    const inventory = endpoints(500);
    const planner = makePlanner('p', install.store, () => inventory);
    const first = await planner.tick();
    assert.equal(first.kind === 'published' && first.evaluated, 500);
    const idle = await planner.tick();
    assert.deepEqual([idle.kind, idle.kind === 'unchanged' && idle.evaluated], ['unchanged', 0]);
    await install.store.setHealth('t42-1', 'down', 'test');
    const second = await planner.tick();
    assert.equal(second.kind, 'published');
    assert.equal(second.kind === 'published' && second.evaluated, 1);
    assert.equal(second.kind === 'published' && second.header.namesChanged, 1);
    // Another planner publishing makes the next pass a full one (its view may differ).
    await planner.release();
    const other = makePlanner('q', install.store, () => inventory);
    await install.store.setHealth('t7-0', 'down', 'test');
    assert.equal((await other.tick()).kind, 'published');
    await other.release();
    const third = await planner.tick();
    assert.equal(third.kind === 'unchanged' && third.evaluated, 500);
  } finally {
    await install.close();
  }
});
