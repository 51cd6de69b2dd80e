// Goal: a removed name answers NXDOMAIN on Route 53 — nothing is left at the name or below it (no weighted set, no
// `_dnsplane.<name>`), its tombstone lies in its slot under `_removed._dnsplane.<zone>` — and the tombstone still
// keeps S2 there: a stale first write of the name, which read it before it was created and removed at a higher
// generation, fails in Route 53 (its batch CREATEs the claim the slot then holds) and is then superseded, never
// bringing the name back below its removal; a tombstone written by an earlier version at `_dnsplane.<name>` is still
// honoured and replaced by the next first write; another installation's tombstone leaves the name free.
// Method: providers on the Route 53 API emulator through the official SDK; the removal that races the stale write is
// made by a second provider from inside the emulator's handler, after the stale write's last read and before its
// change batch arrives; what the zone holds is listed from the emulator.
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeResourceRecordSetsCommand, Route53Client, type Change } from '@aws-sdk/client-route-53';
import type { RecordEntry } from '../../../src/domain/types.js';
import { encodeMarker, tombstoneName } from '../../../src/providers/marker.js';
import { txtValue } from '../../../src/providers/route53/sets.js';
import { Route53Error } from '../../../src/providers/route53/errors.js';
import type { Route53Provider } from '../../../src/providers/route53/provider.js';
import type { ApplyChange, ApplyOutcome } from '../../../src/providers/types.js';
import { emulatorCredentials, startEmulatedZone, type EmulatedZone } from './helpers.js';
import type { StoredSet } from './emulator.js';

const zoneName = 'dnsplane.test';

function records(...addresses: string[]): RecordEntry[] {
  return addresses.map((address, index) => ({ target: `lb-${index}`, address, weight: 10 + index }));
}

function change(name: string, set: RecordEntry[] | null, generation: number, expectedVersion: string | null): ApplyChange {
  return { name, records: set, generation, expectedVersion };
}

async function applyOne(provider: Route53Provider, item: ApplyChange): Promise<ApplyOutcome> {
  const [outcome] = await provider.apply([item]);
  return outcome!;
}

function versionOf(outcome: ApplyOutcome): string {
  assert.ok(outcome.outcome === 'applied', `applied, got ${JSON.stringify(outcome)}`);
  return outcome.version;
}

/** Every set at `name` or below it (its marker included): what makes Route 53 answer something but NXDOMAIN. */
function atOrBelow(zone: EmulatedZone, name: string): StoredSet[] {
  return zone.emulator.recordSets(zone.hostedZoneId).filter((set) => set.name === `${name}.` || set.name.endsWith(`.${name}.`));
}

function slotOf(zone: EmulatedZone, name: string): string[] {
  const owner = `${tombstoneName(name, zoneName)}.`;
  return zone.emulator.recordSets(zone.hostedZoneId).filter((set) => set.name === owner).flatMap((set) => set.values);
}

async function handEdit(zone: EmulatedZone, changes: Change[]): Promise<void> {
  const client = new Route53Client({ endpoint: zone.endpoint, region: 'us-east-1', credentials: emulatorCredentials, maxAttempts: 1 });
  try {
    await client.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zone.hostedZoneId, ChangeBatch: { Changes: changes } }));
  } finally {
    client.destroy();
  }
}

