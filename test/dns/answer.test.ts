// Goal: the answer logic follows the RFCs an authoritative server must
// (1035, 2308, 6891, 8020, 8482) and handles every bad packet with a clear
// outcome. Method: in-process, answerQuery is called on packets built with
// dns-packet (and on hand-broken bytes) against a snapshot filled through
// the same ServedChange path the refresher uses; the rate limiter and the
// snapshot's S1 guard are driven directly with a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket, { type DecodedPacket, type Packet } from 'dns-packet';
import { answerQuery, slipResponse, type AnswerOptions } from '../../src/dns/answer.js';
import { renderAnswer, ResponseCache } from '../../src/dns/cache.js';
import { prefixKey, ResponseRateLimiter } from '../../src/dns/ratelimit.js';
import { ServedSnapshot } from '../../src/dns/snapshot.js';
import type { RecordEntry } from '../../src/domain/types.js';
import { seededRng } from '../../src/util/clock.js';
import { addresses, dataOf, query, zone } from './helpers.js';

const options: AnswerOptions = { zone, ttl: 5, maxAnswers: 8, udpSizeMax: 1232, nameServer: { name: `ns1.${zone}`, v4: ['127.0.0.1'], v6: [] } };
const served = `dynamodb.us-east-1.${zone}`;

function snapshotWith(names: Record<string, RecordEntry[]>, version = 7): ServedSnapshot {
  const snapshot = new ServedSnapshot(zone);
  const changes = Object.entries(names).map(([name, records], index) => ({ name, version: index + 1, state: { name, generation: 3, version: String(index + 1), records } }));
  snapshot.apply(changes, version);
  return snapshot;
}

const snapshot = snapshotWith({
  [served]: [{ target: 'lb-1', address: '127.0.0.2', weight: 100 }, { target: 'lb-2', address: '127.0.0.3', weight: 50 }, { target: 'lb-6', address: '::2', weight: 10 }],
  [`big.${zone}`]: addresses(40, 6),
});

type Decoded = DecodedPacket & { rcode: string; opcode: string };

function ask(packet: Packet | Buffer, transport: 'udp' | 'tcp' = 'udp', answerOptions = options): { decoded: Decoded | null; result: ReturnType<typeof answerQuery> } {
  const request = Buffer.isBuffer(packet) ? packet : dnsPacket.encode(packet);
  const result = answerQuery(request, transport, snapshot, answerOptions, seededRng(1));
  return { decoded: result.response === null ? null : (dnsPacket.decode(result.response) as Decoded), result };
}

function flags(decoded: Decoded): { aa: boolean; tc: boolean; ra: boolean; qr: boolean } {
  return { aa: decoded.flag_aa, tc: decoded.flag_tc, ra: decoded.flag_ra, qr: decoded.flag_qr };
}

test('A and AAAA of a served name: authoritative, no recursion, TTL from dns.ttl, question echoed with its case', () => {
  const { decoded } = ask(query('DynamoDB.US-east-1.DNSplane.test', 'A'));
  assert.equal(decoded!.rcode, 'NOERROR');
  assert.deepEqual(flags(decoded!), { aa: true, tc: false, ra: false, qr: true });
  assert.equal(decoded!.questions![0]!.name, 'DynamoDB.US-east-1.DNSplane.test');
  assert.deepEqual(decoded!.answers!.map(dataOf).sort(), ['127.0.0.2', '127.0.0.3']);
  assert.ok(decoded!.answers!.every((a) => a.type === 'A' && 'ttl' in a && a.ttl === 5));
  const v6 = ask(query(served, 'AAAA')).decoded!;
  assert.deepEqual(v6.answers!.map(dataOf), ['::2']);
});

test('at most maxAnswers addresses per response', () => {
  const { decoded } = ask(query(`big.${zone}`, 'AAAA'), 'tcp');
  assert.equal(decoded!.answers!.length, 8);
  const one = ask(query(`big.${zone}`, 'AAAA'), 'tcp', { ...options, maxAnswers: 1 }).decoded!;
  assert.equal(one.answers!.length, 1);
});

