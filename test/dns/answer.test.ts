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
import { Answerer } from '../../src/dns/answer.js';
import { AnswerTable } from '../../src/dns/cache.js';
import { prepareAnswer } from '../../src/dns/prepare.js';
import { lowerCaseWire, nameHashOf } from '../../src/dns/wire.js';
import { prefixKey, ResponseRateLimiter } from '../../src/dns/ratelimit.js';
import { ServedSnapshot } from '../../src/dns/snapshot.js';
import type { RecordEntry } from '../../src/domain/types.js';
import { seededRng } from '../../src/util/clock.js';
import { addresses, answerAddresses, dataOf, query, zone } from './helpers.js';

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
  // 8 AAAA records of "big.dnsplane.test" (compressed, 28 bytes each) need ~260 bytes: fits 512, and fits 1232.
  // With maxAnswers 24 they need ~710 bytes: truncated without EDNS or at 512, whole with EDNS 1232.
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

test('a prepared answer serves every case of its question, with a fresh weighted sample each time', () => {
  const answerer = new Answerer(options);
  const first = answerer.answer(dnsPacket.encode(query(served, 'A', { id: 1 })), 'udp', snapshot, seededRng(5))!;
  const drawn = new Set<string>();
  for (const [index, name] of ['DYNAMODB.us-east-1.dnsplane.TEST', 'dYnAmOdB.Us-EaSt-1.DnSpLaNe.TeSt', served].entries()) {
    const response = answerer.answer(dnsPacket.encode(query(name, 'A', { id: 100 + index })), 'udp', snapshot, seededRng(10 + index))!;
    assert.equal(response.length, first.length, name);
    const decoded = dnsPacket.decode(response) as Decoded;
    assert.equal(decoded.id, 100 + index);
    assert.equal(decoded.questions![0]!.name, name, 'the question as asked (0x20)');
    assert.deepEqual(decoded.answers!.map(dataOf).sort(), ['127.0.0.2', '127.0.0.3']);
    drawn.add(decoded.answers!.map(dataOf).join(','));
  }
  for (let seed = 20; seed < 60 && drawn.size < 2; seed += 1) {
    const decoded = dnsPacket.decode(answerer.answer(dnsPacket.encode(query(served, 'A')), 'udp', snapshot, seededRng(seed))!);
    drawn.add(decoded.answers!.map(dataOf).join(','));
  }
  assert.equal(drawn.size, 2, 'both orders are drawn: the sample is not fixed in the prepared answer');
});

test('answers are compressed: owners point at the question; 64 A records fit a UDP answer of 1232 bytes', () => {
  const many = snapshotWith({ [served]: addresses(3), [`big.${zone}`]: addresses(64) });
  const three = answerQuery(dnsPacket.encode(query(served, 'A')), 'udp', many, options, seededRng(1)).response!;
  // Header 12, question 38, three records of 16 bytes (a 2-byte pointer as owner): 98 bytes (194 uncompressed).
  assert.equal(three.length, 12 + 38 + 3 * 16);
  assert.equal(three.readUInt16BE(12 + 38), 0xc00c, 'the first owner is a pointer to the question');
  const all = answerQuery(dnsPacket.encode(query(`big.${zone}`, 'A', { udpSize: 1232 })), 'udp', many, { ...options, maxAnswers: 64 }, seededRng(1));
  assert.equal(all.truncated, false);
  assert.ok(all.response!.length <= 1232, `${all.response!.length} bytes`);
  const decoded = dnsPacket.decode(all.response!);
  assert.equal(decoded.answers!.length, 64);
  assert.equal(new Set(decoded.answers!.map(dataOf)).size, 64);
  // The SOA of a negative answer: owner and names point into the question's zone suffix.
  const negative = answerQuery(dnsPacket.encode(query(`nope.${zone}`, 'A')), 'udp', many, options, seededRng(1)).response!;
  const soa = dnsPacket.decode(negative).authorities![0]! as { name: string; data: { mname: string; rname: string; serial: number } };
  assert.deepEqual([soa.name, soa.data.mname, soa.data.rname, soa.data.serial], [zone, `ns1.${zone}`, `hostmaster.${zone}`, 7]);
  // Header 12, question 24, SOA: owner pointer 2, fixed 10, "ns1" and "hostmaster" before pointers 6 + 13, numbers 20.
  assert.equal(negative.length, 12 + 24 + 2 + 10 + 6 + 13 + 20, 'uncompressed it is 126 bytes');
});

test('prepared answers are kept until their own name changes, then prepared again from the new records', () => {
  const live = snapshotWith({ [served]: addresses(2), [`other.${zone}`]: addresses(1) }, 1);
  const table = new AnswerTable(100);
  const request = dnsPacket.encode(query(served, 'A'));
  const look = () => table.lookup(request, 12, request.length - 16, nameHashOf(lowerCaseWire(request, 12, request.length - 4)), 1);
  const answerer = new Answerer(options);
  table.follow(live);
  const wire = lowerCaseWire(request, 12, request.length - 4);
  const prepared = prepareAnswer(served, wire, 1, live, options);
  table.remember(served, wire, nameHashOf(wire), 1, prepared, live);
  assert.equal(look(), prepared);
  live.apply([{ name: `other.${zone}`, version: 2, state: { name: `other.${zone}`, generation: 4, version: '2', records: addresses(2) } }], 2);
  table.follow(live);
  assert.equal(look(), prepared, 'another name changed: kept');
  live.apply([{ name: `x.${served}`, version: 3, state: { name: `x.${served}`, generation: 1, version: '3', records: addresses(1) } }], 3);
  table.follow(live);
  assert.equal(look(), undefined, 'a name below it appeared: forgotten with the other ancestors (they may exist now)');
  table.remember(served, wire, nameHashOf(wire), 1, prepared, live);
  const ancestor = dnsPacket.encode(query(`us-east-1.${zone}`, 'A'));
  live.apply([{ name: served, version: 4, state: { name: served, generation: 5, version: '4', records: [{ target: 'n', address: '192.0.2.99', weight: 1 }] } }], 4);
  table.follow(live);
  assert.equal(look(), undefined, 'its own records changed: forgotten');
  assert.deepEqual(answerAddresses(dnsPacket.decode(answerer.answer(request, 'udp', live, seededRng(1))!)), ['192.0.2.99']);
  assert.equal((dnsPacket.decode(answerer.answer(ancestor, 'udp', live, seededRng(1))!) as Decoded).rcode, 'NOERROR');
  live.apply([{ name: served, version: 5, state: null }, { name: `x.${served}`, version: 5, state: null }], 5);
  const gone = dnsPacket.decode(answerer.answer(request, 'udp', live, seededRng(1))!) as Decoded;
  assert.equal(gone.rcode, 'NXDOMAIN', 'removed: never the old addresses (S3)');
  assert.equal((dnsPacket.decode(answerer.answer(ancestor, 'udp', live, seededRng(1))!) as Decoded).rcode, 'NXDOMAIN', 'its ancestor is no empty non-terminal any more');
  const fresh = new ServedSnapshot(zone);
  fresh.apply([{ name: served, version: 1, state: { name: served, generation: 1, version: '1', records: [{ target: 'f', address: '192.0.2.7', weight: 1 }] } }], 9);
  assert.deepEqual(answerAddresses(dnsPacket.decode(answerer.answer(request, 'udp', fresh, seededRng(1))!)), ['192.0.2.7'], 'a new snapshot object: nothing kept');
});
