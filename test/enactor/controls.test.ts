// Goal: operator controls act only through the roles — a drain through the
// planner (weight 0), a freeze through the enactors and reconciler (the name
// is left exactly as it is), a re-enactment and a forced publication through
// queued requests. Method: the real roles wired as `dnsplane` wires them
// (src/roles/installation.ts helpers), in-process on a real SQLite file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Enactor } from '../../src/enactor/enactor.js';
import { Planner } from '../../src/planner/planner.js';
import { Reconciler } from '../../src/enactor/reconciler.js';
import { drainedFrom, frozenFrom } from '../../src/roles/installation.js';
import { silentLogger } from '../../src/util/log.js';
import { seededRng, systemClock } from '../../src/util/clock.js';
import { endpoints, enactorDefaults, openInstallation, type Installation } from '../helpers/fixtures.js';

function roles(install: Installation, inventory = endpoints(10)) {
  const planner = new Planner(
    { id: 'p', zone: 'dnsplane.test', intervalMs: 10, leaseTtlMs: 60_000, safety: { maxChangedFraction: 0.3, minNamesForThreshold: 10, maxWithdrawnCapacityFraction: 0.5 } },
    { store: install.store, clock: systemClock, log: silentLogger, inventory: () => inventory, drained: drainedFrom(install.store) },
  );
  const enactor = new Enactor({ id: 'az1', ...enactorDefaults }, { store: install.store, provider: install.provider, clock: systemClock, rng: seededRng(1), log: silentLogger, frozen: frozenFrom(install.store) });
  const reconciler = new Reconciler(
    { id: 'rec', intervalMs: 10, maxLagMs: 0, pageSize: 100, retriesMax: 3, backoffBaseMs: 1, backoffMaxMs: 20 },
    { store: install.store, provider: install.provider, clock: systemClock, rng: seededRng(2), log: silentLogger, frozen: frozenFrom(install.store) },
  );
  return { planner, enactor, reconciler };
}

const served = async (install: Installation, name: string) => (await install.provider.read([name])).get(name)!;

test('drain: the planner gives the target weight 0 and the enactor withdraws it; undrain brings it back', async () => {
  const install = openInstallation();
  try {
    const { planner, enactor } = roles(install);
    await planner.tick();
    await enactor.step();
    await install.store.setDrain('t0-1', true);
    assert.equal((await planner.tick()).kind, 'published');
    await enactor.step();
    assert.deepEqual((await served(install, 'svc0.dnsplane.test')).records.map((r) => r.target), ['t0-0', 't0-2']);
    await install.store.setDrain('t0-1', false);
    await planner.tick();
    await enactor.step();
    assert.equal((await served(install, 'svc0.dnsplane.test')).records.length, 3);
  } finally {
    await install.close();
  }
});

test('freeze: a frozen name keeps exactly what it serves while others move; the zone freeze stops everything; unfreeze converges', async () => {
  const install = openInstallation();
  try {
    const { planner, enactor, reconciler } = roles(install);
    await planner.tick();
    await enactor.step();
    const before = await served(install, 'svc0.dnsplane.test');
    await install.store.setFreeze('svc0.dnsplane.test', true);
    await install.store.setHealth('t0-0', 'down', 'test');
    await install.store.setHealth('t1-0', 'down', 'test');
    await planner.tick();
    await enactor.step();
    await reconciler.tick();
    assert.deepEqual(await served(install, 'svc0.dnsplane.test'), before, 'frozen: untouched by enactor and reconciler');
    assert.equal((await served(install, 'svc1.dnsplane.test')).records.length, 2, 'others move on');
    await install.store.setFreeze('*', true);
    await install.store.setHealth('t2-0', 'down', 'test');
    await planner.tick();
    await enactor.step();
    assert.equal((await served(install, 'svc2.dnsplane.test')).records.length, 3, 'zone freeze: nothing enacted');
    await install.store.setFreeze('*', false);
    await install.store.setFreeze('svc0.dnsplane.test', false);
    await enactor.step();
    assert.equal((await served(install, 'svc0.dnsplane.test')).records.length, 2);
    assert.equal((await served(install, 'svc2.dnsplane.test')).records.length, 2);
  } finally {
    await install.close();
  }
});

test('re-enact and force requests are carried out by the reconciler and the planner, and recorded', async () => {
  const install = openInstallation();
  try {
    const { planner, enactor, reconciler } = roles(install);
    await planner.tick();
    await enactor.step();
    const before = await served(install, 'svc3.dnsplane.test');
    await install.store.addRequest('reenact', 'svc3.dnsplane.test', 'alice', 'suspect cache');
    const pass = await reconciler.tick();
    assert.equal(pass.repaired, 1);
    const after = await served(install, 'svc3.dnsplane.test');
    assert.notEqual(after.version, before.version, 'rewritten');
    assert.deepEqual(after.records, before.records, 'with the same plan');
    const history = await install.store.readHistory('svc3.dnsplane.test', 10);
    assert.match(history.at(-1)!.detail, /reenact requested by alice: suspect cache/);
    assert.equal((await install.store.listAlarms(true)).length, 0, 'a re-enactment is not an alarm');
    // Operator drains changing 4 of 10 names are refused; a queued force request publishes them on the next leader pass.
    for (let n = 0; n < 4; n += 1) await install.store.setDrain(`t${n}-2`, true);
    assert.equal((await planner.tick()).kind, 'refused');
    await install.store.addRequest('force', '*', 'bob', 'known maintenance');
    const controller = new AbortController();
    const running = planner.run(controller.signal);
    const deadline = Date.now() + 5000;
    while ((await install.store.latestGeneration()) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await running;
    const [header] = await install.store.listPlans(1);
    assert.equal(header!.generation, 2);
    assert.equal(header!.forced, true);
  } finally {
    await install.close();
  }
});