test('NXDOMAIN for a missing name and NODATA for a missing type, both with the SOA in authority (RFC 2308)', () => {
  const missing = ask(query(`nope.${zone}`, 'A')).decoded!;
  assert.equal(missing.rcode, 'NXDOMAIN');
  assert.ok(missing.flag_aa);
  assert.equal(missing.answers!.length, 0);
  assert.equal(missing.authorities![0]!.type, 'SOA');
  assert.equal(missing.authorities![0]!.name, zone);
  const nodata = ask(query(served, 'MX')).decoded!;
  assert.equal(nodata.rcode, 'NOERROR');
  assert.equal(nodata.answers!.length, 0);
  assert.equal(nodata.authorities![0]!.type, 'SOA');
  const soa = nodata.authorities![0]! as { data: { serial: number; minimum: number } };
  assert.equal(soa.data.serial, 7, 'the serial is the served version');
  assert.equal(soa.data.minimum, 5, 'negative answers are cached no longer than the TTL');
});

test('an ancestor of a served name is an empty non-terminal: NODATA, not NXDOMAIN (RFC 8020)', () => {
  const ent = ask(query(`us-east-1.${zone}`, 'A')).decoded!;
  assert.equal(ent.rcode, 'NOERROR');
  assert.equal(ent.answers!.length, 0);
  assert.equal(ask(query(`below.${served}`, 'A')).decoded!.rcode, 'NXDOMAIN');
});

test('apex SOA and NS (with glue), and the _dnsplane marker TXT with the enacted generation', () => {
  const soa = ask(query(zone, 'SOA')).decoded!;
  assert.equal(soa.answers![0]!.type, 'SOA');
  const ns = ask(query(zone, 'NS')).decoded!;
  assert.equal(dataOf(ns.answers![0]!), `ns1.${zone}`);
  assert.deepEqual(ns.additionals!.filter((a) => a.type === 'A').map(dataOf), ['127.0.0.1']);
  const txt = ask(query(`_dnsplane.${served}`, 'TXT')).decoded!;
  assert.deepEqual((txt.answers![0]! as { data: Buffer[] }).data.map(String), ['generation=3', 'version=1']);
  assert.equal(ask(query(`_dnsplane.nope.${zone}`, 'TXT')).decoded!.rcode, 'NXDOMAIN');
});

test('ANY gets one RRset, not the whole node (RFC 8482)', () => {
  const any = ask(query(served, 'ANY')).decoded!;
  assert.equal(any.rcode, 'NOERROR');
  assert.deepEqual(new Set(any.answers!.map((a) => a.type)), new Set(['A']));
});

test('REFUSED outside the zone, for other classes and for zone transfers; never recursion', () => {
  for (const name of ['example.com', 'dnsplane.test.evil', 'xdnsplane.test', '.']) {
    const refused = ask(query(name, 'A')).decoded!;
    assert.equal(refused.rcode, 'REFUSED', name);
    assert.ok(!refused.flag_aa && !refused.flag_ra, name);
  }
  const chaos = ask({ type: 'query', id: 9, questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] }).decoded!;
  assert.equal(chaos.rcode, 'REFUSED');
  const odd = dnsPacket.encode(query(served, 'A'));
  odd.writeUInt16BE(42, odd.length - 2);
  assert.equal(ask(odd).decoded!.rcode, 'REFUSED');
  assert.equal(ask(query(zone, 'AXFR'), 'tcp').decoded!.rcode, 'REFUSED');
});

test('FORMERR for malformed queries, NOTIMP for other opcodes, silence for responses and runts', () => {
  const valid = dnsPacket.encode(query(served, 'A'));
  const cases: [string, Buffer, RegExp][] = [
    ['truncated question', valid.subarray(0, valid.length - 3), /undecodable/],
    ['two questions', dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: served, type: 'A' }, { name: served, type: 'AAAA' }] }), /section counts/],
    ['no question', dnsPacket.encode({ type: 'query', id: 1 }), /section counts/],
    ['qdcount too high', Buffer.from(valid).fill(0, 4, 5).fill(9, 5, 6), /section counts/],
    ['trailing bytes', Buffer.concat([valid, Buffer.from([1, 2, 3])]), /trailing bytes/],
    ['a label with a dot in it', Buffer.concat([valid.subarray(0, 12), Buffer.from([3, 0x61, 0x2e, 0x62, 0]), Buffer.from([0, 1, 0, 1])]), /does not round-trip/],
    ['a compression pointer loop', Buffer.concat([valid.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]), /undecodable: Cannot decode name \(bad pointer\)/],
    ['a label longer than 63', Buffer.concat([valid.subarray(0, 12), Buffer.from([0x41]), Buffer.alloc(65, 0x61), Buffer.from([0, 0, 1, 0, 1])]), /undecodable/],
    ['two OPT records', dnsPacket.encode({ ...query(served, 'A', { udpSize: 1232 }), additionals: [...query(served, 'A', { udpSize: 1232 }).additionals!, ...query(served, 'A', { udpSize: 4096 }).additionals!] }), /more than one OPT/],
  ];
  for (const [what, packet, why] of cases) {
    const { decoded, result } = ask(packet);
    assert.ok(decoded !== null, `${what}: answered`);
    assert.equal(decoded.rcode, 'FORMERR', what);
    assert.equal(decoded.id, packet.readUInt16BE(0), `${what}: id echoed`);
    assert.match(result.problem ?? '', why, what);
  }
  const notify = Buffer.from(valid);
  notify.writeUInt16BE((4 << 11) | 0x0100, 2);
  const notimp = ask(notify).decoded!;
  assert.equal(notimp.rcode, 'NOTIMP');
  assert.equal(notimp.opcode, 'NOTIFY');
  const response = Buffer.from(valid);
  response.writeUInt16BE(0x8000, 2);
  assert.equal(ask(response).result.drop, 'response-bit');
  assert.equal(ask(Buffer.alloc(5)).result.drop, 'short');
});

