// Goal: on Route 53 a name that is not this installation's to write is held and never written: another
// installation's marker (foreign), or A/AAAA sets (simple or weighted, any SetIdentifier) or a CNAME and no marker
// (unmanaged, at a version that digests exactly those records, as on RFC 2136); a first write that finds an address
// set or a CNAME appeared since its read fails in Route 53 and leaves it; an adoption expecting the unmanaged version
// replaces exactly the sets read in one change batch, and fails if one of them changed; a provider opened without an
// owner id judges no ownership and refuses to write.
// Method: providers on the Route 53 API emulator through the official SDK; hand-made sets are change batches sent
// with the SDK; what the zone holds is listed from the emulator.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ChangeResourceRecordSetsCommand, Route53Client, type Change, type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import type { RecordEntry } from '../../../src/domain/types.js';
import { unmanagedState } from '../../../src/providers/marker.js';
import type { Route53Provider } from '../../../src/providers/route53/provider.js';
import type { ApplyChange, ApplyOutcome } from '../../../src/providers/types.js';
import { InvariantViolation } from '../../../src/util/assert.js';
import { emulatorCredentials, startEmulatedZone, type EmulatedZone } from './helpers.js';

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

/** The sets at `name` and its marker, as "TYPE id/weight values" lines. */
function setsAt(zone: EmulatedZone, name: string): string[] {
  return zone.emulator.recordSets(zone.hostedZoneId)
    .filter((set) => set.name === `${name}.` || set.name === `_dnsplane.${name}.`)
    .map((set) => `${set.name === `${name}.` ? '' : '_dnsplane '}${set.type} ${set.setIdentifier ?? '-'}/${set.weight ?? '-'} ${set.values.join(' ')}`);
}

async function handEdit(zone: EmulatedZone, changes: Change[]): Promise<void> {
  const client = new Route53Client({ endpoint: zone.endpoint, region: 'us-east-1', credentials: emulatorCredentials, maxAttempts: 1 });
  try {
    await client.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zone.hostedZoneId, ChangeBatch: { Changes: changes } }));
  } finally {
    client.destroy();
  }
}

const create = (set: ResourceRecordSet): Change => ({ Action: 'CREATE', ResourceRecordSet: set });
const plain = (name: string, type: 'A' | 'AAAA' | 'CNAME', value: string): ResourceRecordSet => ({
  Name: `${name}.`, Type: type, TTL: 300, ResourceRecords: [{ Value: value }],
});
const weighted = (name: string, id: string, weight: number, address: string): ResourceRecordSet => ({
  Name: `${name}.`, Type: 'A', SetIdentifier: id, Weight: weight, TTL: 60, ResourceRecords: [{ Value: address }],
});

