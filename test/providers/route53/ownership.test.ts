// Goal: issue 13's ownership and adoption on Route 53. A hosted zone holds hand-made record sets (a simple A with a
// TXT and an MX beside it, a weighted A pair, a CNAME, a TXT and an MX at a name dnsplane writes addresses to, a lone
// simple A), and two dnsplane installations with different owner ids manage overlapping names of it. Whatever they
// run — planners, enactors, reconcilers and janitors of both, health churn — no installation changes a set it does
// not own: every set of the zone is listed through the SDK after the run and compared with what was made by hand and
// with whose marker each written set belongs to. A name another installation owns, or holding A/AAAA/CNAME sets and
// no marker, is left alone with an alarm and reported by the reconciler. An adoption (a grant in the store) takes
// one unmanaged name over in one change batch that keeps its TXT and MX; a hand edit made between the adoption's read
// and its batch (a weight changed, which the unmanaged version does not see, but the batch's exact DELETE does) makes
// it fail, and the hand edit stays.
// Method: the real roles in-process, each installation with its own SQLite store and Route 53 provider (its owner
// id), on one emulated hosted zone reached through the official SDK; hand edits are change batches sent with the SDK;
// the in-flight edit is injected by wrapping the second installation's provider, after the read and before the
// write; change batches are counted where the emulator commits them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  ChangeResourceRecordSetsCommand, ListResourceRecordSetsCommand, Route53Client, type Change,
  type ListResourceRecordSetsRequest, type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { Reconciler } from '../../../src/enactor/reconciler.js';
import { Janitor } from '../../../src/enactor/janitor.js';
import { decodeMarker, tombstoneName } from '../../../src/providers/marker.js';
import { txtStrings } from '../../../src/providers/route53/sets.js';
import { SqliteStore } from '../../../src/store/sqlite/store.js';
import type { EndpointSpec } from '../../../src/domain/types.js';
import type { Provider } from '../../../src/providers/types.js';
import { silentLogger } from '../../../src/util/log.js';
import { seededRng, systemClock } from '../../../src/util/clock.js';
import { makeEnactor, makePlanner } from '../../helpers/fixtures.js';
import { tempDir } from '../../helpers/env.js';
import { emulatorCredentials, startEmulatedZone, type EmulatedZone } from './helpers.js';

const zoneName = 'dnsplane.test';
const at = (label: string) => `${label}.${zoneName}`;

const simple = (label: string, type: 'A' | 'TXT' | 'MX', values: string[]): ResourceRecordSet => ({
  Name: `${at(label)}.`, Type: type, TTL: 300, ResourceRecords: values.map((Value) => ({ Value })),
});
const weighted = (label: string, id: string, weight: number, address: string): ResourceRecordSet => ({
  Name: `${at(label)}.`, Type: 'A', SetIdentifier: id, Weight: weight, TTL: 60, ResourceRecords: [{ Value: address }],
});

/** The hand-made part of the zone: what no installation may change (other than by adoption). */
const handMade: ResourceRecordSet[] = [
  simple('hand', 'A', ['192.0.2.10']),
  simple('hand', 'TXT', ['"made by hand"']),
  simple('hand', 'MX', [`10 ${at('mail')}.`]),
  weighted('pair', 'blue', 70, '192.0.2.21'),
  weighted('pair', 'green', 30, '192.0.2.22'),
  { Name: `${at('alias')}.`, Type: 'CNAME', TTL: 300, ResourceRecords: [{ Value: `${at('hand')}.` }] },
  simple('notes', 'TXT', ['"v=spf1 -all"']),
  simple('notes', 'MX', [`10 ${at('mail')}.`]),
  simple('shared', 'A', ['192.0.2.20']),
  simple('mail', 'A', ['192.0.2.25']),
];

function endpoint(label: string, addresses: readonly string[]): EndpointSpec {
  return {
    name: at(label),
    targets: addresses.map((address, index) => ({ id: `${label}-${index}`, address, az: `az${index}`, capacity: 100 })),
  };
}