test('EDNS(0): the OPT is echoed with our size, BADVERS for version 1, the advertised size bounds UDP answers', () => {
  const withEdns = ask(query(served, 'A', { udpSize: 4096 })).decoded!;
  const opt = withEdns.additionals!.find((a) => a.type === 'OPT') as { udpPayloadSize: number; ednsVersion: number } | undefined;
  assert.equal(opt?.udpPayloadSize, 1232);
  assert.equal(opt?.ednsVersion, 0);
  const badvers = ask(query(served, 'A', { udpSize: 1232, ednsVersion: 1 })).decoded!;
  const badOpt = badvers.additionals!.find((a) => a.type === 'OPT') as { extendedRcode: number } | undefined;
  assert.equal(badvers.rcode, 'NOERROR', 'low four bits of BADVERS (16) are 0');
  assert.equal(badOpt?.extendedRcode, 1, 'BADVERS: extended rcode 1 << 4 = 16');
  assert.equal(badvers.answers!.length, 0);
  // 8 AAAA records of "big.dnsplane.test" (uncompressed, 46 bytes each) need ~420 bytes: fits 512, and fits 1232.
  // With maxAnswers 24 they need ~1150 bytes: truncated without EDNS or at 512, whole with EDNS 1232.
  const many = { ...options, maxAnswers: 24 };
  const classic = ask(query(`big.${zone}`, 'AAAA'), 'udp', many);
  assert.ok(classic.decoded!.flag_tc, 'no EDNS: 512 bytes, so TC');
  assert.equal(classic.decoded!.answers!.length, 0);
  assert.ok(classic.result.response!.length <= 512);
  const small = ask(query(`big.${zone}`, 'AAAA', { udpSize: 512 }), 'udp', many);
  assert.ok(small.decoded!.flag_tc);
  const large = ask(query(`big.${zone}`, 'AAAA', { udpSize: 4096 }), 'udp', many);
  assert.ok(!large.decoded!.flag_tc);
  assert.equal(large.decoded!.answers!.length, 24);
  assert.ok(large.result.response!.length <= 1232);
  const tiny = ask(query(`big.${zone}`, 'AAAA', { udpSize: 100 }), 'udp', { ...options, maxAnswers: 8 });
  assert.ok(!tiny.decoded!.flag_tc, 'an advertised size below 512 counts as 512 (RFC 6891)');
  const tcp = ask(query(`big.${zone}`, 'AAAA'), 'tcp', { ...options, maxAnswers: 40 });
  assert.equal(tcp.decoded!.answers!.length, 40, 'TCP carries the whole set');
});

test('the slip response is header and question only, TC set, never larger than the query', () => {
  const request = dnsPacket.encode(query(served, 'ANY', { udpSize: 4096 }));
  const slip = slipResponse(request)!;
  assert.ok(slip.length <= request.length);
  const decoded = dnsPacket.decode(slip);
  assert.ok(decoded.flag_tc && decoded.flag_qr);
  assert.equal(decoded.answers!.length, 0);
  assert.equal(slipResponse(Buffer.alloc(3)), null);
});

