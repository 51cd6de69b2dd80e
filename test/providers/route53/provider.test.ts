// Goal: the Route 53 provider keeps the compare-and-swap of DESIGN.md §3 in
// Route 53's own terms — a lost race is an InvalidChangeBatch naming the
// marker, the other names of the batch are sent again without it, nothing is
// ever written blind — and it keeps AWS's limits: batches split at 1,000
// records and 32,000 characters without splitting a name, Throttling and
// PriorRequestNotComplete retried, GetChange followed until INSYNC, reads
// within a request budget, and one page (one moment) per name read.
// Method: the provider drives the Route 53 API emulator (emulator.ts) through
// the official SDK on a loopback port; faults are injected by wrapping the
// emulator's handler; what the zone holds is read from the emulator itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeResourceRecordSetsCommand, Route53Client, type Change } from '@aws-sdk/client-route-53';
import type { Generation, RecordEntry } from '../../../src/domain/types.js';
import { Route53Error } from '../../../src/providers/route53/errors.js';
import type { Route53Provider } from '../../../src/providers/route53/provider.js';
import type { ApplyChange, ApplyOutcome } from '../../../src/providers/types.js';
import { parseXml, children, child } from './xml.js';
import { emulatorCredentials, startEmulatedZone, type EmulatedZone } from './helpers.js';
import type { EmulatorRequest, StoredSet } from './emulator.js';

/** `count` targets lb-0.. on addresses 10.<base>.<n>; weights 10, 11, ... unless given. */
function targets(count: number, base: number, weight = (index: number) => 10 + index): RecordEntry[] {
  const address = (index: number) => `10.${base >> 8}.${base & 255}.${index + 1}`;
  const entry = (index: number) => ({ target: `lb-${index}`, address: address(index), weight: weight(index) });
  return Array.from({ length: count }, (_, index) => entry(index))
    .sort((a, b) => (a.address < b.address ? -1 : 1));
}

function change(
  name: string, records: RecordEntry[] | null, generation: Generation, expectedVersion: string | null,
): ApplyChange {
  return { name, records, generation, expectedVersion };
}

async function applyOne(provider: Route53Provider, item: ApplyChange): Promise<ApplyOutcome> {
  const [outcome] = await provider.apply([item]);
  return outcome!;
}

function versionOf(outcome: ApplyOutcome | undefined): string {
  assert.ok(outcome?.outcome === 'applied', `applied, got ${JSON.stringify(outcome)}`);
  return outcome.version;
}

function kinds(outcomes: readonly ApplyOutcome[]): string[] {
  return outcomes.map((outcome) => outcome.outcome);
}

