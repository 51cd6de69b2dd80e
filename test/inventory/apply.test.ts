// Goal: an inventory change does what `diff` and `plan --dry-run` say it will, and nothing else. Property: over
// random pairs of inventories, the plan the planner publishes after `apply` is exactly the dry run computed before
// it (same names, same record sets), and the diff's added and removed names are the plan's new and removed names.
// Also: a refused apply changes nothing, force applies and is audited, two applies from one base cannot both win.
// Method: the real store (SQLite file), applyInventory and the real Planner following the stored version; random
// inventories from fast-check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { EndpointSpec, Inventory } from '../../src/domain/types.js';
import { applyInventory, seedInventory } from '../../src/inventory/apply.js';
import { diffInventories, formatDiff } from '../../src/inventory/diff.js';
import { dryRunPlan } from '../../src/inventory/dry-run.js';
import { Planner } from '../../src/planner/planner.js';
import { systemClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/log.js';
import { endpoints as sampleEndpoints, openInstallation, type Installation } from '../helpers/fixtures.js';

/** An inventory of these endpoints and no services. */
const inv = (endpoints: EndpointSpec[]): Inventory => ({ endpoints, services: [] });

const open = { maxChangedFraction: 1, minNamesForThreshold: 10, maxWithdrawnCapacityFraction: 1 };

/** A planner that plans from the store's newest inventory version, as every role does. */
function followingPlanner(install: Installation) {
  let snapshot: { version: number; endpoints: EndpointSpec[] } = { version: 0, endpoints: [] };
  const planner = new Planner(
    { id: 'p', zone: 'dnsplane.test', intervalMs: 10, leaseTtlMs: 60_000, safety: open },
    { store: install.store, clock: systemClock, log: silentLogger, inventory: () => snapshot.endpoints, inventoryVersion: () => snapshot.version },
  );
  return {
    async tick() {
      const stored = (await install.store.readInventory())!;
      snapshot = { version: stored.version, endpoints: stored.endpoints };
      return planner.tick();
    },
  };
}

const inventoryArbitrary = fc.uniqueArray(
  fc.record({
    n: fc.integer({ min: 0, max: 29 }),
    targets: fc.uniqueArray(fc.record({ t: fc.integer({ min: 0, max: 3 }), capacity: fc.constantFrom(50, 100, 200), az: fc.constantFrom('az1', 'az2') }), { minLength: 1, maxLength: 3, selector: (target) => target.t }),
  }),
  { minLength: 1, maxLength: 12, selector: (endpoint) => endpoint.n },
).map((list): EndpointSpec[] => list.map(({ n, targets }) => ({
  name: `svc${n}.dnsplane.test`,
  targets: targets.map(({ t, capacity, az }) => ({ id: `t${n}-${t}`, address: `10.0.${n}.${t + 1}`, az, capacity })),
})));

test('property: the plan published after apply is the dry run made before it, and the diff names its new and removed names', async () => {
  await fc.assert(fc.asyncProperty(inventoryArbitrary, inventoryArbitrary, async (before, after) => {
    const install = openInstallation();
    try {
      await seedInventory(install.store, inv(before), 'test');
      const planner = followingPlanner(install);
      assert.equal((await planner.tick()).kind, 'published');
      const generation = await install.store.latestGeneration();
      const dry = await dryRunPlan(install.store, after, open);
      const diff = diffInventories(inv(before), inv(after));
      const outcome = await applyInventory(install.store, inv(after), { actor: 'test', reason: 'property', force: false, policy: open });
      assert.equal(outcome.kind, diff.names.length === 0 ? 'unchanged' : 'applied');
      const result = await planner.tick();
      if (dry.names.length === 0) {
        assert.equal(result.kind, 'unchanged');
        return;
      }
      assert.equal(result.kind, 'published');
      const published = (await install.store.readPlan(await install.store.latestGeneration(), { sinceAfter: generation }))!;
      assert.equal(published.header.inventoryVersion, outcome.kind === 'applied' ? outcome.info.version : 1);
      assert.deepEqual(published.entries.map((entry) => [entry.name, entry.records]), dry.names.map((entry) => [entry.name, entry.after]));
      const added = diff.names.filter((entry) => entry.kind === 'added').map((entry) => entry.name);
      const removed = diff.names.filter((entry) => entry.kind === 'removed').map((entry) => entry.name);
      assert.deepEqual(dry.names.filter((entry) => entry.before === null).map((entry) => entry.name), added);
      assert.deepEqual(dry.names.filter((entry) => entry.after === null).map((entry) => entry.name), removed);
    } finally {
      await install.close();
    }
  }), { numRuns: 40, seed: 20261201 });
});

test('apply: above the name threshold it is refused and changes nothing; --force applies and is audited; a stale base is refused', async () => {
  const install = openInstallation();
  try {
    const policy = { maxChangedFraction: 0.3, minNamesForThreshold: 10 };
    const first = sampleEndpoints(20);
    await seedInventory(install.store, inv(first), 'test');
    // Removing 4 and editing 3 of 20 names is 35 %: refused. Adding 50 names never counts.
    const next = [...first.slice(4).map((endpoint, index) => (index < 3 ? { ...endpoint, targets: endpoint.targets.slice(1) } : endpoint)), ...sampleEndpoints(70).slice(20)];
    const refused = await applyInventory(install.store, inv(next), { actor: 'alice', reason: 'retire svc0-3', force: false, policy });
    assert.equal(refused.kind, 'refused');
    assert.match(refused.kind === 'refused' ? refused.reason : '', /removes or edits 7 of 20 names \(35\.0%\)/);
    assert.equal(await install.store.latestInventoryVersion(), 1, 'nothing stored');
    const forced = await applyInventory(install.store, inv(next), { actor: 'alice', reason: 'retire svc0-3', force: true, policy });
    assert.equal(forced.kind, 'applied');
    const info = (await install.store.listInventoryVersions(1))[0]!;
    assert.deepEqual([info.version, info.forced, info.actor, info.names], [2, true, 'alice', 66]);
    const audit = await install.store.readHistory('*', 10);
    assert.match(audit.at(-1)!.detail, /^inventory v2: 50 added, 4 removed, 3 changed .*retire svc0-3 \(forced over: the change removes or edits 7 of 20/);
    assert.match((await install.store.readHistory('svc0.dnsplane.test', 5)).at(-1)!.detail, /^inventory v2 removed: retire svc0-3/);
    const stale = await applyInventory(install.store, inv(first), { actor: 'bob', reason: 'from an old diff', force: true, policy, baseVersion: 1 });
    assert.deepEqual([stale.kind, stale.kind === 'stale' && stale.current], ['stale', 2]);
    assert.equal(await install.store.latestInventoryVersion(), 2);
  } finally {
    await install.close();
  }
});

test('apply: a change to the services alone is a new version (no name changes, no threshold), and diff says what', async () => {
  const install = openInstallation();
  try {
    const policy = { maxChangedFraction: 0.01, minNamesForThreshold: 1 };
    const endpoints = sampleEndpoints(5);
    await seedInventory(install.store, inv(endpoints), 'test');
    const dwfm = { id: 'dwfm', criticality: 'critical' as const, names: [endpoints[0]!.name], services: [] };
    const added = await applyInventory(install.store, { endpoints, services: [dwfm] }, {
      actor: 'alice', reason: 'draw the graph', force: false, policy,
    });
    assert.equal(added.kind, 'applied');
    assert.deepEqual(added.diff.services.map((change) => [change.id, change.kind]), [['dwfm', 'added']]);
    assert.deepEqual([added.diff.names.length, (await install.store.readInventory())!.services], [0, [dwfm]]);
    const same = await applyInventory(install.store, { endpoints, services: [{ ...dwfm, names: [...dwfm.names] }] }, {
      actor: 'alice', reason: 'again', force: false, policy,
    });
    assert.equal(same.kind, 'unchanged');
    const edited = diffInventories({ endpoints, services: [dwfm] }, { endpoints, services: [{ ...dwfm, criticality: 'low' }] });
    assert.deepEqual(edited.services.map((change) => [change.id, change.kind]), [['dwfm', 'changed']]);
    assert.match(formatDiff(edited).join('\n'), /~ service:dwfm \(changed\)\n.*1 services added, removed or edited/);
  } finally {
    await install.close();
  }
});