test('rate limiting: a token bucket per /24 and /56, with slip, and a bounded table', () => {
  let nowMs = 0;
  const limiter = new ResponseRateLimiter({ enabled: true, responsesPerSecond: 10, burst: 5, slip: 2, ipv4PrefixLength: 24, ipv6PrefixLength: 56, prefixesMax: 3 }, () => nowMs);
  const decisions = Array.from({ length: 9 }, (_, index) => limiter.decide(`192.0.2.${index + 1}`));
  assert.deepEqual(decisions, ['allow', 'allow', 'allow', 'allow', 'allow', 'drop', 'slip', 'drop', 'slip'], 'one bucket for the whole /24');
  assert.equal(limiter.decide('192.0.3.1'), 'allow', 'another /24 has its own bucket');
  nowMs += 100;
  assert.equal(limiter.decide('192.0.2.77'), 'allow', '10 per second refill one token in 100 ms');
  assert.equal(prefixKey('2001:db8:1:2:3::1', 24, 56), prefixKey('2001:db8:1:2:ff::9', 24, 56));
  assert.notEqual(prefixKey('2001:db8:1:2:3::1', 24, 56), prefixKey('2001:db8:1:100::1', 24, 56));
  assert.equal(prefixKey('::ffff:192.0.2.1', 24, 56), prefixKey('192.0.2.200', 24, 56), 'IPv4-mapped counts as IPv4');
  for (let index = 0; index < 10; index += 1) limiter.decide(`198.51.${index}.1`);
  assert.equal(limiter.prefixes, 3, 'the table never exceeds prefixesMax');
});

test('S1 guard: an invalid record set in the store (a hand edit) never replaces a good one', () => {
  const guarded = snapshotWith({ [served]: addresses(2) });
  const report = guarded.apply([{ name: served, version: 9, state: { name: served, generation: 4, version: '9', records: [] } }], 9);
  assert.equal(report.rejected.length, 1);
  assert.equal(guarded.get(served)!.v4.length, 2, 'still the previous two addresses');
  assert.equal(guarded.version, 9);
  const removal = guarded.apply([{ name: served, version: 10, state: null }], 10);
  assert.equal(removal.removed, 1, 'an explicit removal (tombstone) does remove the name');
  assert.equal(guarded.hasDescendants(`us-east-1.${zone}`), false, 'and its empty non-terminals with it');
});

test('a remembered answer renders exactly what answerQuery computes, a fresh weighted sample each time', () => {
  const cases = [query(served, 'A'), query(served, 'A', { udpSize: 1232 }), query(`big.${zone}`, 'AAAA', { udpSize: 4096 }), query(`nope.${zone}`, 'A'), query(zone, 'NS'), query('example.com', 'A')];
  for (const packet of cases) {
    const request = dnsPacket.encode(packet);
    const first = answerQuery(request, 'udp', snapshot, options, seededRng(5));
    assert.ok(first.reusable !== null, 'a well-formed query is reusable');
    for (const seed of [6, 7, 8]) {
      const again = Buffer.from(request);
      again.writeUInt16BE(seed * 1000, 0);
      const computed = answerQuery(again, 'udp', snapshot, options, seededRng(seed)).response!;
      assert.deepEqual(renderAnswer(first.reusable, seed * 1000, seededRng(seed)), computed, `${packet.questions![0]!.name} with seed ${seed}`);
    }
  }
  const junk = answerQuery(Buffer.alloc(12), 'udp', snapshot, options, seededRng(1));
  assert.equal(junk.reusable, null, 'junk is not remembered');
});

test('the response cache forgets everything when the snapshot changes, and stays within its bound', () => {
  const cached = snapshotWith({ [served]: addresses(2) }, 1);
  const cache = new ResponseCache(2);
  const request = dnsPacket.encode(query(served, 'A'));
  const answer = answerQuery(request, 'udp', cached, options, seededRng(1)).reusable!;
  assert.equal(cache.lookup(request, 'udp', cached), undefined);
  cache.remember(request, 'udp', cached, answer);
  assert.equal(cache.lookup(request, 'udp', cached), answer);
  assert.equal(cache.lookup(request, 'tcp', cached), undefined, 'the transport is part of the key');
  cached.apply([{ name: served, version: 2, state: { name: served, generation: 4, version: '2', records: addresses(1) } }], 2);
  assert.equal(cache.lookup(request, 'udp', cached), undefined, 'a newer snapshot never sees an older answer');
  for (const name of ['a', 'b', 'c']) cache.remember(dnsPacket.encode(query(`${name}.${zone}`, 'A')), 'udp', cached, answer);
  assert.ok(cache.size <= 2);
});