describe('route53: held names', () => {
  let zone: EmulatedZone;
  let provider: Route53Provider;
  before(async () => {
    zone = await startEmulatedZone();
    provider = zone.open();
  });
  after(() => zone.stop());

  test('A/AAAA sets of any routing, or a CNAME, and no marker: unmanaged at a digest of the records; never first-written', async () => {
    const cases: [string, ResourceRecordSet[], string[], string[]][] = [
      ['simple.dnsplane.test', [plain('simple.dnsplane.test', 'A', '192.0.2.1')], ['192.0.2.1'], []],
      ['pair.dnsplane.test', [weighted('pair.dnsplane.test', 'x', 1, '192.0.2.3'), weighted('pair.dnsplane.test', 'y', 0, '192.0.2.2')],
        ['192.0.2.2', '192.0.2.3'], []],
      ['six.dnsplane.test', [plain('six.dnsplane.test', 'AAAA', '2001:db8::1')], ['2001:db8::1'], []],
      ['cname.dnsplane.test', [plain('cname.dnsplane.test', 'CNAME', 'elsewhere.example.')], [], ['CNAME']],
    ];
    await handEdit(zone, cases.flatMap(([, sets]) => sets.map(create)));
    const names = cases.map(([name]) => name);
    const read = await provider.read(names);
    for (const [name, , addresses, others] of cases) {
      const expected = unmanagedState(name, addresses, others).state;
      assert.deepEqual(read.get(name), expected, `${name}: held unmanaged, its version the digest of what is there`);
    }
    assert.deepEqual(read.get('pair.dnsplane.test')?.held, { kind: 'unmanaged', records: ['A 192.0.2.2', 'A 192.0.2.3'] });
    assert.deepEqual((await provider.list(null, 1000)).filter((state) => names.includes(state.name)), [], 'not listed');
    const before = names.map((name) => setsAt(zone, name));
    const committed = zone.emulator.stats.committed;
    const outcomes = await provider.apply(names.map((name) => change(name, records('10.8.0.1'), 1, null)));
    assert.deepEqual(outcomes.map((outcome) => outcome.outcome), names.map(() => 'conflict'), 'a first write is refused');
    assert.equal(zone.emulator.stats.committed, committed, 'nothing was sent');
    assert.deepEqual(names.map((name) => setsAt(zone, name)), before);
    assert.equal((await provider.readRemovals(names)).size, 0);
  });

  test('a first write fails when an address set or a CNAME appeared since the read, and leaves it', async () => {
    const appearing: [string, ResourceRecordSet, RegExp][] = [
      ['late-plain.dnsplane.test', plain('late-plain.dnsplane.test', 'A', '192.0.2.7'),
        /RRSet with DNS name late-plain\.dnsplane\.test\., type A, SetIdentifier lb-0 cannot be created as a non-weighted set exists/],
      ['late-alias.dnsplane.test', plain('late-alias.dnsplane.test', 'CNAME', 'elsewhere.example.'),
        /RRSet of type A with DNS name late-alias\.dnsplane\.test\. is not permitted because a conflicting RRSet of type {2}CNAME/],
      ['late-same.dnsplane.test', weighted('late-same.dnsplane.test', 'lb-0', 5, '192.0.2.8'),
        /Tried to create resource record set \[name='late-same\.dnsplane\.test\.', type='A', set-identifier='lb-0'\] but it already exists/],
    ];
    for (const [name, set, refusal] of appearing) {
      assert.equal((await provider.read([name])).size, 0, `${name}: absent when read`);
      await handEdit(zone, [create(set)]);
      const refused = zone.emulator.stats.invalidChangeBatches.length;
      assert.deepEqual(await applyOne(provider, change(name, records('10.8.1.1'), 1, null)), { name, outcome: 'conflict' });
      assert.match(zone.emulator.stats.invalidChangeBatches[refused]!.join(' '), refusal);
      assert.equal(setsAt(zone, name).length, 1, `${name}: the hand-made set is alone there`);
      assert.equal((await provider.read([name])).get(name)?.held?.kind, 'unmanaged', 'and the name is now unmanaged');
    }
  });

  test('an adoption replaces exactly the sets read in one batch; a weight changed meanwhile makes it fail', async () => {
    const name = 'adopted.dnsplane.test';
    await handEdit(zone, [create(weighted(name, 'x', 10, '192.0.2.11')), create(weighted(name, 'y', 20, '192.0.2.12'))]);
    const read = (await provider.read([name])).get(name)!;
    // Blue-green by hand: y's weight moves after the read. The records (addresses) are the same, so is the version,
    // but the batch DELETEs y exactly as read.
    await handEdit(zone, [
      { Action: 'DELETE', ResourceRecordSet: weighted(name, 'y', 20, '192.0.2.12') },
      create(weighted(name, 'y', 90, '192.0.2.12')),
    ]);
    assert.equal((await zone.open().read([name])).get(name)?.version, read.version, 'the version does not see weights');
    const committed = zone.emulator.stats.committed;
    assert.deepEqual(await applyOne(provider, change(name, records('10.8.2.1'), 1, read.version)), { name, outcome: 'conflict' });
    assert.deepEqual(setsAt(zone, name), ['A x/10 192.0.2.11', 'A y/90 192.0.2.12'], 'the hand edit stays');
    assert.equal(zone.emulator.stats.committed, committed);
    const again = (await provider.read([name])).get(name)!;
    versionOf(await applyOne(provider, change(name, records('10.8.2.1', '10.8.2.2'), 1, again.version)));
    assert.equal(zone.emulator.stats.committed - committed, 1, 'one change batch');
    const after = setsAt(zone, name);
    assert.deepEqual(after.filter((line) => line.startsWith('A ')), ['A lb-0/10 10.8.2.1', 'A lb-1/11 10.8.2.2']);
    assert.equal((await provider.read([name])).get(name)?.generation, 1, 'adopted: dnsplane\'s now');
  });

  test('another installation\'s name is held foreign, never written; a provider without an owner id never writes', async () => {
    const name = 'foreign.dnsplane.test';
    const theirs = zone.open({ owner: { owner: 'inst-other', former: [] } });
    const version = versionOf(await applyOne(theirs, change(name, records('10.8.3.1'), 7, null)));
    const held = (await provider.read([name])).get(name);
    assert.deepEqual(held, { name, generation: 0, version, records: [], held: { kind: 'foreign', owner: 'inst-other' } });
    const before = setsAt(zone, name);
    assert.deepEqual(await applyOne(provider, change(name, records('10.8.3.2'), 8, null)), { name, outcome: 'conflict' });
    assert.deepEqual(await applyOne(provider, change(name, records('10.8.3.2'), 8, `${version}0`)), { name, outcome: 'conflict' });
    await assert.rejects(provider.apply([change(name, records('10.8.3.2'), 8, version)]),
      (error: unknown) => error instanceof InvariantViolation && error.invariant === 'internal', 'over their marker: loud');
    assert.deepEqual(setsAt(zone, name), before, 'their sets as they were');
    const former = zone.open({ owner: { owner: 'dnsplane-test', former: ['inst-other'] } });
    assert.equal((await former.read([name])).get(name)?.held, undefined, 'a former owner id of this installation is its own');
    const reader = zone.open({ owner: null });
    assert.equal((await reader.read([name])).get(name)?.generation, 7, 'a reader that judges no ownership');
    await assert.rejects(reader.apply([change('nobody.dnsplane.test', records('10.8.3.3'), 1, null)]),
      (error: unknown) => error instanceof InvariantViolation && error.invariant === 'internal' && /without an owner id/.test(error.message));
  });
});
