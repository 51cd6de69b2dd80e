// Goal: several zones per installation (issue 13) route every name to its zone's provider, and a zone whose provider
// fails holds up nothing of the others. Two zones on two real built-in providers (two SQLite files) behind one
// ZonedProvider, one SQLite store: the planner plans both (names interleaved in name order), one enactor loop per
// zone reads only its zone's names through a paged zone reader, and each provider ends holding exactly its zone.
// Then one zone's provider fails (a wrapper that throws, injected around it): the other zone's enactor loop finishes
// the plan, the reconciler checks and repairs the other zone and raises one zone-unreachable alarm, the status read
// model reports the zone unreachable with its old counts; once it answers, everything catches up and the alarm
// clears.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { ZonedProvider, zoneRoutes } from '../../src/providers/zoned.js';
import type { Provider } from '../../src/providers/types.js';
import { ZoneSet } from '../../src/domain/zones.js';
import { zonePlanReader } from '../../src/enactor/zone-scope.js';
import { Reconciler } from '../../src/enactor/reconciler.js';
import { Planner } from '../../src/planner/planner.js';
import { readAllServed } from '../../src/providers/listing.js';
import { ConvergenceTracker } from '../../src/status/report.js';
import { systemClock, seededRng } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/log.js';
import { InvariantViolation } from '../../src/util/assert.js';
import { endpoints, makeEnactor } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/env.js';
import type { EndpointSpec } from '../../src/domain/types.js';

/** A provider whose every call fails while `down` is set (a server that stopped answering). */
function failing(provider: Provider): Provider & { down: boolean } {
  const wrapped = {
    down: false,
    kind: provider.kind,
    check(): void {
      if (wrapped.down) throw new Error('connect ECONNREFUSED 127.0.0.1:53 (the zone\'s server is down)');
    },
    async read(names: readonly string[]) { wrapped.check(); return provider.read(names); },
    async list(after: string | null, limit: number) { wrapped.check(); return provider.list(after, limit); },
    async readRemovals(names: readonly string[]) { wrapped.check(); return provider.readRemovals(names); },
    async apply(changes: Parameters<Provider['apply']>[0]) { wrapped.check(); return provider.apply(changes); },
    servedChangeFeed: () => null,
    removalCompaction: () => null,
    close: () => provider.close(),
  };
  return wrapped;
}

function installation() {
  const dir = tempDir('dnsplane-zoned-');
  const store = new SqliteStore(join(dir.path, 'state.db'));
  const a = new BuiltinSqliteProvider(join(dir.path, 'a.db'));
  const b = failing(new BuiltinSqliteProvider(join(dir.path, 'b.db')));
  const zones = new ZoneSet(['a.test', 'b.test']);
  const provider = new ZonedProvider([{ zone: 'a.test', provider: a }, { zone: 'b.test', provider: b }]);
  // n0.a.test < n0.b.test < n1.a.test …: the zones' names interleave in the plan's name order.
  const inventory: EndpointSpec[] = [...endpoints(10, 2, 'a.test'), ...endpoints(10, 2, 'b.test')]
    .map((endpoint) => ({ ...endpoint, name: endpoint.name.replace(/^svc/, 'n') }));
  let current = inventory;
  const planner = new Planner(
    { id: 'planner', zone: zones, intervalMs: 10, leaseTtlMs: 5000,
      safety: { maxChangedFraction: 1, minNamesForThreshold: 10, maxWithdrawnCapacityFraction: 1 } },
    { store, clock: systemClock, log: silentLogger, inventory: () => current },
  );
  // One loop per zone, as an enactor process runs them (roles/installation.ts), with pages of 3 names.
  const enactors = zoneRoutes(provider, '').map((route) => makeEnactor(
    `az1@${route.zone}`, zonePlanReader(store, zones, route.zone), route.provider, { batchNamesMax: 3 },
  ));
  const reconciler = new Reconciler(
    { id: 'reconciler', intervalMs: 1000, maxLagMs: 0, pageSize: 4, retriesMax: 5, backoffBaseMs: 1, backoffMaxMs: 20 },
    { store, provider, clock: systemClock, rng: seededRng(1), log: silentLogger },
  );
  return {
    store, a, b, provider, planner, enactors, reconciler, inventory,
    setInventory(next: EndpointSpec[]) {
      current = next;
    },
    async close() {
      await provider.close();
      await store.close();
      dir.cleanup();
    },
  };
}