describe('route53: removals answer NXDOMAIN and keep S2', () => {
  let zone: EmulatedZone;
  let provider: Route53Provider;
  before(async () => {
    zone = await startEmulatedZone();
    provider = zone.open();
  });
  after(() => zone.stop());

  test('a removed name has nothing at or below it; its tombstone lies in its slot, read by readRemovals', async () => {
    const name = 'gone.dnsplane.test';
    const version = versionOf(await applyOne(provider, change(name, records('10.9.0.1', '10.9.0.2'), 3, null)));
    assert.equal(atOrBelow(zone, name).length, 3, 'two weighted sets and the marker');
    assert.match(slotOf(zone, name)[0] ?? '', /^"created=3" "version=[\w-]+" "owner=dnsplane-test"$/, 'and the claim');
    const removed = versionOf(await applyOne(provider, change(name, null, 4, version)));
    assert.deepEqual(atOrBelow(zone, name), [], 'no set at the name nor at _dnsplane.<name>: NXDOMAIN');
    assert.equal(tombstoneName(name, zoneName), 'gone._removed._dnsplane.dnsplane.test');
    assert.deepEqual(slotOf(zone, name), [`"removed=4" "version=${removed}" "owner=dnsplane-test"`]);
    const fresh = zone.open();
    assert.equal((await fresh.read([name])).size, 0, 'a removed name reads as absent');
    assert.deepEqual(await fresh.readRemovals([name]), new Map([[name, 4]]));
    // A name in the tombstone subtree is no served name, even with a marker and an address set of its own there.
    const odd = 'odd._removed._dnsplane.dnsplane.test';
    const oddMarker = encodeMarker({ generation: 1, version: 'oddversion', owner: 'dnsplane-test', records: records('10.9.0.9') });
    await handEdit(zone, [
      { Action: 'CREATE', ResourceRecordSet: { Name: `${odd}.`, Type: 'A', SetIdentifier: 'lb-0', Weight: 10, TTL: 5, ResourceRecords: [{ Value: '10.9.0.9' }] } },
      { Action: 'CREATE', ResourceRecordSet: { Name: `_dnsplane.${odd}.`, Type: 'TXT', TTL: 5, ResourceRecords: [{ Value: txtValue(oddMarker) }] } },
    ]);
    const listed = (await fresh.list(null, 1000)).map((state) => state.name);
    assert.equal(listed.some((listedName) => listedName.includes('_removed')), false, 'the slots hold no listed name');
    await assert.rejects(fresh.read([odd]), (error: unknown) => error instanceof Route53Error && error.reason === 'not-in-zone'
      && /subtree of removal tombstones/.test(error.message));
    assert.equal(listed.includes(name), false);
    const back = versionOf(await applyOne(fresh, change(name, records('10.9.0.3'), 5, null)));
    assert.match(slotOf(zone, name)[0] ?? '', new RegExp(`^"created=5" "version=${back}"`), 'the claim replaced it');
    assert.equal((await fresh.readRemovals([name])).size, 0, 'a served name has no removal');
  });

  test('a stale adoption over this installation\'s own removal is superseded (S2); above it, it goes through', async () => {
    const name = 'readopted.dnsplane.test';
    const version = versionOf(await applyOne(provider, change(name, records('10.9.2.1'), 5, null)));
    versionOf(await applyOne(provider, change(name, null, 10, version)));
    // Records made by hand over the removal: the name is unmanaged; an enactor still on plan 7 holds a grant.
    await handEdit(zone, [
      { Action: 'CREATE', ResourceRecordSet: { Name: `${name}.`, Type: 'A', TTL: 300, ResourceRecords: [{ Value: '198.51.100.7' }] } },
    ]);
    const fresh = zone.open();
    const held = (await fresh.read([name])).get(name)!;
    assert.equal(held.held?.kind, 'unmanaged');
    assert.deepEqual(await applyOne(fresh, change(name, records('10.9.2.2'), 7, held.version)),
      { name, outcome: 'superseded', generation: 10 });
    assert.deepEqual(atOrBelow(zone, name).map((set) => set.values).flat(), ['198.51.100.7'], 'the hand-made set stays');
    versionOf(await applyOne(fresh, change(name, records('10.9.2.2'), 11, held.version)));
    assert.equal((await fresh.read([name])).get(name)!.generation, 11);
  });

  test('a stale first write racing a newer removal fails in Route 53, then is superseded (S2)', async () => {
    const name = 'stale.dnsplane.test';
    const stale = zone.open();
    const other = zone.open();
    // The stale writer reads the name before anyone created it, and holds an old plan (generation 4).
    assert.equal((await stale.read([name])).size, 0);
    // Right before its change batch reaches Route 53 — after every read of its apply — another enactor creates the
    // name at generation 3 and removes it at generation 5.
    let raced = false;
    zone.emulator.wrap((next) => async (request) => {
      if (request.method === 'POST' && !raced && request.body.includes(`_dnsplane.${name}.`)) {
        raced = true;
        const created = versionOf(await applyOne(other, change(name, records('10.9.1.1'), 3, null)));
        versionOf(await applyOne(other, change(name, null, 5, created)));
      }
      return next(request);
    });
    const refusedBefore = zone.emulator.stats.invalidChangeBatches.length;
    assert.deepEqual(await applyOne(stale, change(name, records('10.9.1.2'), 4, null)), { name, outcome: 'conflict' });
    assert.ok(raced, 'the removal came between the read and the batch');
    const refused = zone.emulator.stats.invalidChangeBatches.slice(refusedBefore).flat().join(' ');
    const slot = tombstoneName(name, zoneName).replace(/\./g, '\\.');
    assert.match(refused, new RegExp(`Tried to create resource record set \\[name='${slot}\\.', type='TXT'\\] but it already exists`),
      'refused by the tombstone in the slot, where its claim would go');
    assert.deepEqual(atOrBelow(zone, name), [], 'the removed name did not come back');
    // The enactor reads again and decides again: the removal at 5 supersedes a first write at 4 or 5.
    assert.equal((await stale.read([name])).size, 0);
    for (const generation of [4, 5]) {
      const superseded = await applyOne(stale, change(name, records('10.9.1.2'), generation, null));
      assert.deepEqual(superseded, { name, outcome: 'superseded', generation: 5 }, `a first write at ${generation}`);
    }
    assert.deepEqual(atOrBelow(zone, name), []);
    versionOf(await applyOne(stale, change(name, records('10.9.1.4'), 6, null)));
    assert.equal((await other.read([name])).get(name)?.generation, 6, 'a newer plan brings it back');
  });

  test('a tombstone an earlier version left at _dnsplane.<name> is honoured, and replaced by the next first write', async () => {
    const name = 'legacy.dnsplane.test';
    const tombstone = {
      Name: `_dnsplane.${name}.`, Type: 'TXT' as const, TTL: 5, ResourceRecords: [{ Value: '"removed=5" "version=legacy0token"' }],
    };
    await handEdit(zone, [{ Action: 'CREATE', ResourceRecordSet: tombstone }]);
    const reader = zone.open();
    assert.equal((await reader.read([name])).size, 0, 'read as absent');
    assert.deepEqual(await reader.readRemovals([name]), new Map([[name, 5]]), 'a removal at 5');
    for (const generation of [4, 5]) {
      const superseded = await applyOne(reader, change(name, records('10.9.2.1'), generation, null));
      assert.deepEqual(superseded, { name, outcome: 'superseded', generation: 5 });
    }
    const committed = zone.emulator.stats.committed;
    const version = versionOf(await applyOne(reader, change(name, records('10.9.2.1'), 6, null)));
    assert.equal(zone.emulator.stats.committed - committed, 1, 'one batch');
    const marker = atOrBelow(zone, name).filter((set) => set.type === 'TXT').flatMap((set) => set.values);
    assert.deepEqual(marker.length, 1);
    assert.match(marker[0]!, new RegExp(`^"generation=6" "version=${version}" "owner=dnsplane-test"`),
      'the old tombstone was DELETEd exactly, the marker took its place');
    assert.equal((await reader.readRemovals([name])).size, 0);
  });

  test('another installation\'s tombstone, in the slot or the old place, leaves the name free and is no removal', async () => {
    const [slotted, old] = ['theirs.dnsplane.test', 'theirs-old.dnsplane.test'];
    const theirs = zone.open({ owner: { owner: 'inst-other', former: [] } });
    const created = versionOf(await applyOne(theirs, change(slotted, records('10.9.3.1'), 40, null)));
    versionOf(await applyOne(theirs, change(slotted, null, 41, created)));
    await handEdit(zone, [{
      Action: 'CREATE', ResourceRecordSet: {
        Name: `_dnsplane.${old}.`, Type: 'TXT', TTL: 5, ResourceRecords: [{ Value: '"removed=41" "version=x1" "owner=inst-other"' }],
      },
    }]);
    const ours = zone.open();
    assert.equal((await ours.read([slotted, old])).size, 0, 'absent: free');
    assert.equal((await ours.readRemovals([slotted, old])).size, 0, 'not one of our removals');
    assert.deepEqual((await theirs.readRemovals([slotted])), new Map([[slotted, 41]]), 'theirs');
    for (const name of [slotted, old]) {
      versionOf(await applyOne(ours, change(name, records('10.9.3.2'), 2, null)));
      assert.equal((await ours.read([name])).get(name)?.generation, 2, `${name} written at our generation 2`);
    }
    assert.deepEqual((await theirs.read([slotted])).get(slotted)?.held, { kind: 'foreign', owner: 'dnsplane-test' });
  });
});
