// Goal: the Route 53 emulator behaves as the API reference documents the
// service — all-or-nothing change batches with exact DELETEs and AWS's
// InvalidChangeBatch messages, weighted record sets, batch limits, listing
// order and paging, GetChange going from PENDING to INSYNC, throttling,
// PriorRequestNotComplete, and unknown zones — since every provider test
// built on it is only as good as it is.
// Method: the official SDK (@aws-sdk/client-route-53, retries off) over HTTP
// to an emulator on a loopback port, with the reference's own examples
// (the weighted "Seattle / Portland data center" batch) where it has them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ChangeResourceRecordSetsCommand, GetChangeCommand, GetHostedZoneCommand, ListResourceRecordSetsCommand,
  Route53Client, type Change, type ListResourceRecordSetsRequest, type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { Route53Emulator, type EmulatorOptions } from './emulator.js';
import { pollUntil } from '../../helpers/env.js';

const credentials = { accessKeyId: 'emulator', secretAccessKey: 'emulator' };

interface Harness {
  emulator: Route53Emulator;
  client: Route53Client;
  zoneId: string;
  stop(): Promise<void>;
}

async function start(options: EmulatorOptions = {}): Promise<Harness> {
  const emulator = new Route53Emulator({ zones: ['example.com.'], ...options });
  const endpoint = await emulator.start();
  const client = new Route53Client({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  return {
    emulator, client, zoneId: emulator.zoneIds[0]!,
    async stop() {
      client.destroy();
      await emulator.stop();
    },
  };
}

function weighted(name: string, identifier: string, weight: number, value: string, ttl = 60): ResourceRecordSet {
  return {
    Name: name, Type: 'A', SetIdentifier: identifier, Weight: weight, TTL: ttl, ResourceRecords: [{ Value: value }],
  };
}

function simple(name: string, type: 'A' | 'TXT' | 'AAAA', values: string[], ttl = 300): ResourceRecordSet {
  return { Name: name, Type: type, TTL: ttl, ResourceRecords: values.map((Value) => ({ Value })) };
}

const create = (set: ResourceRecordSet): Change => ({ Action: 'CREATE', ResourceRecordSet: set });
const remove = (set: ResourceRecordSet): Change => ({ Action: 'DELETE', ResourceRecordSet: set });
const upsert = (set: ResourceRecordSet): Change => ({ Action: 'UPSERT', ResourceRecordSet: set });

async function change(harness: Harness, changes: Change[]) {
  const input = { HostedZoneId: harness.zoneId, ChangeBatch: { Changes: changes } };
  return harness.client.send(new ChangeResourceRecordSetsCommand(input));
}

async function list(harness: Harness, input: Omit<ListResourceRecordSetsRequest, 'HostedZoneId'> = {}) {
  return harness.client.send(new ListResourceRecordSetsCommand({ HostedZoneId: harness.zoneId, ...input }));
}

interface Failure {
  name: string;
  status: number | undefined;
  message: string;
}

/** The error a request fails with: its name, HTTP status and message. */
async function failure(promise: Promise<unknown>): Promise<Failure> {
  try {
    await promise;
  } catch (error) {
    const failed = error as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: failed.name, status: failed.$metadata?.httpStatusCode, message: failed.message };
  }
  assert.fail('the request succeeded');
}

/** An InvalidChangeBatch as AWS words it: every message, in brackets. */
function invalidBatch(...messages: string[]): Failure {
  return { name: 'InvalidChangeBatch', status: 400, message: `[${messages.join(', ')}]` };
}

async function listAll(harness: Harness): Promise<ResourceRecordSet[]> {
  const response = await list(harness);
  assert.equal(response.IsTruncated, false);
  return response.ResourceRecordSets ?? [];
}

const managed = (sets: readonly ResourceRecordSet[]) => sets.filter((set) => set.Type !== 'NS' && set.Type !== 'SOA');

describe('Route 53 emulator: change batches', () => {
  let harness: Harness;
  before(async () => {
    harness = await start();
  });
  after(() => harness.stop());

  test('the reference example: two weighted record sets, created PENDING, listed with their weights', async () => {
    const seattle = weighted('example.com', 'Seattle data center', 100, '192.0.2.44');
    const portland = weighted('example.com', 'Portland data center', 200, '192.0.2.45');
    const response = await harness.client.send(new ChangeResourceRecordSetsCommand({
      HostedZoneId: `/hostedzone/${harness.zoneId}`,
      ChangeBatch: {
        Comment: 'Web servers for example.com',
        Changes: [
          create({ ...seattle, HealthCheckId: 'abcdef11-2222-3333-4444-555555fedcba' }),
          create({ ...portland, HealthCheckId: 'abcdef66-7777-8888-9999-000000fedcba' }),
        ],
      },
    }));
    assert.equal(response.ChangeInfo?.Status, 'PENDING');
    assert.equal(response.ChangeInfo?.Comment, 'Web servers for example.com');
    assert.match(response.ChangeInfo?.Id ?? '', /^\/change\/C[0-9A-Z]+$/);
    const sets = managed(await listAll(harness));
    assert.deepEqual(sets.map((set) => [set.Name, set.SetIdentifier, set.Weight, set.ResourceRecords?.[0]?.Value]), [
      ['example.com.', 'Portland data center', 200, '192.0.2.45'],
      ['example.com.', 'Seattle data center', 100, '192.0.2.44'],
    ]);
    const zone = await harness.client.send(new GetHostedZoneCommand({ Id: harness.zoneId }));
    assert.equal(zone.HostedZone?.Name, 'example.com.');
    assert.equal(zone.HostedZone?.ResourceRecordSetCount, 4, 'NS and SOA at the apex, and the two sets');
  });

  test('a batch is all-or-nothing, and the error lists every failing change in AWS words', async () => {
    await change(harness, [create(simple('a.example.com', 'TXT', ['"one"']))]);
    const failed = await failure(change(harness, [
      create(simple('b.example.com', 'A', ['192.0.2.1'])),
      remove(simple('a.example.com', 'TXT', ['"two"'])),
      create(simple('a.example.com', 'TXT', ['"three"'])),
    ]));
    const described = "[name='a.example.com.', type='TXT']";
    assert.deepEqual(failed, invalidBatch(
      `Tried to delete resource record set ${described} but the values provided do not match the current values`,
      `Tried to create resource record set ${described} but it already exists`,
    ));
    const names = managed(await listAll(harness)).map((set) => set.Name);
    assert.ok(!names.includes('b.example.com.'), 'the valid CREATE of the failed batch was not applied');
    const last = harness.emulator.stats.invalidChangeBatches.at(-1);
    assert.equal(last?.length, 2, 'the emulator records the messages of each InvalidChangeBatch');
  });

  test('a DELETE matches name, type, SetIdentifier, Weight, TTL and values exactly (values in any order)', async () => {
    const name = 'exact.example.com';
    const marker = (values: string[]) => simple(`_m.${name}`, 'TXT', values, 5);
    await change(harness, [create(weighted(name, 'lb-1', 10, '192.0.2.10')), create(marker(['"x"', '"y"']))]);
    const described = `[name='exact.example.com.', type='A', set-identifier='lb-1']`;
    const tried = `Tried to delete resource record set ${described} but`;
    const mismatch = invalidBatch(`${tried} the values provided do not match the current values`);
    const wrongs = [
      weighted(name, 'lb-1', 11, '192.0.2.10'), weighted(name, 'lb-1', 10, '192.0.2.11'),
      weighted(name, 'lb-1', 10, '192.0.2.10', 61),
    ];
    for (const wrong of wrongs) assert.deepEqual(await failure(change(harness, [remove(wrong)])), mismatch);
    const missing = await failure(change(harness, [remove(weighted(name, 'lb-2', 10, '192.0.2.10'))]));
    const other = `[name='exact.example.com.', type='A', set-identifier='lb-2']`;
    assert.deepEqual(missing, invalidBatch(`Tried to delete resource record set ${other} but it was not found`));
    await change(harness, [remove(weighted(name, 'lb-1', 10, '192.0.2.10')), remove(marker(['"y"', '"x"']))]);
    const left = managed(await listAll(harness)).filter((set) => set.Name?.endsWith(`${name}.`));
    assert.deepEqual(left, [], 'the exact DELETEs removed both sets');
  });

  test('changes apply in order: DELETE then CREATE of one set succeeds, deleting one set twice fails', async () => {
    const [v1, v2, v3] = ['"v1"', '"v2"', '"v3"'].map((value) => simple('order.example.com', 'TXT', [value]));
    await change(harness, [create(v1!)]);
    await change(harness, [remove(v1!), create(v2!)]);
    const twice = await failure(change(harness, [remove(v2!), remove(v2!)]));
    const described = "[name='order.example.com.', type='TXT']";
    assert.deepEqual(twice, invalidBatch(`Tried to delete resource record set ${described} but it was not found`));
    await change(harness, [upsert(v3!)]);
    await change(harness, [upsert(simple('upsert.example.com', 'TXT', ['"new"']))]);
    const touched = managed(await listAll(harness)).filter((set) => /^(order|upsert)\./.test(set.Name ?? ''));
    const values = touched.map((set) => set.ResourceRecords?.[0]?.Value);
    assert.deepEqual(values, ['"v3"', '"new"'], 'UPSERT replaces and creates');
  });

  test('weighted and non-weighted sets of one name and type do not mix', async () => {
    const plain = simple('mix.example.com', 'A', ['192.0.2.1']);
    const heavy = weighted('mix.example.com', 'w', 1, '192.0.2.2');
    await change(harness, [create(plain)]);
    const weightedOverSimple = await failure(change(harness, [create(heavy)]));
    assert.deepEqual(weightedOverSimple, invalidBatch('RRSet with DNS name mix.example.com., type A, SetIdentifier w'
      + ' cannot be created as a non-weighted set exists with the same name and type.'));
    await change(harness, [remove(plain), create(heavy)]);
    const simpleOverWeighted = await failure(change(harness, [create(simple('mix.example.com', 'A', ['192.0.2.3']))]));
    assert.deepEqual(simpleOverWeighted, invalidBatch('RRSet with DNS name mix.example.com., type A'
      + ' cannot be created as other RRSets exist with the same name and type.'));
  });

  test('a CNAME shares its name with no other set, in either order; replaced in one batch it may', async () => {
    const alias = (value: string): ResourceRecordSet => ({
      Name: 'alias.example.com', Type: 'CNAME', TTL: 300, ResourceRecords: [{ Value: value }],
    });
    await change(harness, [create(alias('www.example.org.'))]);
    const beside = await failure(change(harness, [create(weighted('alias.example.com', 'w', 1, '192.0.2.5'))]));
    assert.deepEqual(beside, invalidBatch('RRSet of type A with DNS name alias.example.com. is not permitted because '
      + 'a conflicting RRSet of type  CNAME with the same DNS name already exists in zone example.com.'));
    const text = simple('alias.example.com', 'TXT', ['"beside"']);
    assert.equal((await failure(change(harness, [create(text)]))).name, 'InvalidChangeBatch', 'any type');
    await change(harness, [remove(alias('www.example.org.')), create(text)]);
    const over = await failure(change(harness, [create(alias('www.example.net.'))]));
    assert.deepEqual(over, invalidBatch('RRSet of type CNAME with DNS name alias.example.com. is not permitted as it '
      + 'conflicts with other records with the same DNS name in zone example.com.'));
    await change(harness, [upsert(simple('alias.example.com', 'TXT', ['"still"']))]);
    const left = managed(await listAll(harness)).filter((set) => set.Name === 'alias.example.com.');
    assert.deepEqual(left.map((set) => set.Type), ['TXT'], 'the refused batches changed nothing');
  });

  test('invalid input: a weight over 255, a weight alone, a name outside the zone, bad values', async () => {
    const heavy = await failure(change(harness, [create(weighted('w.example.com', 'x', 256, '192.0.2.1'))]));
    assert.equal(heavy.name, 'InvalidInput');
    assert.match(heavy.message, /Value '256' at 'changeBatch\.changes\.1\.member\.resourceRecordSet\.weight' failed/);
    const weightOnly = { ...simple('w.example.com', 'A', ['192.0.2.1']), Weight: 1 };
    const lone = await failure(change(harness, [create(weightOnly)]));
    assert.equal(lone.name, 'InvalidInput');
    const outside = await failure(change(harness, [create(simple('www.example.org', 'A', ['192.0.2.1']))]));
    const notPermitted = 'RRSet with DNS name www.example.org. is not permitted in zone example.com.';
    assert.deepEqual(outside, invalidBatch(notPermitted));
    const badAddress = await failure(change(harness, [create(simple('v.example.com', 'A', ['192.0.2']))]));
    assert.match(badAddress.message, /ARRDATAIllegalIPv4Address/);
    const longTxt = simple('v.example.com', 'TXT', [`"${'x'.repeat(256)}"`]);
    const longString = await failure(change(harness, [create(longTxt)]));
    assert.match(longString.message, /TXTRDATATooLong/);
  });

  test('limits: 1,000 ResourceRecord elements and 32,000 characters of values per batch, UPSERT twice', async () => {
    const creates = (count: number, prefix: string, value = '"x"'): Change[] =>
      Array.from({ length: count }, (_, index) => create(simple(`${prefix}${index}.example.com`, 'TXT', [value])));
    const tooMany = invalidBatch('Number of records limit of 1000 exceeded.');
    assert.deepEqual(await failure(change(harness, creates(1001, 'many'))), tooMany);
    const upserts = creates(501, 'upsert').map((item) => ({ ...item, Action: 'UPSERT' as const }));
    assert.deepEqual(await failure(change(harness, upserts)), tooMany);
    await change(harness, creates(1000, 'thousand'));
    // 32 TXT values of 1,000 characters each (four quoted strings) are exactly 32,000 characters; 3 more are over.
    const value = [247, 247, 247, 248].map((letters) => `"${'a'.repeat(letters)}"`).join(' ');
    assert.equal(value.length, 1000);
    const over = [...creates(32, 'over', value), create(simple('over-x.example.com', 'TXT', ['"z"']))];
    assert.deepEqual(await failure(change(harness, over)), invalidBatch('RDATA character limit of 32000 exceeded.'));
    await change(harness, creates(32, 'chars', value));
  });
});

describe('Route 53 emulator: listing', () => {
  let harness: Harness;
  before(async () => {
    harness = await start();
    // Names chosen for the documented order: labels reversed with a trailing dot, compared in ASCII, so "-" (45)
    // sorts before "." (46): com.example.a-b. comes before com.example.a. and its subdomain com.example.a.b.
    await change(harness, [
      create(simple('b.a.example.com', 'A', ['192.0.2.1'])),
      create(simple('a-b.example.com', 'A', ['192.0.2.2'])),
      create(simple('a.example.com', 'TXT', ['"t"'])),
      create(simple('a.example.com', 'AAAA', ['2001:db8::1'])),
      create(weighted('w.example.com', 'two', 2, '192.0.2.4')),
      create(weighted('w.example.com', 'one', 1, '192.0.2.3')),
      create(simple('*.example.com', 'A', ['192.0.2.5'])),
    ]);
  });
  after(() => harness.stop());

  const expected = [
    ['example.com.', 'NS', undefined], ['example.com.', 'SOA', undefined], ['\\052.example.com.', 'A', undefined],
    ['a-b.example.com.', 'A', undefined], ['a.example.com.', 'AAAA', undefined], ['a.example.com.', 'TXT', undefined],
    ['b.a.example.com.', 'A', undefined], ['w.example.com.', 'A', 'one'], ['w.example.com.', 'A', 'two'],
  ];
  const key = (set: ResourceRecordSet) => [set.Name, set.Type, set.SetIdentifier];

  test('sorted by name with the labels reversed (trailing dot, ASCII), then type, then SetIdentifier', async () => {
    assert.deepEqual((await listAll(harness)).map(key), expected, 'a wildcard is returned as \\052');
  });

  test('pages of MaxItems follow NextRecordName / NextRecordType / NextRecordIdentifier to the end', async () => {
    const seen: ResourceRecordSet[] = [];
    let start: Omit<ListResourceRecordSetsRequest, 'HostedZoneId'> = {};
    for (let pages = 0; pages < 20; pages += 1) {
      const page = await list(harness, { MaxItems: 2, ...start });
      assert.equal(page.MaxItems, 2);
      seen.push(...(page.ResourceRecordSets ?? []));
      if (page.IsTruncated !== true) break;
      start = {
        StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType,
        StartRecordIdentifier: page.NextRecordIdentifier,
      };
    }
    assert.deepEqual(seen.map(key), expected);
  });

  test('a start name, type, identifier; MaxItems over 300 gives 300; a type alone is InvalidInput', async () => {
    const fromName = await list(harness, { StartRecordName: 'a.example.com' });
    assert.deepEqual(fromName.ResourceRecordSets?.map(key), expected.slice(4), 'a-b sorts before a');
    const fromType = await list(harness, { StartRecordName: 'a.example.com.', StartRecordType: 'TXT' });
    assert.deepEqual(fromType.ResourceRecordSets?.map(key), expected.slice(5));
    const identified = {
      StartRecordName: 'w.example.com.', StartRecordType: 'A', StartRecordIdentifier: 'two',
    } as const;
    const fromIdentifier = await list(harness, identified);
    assert.deepEqual(fromIdentifier.ResourceRecordSets?.map(key), expected.slice(8));
    const between = await list(harness, { StartRecordName: 'c.example.com' });
    assert.deepEqual(between.ResourceRecordSets?.map(key), expected.slice(7), 'an absent name starts at the next');
    assert.equal((await list(harness, { MaxItems: 500 })).MaxItems, 300);
    assert.equal((await failure(list(harness, { StartRecordType: 'A' }))).name, 'InvalidInput');
  });

  test('an unknown hosted zone is NoSuchHostedZone (404) for every operation', async () => {
    const zone = 'ZNOSUCHZONE';
    const expectedError = { name: 'NoSuchHostedZone', status: 404, message: `No hosted zone found with ID: ${zone}` };
    const client = harness.client;
    assert.deepEqual(await failure(client.send(new GetHostedZoneCommand({ Id: zone }))), expectedError);
    const listing = client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zone }));
    assert.deepEqual(await failure(listing), expectedError);
    const batch = { Changes: [create(simple('x.example.com', 'A', ['192.0.2.1']))] };
    const changing = client.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zone, ChangeBatch: batch }));
    assert.deepEqual(await failure(changing), expectedError);
  });

  test('a request without a SigV4 signature is refused', async () => {
    const response = await fetch(`${harness.emulator.endpoint}/2013-04-01/hostedzone/${harness.zoneId}`);
    assert.equal(response.status, 403);
    assert.match(await response.text(), /<Code>MissingAuthenticationToken<\/Code>/);
  });
});