async function rejects(promise: Promise<unknown>, reason: string, mentions: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Route53Error, `a Route53Error, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    assert.match(error.message, mentions);
    return;
  }
  assert.fail(`expected a ${reason} error`);
}

/** The sets the emulator holds for `name` and its marker. */
function setsOf(zone: EmulatedZone, name: string): StoredSet[] {
  const owners = [`${name}.`, `_dnsplane.${name}.`];
  return zone.emulator.recordSets(zone.hostedZoneId).filter((set) => owners.includes(set.name));
}

/** Someone editing the zone by hand, through the SDK. */
async function handEdit(zone: EmulatedZone, changes: Change[]): Promise<void> {
  const options = { endpoint: zone.endpoint, region: 'us-east-1', credentials: emulatorCredentials, maxAttempts: 1 };
  const client = new Route53Client(options);
  try {
    const input = { HostedZoneId: zone.hostedZoneId, ChangeBatch: { Changes: changes } };
    await client.send(new ChangeResourceRecordSetsCommand(input));
  } finally {
    client.destroy();
  }
}

/** The ChangeResourceRecordSets requests that reach the emulator, recorded by wrapping its handler. */
function recordChangeRequests(zone: EmulatedZone): EmulatorRequest[] {
  const requests: EmulatorRequest[] = [];
  zone.emulator.wrap((next) => async (request) => {
    if (request.method === 'POST') requests.push(request);
    return next(request);
  });
  return requests;
}

/** The changes of a ChangeResourceRecordSets body: the name each set belongs to (its own, its marker's, its slot's), values. */
function changesOf(request: EmulatorRequest): { owner: string; values: string[] }[] {
  const batch = child(child(parseXml(request.body), 'ChangeBatch')!, 'Changes')!;
  return children(batch, 'Change').map((item) => {
    const set = child(item, 'ResourceRecordSet')!;
    const records = children(child(set, 'ResourceRecords')!, 'ResourceRecord');
    const values = records.map((record) => child(record, 'Value')!.text);
    const owner = child(set, 'Name')!.text;
    return { owner: owner.replace(/^_dnsplane\./, '').replace(/\._removed\._dnsplane\.(?=dnsplane\.test\.$)/, '.'), values };
  });
}

const errorBody = (code: string, message: string) =>
  `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error></ErrorResponse>`;

describe('route53 provider on the emulator', () => {
  let zone: EmulatedZone;
  let provider: Route53Provider;
  before(async () => {
    zone = await startEmulatedZone();
    provider = zone.open();
  });
  after(() => zone.stop());

  test('a name is weighted sets of its positive targets (SetIdentifier = target) and one marker TXT', async () => {
    const name = 'layout.dnsplane.test';
    const records = targets(3, 1, (index) => [0, 20, 200][index]!);
    const version = versionOf(await applyOne(provider, change(name, records, 7, null)));
    const sets = setsOf(zone, name);
    const weighted = sets.filter((set) => set.type === 'A')
      .map((set) => [set.setIdentifier, set.weight, set.values, set.ttl]);
    const expected = [['lb-1', 20, ['10.0.1.2'], 5], ['lb-2', 200, ['10.0.1.3'], 5]];
    assert.deepEqual(weighted, expected, 'the drained target is not served');
    const marker = sets.filter((set) => set.type === 'TXT');
    assert.equal(marker.length, 1);
    assert.equal(marker[0]!.name, `_dnsplane.${name}.`);
    const text = new RegExp(`^"generation=7" "version=${version}" "owner=dnsplane-test" "records=10\\.0\\.1\\.1/0/lb-0,`);
    assert.match(marker[0]!.values[0]!, text, 'the marker keeps the whole set, the drained target too, and the owner');
    const slot = zone.emulator.recordSets(zone.hostedZoneId)
      .filter((set) => set.name === 'layout._removed._dnsplane.dnsplane.test.');
    assert.deepEqual(slot.map((set) => [set.type, set.values]),
      [['TXT', [`"created=7" "version=${version}" "owner=dnsplane-test"`]]], 'the first write left its claim');
    assert.deepEqual((await provider.read([name])).get(name), { name, generation: 7, version, records });
  });

  test('a stale write fails as an InvalidChangeBatch naming the marker; the rest of its batch is applied', async () => {
    const other = zone.open();
    const names = ['race-a', 'race-b', 'race-c'].map((label) => `${label}.dnsplane.test`);
    const created = await provider.apply(names.map((name, index) => change(name, targets(2, 10 + index), 1, null)));
    const versions = created.map(versionOf);
    await provider.read(names);
    // Another enactor process moves race-b on before this one writes.
    versionOf(await applyOne(other, change(names[1]!, targets(2, 20), 2, versions[1]!)));
    const { stats } = zone.emulator;
    const [refusedBefore, committedBefore] = [stats.invalidChangeBatches.length, stats.committed];
    const writes = names.map((name, index) => change(name, targets(3, 30 + index), 3, versions[index]!));
    const outcomes = await provider.apply(writes);
    assert.deepEqual(kinds(outcomes), ['applied', 'conflict', 'applied']);
    const refused = stats.invalidChangeBatches.slice(refusedBefore);
    assert.equal(refused.length, 1, 'one batch was refused');
    const marker = "[name='_dnsplane.race-b.dnsplane.test.', type='TXT']";
    const quoted = marker.replace(/[[\].]/g, '\\$&');
    assert.match(refused[0]!.join(' '), new RegExp(`Tried to delete resource record set ${quoted} but the values`));
    assert.equal(stats.committed - committedBefore, 1, 'and sent again without race-b, as one batch');
    const read = await provider.read(names);
    const generations = names.map((name) => read.get(name)?.generation);
    assert.deepEqual(generations, [3, 2, 3], 'the other writer\'s generation stayed');
  });

  test('a first write fails when a marker appeared meanwhile (CREATE of an existing marker)', async () => {
    const name = 'first.dnsplane.test';
    const other = zone.open();
    assert.equal((await provider.read([name])).size, 0);
    versionOf(await applyOne(other, change(name, targets(1, 40), 4, null)));
    const before = zone.emulator.stats.invalidChangeBatches.length;
    assert.deepEqual(await applyOne(provider, change(name, targets(1, 41), 5, null)), { name, outcome: 'conflict' });
    const refused = zone.emulator.stats.invalidChangeBatches[before]!.join(' ');
    const described = /\[name='_dnsplane\.first\.dnsplane\.test\.', type='TXT'\]/.source;
    assert.match(refused, new RegExp(`Tried to create resource record set ${described} but it already exists`));
  });

  test('batches split at 1,000 records and 32,000 characters, never splitting a name', async () => {
    const requests = recordChangeRequests(zone);
    const names = Array.from({ length: 400 }, (_, index) => `split${index}.dnsplane.test`);
    const outcomes = await provider.apply(names.map((name, index) => change(name, targets(4, 100 + index), 1, null)));
    assert.deepEqual(new Set(kinds(outcomes)), new Set(['applied']));
    const batches = requests.length;
    assert.ok(batches >= 3, `400 names of 6 records and ~250 characters take several batches (${batches})`);
    for (const request of requests) {
      const changes = changesOf(request);
      const values = changes.flatMap((item) => item.values);
      assert.ok(values.length <= 1000, `${values.length} records in one batch`);
      assert.ok(values.reduce((sum, value) => sum + value.length, 0) <= 32_000, 'characters within the limit');
      const owners = changes.map((item) => item.owner);
      for (const owner of new Set(owners)) {
        // Four weighted sets, the marker and the claim in the name's slot.
        assert.equal(owners.filter((name) => name === owner).length, 6, `${owner} whole in one batch`);
      }
    }
    assert.equal((await provider.read(names)).size, 400);
  });

  test('a name whose write cannot fit in one batch is refused before anything is sent', async () => {
    const small = zone.open({ batchRecordsMax: 20 });
    const name = 'wide.dnsplane.test';
    const version = versionOf(await applyOne(small, change(name, targets(9, 50), 1, null)));
    const committed = zone.emulator.stats.committed;
    // Replacing 9 targets by 12: 9 DELETEs + 12 CREATEs + the marker's 2 is over 20 records.
    await rejects(small.apply([change(name, targets(12, 51), 2, version)]), 'too-large', /wide\.dnsplane\.test/);
    assert.equal(zone.emulator.stats.committed, committed, 'nothing was sent');
  });

  test('a hand edit reads as drift (the sets really there), and a repair DELETEs the edited set exactly', async () => {
    const name = 'drift.dnsplane.test';
    const records = targets(2, 60);
    const version = versionOf(await applyOne(provider, change(name, records, 3, null)));
    const [edited] = setsOf(zone, name).filter((set) => set.type === 'A');
    const weighted = (weight: number) => ({
      Name: edited!.name, Type: 'A' as const, SetIdentifier: edited!.setIdentifier, Weight: weight, TTL: edited!.ttl,
      ResourceRecords: [{ Value: edited!.values[0]! }],
    });
    await handEdit(zone, [
      { Action: 'DELETE', ResourceRecordSet: weighted(edited!.weight!) },
      { Action: 'CREATE', ResourceRecordSet: weighted(99) },
    ]);
    const drifted = (await provider.read([name])).get(name)!;
    assert.equal(drifted.version, version, 'the marker did not move');
    assert.deepEqual(drifted.records.map((record) => record.weight).sort(), [11, 99], 'the weight really served');
    versionOf(await applyOne(provider, change(name, records, 3, version)));
    assert.deepEqual((await provider.read([name])).get(name)?.records, records, 'repaired');
  });

  test('a name with a hand-made A set is unmanaged: a first write is refused, an adoption replaces it', async () => {
    const name = 'adopt.dnsplane.test';
    const plain = { Name: `${name}.`, Type: 'A' as const, TTL: 300, ResourceRecords: [{ Value: '192.0.2.9' }] };
    await handEdit(zone, [{ Action: 'CREATE', ResourceRecordSet: plain }]);
    const fresh = zone.open();
    const blind = await applyOne(fresh, change(name, targets(2, 70), 1, null));
    assert.deepEqual(blind, { name, outcome: 'conflict' }, 'not read yet: Route 53 refuses weighted sets over plain');
    const unmanaged = (await fresh.read([name])).get(name);
    assert.deepEqual(unmanaged?.held, { kind: 'unmanaged', records: ['A 192.0.2.9'] }, 'no marker: not dnsplane\'s');
    assert.deepEqual(await applyOne(fresh, change(name, targets(2, 70), 1, null)), { name, outcome: 'conflict' },
      'read, it is still not written by a first write');
    assert.deepEqual(setsOf(zone, name).map((set) => [set.type, set.values]), [['A', ['192.0.2.9']]], 'left as it was');
    versionOf(await applyOne(fresh, change(name, targets(2, 70), 1, unmanaged!.version)));
    const identifiers = setsOf(zone, name).filter((set) => set.type === 'A').map((set) => set.setIdentifier);
    assert.deepEqual(identifiers, ['lb-0', 'lb-1'], 'adopted: the plain set replaced by the weighted sets');
  });

  test('a name read across two pages with a write in between is read again, alone, in one page', async () => {
    // 70 names: the first of one target (2 sets), the others of 4 (5 sets each), so the 300-set first page of a
    // read starting at the first name ends inside a name: its first sets in one page, the rest in the next.
    const names = Array.from({ length: 70 }, (_, index) => `page${String(index).padStart(2, '0')}.dnsplane.test`);
    const records = (index: number) => targets(index === 0 ? 1 : 4, 200 + index);
    const created = await provider.apply(names.map((name, index) => change(name, records(index), 1, null)));
    const listed = zone.emulator.recordSets(zone.hostedZoneId);
    const first = listed.findIndex((set) => set.name === `${names[0]}.`);
    const owner = (set: StoredSet) => set.name.replace(/\.$/, '').replace(/^_dnsplane\./, '');
    const straddler = owner(listed[first + 300]!);
    assert.equal(owner(listed[first + 299]!), straddler, 'the name straddles the page boundary');
    const index = names.indexOf(straddler);
    const reader = zone.open();
    const writer = zone.open();
    let lists = 0;
    let wrote = false;
    zone.emulator.wrap((next) => async (request) => {
      if (request.method === 'GET' && request.path.endsWith('/rrset') && !wrote && (lists += 1) === 2) {
        wrote = true;
        versionOf(await applyOne(writer, change(straddler, targets(4, 300), 2, versionOf(created[index]))));
      }
      return next(request);
    });
    const read = await reader.read(names);
    assert.ok(wrote, 'the write happened between two pages of the read');
    assert.deepEqual(read.get(straddler)?.records, targets(4, 300), 'read as written, not as a mix of two moments');
    assert.equal(read.get(straddler)?.generation, 2);
  });
});