/** A set as one comparable line: name, type, SetIdentifier/Weight, TTL, values. */
function line(set: ResourceRecordSet): string {
  const routing = set.SetIdentifier === undefined ? '' : ` ${set.SetIdentifier}/${set.Weight}`;
  const values = (set.ResourceRecords ?? []).map((record) => record.Value).join(' | ');
  return `${set.Name} ${set.Type}${routing} ttl=${set.TTL} ${values}`;
}

function client(zone: EmulatedZone): Route53Client {
  return new Route53Client({ endpoint: zone.endpoint, region: 'us-east-1', credentials: emulatorCredentials, maxAttempts: 1 });
}

/** Every set of the hosted zone, page by page, through the SDK. */
async function listEverySet(sdk: Route53Client, zone: EmulatedZone): Promise<ResourceRecordSet[]> {
  const sets: ResourceRecordSet[] = [];
  let start: Omit<ListResourceRecordSetsRequest, 'HostedZoneId'> = {};
  for (let pages = 0; pages < 100; pages += 1) {
    const page = await sdk.send(new ListResourceRecordSetsCommand({ HostedZoneId: zone.hostedZoneId, ...start }));
    sets.push(...page.ResourceRecordSets ?? []);
    if (page.IsTruncated !== true) return sets;
    start = {
      StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType,
      StartRecordIdentifier: page.NextRecordIdentifier,
    };
  }
  assert.fail('the listing did not end within 100 pages');
}

async function handEdit(sdk: Route53Client, zone: EmulatedZone, changes: Change[]): Promise<void> {
  await sdk.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zone.hostedZoneId, ChangeBatch: { Changes: changes } }));
}

/** The owner id in the marker or claim a TXT set holds ("owner=<id>"), or null. */
function ownerIn(set: ResourceRecordSet): string | null {
  const strings = txtStrings(set.ResourceRecords?.[0]?.Value ?? '') ?? [];
  const owner = strings.map(String).find((text) => text.startsWith('owner='));
  return owner === undefined ? null : owner.slice('owner='.length);
}

interface InstallationUnderTest {
  owner: string;
  store: SqliteStore;
  /** One round of every role: planner, enactor, reconciler, janitor; returns the reconciler's drifts. */
  round(): Promise<{ name: string; kind: string; detail: string }[]>;
}

function installation(
  zone: EmulatedZone, dir: string, owner: string, inventory: EndpointSpec[], wrap: (p: Provider) => Provider = (p) => p,
): InstallationUnderTest {
  const store = new SqliteStore(join(dir, `${owner}.db`));
  const provider = wrap(zone.open({ owner: { owner, former: [] } }));
  const planner = makePlanner(`planner-${owner}`, store, () => inventory);
  const enactor = makeEnactor(`enactor-${owner}`, store, provider);
  const reconciler = new Reconciler(
    { id: `reconciler-${owner}`, intervalMs: 1000, maxLagMs: 0, pageSize: 50, retriesMax: 5, backoffBaseMs: 1, backoffMaxMs: 20 },
    { store, provider, clock: systemClock, rng: seededRng(7), log: silentLogger },
  );
  const janitor = new Janitor(
    { intervalMs: 1000, retainGenerations: 2, batchVersionsMax: 1000 },
    { store, provider, clock: systemClock, log: silentLogger },
  );
  return {
    owner, store,
    async round() {
      const planned = await planner.tick();
      assert.ok(['published', 'unchanged'].includes(planned.kind), `${owner}'s planner: ${JSON.stringify(planned)}`);
      while ((await enactor.step()) !== null) { /* every plan published so far */ }
      const pass = await reconciler.tick();
      await janitor.tick();
      return pass.drifts.map(({ name, kind, detail }) => ({ name, kind, detail }));
    },
  };
}

const kinds = (drifts: { name: string; kind: string }[]) => drifts.map((drift) => `${drift.kind} ${drift.name}`).sort();

async function heldAlarms(installation: InstallationUnderTest): Promise<string[]> {
  return (await installation.store.listAlarms(true))
    .filter((alarm) => alarm.kind === 'unmanaged' || alarm.kind === 'foreign')
    .map((alarm) => `${alarm.kind} ${alarm.name}`).sort();
}

