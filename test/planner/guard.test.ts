// Goal: the planner's two guards do what the README's scenario table says. Health changes are guarded by the
// share of served capacity a plan withdraws (safety.maxWithdrawnCapacityFraction, 0.5): one target, one AZ of
// three and then the second AZ pass without an operator; two AZs failing at once are held with an alarm while
// the rest of the plan still goes out, and force publishes them. Edits (inventory, drains) are guarded by the
// share of names they change (safety.maxChangedFraction). Failover pools serve secondaries only while every
// primary is down. Method: the real Planner on a real SQLite store, 12 names with one target in each of three
// AZs; health written to the store as the checkers' quorum would write it; plans read back from the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSpec, ServiceSpec } from '../../src/domain/types.js';
import { computePlan, desiredRecords } from '../../src/planner/compute.js';
import { endpoints, makePlanner, openInstallation, type Installation } from '../helpers/fixtures.js';

const defaults = { maxChangedFraction: 0.3, minNamesForThreshold: 10, maxWithdrawnCapacityFraction: 0.5 };

async function setAz(install: Installation, inventory: readonly EndpointSpec[], az: string, state: 'up' | 'down'): Promise<void> {
  const targets = inventory.flatMap((endpoint) => endpoint.targets.filter((target) => target.az === az).map((target) => ({ target: target.id, state })));
  await install.store.setHealthMany(targets, 'checker');
}

/** The targets each name serves in the newest plan. */
async function served(install: Installation): Promise<Map<string, string[]>> {
  const view = (await install.store.readPlan(await install.store.latestGeneration()))!;
  return new Map(view.entries.map((entry) => [entry.name, (entry.records ?? []).map((record) => record.target).sort()]));
}

test('one AZ of three, then the second: each passes the capacity guard with no operator and no refusal', async () => {
  const install = openInstallation();
  try {
    const inventory = endpoints(12);
    const planner = makePlanner('p', install.store, () => inventory, { safety: defaults });
    assert.equal((await planner.tick()).kind, 'published');
    await install.store.setHealth('t0-0', 'down', 'checker');
    assert.equal((await planner.tick()).kind, 'published', 'one target');
    await setAz(install, inventory, 'az1', 'down');
    const az1 = await planner.tick();
    assert.equal(az1.kind, 'published', 'one AZ of three: a third of the served capacity');
    for (const [name, targets] of await served(install)) assert.ok(!targets.some((t) => t.endsWith('-0')), `${name} still serves az1: ${targets}`);
    await setAz(install, inventory, 'az2', 'down');
    assert.equal((await planner.tick()).kind, 'published', 'the second AZ: half of what is served now, at the limit');
    for (const [name, targets] of await served(install)) assert.deepEqual(targets, [`${name.split('.')[0]!.replace('svc', 't')}-2`]);
    assert.deepEqual((await install.store.listAlarms(true)).filter((alarm) => alarm.kind !== 'fail-open'), [], 'no alarm');
  } finally {
    await install.close();
  }
});

test('two AZs at once are held with an alarm; other changes still publish; force publishes the withdrawal', async () => {
  const install = openInstallation();
  try {
    const inventory = endpoints(12);
    const planner = makePlanner('p', install.store, () => inventory, { safety: defaults });
    await planner.tick();
    await install.store.setHealth('t5-2', 'down', 'checker');
    await planner.tick(); // svc5 serves az1 and az2 only
    await setAz(install, inventory, 'az1', 'down');
    await setAz(install, inventory, 'az2', 'down');
    await install.store.setHealth('t5-2', 'up', 'checker'); // a restoration in the same pass
    const held = await planner.tick();
    assert.equal(held.kind, 'held');
    assert.match(held.kind === 'held' ? held.reason : '', /withdraws \d+ of \d+ served capacity \(\d+\.\d%\).*above safety\.maxWithdrawnCapacityFraction 50\.0%/);
    assert.ok(held.kind === 'held' && held.header !== null, 'the restoration of t5-2 was published');
    const during = await served(install);
    assert.deepEqual(during.get('svc5.dnsplane.test'), ['t5-0', 't5-1', 't5-2'], 'restored, nothing withdrawn');
    assert.deepEqual(during.get('svc0.dnsplane.test'), ['t0-0', 't0-1', 't0-2']);
    assert.match((await install.store.listAlarms(true)).find((alarm) => alarm.kind === 'capacity-guard')?.message ?? '', /held 24 target\(s\)/);
    assert.equal((await planner.tick()).kind, 'held', 'still held on the next pass');
    const forced = await planner.tick(true);
    assert.equal(forced.kind, 'published');
    for (const [name, targets] of await served(install)) assert.deepEqual(targets, [`${name.split('.')[0]!.replace('svc', 't')}-2`]);
    await planner.tick();
    assert.equal((await install.store.listAlarms(true)).some((alarm) => alarm.kind === 'capacity-guard'), false, 'the alarm clears');
  } finally {
    await install.close();
  }
});

