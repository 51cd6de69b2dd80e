// Goal: ordinary DNS clients resolve the built-in provider's records from
// `dnsplane serve`, and see the RFC behaviour an authoritative server owes
// them. Method: one real `dnsplane serve` child on a free port, its store
// filled through BuiltinSqliteProvider.apply; then dig (BIND), kdig (Knot)
// and Node's dns.promises.Resolver (c-ares) query it over UDP and TCP:
// answers, NXDOMAIN/NODATA with the SOA, REFUSED, TC then a TCP retry for a
// large set, EDNS buffer sizes and BADVERS. The same server then answers
// 10,000 raw queries whose first addresses must follow the weights, and
// every apply must show in answers (how soon is measured by bench/dns.bench.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { Resolver } from 'node:dns/promises';
import dnsPacket from 'dns-packet';
import { addresses, answerAddresses, query, runTool, startServe, udpQuery, zone, type Response, type ServeHandle } from './helpers.js';
import { pollUntil } from '../helpers/env.js';

const served = `dynamodb.us-east-1.${zone}`;
const weighted = `weighted.${zone}`;
const medium = `medium.${zone}`;
const big = `big.${zone}`;
const live = `live.${zone}`;
const many = `many.${zone}`;
let server: ServeHandle;

before(async () => {
  server = await startServe(
    {
      [served]: [{ target: 'lb-1', address: '127.0.0.2', weight: 100 }, { target: 'lb-2', address: '127.0.0.3', weight: 100 }, { target: 'lb-3', address: '127.0.0.4', weight: 100 }, { target: 'lb-6', address: '::2', weight: 100 }],
      [weighted]: [{ target: 'w1', address: '192.0.2.1', weight: 10 }, { target: 'w2', address: '192.0.2.2', weight: 30 }, { target: 'w3', address: '192.0.2.3', weight: 60 }],
      // 40 A records need ~690 bytes (16 each, compressed): more than 512, less than 1232.
      [medium]: addresses(40, 4),
      // 64 A records need ~1,080 bytes compressed (2,158 uncompressed): one UDP answer at EDNS 1232.
      [many]: addresses(64, 4),
      // 64 AAAA records need ~2,900 bytes: more than any UDP answer of this server (dns.udpSizeMax 1232).
      [big]: addresses(64, 6),
      [live]: addresses(1, 4),
    },
    { maxAnswers: 64 },
  );
});

after(async () => {
  await server?.stop();
});

function dig(...args: string[]): Promise<string> {
  return runTool('dig', ['@127.0.0.1', '-p', String(server.port), '+norec', '+time=2', '+tries=1', ...args]);
}

function kdig(...args: string[]): Promise<string> {
  return runTool('kdig', ['@127.0.0.1', '-p', String(server.port), '+norec', '+time=2', '+retry=0', ...args]);
}

/** The addresses in a dig/kdig answer section. */
function answered(output: string, type: 'A' | 'AAAA'): string[] {
  const pattern = new RegExp(`^\\S+\\s+\\d+\\s+IN\\s+${type}\\s+(\\S+)$`, 'gm');
  return [...output.matchAll(pattern)].map((match) => match[1]!).sort();
}

test('dig over UDP and TCP: authoritative answers, no recursion available', async () => {
  for (const transport of ['+notcp', '+tcp']) {
    const output = await dig(transport, served, 'A');
    assert.match(output, /status: NOERROR/, transport);
    assert.match(output, /flags: qr aa;/, `${transport}: aa set, ra clear`);
    assert.deepEqual(answered(output, 'A'), ['127.0.0.2', '127.0.0.3', '127.0.0.4'], transport);
    assert.deepEqual(answered(await dig(transport, served, 'AAAA'), 'AAAA'), ['::2'], transport);
    assert.match(await dig(transport, `_dnsplane.${served}`, 'TXT'), /"generation=1" "version=\d+"/, transport);
  }
});