test('zones: each name goes to its zone\'s provider; each zone\'s enactor loop reads and writes only its zone', async () => {
  const install = installation();
  try {
    assert.equal((await install.planner.tick()).kind, 'published');
    const [enactA, enactB] = install.enactors;
    const stepA = await enactA!.step();
    const stepB = await enactB!.step();
    assert.deepEqual([stepA?.applied, stepA?.complete, stepB?.applied, stepB?.complete], [10, true, 10, true]);
    const inZone = (zone: string) => install.inventory.map((e) => e.name).filter((name) => name.endsWith(`.${zone}`)).sort();
    assert.deepEqual((await readAllServed(install.a)).map((state) => state.name), inZone('a.test'));
    assert.deepEqual((await readAllServed(install.b)).map((state) => state.name), inZone('b.test'));
    // Through the zoned provider: one listing in name order over both, page by page; reads split by zone.
    const listed = (await readAllServed(install.provider, 4)).map((state) => state.name);
    assert.deepEqual(listed, install.inventory.map((e) => e.name).sort());
    const read = await install.provider.read(['n3.b.test', 'n3.a.test', 'n99.a.test']);
    assert.deepEqual([...read.keys()].sort(), ['n3.a.test', 'n3.b.test']);
    // Writes keep the callers' order of outcomes, whichever zone answers first.
    const versions = [...read.values()];
    const outcomes = await install.provider.apply(versions.map((state) => ({
      name: state.name, records: state.records, generation: state.generation + 1, expectedVersion: 'stale',
    })));
    assert.deepEqual(outcomes.map((o) => [o.name, o.outcome]), versions.map((s) => [s.name, 'conflict']));
    // A name in none of the zones is an internal error, not a silent write somewhere.
    await assert.rejects(install.provider.read(['n1.c.test']), /in none of the zones/);
    // The reconciler finds both zones sound.
    const pass = await install.reconciler.tick();
    assert.equal(pass.checked, 20);
    assert.deepEqual(pass.drifts, []);
  } finally {
    await install.close();
  }
});

test('zones: a zone whose provider fails stalls only its own enactor loop; the reconciler and status carry on with the other, and it catches up', async () => {
  const install = installation();
  const tracker = new ConvergenceTracker(install.store, install.provider, (() => {
    let now = 0;
    return () => (now += 10_000); // every refresh is a full read of each zone
  })());
  try {
    assert.equal((await install.planner.tick()).kind, 'published');
    for (const enactor of install.enactors) assert.equal((await enactor.step())?.complete, true);
    await tracker.refresh();
    assert.deepEqual(tracker.zones('a.test').map((z) => [z.zone, z.names.converged, z.reachable]),
      [['a.test', 10, true], ['b.test', 10, true]]);

    // Zone b's server goes down; every name of both zones changes (a target withdrawn from each).
    install.b.down = true;
    install.setInventory(install.inventory.map((e) => ({ ...e, targets: e.targets.slice(0, 1) })));
    assert.equal((await install.planner.tick()).kind, 'published');
    const [enactA, enactB] = install.enactors;
    const stepA = await enactA!.step();
    assert.deepEqual([stepA?.applied, stepA?.complete], [10, true], 'zone a is enacted while b is down');
    await assert.rejects(enactB!.step(), /ECONNREFUSED/);
    assert.ok((await readAllServed(install.a)).every((state) => state.records.length === 1));

    // The reconciler checks zone a (sound), leaves zone b out and alarms it, once.
    const pass = await install.reconciler.tick();
    assert.equal(pass.drifts.length, 0, JSON.stringify(pass.drifts));
    const alarms = (await install.store.listAlarms(true)).map((alarm) => [alarm.kind, alarm.name]);
    assert.deepEqual(alarms, [['zone-unreachable', 'b.test']]);
    // The status read model: zone a in sync, zone b unreachable with what was read of it before (behind now).
    await tracker.refresh();
    const zones = tracker.zones('a.test');
    assert.deepEqual(zones.map((z) => [z.zone, z.names.converged, z.names.total, z.reachable]),
      [['a.test', 10, 10, true], ['b.test', 0, 10, false]]);
    assert.match(zones[1]!.error ?? '', /ECONNREFUSED/);

    // An operator re-enactment of a zone-b name waits (in the reconciler) for a pass that can read zone b.
    await install.store.addRequest('reenact', 'n1.b.test', 'operator', 'check it');
    assert.equal((await install.reconciler.tick()).drifts.length, 0);
    assert.deepEqual(await install.store.takeRequests('reenact', 10), [], 'taken once, not put back again and again');

    // Zone b answers again: its enactor loop catches up, the alarm clears, the status is whole.
    install.b.down = false;
    const caughtUp = await enactB!.step();
    assert.deepEqual([caughtUp?.applied, caughtUp?.complete], [10, true]);
    const after = await install.reconciler.tick();
    assert.deepEqual(after.drifts.map((d) => [d.name, d.kind]), [['n1.b.test', 'reenact']]);
    assert.deepEqual(await install.store.listAlarms(true), []);
    await tracker.refresh();
    assert.deepEqual(tracker.zones('a.test').map((z) => [z.zone, z.names.converged, z.reachable]),
      [['a.test', 10, true], ['b.test', 10, true]]);
  } finally {
    await install.close();
  }
});

