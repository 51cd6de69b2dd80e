// Goal: issue 13's ownership and adoption on real Knot DNS and BIND 9. A zone holds hand-made records (A, AAAA, TXT,
// MX at one name, a CNAME, an address-only name), and two dnsplane installations with different owner ids manage
// overlapping names of it. Whatever they run — planners, enactors, reconcilers and janitors of both, health churn —
// no installation ever changes a record it does not own or a type it does not manage: every record is checked by a
// zone transfer after the run. A name another installation owns, or that holds records no marker claims, is left
// alone with an alarm, and the reconciler reports it (never repairs it). `adopt` (a grant in the store) takes one
// unmanaged name over in one UPDATE (the zone's serial moves by one) that keeps its other types; a hand edit made
// while an adoption is in flight makes it fail, and the hand edit stays.
// Method: the real roles in-process, each installation with its own SQLite store and RFC 2136 provider (its owner
// id), on one server per kind started by the test; hand edits with the server's own update tool; the zone read back
// by a signed AXFR through the provider's transfer code. The in-flight edit is injected by wrapping the second
// installation's provider: the edit happens after the adoption's read and before its UPDATE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Reconciler } from '../../../src/enactor/reconciler.js';
import { Janitor } from '../../../src/enactor/janitor.js';
import { Rfc2136Provider } from '../../../src/providers/rfc2136/provider.js';
import { readZone } from '../../../src/providers/rfc2136/transfer.js';
import { decodeMarker } from '../../../src/providers/marker.js';
import { SqliteStore } from '../../../src/store/sqlite/store.js';
import type { EndpointSpec } from '../../../src/domain/types.js';
import type { Provider } from '../../../src/providers/types.js';
import { silentLogger } from '../../../src/util/log.js';
import { seededRng, systemClock } from '../../../src/util/clock.js';
import { makeEnactor, makePlanner } from '../../helpers/fixtures.js';
import { dnsServerNames, startDnsServer, type DnsServer, type DnsServerKind } from '../../helpers/dns-servers.js';
import { tempDir } from '../../helpers/env.js';

const zone = 'dnsplane.test';
const at = (label: string) => `${label}.${zone}`;

/** The hand-made part of the zone, in zone-file form: what no installation may change (other than by adoption). */
const handMade = [
  `${at('hand')}. 300 IN A 192.0.2.10`,
  `${at('hand')}. 300 IN AAAA 2001:db8::10`,
  `${at('hand')}. 300 IN TXT "made by hand"`,
  `${at('hand')}. 300 IN MX 10 mail.${zone}.`,
  `${at('alias')}. 300 IN CNAME ${at('hand')}.`,
  `${at('shared')}. 300 IN A 192.0.2.20`,
  `${at('mail')}. 300 IN A 192.0.2.25`,
];

function endpoint(label: string, addresses: readonly string[]): EndpointSpec {
  return {
    name: at(label),
    targets: addresses.map((address, index) => ({ id: `${label}-${index}`, address, az: `az${index}`, capacity: 100 })),
  };
}

interface InstallationUnderTest {
  owner: string;
  store: SqliteStore;
  provider: Provider;
  inventory: EndpointSpec[];
  /** One round of every role: planner, enactor, reconciler, janitor; returns the reconciler's drifts. */
  round(): Promise<{ name: string; kind: string; detail: string }[]>;
  close(): Promise<void>;
}

function installation(
  server: DnsServer, dir: string, owner: string, inventory: EndpointSpec[], wrap: (p: Provider) => Provider = (p) => p,
): InstallationUnderTest {
  const store = new SqliteStore(join(dir, `${owner}.db`));
  const raw = new Rfc2136Provider({
    server: server.server, zone, timeoutMs: 5000, tsig: server.key, ttl: 5, maxAnswers: 8,
    owner: { owner, former: [] },
  });
  const provider = wrap(raw);
  // The planner reads `installation.inventory`: a test replaces it (a new array) as a new inventory version would.
  let installation: InstallationUnderTest | undefined;
  const planner = makePlanner(`planner-${owner}`, store, () => installation!.inventory);
  const enactor = makeEnactor(`enactor-${owner}`, store, provider);
  const reconciler = new Reconciler(
    { id: `reconciler-${owner}`, intervalMs: 1000, maxLagMs: 0, pageSize: 50, retriesMax: 5, backoffBaseMs: 1, backoffMaxMs: 20 },
    { store, provider, clock: systemClock, rng: seededRng(7), log: silentLogger },
  );
  const janitor = new Janitor(
    { intervalMs: 1000, retainGenerations: 2, batchVersionsMax: 1000 },
    { store, provider, clock: systemClock, log: silentLogger },
  );
  installation = {
    owner, store, provider, inventory,
    async round() {
      const planned = await planner.tick();
      assert.ok(['published', 'unchanged'].includes(planned.kind), `${owner}'s planner: ${JSON.stringify(planned)}`);
      while ((await enactor.step()) !== null) { /* every plan published so far */ }
      const pass = await reconciler.tick();
      await janitor.tick();
      return pass.drifts.map(({ name, kind, detail }) => ({ name, kind, detail }));
    },
    async close() {
      await raw.close();
      await store.close();
    },
  };
  return installation;
}