test('dig: NXDOMAIN and NODATA carry the SOA; other zones are REFUSED', async () => {
  const nxdomain = await dig(`nope.${zone}`, 'A');
  assert.match(nxdomain, /status: NXDOMAIN/);
  assert.match(nxdomain, /AUTHORITY SECTION:\ndnsplane\.test\.\s+5\s+IN\s+SOA\s+ns1\.dnsplane\.test\. hostmaster\.dnsplane\.test\./);
  const nodata = await dig(served, 'MX');
  assert.match(nodata, /status: NOERROR/);
  assert.match(nodata, /ANSWER: 0, AUTHORITY: 1/);
  const refused = await dig('example.com', 'A');
  assert.match(refused, /status: REFUSED/);
  assert.doesNotMatch(refused, /flags:[^;]*\b(aa|ra)\b/);
});

test('dig: a set too large for UDP comes back with TC, and dig retries over TCP and gets all of it', async () => {
  const truncated = await dig('+ignore', big, 'AAAA');
  assert.match(truncated, /flags: qr aa tc;/);
  assert.match(truncated, /ANSWER: 0,/);
  const retried = await dig(big, 'AAAA');
  assert.match(retried, /Truncated, retrying in TCP mode/);
  assert.equal(answered(retried, 'AAAA').length, 64);
});

test('dig: the EDNS buffer size decides truncation; EDNS version 1 gets BADVERS', async () => {
  assert.match(await dig('+ignore', '+noedns', medium, 'A'), /flags: qr aa tc;/, 'no EDNS: 512 bytes');
  assert.match(await dig('+ignore', '+bufsize=512', medium, 'A'), /flags: qr aa tc;/);
  const fits = await dig('+ignore', '+bufsize=1232', medium, 'A');
  assert.match(fits, /flags: qr aa;/);
  assert.equal(answered(fits, 'A').length, 40);
  assert.match(fits, /EDNS: version: 0, flags:; udp: 1232/);
  assert.match(await dig('+edns=1', '+noednsneg', served, 'A'), /status: BADVERS/);
});

test('compressed answers: dig, kdig and Node\'s resolver read them; 64 A records fit one UDP answer at EDNS 1232', async () => {
  const expected = addresses(64, 4).map((record) => record.address).sort();
  const fromDig = await dig('+notcp', '+ignore', '+bufsize=1232', many, 'A');
  assert.match(fromDig, /flags: qr aa;/, 'no TC');
  assert.deepEqual(answered(fromDig, 'A'), expected);
  const digBytes = Number(/MSG SIZE\s+rcvd: (\d+)/.exec(fromDig)?.[1]);
  assert.ok(digBytes <= 1232, `${digBytes} bytes over UDP`);
  const fromKdig = await kdig('+notcp', '+bufsize=1232', many, 'A');
  assert.match(fromKdig, /Flags: qr aa;/, 'no TC');
  const kdigBytes = Number(/Received (\d+) B\n;; Time .*\n;; From \S+\(UDP\)/.exec(fromKdig)?.[1]);
  assert.ok(kdigBytes <= 1232, `${kdigBytes} bytes over UDP`);
  assert.deepEqual(answered(fromKdig, 'A'), expected);
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${server.port}`]);
  assert.deepEqual((await resolver.resolve4(many)).sort(), expected);
  assert.deepEqual((await resolver.resolve4(served.toUpperCase())).sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  const raw = await udpQuery(server.port, query(many, 'A', { udpSize: 1232 }));
  assert.equal(raw.flag_tc, false);
  assert.equal(answerAddresses(raw).length, 64);
  assert.ok(raw.raw.length <= 1232, `${raw.raw.length} bytes`);
});

test('conformance over UDP: NOTIMP for other opcodes without RD; IXFR REFUSED with its question and OPT', async () => {
  for (const opcode of [1, 2, 4, 5]) {
    const request = dnsPacket.encode(query(served, 'A', { id: 300 + opcode }));
    request.writeUInt16BE((opcode << 11) | 0x0100, 2);
    const reply = await udpQuery(server.port, request);
    assert.equal(reply.rcode, 'NOTIMP', `opcode ${opcode}`);
    assert.equal(reply.id, 300 + opcode);
    assert.equal(reply.flag_rd, false, `opcode ${opcode}: RD is for QUERY only`);
    assert.equal((reply.raw.readUInt16BE(2) >> 11) & 0xf, opcode, 'the opcode is echoed');
  }
  const rdQuery = await udpQuery(server.port, { ...query(served, 'A', { id: 310 }), flags: dnsPacket.RECURSION_DESIRED });
  assert.equal(rdQuery.flag_rd, true, 'a QUERY keeps its RD');
  const soa = { name: zone, type: 'SOA' as const, ttl: 0, data: { mname: `ns1.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 60, retry: 30, expire: 3600, minimum: 5 } };
  const ixfr = await udpQuery(server.port, { ...query(zone, 'IXFR', { id: 320, udpSize: 1232 }), authorities: [soa] });
  assert.equal(ixfr.rcode, 'REFUSED');
  assert.equal(ixfr.id, 320);
  assert.deepEqual(ixfr.questions, [{ name: zone, type: 'IXFR', class: 'IN' }]);
  assert.equal(ixfr.additionals?.filter((record) => record.type === 'OPT').length, 1, 'the OPT is echoed');
  await assert.rejects(kdig('+notcp', 'IXFR=1', zone), /server replied with error 'REFUSED'[\s\S]*\(UDP\)/, 'kdig: REFUSED');
});