test('zones: a zone whose loop lags is lag, not drift, whatever another zone\'s loop has done; every zone down is an error, not an invariant; the alarm outlives no restart', async () => {
  const install = installation();
  try {
    assert.equal((await install.planner.tick()).kind, 'published');
    const [enactA, enactB] = install.enactors;
    assert.equal((await enactA!.step())?.complete, true);
    // Zone b's loop is live (it heartbeats) but has not enacted the plan: its server failed under it.
    install.b.down = true;
    await assert.rejects(enactB!.step(), /ECONNREFUSED/);
    install.b.down = false;
    const patient = new Reconciler(
      { id: 'patient', intervalMs: 1000, maxLagMs: 60_000, pageSize: 4, retriesMax: 5, backoffBaseMs: 1, backoffMaxMs: 20 },
      { store: install.store, provider: install.provider, clock: systemClock, rng: seededRng(2), log: silentLogger },
    );
    const pass = await patient.tick();
    assert.deepEqual(pass.drifts, [], 'zone b\'s names are lagging within maxLag, not missing');
    assert.equal(pass.repaired, 0);

    // Both zones' servers down: the pass fails as an ordinary error, after alarming each zone.
    install.b.down = true;
    const allDown = new ZonedProvider([
      { zone: 'a.test', provider: failing(install.a) },
      { zone: 'b.test', provider: install.b },
    ]);
    (allDown.routes[0]!.provider as ReturnType<typeof failing>).down = true;
    const blind = new Reconciler(
      { id: 'blind', intervalMs: 1000, maxLagMs: 0, pageSize: 4, retriesMax: 5, backoffBaseMs: 1, backoffMaxMs: 20 },
      { store: install.store, provider: allDown, clock: systemClock, rng: seededRng(3), log: silentLogger },
    );
    await assert.rejects(blind.tick(), (error: unknown) => error instanceof Error && !(error instanceof InvariantViolation)
      && /no zone could be read: a\.test: .*; b\.test: /.test(error.message));
    assert.deepEqual((await install.store.listAlarms(true)).map((alarm) => alarm.name).sort(), ['a.test', 'b.test']);
    // Another reconciler process (a restart) that reads both zones clears the alarms it did not raise.
    install.b.down = false;
    await patient.tick();
    assert.deepEqual(await install.store.listAlarms(true), []);
  } finally {
    await install.close();
  }
});

test('zone plan reader: pages filled from the whole plan keep name order, and a short page is the end', async () => {
  const install = installation();
  try {
    assert.equal((await install.planner.tick()).kind, 'published');
    const zones = new ZoneSet(['a.test', 'b.test']);
    const reader = zonePlanReader(install.store, zones, 'b.test');
    const generation = await reader.latestGeneration();
    const seen: string[] = [];
    let afterName = '';
    for (let page = 0; page < 10; page += 1) {
      const view = await reader.readPlan(generation, { afterName, limit: 4 });
      assert.ok(view !== null);
      assert.ok(view.entries.every((entry) => entry.name.endsWith('.b.test')));
      seen.push(...view.entries.map((entry) => entry.name));
      if (view.entries.length < 4) break;
      afterName = view.entries[view.entries.length - 1]!.name;
    }
    const expected = install.inventory.map((e) => e.name).filter((name) => name.endsWith('.b.test')).sort();
    assert.deepEqual(seen, expected);
    const named = await reader.readPlan(generation, { names: ['n1.a.test', 'n1.b.test'] });
    assert.deepEqual(named?.entries.map((entry) => entry.name), ['n1.b.test']);
  } finally {
    await install.close();
  }
});
