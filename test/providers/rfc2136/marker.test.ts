// Goal: the pure parts of the RFC 2136 provider — the `_dnsplane` marker, the
// mapping of weighted sets to plain A/AAAA records, how a read reports a
// hand edit, and the UPDATE encoding and packing — are right on their own.
// Method: round trips and edge cases with no server; UPDATE messages are
// read back by a small RFC 1035 reader in this file, apart from the encoder,
// to show the compressed encoding holds exactly the records prepared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordEntry } from '../../../src/domain/types.js';
import { decodeMarker, decodeTombstone, encodeMarker, encodeTombstone, inTombstoneSubtree, interpret, newVersion, servedSubset, tombstoneName, unmanagedTarget } from '../../../src/providers/marker.js';
import { packWrites, prepareWrite } from '../../../src/providers/rfc2136/update.js';
import { encodeUpdate, updateOverheadBytes } from '../../../src/providers/rfc2136/wire.js';

function entries(count: number, weight = (index: number) => 1 + (index % 7)): RecordEntry[] {
  return Array.from({ length: count }, (_, index) => ({ target: `lb-${index}`, address: `10.0.${index >> 8}.${index & 255}`, weight: weight(index) }))
    .sort((a, b) => (a.address < b.address ? -1 : 1));
}

test('a marker round-trips a large set in TXT strings of at most 255 bytes', () => {
  const records = entries(40);
  const version = newVersion();
  const strings = encodeMarker({ generation: 1234, version, records });
  assert.ok(strings.length > 3, 'the set needs several strings');
  assert.ok(strings.every((string) => string.length <= 255));
  assert.deepEqual(decodeMarker(strings), { generation: 1234, version, records });
  assert.notEqual(newVersion(), newVersion(), 'every write gets a fresh version');
});

test('a marker that is not dnsplane\'s, or is damaged, does not parse', () => {
  const good = encodeMarker({ generation: 5, version: 'abc', records: entries(2) });
  const damaged = [
    [Buffer.from('v=spf1 -all')],
    [good[1]!, good[0]!, good[2]!],
    [good[0]!, good[1]!],
    [good[0]!, good[1]!, Buffer.from('records=10.0.0.1/300/lb-0')],
    [good[0]!, good[1]!, Buffer.from('records=not-an-address/5/lb-0')],
    [Buffer.from('generation=0'), good[1]!, good[2]!],
  ];
  for (const strings of damaged) assert.equal(decodeMarker(strings), null, strings.map(String).join(' '));
});

test('a tombstone round-trips, is not a marker, and a marker is not a tombstone', () => {
  const version = newVersion();
  const strings = encodeTombstone({ generation: 42, version });
  assert.deepEqual(decodeTombstone(strings), { generation: 42, version });
  assert.equal(decodeMarker(strings), null, 'a tombstone never reads as served records');
  assert.equal(decodeTombstone(encodeMarker({ generation: 42, version, records: entries(2) })), null);
  for (const bad of [['removed=0', `version=${version}`], ['removed=x', `version=${version}`], ['removed=1'], ['removed=1', 'version=no spaces'], ['removed=1', `version=${version}`, 'extra']]) {
    assert.equal(decodeTombstone(bad.map((text) => Buffer.from(text))), null, bad.join(' '));
  }
  const removal = prepareWrite(
    { name: 'gone.example', records: null, generation: 42, expectedVersion: 'v' },
    { version: 'v', generation: 40, rdatas: [Buffer.from('x')] },
    { zone: 'example', ttl: 5, maxAnswers: 8, owner: 'dp-test' }, false,
  );
  assert.equal(removal.written.removed, true);
  // The tombstone goes under the zone's reserved subtree, not at _dnsplane.<name>: the removed name is NXDOMAIN.
  const added = removal.updates.filter((record) => record.klass === 1);
  assert.deepEqual(added.map((record) => [record.owner, record.type]), [['gone._removed._dnsplane.example', 16]]);
  assert.deepEqual(removal.written.tombstone, [added[0]!.rdata]);
  assert.equal(removal.written.generation, 42, 'a removal writes the tombstone of its own generation');
});