describe('Route 53 emulator: propagation, throttling, busy zones, quotas, faults', () => {
  test('GetChange: PENDING until the configured delay has passed, then INSYNC; unknown: NoSuchChange', async () => {
    const slow = await start({ insyncAfterMs: 3_600_000 });
    const quick = await start({ insyncAfterMs: 30 });
    try {
      const ids: string[] = [];
      for (const harness of [slow, quick]) {
        const created = await change(harness, [create(simple('p.example.com', 'A', ['192.0.2.1']))]);
        assert.equal(created.ChangeInfo?.Status, 'PENDING', 'a change is PENDING when submitted');
        ids.push(created.ChangeInfo!.Id!);
      }
      const [slowId, quickId] = ids;
      const pending = await slow.client.send(new GetChangeCommand({ Id: slowId }));
      assert.equal(pending.ChangeInfo?.Status, 'PENDING', 'an hour has not passed');
      const status = async () => (await quick.client.send(new GetChangeCommand({ Id: quickId }))).ChangeInfo?.Status;
      await pollUntil(async () => (await status()) === 'INSYNC', 'INSYNC', 30_000, 10);
      const unknown = await failure(quick.client.send(new GetChangeCommand({ Id: '/change/CNOSUCHCHANGE' })));
      const message = 'A change with the specified change ID does not exist.';
      assert.deepEqual(unknown, { name: 'NoSuchChange', status: 404, message });
    } finally {
      await slow.stop();
      await quick.stop();
    }
  });

  test('throttling: over the configured rate a request is HTTP 400 Throttling, "Rate exceeded"', async () => {
    // One request per 100 s: the bucket holds one token, so exactly one request of the burst passes.
    const harness = await start({ requestsPerSecond: 0.01 });
    try {
      const hostedZone = () => harness.client.send(new GetHostedZoneCommand({ Id: harness.zoneId }));
      const results = await Promise.allSettled(Array.from({ length: 10 }, hostedZone));
      const refused = results.filter((result) => result.status === 'rejected')
        .map((result) => (result as PromiseRejectedResult).reason as Error & { $metadata: { httpStatusCode: number } });
      assert.equal(refused.length, 9, 'one passes, nine are refused');
      const kinds = new Set(refused.map((error) => `${error.name} ${error.$metadata.httpStatusCode} ${error.message}`));
      assert.deepEqual([...kinds], ['Throttling 400 Rate exceeded']);
      assert.equal(harness.emulator.stats.throttled, refused.length);
      harness.emulator.setRequestsPerSecond(20);
      await pollUntil(async () => hostedZone().then(() => true, () => false), 'a request to pass again', 30_000, 100);
    } finally {
      await harness.stop();
    }
  });

  test('a change while the zone processes the previous one is PriorRequestNotComplete; reads still work', async () => {
    const harness = await start({ zoneBusyMs: 3_600_000 });
    try {
      await change(harness, [create(simple('busy.example.com', 'A', ['192.0.2.1']))]);
      const busy = await failure(change(harness, [create(simple('busy2.example.com', 'A', ['192.0.2.1']))]));
      const message = 'The request was rejected because Route 53 was still processing a prior request.';
      assert.deepEqual(busy, { name: 'PriorRequestNotComplete', status: 400, message });
      assert.equal(managed(await listAll(harness)).length, 1);
    } finally {
      await harness.stop();
    }
  });

  test('the record set quota of a zone; a fault injected by wrapping the handler', async () => {
    const harness = await start({ recordSetsMax: 3 });
    try {
      await change(harness, [create(simple('q1.example.com', 'A', ['192.0.2.1']))]);
      const full = await failure(change(harness, [create(simple('q2.example.com', 'A', ['192.0.2.1']))]));
      assert.deepEqual(full, invalidBatch(`Exceeded limit MAX_RRSETS_BY_ZONE for zone: ${harness.zoneId}`));
      let failNext = true;
      harness.emulator.wrap((next) => async (request) => {
        if (!failNext) return next(request);
        failNext = false;
        const error = '<Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>injected</Message></Error>';
        return { status: 500, body: `<ErrorResponse>${error}</ErrorResponse>` };
      });
      const hostedZone = () => harness.client.send(new GetHostedZoneCommand({ Id: harness.zoneId }));
      assert.deepEqual(await failure(hostedZone()), { name: 'InternalFailure', status: 500, message: 'injected' });
      assert.equal((await hostedZone()).HostedZone?.ResourceRecordSetCount, 3);
    } finally {
      await harness.stop();
    }
  });
});