describe('route53 provider: AWS limits and failures', () => {
  test('Throttling is retried with backoff until the write goes through; retriesMax 0 gives up', async () => {
    const zone = await startEmulatedZone();
    try {
      // Every other request is answered Throttling, as AWS does past five requests per second.
      let requests = 0;
      let refuseEveryOther = true;
      zone.emulator.wrap((next) => async (request) => {
        requests += 1;
        const refused = refuseEveryOther && requests % 2 === 0;
        return refused ? { status: 400, body: errorBody('Throttling', 'Rate exceeded') } : next(request);
      });
      const provider = zone.open();
      const names = Array.from({ length: 20 }, (_, index) => `t${index}.dnsplane.test`);
      const outcomes = await provider.apply(names.map((name, index) => change(name, targets(2, index), 1, null)));
      assert.deepEqual(new Set(kinds(outcomes)), new Set(['applied']));
      assert.equal((await provider.read(names)).size, 20);
      assert.ok(requests >= 7, `zone check, change, GetChange, list; three refused, sent again (${requests} requests)`);
      // The emulator's own throttle at one request per 1,000 s: the zone check passes, the read is refused.
      refuseEveryOther = false;
      const impatient = zone.open({ retriesMax: 0 });
      zone.emulator.setRequestsPerSecond(0.001);
      const refusal = /ListResourceRecordSets: Throttling: Rate exceeded \(1 attempts\)/;
      await rejects(impatient.read(names), 'throttled', refusal);
      assert.equal(zone.emulator.stats.throttled, 1, 'refused by the emulator');
    } finally {
      await zone.stop();
    }
  });

  test('PriorRequestNotComplete is retried; an unknown outcome is retried as a compare-and-swap', async () => {
    const zone = await startEmulatedZone();
    try {
      let busyAnswers = 3;
      const busy = 'The request was rejected because Route 53 was still processing a prior request.';
      zone.emulator.wrap((next) => async (request) => {
        if (request.method !== 'POST' || busyAnswers === 0) return next(request);
        busyAnswers -= 1;
        return { status: 400, body: errorBody('PriorRequestNotComplete', busy) };
      });
      const provider = zone.open();
      const name = 'busy.dnsplane.test';
      const version = versionOf(await applyOne(provider, change(name, targets(2, 1), 1, null)));
      assert.equal(busyAnswers, 0, 'three refusals were retried');
      // The next change is committed, but its answer is lost (HTTP 500): the provider retries the same batch,
      // whose DELETE of the old marker no longer matches, so the retry is refused and the name is a conflict.
      let loseNext = true;
      zone.emulator.wrap((next) => async (request) => {
        const answer = await next(request);
        if (request.method !== 'POST' || !loseNext) return answer;
        loseNext = false;
        return { status: 500, body: errorBody('InternalFailure', 'answer lost') };
      });
      const outcome = await applyOne(provider, change(name, targets(3, 2), 2, version));
      assert.deepEqual(outcome, { name, outcome: 'conflict' });
      const read = (await provider.read([name])).get(name);
      assert.equal(read?.generation, 2, 'the first attempt was applied');
      assert.deepEqual(read?.records, targets(3, 2));
    } finally {
      await zone.stop();
    }
  });

  test('apply returns after GetChange says INSYNC; past syncTimeout it fails with not-in-sync', async () => {
    const zone = await startEmulatedZone({ insyncAfterMs: 200 });
    try {
      const statuses: string[] = [];
      zone.emulator.wrap((next) => async (request) => {
        const answer = await next(request);
        if (request.path.includes('/change/')) statuses.push(/<Status>(\w+)<\/Status>/.exec(answer.body)?.[1] ?? '');
        return answer;
      });
      const provider = zone.open({ syncPollMs: 20 });
      versionOf(await applyOne(provider, change('sync.dnsplane.test', targets(1, 1), 1, null)));
      assert.equal(statuses.at(-1), 'INSYNC', 'the last GetChange before apply returned said INSYNC');
      assert.ok(statuses.length >= 2 && statuses[0] === 'PENDING', `followed from PENDING (${statuses.join(', ')})`);
      const hasty = zone.open({ syncPollMs: 5, syncTimeoutMs: 40 });
      zone.emulator.wrap((next) => async (request) => {
        const answer = await next(request);
        if (!request.path.includes('/change/')) return answer;
        return { ...answer, body: answer.body.replace('INSYNC', 'PENDING') };
      });
      const name = 'slow.dnsplane.test';
      await rejects(hasty.apply([change(name, targets(1, 2), 1, null)]), 'not-in-sync', /not INSYNC after 40 ms/);
      const generation = (await hasty.read([name])).get(name)?.generation;
      assert.equal(generation, 1, 'accepted, so a later read sees it (PENDING changes are listed)');
    } finally {
      await zone.stop();
    }
  });

  test('reads share pages between close names and stop at readRequestsMax', async () => {
    const zone = await startEmulatedZone();
    try {
      const provider = zone.open();
      const names = Array.from({ length: 120 }, (_, index) => `r${String(index).padStart(3, '0')}.dnsplane.test`);
      await provider.apply(names.map((name, index) => change(name, targets(4, index), 1, null)));
      const reader = zone.open();
      assert.equal((await reader.read(names)).size, 120);
      const pages = reader.api.requests.get('ListResourceRecordSets') ?? 0;
      assert.ok(pages <= 3, `120 names of 5 sets (600 sets) read in ${pages} pages of 300`);
      const frugal = zone.open({ readRequestsMax: 1 });
      await rejects(frugal.read(names), 'read-budget', /more than 1 ListResourceRecordSets requests/);
    } finally {
      await zone.stop();
    }
  });

  test('a hosted zone that is not the configured zone, or none at all, is refused before any write', async () => {
    const zone = await startEmulatedZone({ zones: ['dnsplane.test.', 'other.test.'] });
    try {
      const wrong = zone.open({ hostedZoneId: zone.emulator.zoneIds[1]! });
      const item = change('x.dnsplane.test', targets(1, 1), 1, null);
      const mismatch = /the hosted zone is other\.test, not the configured zone dnsplane\.test/;
      await rejects(wrong.apply([item]), 'wrong-zone', mismatch);
      const missing = zone.open({ hostedZoneId: 'ZNOSUCHZONE' });
      await rejects(missing.read(['x.dnsplane.test']), 'no-such-zone', /No hosted zone found with ID: ZNOSUCHZONE/);
      await rejects(zone.open().read(['x.example.org']), 'not-in-zone', /x\.example\.org/);
      assert.equal(zone.emulator.stats.committed, 0, 'nothing was written');
    } finally {
      await zone.stop();
    }
  });
});