/**
 * Checks that every set of `after` is either hand-made and unchanged, or belongs to a name whose marker carries the
 * owner id `owners` gives it — at the name (its weighted sets), at its marker, or in its slot (the claim, the same
 * owner) — and that every hand-made set is still there, exactly.
 */
function checkOwnership(after: readonly ResourceRecordSet[], hand: ReadonlySet<string>, owners: ReadonlyMap<string, string>) {
  const lines = new Set(after.map(line));
  for (const made of hand) assert.ok(lines.has(made), `the hand-made set ${made} is there, unchanged`);
  const markerOwner = new Map<string, string | null>();
  for (const set of after) {
    const owner = set.Name!.replace(/\.$/, '');
    if (set.Type === 'TXT' && owner.startsWith('_dnsplane.')) markerOwner.set(owner.slice('_dnsplane.'.length), ownerIn(set));
  }
  const slots = new Map([...owners.keys()].map((name) => [tombstoneName(name, zoneName), name]));
  for (const set of after) {
    if (hand.has(line(set)) || set.Type === 'NS' || set.Type === 'SOA') continue;
    const owner = set.Name!.replace(/\.$/, '');
    const name = owner.startsWith('_dnsplane.') ? owner.slice('_dnsplane.'.length) : slots.get(owner) ?? owner;
    const expected = owners.get(name);
    assert.ok(expected !== undefined, `${line(set)} belongs to no installation's name`);
    assert.equal(markerOwner.get(name), expected, `${name}'s marker carries ${expected}'s owner id`);
    if (set.Type === 'TXT') assert.equal(ownerIn(set), expected, `${line(set)} was written by ${expected}`);
    else assert.ok(set.Type === 'A' && set.SetIdentifier?.startsWith(name.split('.')[0]!), `${line(set)} is a target of ${name}`);
  }
}