test('a write to a name read with a CNAME adds no address and requires the CNAME; any other write adds them and requires none', () => {
  const change = { name: 'alias.example', records: entries(3), generation: 2, expectedVersion: null };
  const [plain, aliased] = [false, true].map((alias) => prepareWrite(change, null, { zone: 'example', ttl: 5, maxAnswers: 8, owner: 'dp-test' }, alias));
  const adds = (write: typeof plain) => write!.updates.filter((record) => record.klass === 1 && record.type === 1);
  assert.equal(adds(plain).length, 3, 'three A records added');
  assert.deepEqual(adds(aliased), [], 'no address beside the CNAME (RFC 2136 §3.4.2.2: ignored; PowerDNS: REFUSED)');
  const markers = aliased!.updates.filter((record) => record.type === 16 && record.klass === 1);
  assert.equal(markers.length, 1, 'the marker is still written');
  const cname = aliased!.prerequisites.find((record) => record.type === 5);
  const required = cname && [cname.owner, cname.klass, cname.ttl, cname.rdata.length];
  assert.deepEqual(required, ['alias.example', 255, 0, 2], 'CNAME RRset exists (class ANY, TTL 0, empty RDATA)');
  // A first write where no CNAME was read requires that none has been made since (RRset does not exist: class NONE).
  const absent = plain!.prerequisites.filter((record) => record.type === 5).map((record) => [record.owner, record.klass]);
  assert.deepEqual(absent, [['alias.example', 254]]);
});

test('weights map to the positive-weight addresses, the maxAnswers heaviest, ties by address', () => {
  const records: RecordEntry[] = [
    { target: 'a', address: '10.0.0.1', weight: 10 },
    { target: 'b', address: '10.0.0.2', weight: 0 },
    { target: 'c', address: '10.0.0.3', weight: 50 },
    { target: 'd', address: '10.0.0.4', weight: 10 },
    { target: 'e', address: '2001:db8::1', weight: 30 },
  ];
  assert.deepEqual(servedSubset(records, 8).map((r) => r.target), ['a', 'c', 'd', 'e'], 'weight 0 (drained) is never written');
  assert.deepEqual(servedSubset(records, 3).map((r) => r.target), ['a', 'c', 'e'], 'top 3 by weight; of the two 10s the lower address');
  assert.deepEqual(servedSubset(records, 1).map((r) => r.target), ['c']);
});

test('a read reports the applied set when DNS matches the marker, and the real addresses when it was edited', () => {
  const records: RecordEntry[] = [
    { target: 'a', address: '10.0.0.1', weight: 10 },
    { target: 'b', address: '10.0.0.2', weight: 20 },
    { target: 'c', address: '2001:DB8:0::5', weight: 5 },
  ];
  const marker = { generation: 7, version: 'v7', records };
  const clean = interpret('x.dnsplane.test', marker, 'v7', ['2001:db8::5', '10.0.0.2', '10.0.0.1'], 8);
  assert.ok(clean.consistent, 'IPv6 text forms compare canonically');
  assert.deepEqual(clean.state, { name: 'x.dnsplane.test', generation: 7, version: 'v7', records });
  const capped = interpret('x.dnsplane.test', marker, 'v7', ['10.0.0.2'], 1);
  assert.ok(capped.consistent, 'with maxAnswers 1 only the heaviest is served, and that is consistent');
  assert.deepEqual(capped.state.records, records, 'the read still returns the whole applied set');
  const edited = interpret('x.dnsplane.test', marker, 'v7', ['10.0.0.1', '192.0.2.9'], 8);
  assert.equal(edited.consistent, false);
  assert.deepEqual(edited.state.records, [
    { target: 'a', address: '10.0.0.1', weight: 10 },
    { target: unmanagedTarget, address: '192.0.2.9', weight: 0 },
  ]);
  const emptied = interpret('x.dnsplane.test', marker, 'v7', [], 8);
  assert.deepEqual(emptied.state.records, [], 'an emptied name reads as empty: the reconciler repairs it');
  const garbled = interpret('x.dnsplane.test', null, 'unparsed-x', ['10.0.0.1'], 8);
  assert.equal(garbled.state.generation, 0, 'an unparseable marker claims no generation, so any plan may overwrite it');
});

/**
 * Reads every record of a message back, following compression pointers and
 * honouring RDLENGTH — written here from RFC 1035 §4.1, apart from the
 * encoder. (`dns-packet` cannot decode UPDATE messages: it reads 4 bytes of
 * an A record whatever its RDLENGTH, and a deletion has none.)
 */
