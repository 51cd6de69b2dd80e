// Goal: a bulk read (RFC 2136 provider, `bulkReadNamesMin` names or more, answered from one signed zone transfer
// and then incremental ones) returns exactly what signed queries per name return — managed names, removal tombstones,
// a name behind a CNAME, hand-edited names whose addresses disagree with their marker, a foreign marker of two
// records, unmanaged and absent names — on Knot DNS, BIND 9 and PowerDNS, before and after the zone changes; and
// that a transfer forged, unsigned or altered on the way is refused, never read.
// Method: each server runs as a child process (test/helpers/dns-servers.ts); the bulk reader talks to it through a
// loopback proxy (stand-in.ts) that records which transfers were asked (AXFR, IXFR) and how each answer opened, and
// can alter the answers; the per-name reference is a fresh provider reading in batches below the threshold. Changes
// are made by another provider and by hand with knsupdate/nsupdate.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bulkReadNamesMin, Rfc2136Provider } from '../../../src/providers/rfc2136/provider.js';
import { readTsig } from '../../../src/providers/rfc2136/tsig.js';
import { lastAdditionalOffset } from '../../../src/providers/rfc2136/wire.js';
import type { RecordEntry } from '../../../src/domain/types.js';
import type { ServedState } from '../../../src/providers/types.js';
import { dnsServerKinds, dnsServerNames, startDnsServer, testOwner, type DnsServer } from '../../helpers/dns-servers.js';
import { proxy, refused, type Proxy } from './stand-in.js';

function providerFor(server: DnsServer, address = server.server): Rfc2136Provider {
  return new Rfc2136Provider({ server: address, zone: server.zone, timeoutMs: 5000, tsig: server.key, ttl: 5, maxAnswers: 8, owner: testOwner });
}

function set(...addresses: string[]): RecordEntry[] {
  return addresses.map((address, index) => ({ target: `lb-${index}`, address, weight: 10 + index })).sort((a, b) => (a.address < b.address ? -1 : 1));
}

/** What signed queries per name say of `names`: a fresh provider, batches below the bulk threshold. */
async function perName(server: DnsServer): Promise<{ read(names: readonly string[]): Promise<Map<string, ServedState>>; removals(names: readonly string[]): Promise<Map<string, number>> }> {
  const batches = (names: readonly string[]) => Array.from({ length: Math.ceil(names.length / (bulkReadNamesMin - 1)) }, (_, index) => names.slice(index * (bulkReadNamesMin - 1), (index + 1) * (bulkReadNamesMin - 1)));
  return {
    async read(names) {
      const provider = providerFor(server);
      try {
        const states = new Map<string, ServedState>();
        for (const batch of batches(names)) for (const [name, state] of await provider.read(batch)) states.set(name, state);
        return states;
      } finally {
        await provider.close();
      }
    },
    async removals(names) {
      const provider = providerFor(server);
      try {
        const removals = new Map<string, number>();
        for (const batch of batches(names)) for (const [name, generation] of await provider.readRemovals(batch)) removals.set(name, generation);
        return removals;
      } finally {
        await provider.close();
      }
    },
  };
}

async function editByHand(server: DnsServer, commands: string[]): Promise<void> {
  const result = await server.nsupdate([`zone ${server.zone}`, ...commands]);
  assert.equal(result.code, 0, `${result.stderr}${result.stdout}`);
}

async function applied(provider: Rfc2136Provider, changes: Parameters<Rfc2136Provider['apply']>[0]): Promise<void> {
  const outcomes = await provider.apply(changes);
  assert.deepEqual(outcomes.map((outcome) => outcome.outcome), changes.map(() => 'applied'));
}

/** The last record of a transfer message before its TSIG record, one bit flipped: an answer altered on the way. */
function flipLastRecordByte(message: Buffer): Buffer {
  const altered = Buffer.from(message);
  const offset = readTsig(message) === null ? message.length : lastAdditionalOffset(message)!;
  altered[offset - 1] = altered[offset - 1]! ^ 0x01;
  return altered;
}

/** A transfer message without its TSIG record: an answer whose signature was stripped on the way. */
function stripTsig(message: Buffer): Buffer {
  if (readTsig(message) === null) return message;
  const stripped = Buffer.from(message.subarray(0, lastAdditionalOffset(message)!));
  stripped.writeUInt16BE(stripped.readUInt16BE(10) - 1, 10);
  return stripped;
}