test('a held plan\'s alarm states what forcing it loses: the names and the services behind them', async () => {
  const install = openInstallation();
  try {
    const inventory = endpoints(12);
    const services: ServiceSpec[] = [
      { id: 'dwfm', criticality: 'critical', names: ['svc3.dnsplane.test'], services: [] },
      { id: 'ec2-launch', criticality: 'high', names: [], services: ['dwfm'] },
      { id: 'unrelated', criticality: 'low', names: [], services: [] },
    ];
    const planner = makePlanner('p', install.store, () => inventory, { safety: defaults, services: () => services });
    await planner.tick();
    await setAz(install, inventory, 'az1', 'down');
    await setAz(install, inventory, 'az2', 'down');
    assert.equal((await planner.tick()).kind, 'held');
    const alarm = (await install.store.listAlarms(true)).find((candidate) => candidate.kind === 'capacity-guard');
    // Forcing withdraws az1 and az2 everywhere: every name keeps only az3, and what depends on svc3 is degraded.
    const expected = /forcing it: 12 names degraded; services: dwfm critical degraded, ec2-launch high degraded; force/;
    assert.match(alarm?.message ?? '', expected);
  } finally {
    await install.close();
  }
});

test('every target down: each name fails open with an alarm; one AZ recovering leaves fail-open without the guard holding it', async () => {
  const install = openInstallation();
  try {
    const inventory = endpoints(12);
    const planner = makePlanner('p', install.store, () => inventory, { safety: defaults });
    await planner.tick();
    for (const az of ['az1', 'az2', 'az3']) await setAz(install, inventory, az, 'down');
    assert.equal((await planner.tick()).kind, 'unchanged');
    for (const targets of (await served(install)).values()) assert.equal(targets.length, 3);
    assert.equal((await install.store.listAlarms(true)).filter((alarm) => alarm.kind === 'fail-open').length, 12);
    // az1 comes back: every name drops the two dead AZs it was serving only because it failed open. That is no
    // healthy capacity lost (found by the simulator: the guard used to count it and hold the recovery).
    await setAz(install, inventory, 'az1', 'up');
    assert.equal((await planner.tick()).kind, 'published');
    for (const [name, targets] of await served(install)) assert.deepEqual(targets, [`${name.split('.')[0]!.replace('svc', 't')}-0`]);
    assert.equal((await install.store.listAlarms(true)).filter((alarm) => alarm.kind === 'fail-open').length, 0);
  } finally {
    await install.close();
  }
});

test('edits are guarded by names changed: a drain of 4 of 12 names is refused, health changes do not count', async () => {
  const install = openInstallation();
  try {
    const inventory = endpoints(12);
    const drained = new Set<string>();
    const planner = makePlanner('p', install.store, () => inventory, { safety: defaults, drained: async () => drained });
    await planner.tick();
    await setAz(install, inventory, 'az1', 'down'); // 12 of 12 names change by health
    assert.equal((await planner.tick()).kind, 'published');
    for (let n = 0; n < 4; n += 1) drained.add(`t${n}-1`);
    const refused = await planner.tick();
    assert.equal(refused.kind, 'refused');
    assert.match(refused.kind === 'refused' ? refused.reason : '', /changes 4 of 12 names/);
    drained.delete('t3-1');
    assert.equal((await planner.tick()).kind, 'published', '3 of 12 is within 30%');
  } finally {
    await install.close();
  }
});

test('failover pools: secondaries only while every primary is down; all of both when everything is down', () => {
  const endpoint: EndpointSpec = {
    name: 'api.dnsplane.test',
    targets: [
      { id: 'p1', address: '127.0.0.2', az: 'az1', capacity: 100, pool: 'primary' },
      { id: 'p2', address: '127.0.0.3', az: 'az2', capacity: 100, pool: 'primary' },
      { id: 's1', address: '127.0.0.4', az: 'az3', capacity: 50, pool: 'secondary' },
    ],
  };
  const targets = (health: Record<string, 'up' | 'down'>) => desiredRecords(endpoint, new Map(Object.entries(health)), new Set()).records.map((r) => r.target);
  assert.deepEqual(targets({}), ['p1', 'p2']);
  assert.deepEqual(targets({ p1: 'down' }), ['p2']);
  assert.deepEqual(targets({ p1: 'down', p2: 'down' }), ['s1']);
  assert.deepEqual(targets({ p1: 'down', p2: 'down', s1: 'down' }), ['p1', 'p2', 's1'], 'fail open to everything');
  assert.equal(desiredRecords(endpoint, new Map([['p1', 'down'], ['p2', 'down'], ['s1', 'down']]), new Set()).failOpen, true);
  assert.deepEqual(targets({ p2: 'down', s1: 'down' }), ['p1']);
  // A failover to the secondary, and back, are health changes: they never count against the name threshold.
  const current = new Map([[endpoint.name, 'x']]);
  const toSecondary = computePlan({ endpoints: [endpoint], health: new Map([['p1', 'down'], ['p2', 'down']]), current: new Map([[endpoint.name, '127.0.0.2/255/p1,127.0.0.3/255/p2']]) });
  assert.deepEqual([toSecondary.operatorChanged, toSecondary.withdrawals.map((w) => w.targets)], [0, [['p1', 'p2']]]);
  assert.equal(toSecondary.withdrawals[0]!.capacity, 150, 'net: 200 of primaries out, 50 of secondary in');
  const back = computePlan({ endpoints: [endpoint], health: new Map(), current: new Map([[endpoint.name, '127.0.0.4/128/s1']]) });
  assert.deepEqual([back.operatorChanged, back.withdrawals], [0, []], 'failing back adds capacity: nothing for the guard');
  const edited = computePlan({ endpoints: [endpoint], health: new Map(), current });
  assert.equal(edited.operatorChanged, 1, 'a set health cannot explain is an edit');
});
