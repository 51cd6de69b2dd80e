// Goal: L2 and L3 on real DNS servers — hand edits made with the servers' own
// tools (a record removed, a record added, a whole RRset removed, the marker
// deleted, the marker overwritten with foreign text) are each found by the
// reconciler, alarmed, and repaired to the plan in one pass, through the same
// compare-and-swap as the enactors; a second pass finds nothing. A name whose marker was deleted is no longer
// known to be dnsplane's: reported as unmanaged until an adoption grant lets the repair take it back.
// Method: Knot DNS edited with `knsupdate`, BIND 9 and PowerDNS with `nsupdate`; the real
// Planner, Enactor and Reconciler run in-process on a SQLite store with the
// RFC 2136 provider; `dig` shows the damage and the repair.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Reconciler } from '../../../src/enactor/reconciler.js';
import { Rfc2136Provider } from '../../../src/providers/rfc2136/provider.js';
import { SqliteStore } from '../../../src/store/sqlite/store.js';
import { recordSetKey } from '../../../src/domain/types.js';
import { silentLogger } from '../../../src/util/log.js';
import { seededRng, systemClock } from '../../../src/util/clock.js';
import { endpoints, makeEnactor, makePlanner } from '../../helpers/fixtures.js';
import {
  testOwner, dnsServerKinds, dnsServerNames, startDnsServer, type DnsServer, type DnsServerKind,
} from '../../helpers/dns-servers.js';
import { tempDir } from '../../helpers/env.js';

async function addresses(server: DnsServer, name: string): Promise<string[]> {
  const result = await server.dig(['+short', name, 'A']);
  return result.stdout.split('\n').filter((line) => line.length > 0).sort();
}

function updateTool(kind: DnsServerKind): string {
  return kind === 'knot' ? 'knsupdate' : 'nsupdate';
}

async function editByHand(server: DnsServer, commands: string[]): Promise<void> {
  const result = await server.nsupdate([`zone ${server.zone}`, ...commands]);
  assert.equal(result.code, 0, `${updateTool(server.kind)} failed: ${result.stderr}${result.stdout}`);
}

async function reconcileOn(kind: DnsServerKind): Promise<void> {
  const server = await startDnsServer(kind);
  const dir = tempDir('dnsplane-reconcile-');
  const store = new SqliteStore(join(dir.path, 'state.db'));
  const provider = new Rfc2136Provider({ server: server.server, zone: server.zone, timeoutMs: 3000, tsig: server.key, ttl: 5, maxAnswers: 8, owner: testOwner });
  try {
    const inventory = endpoints(6);
    const planner = makePlanner('planner', store, () => inventory);
    assert.equal((await planner.tick()).kind, 'published');
    assert.equal((await makeEnactor('az1', store, provider).step())!.applied, 6);
    const reconciler = new Reconciler(
      { id: 'reconciler-under-test', intervalMs: 1000, maxLagMs: 30_000, pageSize: 4, retriesMax: 5, backoffBaseMs: 1, backoffMaxMs: 20 },
      { store, provider, clock: systemClock, rng: seededRng(1), log: silentLogger },
    );
    assert.deepEqual((await reconciler.tick()).drifts, [], 'a freshly enacted zone has no drift');
    assert.deepEqual(await addresses(server, 'svc1.dnsplane.test'), ['127.1.1.1', '127.1.1.2', '127.1.1.3']);

    await editByHand(server, [
      'update delete svc1.dnsplane.test A 127.1.1.2',
      'update add svc2.dnsplane.test 5 A 192.0.2.66',
      'update delete svc3.dnsplane.test A',
      'update delete _dnsplane.svc4.dnsplane.test TXT',
      'update delete _dnsplane.svc5.dnsplane.test TXT',
      'update add _dnsplane.svc5.dnsplane.test 5 TXT "owned by someone else"',
    ]);
    assert.deepEqual(await addresses(server, 'svc1.dnsplane.test'), ['127.1.1.1', '127.1.1.3'], 'the hand edit took effect');
    assert.deepEqual(await addresses(server, 'svc3.dnsplane.test'), []);

    const pass = await reconciler.tick();
    const found = pass.drifts.map((drift) => [drift.name, drift.kind]).sort();
    assert.deepEqual(found, [
      ['svc1.dnsplane.test', 'edited'],
      ['svc2.dnsplane.test', 'edited'],
      ['svc3.dnsplane.test', 'empty'],
      // Its marker deleted, svc4's addresses are no longer known to be dnsplane's: unmanaged, left until adopted.
      ['svc4.dnsplane.test', 'unmanaged'],
      ['svc5.dnsplane.test', 'deleted-plan'],
    ]);
    assert.equal(pass.repaired, 4);
    const alarms = (await store.readCounters()).find((counter) => counter.name === 'alarms_drift')?.value ?? 0;
    assert.ok(alarms >= 5, `drift alarms raised (${alarms})`);
    assert.deepEqual(await addresses(server, 'svc4.dnsplane.test'), ['127.1.4.1', '127.1.4.2', '127.1.4.3']);
    await store.grantAdoption('svc4.dnsplane.test', 'operator@test', 'its marker was deleted by mistake');
    const adopted = await reconciler.tick();
    assert.deepEqual(adopted.drifts.map((drift) => [drift.name, drift.kind]), [['svc4.dnsplane.test', 'missing']]);
    assert.equal(adopted.repaired, 1, 'adopted once granted');

    const plan = (await store.readPlan(await store.latestGeneration()))!;
    const states = await provider.read(inventory.map((endpoint) => endpoint.name));
    for (const entry of plan.entries) {
      assert.equal(recordSetKey(states.get(entry.name)!.records), recordSetKey(entry.records), `${entry.name} serves its plan again`);
      assert.deepEqual(await addresses(server, entry.name), entry.records!.map((record) => record.address).sort(), `dig sees ${entry.name} repaired`);
    }
    assert.deepEqual((await reconciler.tick()).drifts, [], 'the next pass finds nothing');
  } finally {
    await provider.close();
    await store.close();
    dir.cleanup();
    await server.stop();
  }
}

for (const kind of dnsServerKinds) {
  const title = `hand edits with ${updateTool(kind)} are found and repaired by the reconciler in one pass`;
  test(`${dnsServerNames[kind]}: ${title}`, async () => {
    await reconcileOn(kind);
  });
}