const managed = Array.from({ length: 70 }, (_, index) => `m${String(index).padStart(2, '0')}.dnsplane.test`);
const [aliased, foreign, unmanaged] = ['cname', 'foreign', 'unmanaged'].map((label) => `${label}.dnsplane.test`);
const absent = ['absent0.dnsplane.test', 'absent1.dnsplane.test'];
const names = [...managed, aliased!, foreign!, unmanaged!, ...absent];

for (const kind of dnsServerKinds) {
  describe(`bulk reads on ${dnsServerNames[kind]}`, () => {
    let server: DnsServer;
    let via: Proxy;
    let writer: Rfc2136Provider;
    let reference: Awaited<ReturnType<typeof perName>>;
    before(async () => {
      server = await startDnsServer(kind);
      via = await proxy(server.server);
      writer = providerFor(server);
      reference = await perName(server);
      await applied(writer, managed.map((name, index) => ({ name, records: index % 7 === 0 ? set(`127.1.0.${index}`, `::${index + 1}`) : set(`127.1.0.${index}`, `127.1.1.${index}`), generation: 1, expectedVersion: null })));
      // A removal's tombstone; hand edits (an address added, every address deleted); a CNAME dnsplane writes beside;
      // a foreign marker of two TXT records; a name with addresses and no marker.
      const removedState = (await writer.read([managed[60]!])).get(managed[60]!)!;
      await applied(writer, [{ name: managed[60]!, records: null, generation: 2, expectedVersion: removedState.version }]);
      await editByHand(server, [`update add ${managed[61]} 5 A 192.0.2.99`, `update delete ${managed[62]} A`]);
      await editByHand(server, [`update add ${aliased} 5 CNAME elsewhere.example.`]);
      // A hand-made CNAME is unmanaged: adopted, by a write that expects the version read.
      const alias = (await writer.read([aliased!])).get(aliased!)!;
      assert.deepEqual(alias.held, { kind: 'unmanaged', records: ['CNAME'] });
      await applied(writer, [{ name: aliased!, records: set('127.1.2.1'), generation: 1, expectedVersion: alias.version }]);
      await editByHand(server, [`update add _dnsplane.${foreign} 5 TXT "zzz" "second"`, `update add _dnsplane.${foreign} 5 TXT "aaa"`, `update add ${foreign} 5 A 192.0.2.7`]);
      await editByHand(server, [`update add ${unmanaged} 5 A 192.0.2.8`]);
    });
    after(async () => {
      await writer?.close();
      await via?.close();
      await server?.stop();
    });

    test('one signed AXFR answers every name exactly as signed queries per name do', async () => {
      assert.ok(names.length >= bulkReadNamesMin, 'a read large enough to be a bulk read');
      const expected = await reference.read(names);
      // The reference itself sees every case this test is about.
      assert.equal(expected.has(managed[60]!), false, 'the tombstone is not served');
      assert.ok(expected.get(managed[61]!)!.records.some((record) => record.address === '192.0.2.99' && record.target === 'unmanaged'));
      assert.deepEqual(expected.get(managed[62]!)!.records.map((record) => record.address), [], 'every address deleted by hand');
      assert.deepEqual([expected.get(aliased!)!.generation, expected.get(aliased!)!.records], [1, []], 'marker, no address');
      assert.equal(expected.get(foreign!)!.generation, 0, 'a foreign marker claims no generation');
      assert.deepEqual(expected.get(unmanaged!)!.held, { kind: 'unmanaged', records: ['A 192.0.2.8'] },
        'addresses without a marker: unmanaged, at a version that is a digest of them');
      const bulk = providerFor(server, via.server);
      try {
        assert.deepEqual(await bulk.read(names), expected);
        assert.deepEqual(await bulk.readRemovals(names), await reference.removals(names));
        assert.deepEqual((await bulk.readRemovals(names)).get(managed[60]!), 2, 'the tombstone\'s generation');
        assert.deepEqual(via.transfers.map((transfer) => transfer.type), ['AXFR', 'IXFR', 'IXFR'], 'one whole transfer, then the serial checked');
        // The versions read in bulk are what the server holds: the compare-and-swap passes, and the name behind the
        // CNAME gets no address (PowerDNS would refuse the whole UPDATE for one).
        const states = await bulk.read(names);
        await applied(bulk, [managed[5]!, aliased!].map((name) => ({ name, records: set('127.1.3.1'), generation: 3, expectedVersion: states.get(name)!.version })));
        const after = await reference.read([managed[5]!, aliased!]);
        assert.deepEqual([after.get(managed[5]!)!.generation, after.get(aliased!)!.generation, after.get(aliased!)!.records], [3, 3, []]);
      } finally {
        await bulk.close();
      }
    });

    test('after changes by another writer and by hand, an IXFR from the last serial brings the image to what queries per name read', async () => {
      const bulk = providerFor(server, via.server);
      try {
        assert.deepEqual(await bulk.read(names), await reference.read(names));
        const transfersBefore = via.transfers.length;
        const states = await writer.read(managed.slice(10, 14));
        await applied(writer, [
          { name: managed[10]!, records: set('127.1.4.1', '::4'), generation: 5, expectedVersion: states.get(managed[10]!)!.version },
          { name: managed[11]!, records: null, generation: 5, expectedVersion: states.get(managed[11]!)!.version },
          { name: managed[60]!, records: set('127.1.4.60'), generation: 5, expectedVersion: null },
        ]);
        await editByHand(server, [`update add ${managed[12]} 5 AAAA 2001:db8::12`, `update delete _dnsplane.${managed[13]} TXT`, `update add ${absent[0]} 5 A 192.0.2.10`]);
        const expected = await reference.read(names);
        assert.deepEqual(expected.get(managed[10]!)!.generation, 5);
        assert.equal(expected.has(managed[11]!), false);
        assert.equal(expected.get(managed[13]!)!.held?.kind, 'unmanaged',
          'a name whose marker was deleted by hand is not dnsplane\'s: its addresses are unmanaged');
        assert.equal(expected.get(absent[0]!)!.held?.kind, 'unmanaged', 'a name added by hand is unmanaged');
        assert.deepEqual(await bulk.read(names), expected);
        assert.deepEqual(await bulk.readRemovals(names), await reference.removals(names));
        const transfer = via.transfers[transfersBefore]!;
        assert.equal(transfer.type, 'IXFR', 'the kept image is brought forward from its serial');
        // PowerDNS answers an IXFR with the whole zone (RFC 1995 §4 allows it); Knot and BIND send the changes.
        if (kind === 'powerdns') assert.notEqual(transfer.opening[1], 'SOA', 'a whole zone in answer');
        else assert.deepEqual(transfer.opening, ['SOA', 'SOA'], 'an incremental answer: the new SOA, then the old one');
        assert.deepEqual(via.transfers.slice(transfersBefore).map((seen) => seen.type), ['IXFR', 'IXFR'], 'no AXFR was needed');
      } finally {
        await bulk.close();
      }
    });

    test('a transfer from the server altered on the way, or stripped of its signatures, is refused', async () => {
      const bulk = providerFor(server, via.server);
      try {
        via.alterTransfer = (message) => flipLastRecordByte(message);
        await refused(bulk.read(names), /zone transfer message does not verify: the MAC does not verify/);
        via.alterTransfer = (message) => stripTsig(message);
        await refused(bulk.read(names), /zone transfer message does not verify: the first message of the transfer is not signed/);
        via.alterTransfer = (message) => message;
        const honest = await bulk.read(names);
        assert.deepEqual(honest, await reference.read(names), 'the same path unaltered is read');
        // The same for the incremental transfer that keeps the image: altered after the first message.
        await applied(writer, [{ name: managed[20]!, records: set('127.1.5.20'), generation: 6, expectedVersion: honest.get(managed[20]!)!.version }]);
        via.alterTransfer = (message, index) => (index === 0 ? flipLastRecordByte(message) : message);
        await refused(bulk.read(names), /does not verify/);
        via.alterTransfer = (message) => message;
        assert.deepEqual(await bulk.read(names), await reference.read(names), 'the refused transfer left nothing behind');
      } finally {
        via.alterTransfer = (message) => message;
        await bulk.close();
      }
    });
  });
}