test('Route 53: two installations and hand-made sets — nobody changes what is not theirs; adoption is one batch and fails on a concurrent hand edit', async () => {
  const zone = await startEmulatedZone();
  const sdk = client(zone);
  const dir = tempDir('dnsplane-route53-ownership-');
  // A: svc-a0..2 of its own, over0..2 shared with B, notes (TXT and MX only: free for addresses), and the hand-made
  // hand, alias and pair (not adopted).
  const inventoryA = [
    ...['svc-a0', 'svc-a1', 'svc-a2', 'over0', 'over1', 'over2'].map((label, index) =>
      endpoint(label, [`198.51.100.${index + 1}`, `198.51.100.${index + 101}`])),
    endpoint('notes', ['198.51.100.50']),
    endpoint('hand', ['192.0.2.10']),
    endpoint('alias', ['192.0.2.30']),
    endpoint('pair', ['198.51.100.60']),
  ];
  // B: over0..2 (A's, once A has written them), svc-b0..1, and the hand-made shared and pair (not adopted).
  const inventoryB = [
    ...['over0', 'over1', 'over2', 'svc-b0', 'svc-b1'].map((label, index) =>
      endpoint(label, [`203.0.113.${index + 1}`, `203.0.113.${index + 101}`])),
    endpoint('shared', ['203.0.113.50']),
    endpoint('pair', ['203.0.113.60', '203.0.113.61']),
  ];
  const a = installation(zone, dir.path, 'inst-a', inventoryA);
  // The in-flight hand edit of the adoption case below: armed once, it edits pair between read and batch.
  let editDuringAdoption = false;
  const b = installation(zone, dir.path, 'inst-b', inventoryB, (provider) => ({
    kind: provider.kind,
    read: (names) => provider.read(names),
    list: (after, limit) => provider.list(after, limit),
    readRemovals: (names) => provider.readRemovals(names),
    servedChangeFeed: () => provider.servedChangeFeed(),
    removalCompaction: () => provider.removalCompaction(),
    close: () => provider.close(),
    apply: async (changes) => {
      if (editDuringAdoption && changes.some((change) => change.name === at('pair'))) {
        editDuringAdoption = false;
        await handEdit(sdk, zone, [
          { Action: 'DELETE', ResourceRecordSet: weighted('pair', 'blue', 70, '192.0.2.21') },
          { Action: 'CREATE', ResourceRecordSet: weighted('pair', 'blue', 60, '192.0.2.21') },
        ]);
      }
      return provider.apply(changes);
    },
  }));
  try {
    await handEdit(sdk, zone, handMade.map((set): Change => ({ Action: 'CREATE', ResourceRecordSet: set })));
    const hand = new Set((await listEverySet(sdk, zone)).filter((set) => set.Type !== 'NS' && set.Type !== 'SOA').map(line));
    assert.equal(hand.size, handMade.length, 'the zone holds the hand-made sets');

    // A writes first: over0..2 become A's. Then B, then both again with health churn.
    const driftsA = await a.round();
    const driftsB = await b.round();
    for (let round = 0; round < 4; round += 1) {
      await a.store.setHealth('svc-a0-0', round % 2 === 0 ? 'down' : 'up', 'test');
      await a.store.setHealth('over1-0', round % 2 === 0 ? 'down' : 'up', 'test');
      await b.store.setHealth('over1-0', round % 2 === 0 ? 'up' : 'down', 'test');
      await b.store.setHealth('svc-b0-1', round % 2 === 0 ? 'down' : 'up', 'test');
      await a.round();
      await b.round();
    }

    const owners = new Map([
      ...['svc-a0', 'svc-a1', 'svc-a2', 'over0', 'over1', 'over2', 'notes'].map((label) => [at(label), 'inst-a'] as const),
      ...['svc-b0', 'svc-b1'].map((label) => [at(label), 'inst-b'] as const),
    ]);
    const after = await listEverySet(sdk, zone);
    checkOwnership(after, hand, owners);
    const served = (label: string) => after.filter((set) => set.Name === `${at(label)}.` && set.Type === 'A')
      .map((set) => set.ResourceRecords![0]!.Value).sort();
    for (const label of ['over0', 'over1', 'over2']) {
      assert.ok(served(label).every((address) => address!.startsWith('198.51.100.')), `${label} serves A's addresses`);
    }
    assert.deepEqual(served('svc-b0'), ['203.0.113.104', '203.0.113.4'], 'svc-b0 is back to both after the churn');
    assert.deepEqual(served('notes'), ['198.51.100.50'], 'notes serves A\'s address beside its TXT and MX');

    // Held names: B reads A's names as A's, and both read the hand-made names as unmanaged, with what they hold.
    const readByB = await zone.open({ owner: { owner: 'inst-b', former: [] } }).read([at('over0'), at('pair'), at('alias')]);
    assert.deepEqual(readByB.get(at('over0'))?.held, { kind: 'foreign', owner: 'inst-a' });
    assert.deepEqual(readByB.get(at('pair'))?.held, { kind: 'unmanaged', records: ['A 192.0.2.21', 'A 192.0.2.22'] });
    assert.deepEqual(readByB.get(at('alias'))?.held, { kind: 'unmanaged', records: ['CNAME'] });
    // Alarms: A's enactor left hand, alias and pair (unmanaged); B's left over0..2 (A's), pair and shared.
    assert.deepEqual(await heldAlarms(a), [`unmanaged ${at('alias')}`, `unmanaged ${at('hand')}`, `unmanaged ${at('pair')}`]);
    assert.deepEqual(await heldAlarms(b), [
      `foreign ${at('over0')}`, `foreign ${at('over1')}`, `foreign ${at('over2')}`, `unmanaged ${at('pair')}`,
      `unmanaged ${at('shared')}`,
    ]);
    // The reconcilers report them as what they are, and repair none of them.
    assert.deepEqual(kinds(driftsA), [`unmanaged ${at('alias')}`, `unmanaged ${at('hand')}`, `unmanaged ${at('pair')}`]);
    assert.deepEqual(kinds(driftsB), [
      `foreign ${at('over0')}`, `foreign ${at('over1')}`, `foreign ${at('over2')}`, `unmanaged ${at('pair')}`,
      `unmanaged ${at('shared')}`,
    ]);
    assert.match(driftsB.find((drift) => drift.name === at('over0'))!.detail, /owned by installation "inst-a"/);

    // Adoption: A may take hand over. One change batch, touching hand, its marker and its slot only; the TXT and MX
    // stay; the marker is A's; the alarm clears.
    await a.store.grantAdoption(at('hand'), 'operator@test', 'take the hand-made name over');
    const batches: string[][] = [];
    zone.emulator.onCommit = (committed) => batches.push(committed.names.sort());
    const adopted = await a.round();
    zone.emulator.onCommit = null;
    assert.deepEqual(batches, [[`${at('hand')}.`, `_dnsplane.${at('hand')}.`, `${tombstoneName(at('hand'), zoneName)}.`].sort()],
      'the adoption is one change batch');
    assert.deepEqual(kinds(adopted), [`missing ${at('hand')}`, `unmanaged ${at('alias')}`, `unmanaged ${at('pair')}`].sort());
    const adoptedZone = await listEverySet(sdk, zone);
    const handSets = adoptedZone.filter((set) => set.Name === `${at('hand')}.`).map(line);
    assert.deepEqual(handSets, [
      `${at('hand')}. A hand-0/255 ttl=5 192.0.2.10`, `${at('hand')}. MX ttl=300 10 ${at('mail')}.`,
      `${at('hand')}. TXT ttl=300 "made by hand"`,
    ], 'the plain A became A\'s weighted set; the TXT and MX stay');
    const handMarker = adoptedZone.find((set) => set.Name === `_dnsplane.${at('hand')}.`)!;
    const marker = decodeMarker(txtStrings(handMarker.ResourceRecords![0]!.Value!)!);
    assert.equal(marker?.owner, 'inst-a');
    const history = await a.store.readHistory(at('hand'), 10);
    assert.deepEqual(history.map((entry) => entry.detail), ['missing, adopted (A 192.0.2.10)']);
    assert.equal((await heldAlarms(a)).includes(`unmanaged ${at('hand')}`), false, 'the unmanaged alarm of hand cleared');

    // A hand edit while B adopts pair: blue's weight changes from 70 to 60 between B's read and its batch. The
    // records B read (their addresses) are the same, but the batch DELETEs blue exactly as read: it fails, pair keeps
    // the hand edit and gets no marker, and the failure is reported.
    await b.store.grantAdoption(at('pair'), 'operator@test', 'take pair over');
    const [committed, refused] = [zone.emulator.stats.committed, zone.emulator.stats.invalidChangeBatches.length];
    editDuringAdoption = true;
    const raced = await b.round();
    assert.equal(editDuringAdoption, false, 'the edit was made during the adoption');
    assert.equal(zone.emulator.stats.committed - committed, 1, 'the hand edit was the only batch committed');
    const refusals = zone.emulator.stats.invalidChangeBatches.slice(refused).flat().join(' ');
    assert.match(refusals, /Tried to delete resource record set \[name='pair\.dnsplane\.test\.', type='A', set-identifier='blue'\] but the values provided do not match/);
    const racedDrift = raced.find((drift) => drift.name === at('pair'));
    assert.equal(racedDrift?.kind, 'unmanaged');
    assert.match(racedDrift!.detail, /adoption failed: its records \(A 192\.0\.2\.21, A 192\.0\.2\.22\) changed while it was adopted/);
    const racedZone = await listEverySet(sdk, zone);
    assert.deepEqual(racedZone.filter((set) => set.Name === `${at('pair')}.`).map(line), [
      `${at('pair')}. A blue/60 ttl=60 192.0.2.21`, `${at('pair')}. A green/30 ttl=60 192.0.2.22`,
    ], 'the hand edit is in place');
    const pairOwners = [`_dnsplane.${at('pair')}.`, `${tombstoneName(at('pair'), zoneName)}.`];
    assert.equal(racedZone.some((set) => pairOwners.includes(set.Name!)), false, 'no marker, no claim');
  } finally {
    sdk.destroy();
    await zone.stop();
    await a.store.close();
    await b.store.close();
    dir.cleanup();
  }
});