function readRecords(message: Buffer): { owner: string; type: number; klass: number; ttl: number; rdata: Buffer }[] {
  const readName = (start: number): { name: string; end: number } => {
    const labels: string[] = [];
    let at = start;
    let end = -1;
    for (let hops = 0; hops < 64; hops += 1) {
      const length = message[at]!;
      if (length === 0) return { name: labels.join('.'), end: end < 0 ? at + 1 : end };
      if (length >= 0xc0) {
        if (end < 0) end = at + 2;
        const target = message.readUInt16BE(at) & 0x3fff;
        assert.ok(target < at, 'pointers point backwards');
        at = target;
        continue;
      }
      labels.push(message.toString('ascii', at + 1, at + 1 + length));
      at += 1 + length;
    }
    throw new Error('name loop');
  };
  const counts = [4, 6, 8, 10].map((offset) => message.readUInt16BE(offset));
  let at = readName(12).end + 4;
  const records = [];
  for (let index = 0; index < counts[1]! + counts[2]! + counts[3]!; index += 1) {
    const owner = readName(at);
    at = owner.end;
    const length = message.readUInt16BE(at + 8);
    records.push({ owner: owner.name, type: message.readUInt16BE(at), klass: message.readUInt16BE(at + 2), ttl: message.readUInt32BE(at + 4), rdata: message.subarray(at + 8, at + 10 + length) });
    at += 10 + length;
  }
  assert.equal(at, message.length, 'the records end exactly at the end of the message');
  return records;
}

test('UPDATE messages for many names compress, read back exactly, and pack within the byte and name limits', () => {
  const writes = Array.from({ length: 300 }, (_, index) => prepareWrite(
    { name: `svc${index}.dnsplane.test`, records: entries(8), generation: 3, expectedVersion: index % 2 === 0 ? null : 'v1' },
    index % 2 === 0 ? null : { version: 'v1', generation: 2, rdatas: [Buffer.from([0, 3, 2, 104, 105])] },
    { zone: 'dnsplane.test', ttl: 5, maxAnswers: 8, owner: 'dp-test' },
    false,
  ));
  const bytesMax = 16_000;
  const groups = packWrites(writes, 100, bytesMax - updateOverheadBytes('dnsplane.test'));
  assert.ok(groups.length > 1 && groups.every((group) => group.length <= 100));
  assert.equal(groups.flat().length, 300, 'every write is in exactly one message');
  for (const group of groups) {
    const expected = [...group.flatMap((write) => write.prerequisites), ...group.flatMap((write) => write.updates)];
    const message = encodeUpdate({ id: 1, zone: 'dnsplane.test', prerequisites: group.flatMap((w) => w.prerequisites), updates: group.flatMap((w) => w.updates) }, bytesMax);
    const uncompressed = group.reduce((sum, write) => sum + write.bytesMax, 0);
    assert.ok(message.length < uncompressed * 0.75, `compression works (${message.length} of ${uncompressed} bytes)`);
    const read = readRecords(message);
    const sortKey = (record: { owner: string; type: number; klass: number }) => `${record.owner} ${record.type} ${record.klass}`;
    assert.equal(read.length, expected.length);
    const prerequisites = group.reduce((sum, write) => sum + write.prerequisites.length, 0);
    assert.equal(message.readUInt16BE(6), prerequisites, 'PRCOUNT');
    read.forEach((record, index) => {
      const want = expected[index]!;
      assert.equal(sortKey(record), sortKey(want));
      assert.equal(record.ttl, want.ttl);
      assert.deepEqual(record.rdata, want.rdata);
    });
  }
});

test('a tombstone lives under the zone\'s reserved subtree, at the name\'s labels, or a digest label past 253 characters', () => {
  assert.equal(tombstoneName('svc0.dnsplane.test', 'dnsplane.test'), 'svc0._removed._dnsplane.dnsplane.test');
  assert.equal(tombstoneName('a.b.example.org', 'example.org'), 'a.b._removed._dnsplane.example.org');
  assert.equal(tombstoneName('example.org', 'example.org'), '_removed._dnsplane.example.org', 'the apex');
  const label = 'x'.repeat(60);
  const long = `${label}.${label}.${label}.${label.slice(0, 40)}.example.org`;
  assert.ok(long.length <= 253, 'a valid name');
  const digested = tombstoneName(long, 'example.org');
  assert.match(digested, /^_sha256-[a-z2-7]{26}\._removed\._dnsplane\.example\.org$/);
  assert.equal(tombstoneName(long, 'example.org'), digested, 'the same name, the same owner');
  assert.notEqual(tombstoneName(`y${long.slice(1)}`, 'example.org'), digested);
  for (const owner of ['svc0._removed._dnsplane.dnsplane.test', '_removed._dnsplane.dnsplane.test']) {
    assert.equal(inTombstoneSubtree(owner, 'dnsplane.test'), true, owner);
  }
  for (const owner of ['svc0.dnsplane.test', '_dnsplane.svc0.dnsplane.test', 'x_removed._dnsplane.dnsplane.test']) {
    assert.equal(inTombstoneSubtree(owner, 'dnsplane.test'), false, owner);
  }
});