/** Every record of the zone by signed AXFR, as "name TYPE data" lines (TXT strings joined), sorted; SOA left out. */
async function zoneLines(server: DnsServer): Promise<string[]> {
  const records = await readZone({
    server: server.server, zone, timeoutMs: 5000,
    key: { name: server.key.name, algorithm: server.key.algorithm, secret: Buffer.from(server.key.secret, 'base64') },
  });
  const lines = records.filter((record) => record.type !== 'SOA').map((record) => {
    const data = record.type === 'TXT'
      ? (record.data as Buffer[]).map(String).join(' ')
      : record.type === 'MX'
        ? `${(record.data as { preference: number; exchange: string }).preference} ${(record.data as { exchange: string }).exchange}`
        : String(record.data);
    return `${record.name.toLowerCase()} ${record.type} ${data}`;
  });
  return [...new Set(lines)].sort();
}

async function soaSerial(server: DnsServer): Promise<number> {
  const result = await server.dig(['+short', zone, 'SOA']);
  const serial = Number(result.stdout.trim().split(/\s+/)[2]);
  assert.ok(Number.isInteger(serial), `SOA answer: ${result.stdout}`);
  return serial;
}

/** The owner id and addresses a managed name serves, read from the zone lines. */
function managed(lines: readonly string[], label: string): { owner: string | undefined; addresses: string[] } {
  const markerLine = lines.find((line) => line.startsWith(`_dnsplane.${at(label)} TXT `));
  assert.ok(markerLine !== undefined, `${at(label)} has a marker`);
  const strings = markerLine.slice(`_dnsplane.${at(label)} TXT `.length).split(' ').map((text) => Buffer.from(text));
  const marker = decodeMarker(strings);
  assert.ok(marker !== null, `${at(label)}'s marker parses: ${markerLine}`);
  const addresses = lines.filter((line) => line.startsWith(`${at(label)} A `) || line.startsWith(`${at(label)} AAAA `))
    .map((line) => line.split(' ')[2]!).sort();
  return { owner: marker.owner, addresses };
}

async function editByHand(server: DnsServer, commands: readonly string[]): Promise<void> {
  const result = await server.nsupdate([`zone ${zone}`, ...commands]);
  assert.equal(result.code, 0, `hand edit failed: ${result.stderr}${result.stdout}`);
}

