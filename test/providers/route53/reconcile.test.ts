// Goal: L2 and L3 on Route 53 — hand edits made through the API (a weight
// changed, a weighted set added, every weighted set deleted, the marker
// deleted, the marker overwritten with foreign text) are each found by the
// reconciler, alarmed, and repaired to the plan in one pass, through the same
// compare-and-swap as the enactors; a second pass finds nothing. A name whose
// marker was deleted is no longer known to be dnsplane's: reported as
// unmanaged, its sets left as they are, until an adoption grant lets the
// repair take it back in one change batch.
// Method: the real Planner, Enactor and Reconciler run in-process on a
// SQLite store with the Route 53 provider, against the emulator through the
// official SDK; the hand edits are change batches sent with the SDK, as an
// operator's script would; the zone is then read straight from the emulator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  ChangeResourceRecordSetsCommand, Route53Client, type Change, type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { Reconciler } from '../../../src/enactor/reconciler.js';
import { SqliteStore } from '../../../src/store/sqlite/store.js';
import { recordSetKey } from '../../../src/domain/types.js';
import { silentLogger } from '../../../src/util/log.js';
import { seededRng, systemClock } from '../../../src/util/clock.js';
import { endpoints, makeEnactor, makePlanner } from '../../helpers/fixtures.js';
import { tempDir } from '../../helpers/env.js';
import { emulatorCredentials, startEmulatedZone, type EmulatedZone } from './helpers.js';
import type { StoredSet } from './emulator.js';

function asSet(set: StoredSet): ResourceRecordSet {
  return {
    Name: set.name, Type: set.type as ResourceRecordSet['Type'], TTL: set.ttl,
    ResourceRecords: set.values.map((Value) => ({ Value })),
    ...(set.setIdentifier === undefined ? {} : { SetIdentifier: set.setIdentifier, Weight: set.weight }),
  };
}

/** The emulator's sets of `name`: its weighted sets (`A`) or its marker (`TXT`). */
function setsOf(zone: EmulatedZone, name: string, type: 'A' | 'TXT'): StoredSet[] {
  const owner = type === 'A' ? `${name}.` : `_dnsplane.${name}.`;
  return zone.emulator.recordSets(zone.hostedZoneId).filter((set) => set.name === owner && set.type === type);
}

test('hand edits through the Route 53 API are found and repaired by the reconciler in one pass', async () => {
  const zone = await startEmulatedZone();
  const dir = tempDir('dnsplane-reconcile-route53-');
  const store = new SqliteStore(join(dir.path, 'state.db'));
  const provider = zone.open();
  const client = new Route53Client({
    endpoint: zone.endpoint, region: 'us-east-1', credentials: emulatorCredentials, maxAttempts: 1,
  });
  try {
    const inventory = endpoints(6);
    const planner = makePlanner('planner', store, () => inventory);
    assert.equal((await planner.tick()).kind, 'published');
    assert.equal((await makeEnactor('az1', store, provider).step())!.applied, 6);
    const reconciler = new Reconciler(
      {
        id: 'reconciler-under-test', intervalMs: 1000, maxLagMs: 30_000, pageSize: 4, retriesMax: 5,
        backoffBaseMs: 1, backoffMaxMs: 20,
      },
      { store, provider, clock: systemClock, rng: seededRng(1), log: silentLogger },
    );
    assert.deepEqual((await reconciler.tick()).drifts, [], 'a freshly enacted zone has no drift');

    const [weighted] = setsOf(zone, 'svc1.dnsplane.test', 'A');
    const intruder: ResourceRecordSet = {
      Name: 'svc2.dnsplane.test.', Type: 'A', SetIdentifier: 'intruder', Weight: 50, TTL: 5,
      ResourceRecords: [{ Value: '192.0.2.66' }],
    };
    const marker5 = asSet(setsOf(zone, 'svc5.dnsplane.test', 'TXT')[0]!);
    const foreign: ResourceRecordSet = { ...marker5, ResourceRecords: [{ Value: '"owned by someone else"' }] };
    const emptied = setsOf(zone, 'svc3.dnsplane.test', 'A')
      .map((set): Change => ({ Action: 'DELETE', ResourceRecordSet: asSet(set) }));
    const changes: Change[] = [
      { Action: 'DELETE', ResourceRecordSet: asSet(weighted!) },
      { Action: 'CREATE', ResourceRecordSet: { ...asSet(weighted!), Weight: 1 } },
      { Action: 'CREATE', ResourceRecordSet: intruder },
      ...emptied,
      { Action: 'DELETE', ResourceRecordSet: asSet(setsOf(zone, 'svc4.dnsplane.test', 'TXT')[0]!) },
      { Action: 'DELETE', ResourceRecordSet: marker5 },
      { Action: 'CREATE', ResourceRecordSet: foreign },
    ];
    const batch = { HostedZoneId: zone.hostedZoneId, ChangeBatch: { Changes: changes } };
    await client.send(new ChangeResourceRecordSetsCommand(batch));
    assert.deepEqual(setsOf(zone, 'svc3.dnsplane.test', 'A'), [], 'the hand edit took effect');

    const pass = await reconciler.tick();
    const found = pass.drifts.map((drift) => [drift.name, drift.kind]).sort();
    assert.deepEqual(found, [
      ['svc1.dnsplane.test', 'edited'],
      ['svc2.dnsplane.test', 'edited'],
      ['svc3.dnsplane.test', 'empty'],
      // Its marker deleted, svc4's weighted sets are no longer known to be dnsplane's: unmanaged, left until adopted.
      ['svc4.dnsplane.test', 'unmanaged'],
      ['svc5.dnsplane.test', 'deleted-plan'],
    ]);
    assert.equal(pass.repaired, 4);
    const alarms = (await store.readCounters()).find((counter) => counter.name === 'alarms_drift')?.value ?? 0;
    assert.ok(alarms >= 5, `drift alarms raised (${alarms})`);
    const svc4 = setsOf(zone, 'svc4.dnsplane.test', 'A').map((set) => `${set.setIdentifier}/${set.values[0]}`);
    assert.equal(svc4.length, 3, `svc4's sets are left as they were: ${svc4.join(', ')}`);
    await store.grantAdoption('svc4.dnsplane.test', 'operator@test', 'its marker was deleted by mistake');
    const committed = zone.emulator.stats.committed;
    const adopted = await reconciler.tick();
    assert.deepEqual(adopted.drifts.map((drift) => [drift.name, drift.kind]), [['svc4.dnsplane.test', 'missing']]);
    assert.equal(adopted.repaired, 1, 'adopted once granted');
    assert.equal(zone.emulator.stats.committed - committed, 1, 'in one change batch');

    const plan = (await store.readPlan(await store.latestGeneration()))!;
    const states = await provider.read(inventory.map((endpoint) => endpoint.name));
    for (const entry of plan.entries) {
      const again = recordSetKey(states.get(entry.name)!.records);
      assert.equal(again, recordSetKey(entry.records), `${entry.name} serves its plan again`);
      const served = setsOf(zone, entry.name, 'A').map((set) => `${set.setIdentifier}/${set.weight}/${set.values[0]}`);
      served.sort();
      const planned = entry.records!.map((record) => `${record.target}/${record.weight}/${record.address}`).sort();
      assert.deepEqual(served, planned, `the zone holds ${entry.name}'s plan: no intruder, the weights of the plan`);
    }
    assert.deepEqual((await reconciler.tick()).drifts, [], 'the next pass finds nothing');
  } finally {
    client.destroy();
    await store.close();
    dir.cleanup();
    await zone.stop();
  }
});