test('kdig over UDP and TCP: answers, NXDOMAIN, REFUSED, TC, BADVERS', async () => {
  for (const transport of ['+notcp', '+tcp']) {
    const output = await kdig(transport, served, 'A');
    assert.match(output, /status: NOERROR/, transport);
    assert.match(output, /Flags: qr aa;/, transport);
    assert.deepEqual(answered(output, 'A'), ['127.0.0.2', '127.0.0.3', '127.0.0.4'], transport);
    assert.match(await kdig(transport, `nope.${zone}`, 'A'), /status: NXDOMAIN[\s\S]*AUTHORITY SECTION:\s*\ndnsplane\.test\.\s+5\s+IN\s+SOA/, transport);
    assert.match(await kdig(transport, 'example.com', 'A'), /status: REFUSED/, transport);
  }
  assert.match(await kdig('+notcp', '+bufsize=512', medium, 'A'), /Flags: qr aa tc;/);
  assert.equal(answered(await kdig('+tcp', big, 'AAAA'), 'AAAA').length, 64);
  assert.match(await kdig('+edns=1', served, 'A'), /status: BADVERS/);
});

test('Node dns.promises.Resolver (c-ares): answers, TC fallback to TCP, NXDOMAIN, NODATA, REFUSED', async () => {
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${server.port}`]);
  assert.deepEqual((await resolver.resolve4(served)).sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  assert.deepEqual((await resolver.resolve4(served.toUpperCase())).sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.4'], 'names are case-insensitive');
  assert.equal((await resolver.resolve6(big)).length, 64, 'all 64 addresses, over TCP after TC');
  const ttl = await resolver.resolve4(served, { ttl: true });
  assert.ok(ttl.every((entry) => entry.ttl === 5), 'TTL from dns.ttl');
  await assert.rejects(resolver.resolve4(`nope.${zone}`), { code: 'ENOTFOUND' });
  await assert.rejects(resolver.resolveMx(served), { code: 'ENODATA' });
  await assert.rejects(resolver.resolve4('example.com'), { code: 'EREFUSED' });
  assert.deepEqual(await resolver.resolveTxt(`_dnsplane.${served}`), [['generation=1', 'version=1']]);
});

test('weights: over 10,000 queries each address comes first in proportion to its weight (±2 points)', async () => {
  // Shares 10/30/60 %: the standard deviation of a share over 10,000 answers is at most 0.5 point, so a tolerance
  // of 2 points (4 standard deviations) fails a correct server by chance with probability below 1e-4.
  const weights = new Map([['192.0.2.1', 0.1], ['192.0.2.2', 0.3], ['192.0.2.3', 0.6]]);
  const firsts = await firstAnswers(server.port, weighted, 10_000);
  assert.equal(firsts.length, 10_000);
  for (const [address, expected] of weights) {
    const share = firsts.filter((first) => first === address).length / firsts.length;
    assert.ok(Math.abs(share - expected) <= 0.02, `${address}: share ${share.toFixed(4)}, expected ${expected}`);
  }
});

test('every apply becomes visible in answers (20 applies)', async (t) => {
  const latenciesMs: number[] = [];
  for (let round = 0; round < 20; round += 1) {
    const address = `198.51.100.${round + 1}`;
    await server.setRecords(live, [{ target: `r${round}`, address, weight: 1 }]);
    const appliedAtMs = performance.now();
    await pollUntil(async () => {
      const response = await udpQuery(server.port, query(live, 'A', { id: round }));
      return answerAddresses(response)[0] === address;
    }, `round ${round}: the new address ${address} in answers`, 10_000, 1);
    latenciesMs.push(performance.now() - appliedAtMs);
  }
  latenciesMs.sort((a, b) => a - b);
  t.diagnostic(`apply-to-answer latency: median ${latenciesMs[10]!.toFixed(1)} ms, max ${latenciesMs[19]!.toFixed(1)} ms`);
});

test('TCP: several queries pipelined on one connection are all answered, in order (RFC 7766)', async () => {
  const ids = [21, 22, 23, 24];
  const frames = ids.map((id) => {
    const message = dnsPacket.encode(query(id % 2 === 0 ? served : big, id % 2 === 0 ? 'A' : 'AAAA', { id }));
    const frame = Buffer.alloc(2 + message.length);
    frame.writeUInt16BE(message.length, 0);
    message.copy(frame, 2);
    return frame;
  });
  const socket = connect(server.port, '127.0.0.1');
  try {
    const responses = await new Promise<Response[]>((resolve, reject) => {
      let received = Buffer.alloc(0);
      const decoded: Response[] = [];
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        while (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
          const length = received.readUInt16BE(0);
          decoded.push(Object.assign(dnsPacket.decode(received.subarray(2, 2 + length)), { raw: received.subarray(2, 2 + length) }));
          received = received.subarray(2 + length);
        }
        if (decoded.length === ids.length) resolve(decoded);
      });
      // All queries in one write: the server must split the stream into messages itself.
      socket.write(Buffer.concat(frames));
    });
    assert.deepEqual(responses.map((response) => response.id), ids);
    assert.deepEqual(responses.map((response) => answerAddresses(response).length), [64, 3, 64, 3]);
  } finally {
    socket.destroy();
  }
});

/** Sends `count` queries for `name` over one UDP socket, at most `windowMax` outstanding, and returns each answer's first address. */
async function firstAnswers(port: number, name: string, count: number, windowMax = 64): Promise<string[]> {
  const socket = createSocket('udp4');
  const firsts: string[] = [];
  let sent = 0;
  let outstanding = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${firsts.length} of ${count} answers within 30 s`)), 30_000);
      const pump = () => {
        while (outstanding < windowMax && sent < count) {
          socket.send(dnsPacket.encode(query(name, 'A', { id: sent % 65_536 })), port, '127.0.0.1');
          sent += 1;
          outstanding += 1;
        }
      };
      socket.on('message', (raw) => {
        outstanding -= 1;
        firsts.push(answerAddresses(dnsPacket.decode(raw))[0] ?? 'none');
        if (firsts.length === count) {
          clearTimeout(timer);
          resolve();
        } else {
          pump();
        }
      });
      socket.bind(0, '127.0.0.1', pump);
    });
  } finally {
    socket.close();
  }
  return firsts;
}