async function ownershipOn(kind: DnsServerKind): Promise<void> {
  const server = await startDnsServer(kind, { zoneRecords: handMade });
  const dir = tempDir('dnsplane-ownership-');
  // A: svc-a0..2 of its own, over0..2 shared with B, and the hand-made names hand and alias (not adopted).
  const inventoryA = [
    ...['svc-a0', 'svc-a1', 'svc-a2', 'over0', 'over1', 'over2'].map((label, index) =>
      endpoint(label, [`198.51.100.${index + 1}`, `198.51.100.${index + 101}`])),
    endpoint('hand', ['192.0.2.10', '2001:db8::10']),
    endpoint('alias', ['192.0.2.30']),
  ];
  // B: over0..2 (A's, once A has written them), svc-b0..1, and the hand-made shared (not adopted).
  const inventoryB = [
    ...['over0', 'over1', 'over2', 'svc-b0', 'svc-b1'].map((label, index) =>
      endpoint(label, [`203.0.113.${index + 1}`, `203.0.113.${index + 101}`])),
    endpoint('shared', ['203.0.113.50']),
  ];
  const a = installation(server, dir.path, 'inst-a', inventoryA);
  // The in-flight hand edit of the adoption case below: armed once, it edits shared between read and UPDATE.
  let editDuringAdoption = false;
  const b = installation(server, dir.path, 'inst-b', inventoryB, (provider) => ({
    kind: provider.kind,
    read: (names) => provider.read(names),
    list: (after, limit) => provider.list(after, limit),
    readRemovals: (names) => provider.readRemovals(names),
    servedChangeFeed: () => provider.servedChangeFeed(),
    removalCompaction: () => provider.removalCompaction(),
    close: () => provider.close(),
    apply: async (changes) => {
      if (editDuringAdoption && changes.some((change) => change.name === at('shared'))) {
        editDuringAdoption = false;
        await editByHand(server, [`update add ${at('shared')} 300 A 192.0.2.21`]);
      }
      return provider.apply(changes);
    },
  }));
  try {
    const before = await zoneLines(server);
    const handLines = before.filter((line) => /^(hand|alias|shared|mail)\./.test(line));
    assert.equal(handLines.length, handMade.length, `the zone holds the hand-made records: ${handLines.join('; ')}`);

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

    const after = await zoneLines(server);
    // No installation changed a record it does not own, nor a type it does not manage.
    assert.deepEqual(after.filter((line) => /^(hand|alias|shared|mail)\./.test(line)), handLines,
      'the hand-made records are exactly as they were');
    assert.equal(after.some((line) => /^_dnsplane\.(hand|alias|shared|mail)\./.test(line)), false,
      'no marker at a hand-made name');
    for (const label of ['svc-a0', 'svc-a1', 'svc-a2', 'over0', 'over1', 'over2']) {
      assert.equal(managed(after, label).owner, 'inst-a', `${label} is A's`);
    }
    for (const label of ['over0', 'over1', 'over2']) {
      assert.ok(managed(after, label).addresses.every((address) => address.startsWith('198.51.100.')),
        `${label} serves A's addresses only: ${managed(after, label).addresses}`);
    }
    for (const label of ['svc-b0', 'svc-b1']) assert.equal(managed(after, label).owner, 'inst-b', `${label} is B's`);
    assert.deepEqual(managed(after, 'svc-b0').addresses, ['203.0.113.4', '203.0.113.104'].sort(),
      'svc-b0 is back to both addresses after the churn');

    // Alarms: A's enactor left hand and alias (unmanaged); B's left over0..2 (A's) and shared (unmanaged).
    const alarmsOf = async (installation: InstallationUnderTest) => (await installation.store.listAlarms(true))
      .filter((alarm) => alarm.kind === 'unmanaged' || alarm.kind === 'foreign')
      .map((alarm) => `${alarm.kind} ${alarm.name}`).sort();
    assert.deepEqual(await alarmsOf(a), [`unmanaged ${at('alias')}`, `unmanaged ${at('hand')}`]);
    assert.deepEqual(await alarmsOf(b), [
      `foreign ${at('over0')}`, `foreign ${at('over1')}`, `foreign ${at('over2')}`, `unmanaged ${at('shared')}`,
    ]);
    const handAlarm = (await a.store.listAlarms(true)).find((alarm) => alarm.name === at('hand'))!;
    assert.match(handAlarm.message, /A 192\.0\.2\.10, AAAA 2001:db8::10/);
    assert.match(handAlarm.message, /dnsplane adopt hand\.dnsplane\.test --reason/);
    // The reconcilers report them as what they are, on every pass, and repair none of them.
    const kinds = (drifts: { name: string; kind: string }[]) => drifts.map((drift) => `${drift.kind} ${drift.name}`).sort();
    assert.deepEqual(kinds(driftsA), [`unmanaged ${at('alias')}`, `unmanaged ${at('hand')}`]);
    assert.deepEqual(kinds(driftsB), [
      `foreign ${at('over0')}`, `foreign ${at('over1')}`, `foreign ${at('over2')}`, `unmanaged ${at('shared')}`,
    ]);
    assert.match(driftsB.find((drift) => drift.name === at('over0'))!.detail, /owned by installation "inst-a"/);

    // Adoption: A is allowed to take hand over. One UPDATE: the serial moves by one; the addresses were the plan's
    // already, so the answer never changes; the TXT and MX stay; the marker is A's; the alarm clears.
    await a.store.grantAdoption(at('hand'), 'operator@test', 'take the hand-made name over');
    const serialBefore = await soaSerial(server);
    const adopted = await a.round();
    assert.equal(await soaSerial(server), serialBefore + 1, 'the adoption is one update');
    assert.deepEqual(kinds(adopted), [`missing ${at('hand')}`, `unmanaged ${at('alias')}`].sort(),
      'hand was adopted by the repair of a name missing from what A serves; alias is still not A\'s');
    const adoptedZone = await zoneLines(server);
    assert.equal(managed(adoptedZone, 'hand').owner, 'inst-a');
    assert.deepEqual(managed(adoptedZone, 'hand').addresses, ['192.0.2.10', '2001:db8::10']);
    assert.ok(adoptedZone.includes(`${at('hand')} TXT made by hand`), 'the TXT stays');
    assert.ok(adoptedZone.includes(`${at('hand')} MX 10 mail.${zone}`), 'the MX stays');
    const history = await a.store.readHistory(at('hand'), 10);
    assert.deepEqual(history.map((entry) => entry.detail), ['missing, adopted (A 192.0.2.10, AAAA 2001:db8::10)']);
    assert.equal((await a.store.listAlarms(true)).some((alarm) => alarm.name === at('hand') && alarm.kind === 'unmanaged'),
      false, 'the unmanaged alarm of hand cleared');

    // A hand edit while B adopts shared: the adoption's UPDATE requires shared's A to be exactly 192.0.2.20, which
    // the edit changed; it fails, shared keeps both addresses and no marker, and the failure is reported.
    await b.store.grantAdoption(at('shared'), 'operator@test', 'take shared over');
    editDuringAdoption = true;
    const raced = await b.round();
    assert.equal(editDuringAdoption, false, 'the edit was made during the adoption');
    const racedDrift = raced.find((drift) => drift.name === at('shared'));
    assert.equal(racedDrift?.kind, 'unmanaged');
    assert.match(racedDrift!.detail, /adoption failed: its records \(A 192\.0\.2\.20\) changed while it was adopted/);
    const racedZone = await zoneLines(server);
    assert.deepEqual(racedZone.filter((line) => line.startsWith(`${at('shared')} `)),
      [`${at('shared')} A 192.0.2.20`, `${at('shared')} A 192.0.2.21`], 'the hand edit is in place');
    assert.equal(racedZone.some((line) => line.startsWith(`_dnsplane.${at('shared')} `)), false, 'no marker');

    // A gives over0 up: its removal's tombstone is A's, which leaves the name free for B. B's reconciler writes it
    // (over the exact tombstone), and the "foreign" alarm B's enactor raised for it is cleared.
    a.inventory = a.inventory.filter((spec) => spec.name !== at('over0'));
    await a.round();
    const freed = await zoneLines(server);
    assert.equal(freed.some((line) => line.startsWith(`${at('over0')} `)), false, 'A removed over0');
    assert.ok(freed.some((line) => line.startsWith(`over0._removed._dnsplane.${zone} TXT removed=`)), 'A\'s tombstone');
    const taken = await b.round();
    assert.deepEqual(taken.filter((drift) => drift.name === at('over0')).map((drift) => drift.kind), ['missing']);
    const takenZone = await zoneLines(server);
    assert.equal(managed(takenZone, 'over0').owner, 'inst-b', 'over0 is B\'s now');
    assert.ok(managed(takenZone, 'over0').addresses.every((address) => address.startsWith('203.0.113.')));
    assert.equal(takenZone.some((line) => line.startsWith(`over0._removed._dnsplane.${zone} `)), false,
      'B\'s first write replaced A\'s tombstone');
    assert.deepEqual(await alarmsOf(b), [`foreign ${at('over1')}`, `foreign ${at('over2')}`],
      'the foreign alarm of over0 cleared; shared, still granted, was adopted with its hand edit on this pass');
  } finally {
    await a.close();
    await b.close();
    dir.cleanup();
    await server.stop();
  }
}

for (const kind of ['knot', 'bind'] as const) {
  test(`${dnsServerNames[kind]}: two installations and hand-made records — nobody changes what is not theirs; adoption is one update and fails on a concurrent hand edit`, async () => {
    await ownershipOn(kind);
  });
}
