// Goal: with dns.markers tsig-only the built-in server answers a query for a `_dnsplane` name that is not signed
// with one of its TSIG keys exactly as if the marker did not exist (NXDOMAIN, the SOA in authority), shows the marker
// to a query signed with a key and signs that answer (RFC 8945), answers a bad signature NOTAUTH with BADKEY, BADSIG
// or BADTIME, and leaves ordinary names and the public mode as they were.
// Method: real `dnsplane serve` children (public; tsig-only; tsig-only with two worker processes) on free loopback
// ports, asked by dig (BIND) and kdig (Knot) over UDP and TCP, which verify the answers' signatures themselves; raw
// signed queries (built with the RFC 2136 provider's TSIG code) for what the tools cannot send: a stale time. The
// answer table and malformed signatures are driven in-process through the Answerer. A config without a key is
// refused by `dnsplane serve` before it binds anything.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { Answerer, type AnswerOptions } from '../../src/dns/answer.js';
import { ServedSnapshot } from '../../src/dns/snapshot.js';
import { readTsig, signMessage, tsigError, verifyMessage, type TsigKey } from '../../src/providers/rfc2136/tsig.js';
import { seededRng } from '../../src/util/clock.js';
import { runCli, tempDir, writeConfig } from '../helpers/env.js';
import { query, runTool, startServe, tcpQuery, udpQuery, zone, type ServeHandle } from './helpers.js';

const web = `web.${zone}`;
const marker = `_dnsplane.${web}`;
const secret = Buffer.alloc(32, 7).toString('base64');
const wrongSecret = Buffer.alloc(32, 8).toString('base64');
const keyConfig = { name: 'markers-key', algorithm: 'hmac-sha256' as const, secret };
const key: TsigKey = { name: 'markers-key', algorithm: 'hmac-sha256', secret: Buffer.from(secret, 'base64') };
const records = [{ target: 'w1', address: '10.1.1.1', weight: 1 }, { target: 'w2', address: '10.1.1.2', weight: 1 }];
let publicServer: ServeHandle;
let hidingServer: ServeHandle;

before(async () => {
  publicServer = await startServe({ [web]: records });
  hidingServer = await startServe({ [web]: records }, { markers: 'tsig-only', tsig: [keyConfig] });
});

after(async () => {
  await publicServer?.stop();
  await hidingServer?.stop();
});

function dig(server: ServeHandle, ...args: string[]): Promise<string> {
  return runTool('dig', ['@127.0.0.1', '-p', String(server.port), '+norec', '+time=2', '+tries=1', ...args]);
}

function kdig(server: ServeHandle, ...args: string[]): Promise<string> {
  return runTool('kdig', ['@127.0.0.1', '-p', String(server.port), '+norec', '+time=2', '+retry=0', ...args]);
}

/** kdig's output and its warnings: it reports an answer whose TSIG does not verify on stderr, and exits 0. */
function kdigWithWarnings(server: ServeHandle, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const argv = ['@127.0.0.1', '-p', String(server.port), '+norec', '+time=2', '+retry=0', ...args];
  return new Promise((resolve, reject) => {
    execFile('kdig', argv, { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`kdig ${argv.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

const signedWith = (keySecret: string, name = 'markers-key') => ['-y', `hmac-sha256:${name}:${keySecret}`];
const markerText = /^_dnsplane\.web\.dnsplane\.test\.\s+5\s+IN\s+TXT\s+"generation=1" "version=\d+"$/m;
const anyTxt = /^[^;\s]\S*\s+\d+\s+IN\s+TXT\s/m;
const soaAuthority = /AUTHORITY SECTION:\ndnsplane\.test\.\s+5\s+IN\s+SOA\s+ns1\.dnsplane\.test\. hostmaster/;

/** What dig prints when an answer's TSIG is missing or does not verify; a verified answer has none of it. */
function assertDigVerified(output: string, label: string): void {
  assert.doesNotMatch(output, /Couldn't verify signature|could not be validated|tsig verify failure|expected a TSIG/i, label);
  assert.match(output, /TSIG PSEUDOSECTION:\nmarkers-key\.\s+0\s+ANY\s+TSIG\s+hmac-sha256\. \d+ 300 32 \S+ \d+ NOERROR 0/, label);
}

/** The addresses of a dig/kdig answer section's A records. */
function addressesIn(output: string): string[] {
  return [...output.matchAll(/^\S+\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((match) => match[1]!).sort();
}

test('public: dig and kdig get the marker unsigned, over UDP and TCP; a signed query gets it signed', async () => {
  for (const transport of ['+notcp', '+tcp']) {
    const plain = await dig(publicServer, transport, marker, 'TXT');
    assert.match(plain, /status: NOERROR/, transport);
    assert.match(plain, markerText, transport);
    assert.match(await kdig(publicServer, transport, marker, 'TXT'), /"generation=1" "version=\d+"/, transport);
    const signed = await dig(publicServer, transport, ...signedWith(secret), marker, 'TXT');
    assert.match(signed, /status: NOTAUTH/, `${transport}: public mode without keys knows no key`);
    assert.match(signed, /TSIG\s+hmac-sha256\. \d+ 300 0 \d+ BADKEY/, transport);
  }
});

test('tsig-only, unsigned: NXDOMAIN with the SOA and no TXT, over UDP and TCP, from dig and kdig', async () => {
  for (const transport of ['+notcp', '+tcp']) {
    for (const type of ['TXT', 'ANY', 'A']) {
      const output = await dig(hidingServer, transport, marker, type);
      assert.match(output, /status: NXDOMAIN/, `${transport} ${type}`);
      assert.match(output, /ANSWER: 0, AUTHORITY: 1/, `${transport} ${type}`);
      assert.match(output, soaAuthority, `${transport} ${type}`);
      assert.doesNotMatch(output, anyTxt, `${transport} ${type}`);
      const knot = await kdig(hidingServer, transport, marker, type);
      assert.match(knot, /status: NXDOMAIN/, `kdig ${transport} ${type}`);
      assert.doesNotMatch(knot, anyTxt, `kdig ${transport} ${type}`);
    }
    // ANY at the served name gives one RRset (RFC 8482), never the marker.
    const any = await dig(hidingServer, transport, web, 'ANY');
    assert.match(any, /status: NOERROR/, transport);
    assert.doesNotMatch(any, anyTxt, transport);
    // A name under the marker's label does not exist either.
    assert.match(await dig(hidingServer, transport, `x.${marker}`, 'TXT'), /status: NXDOMAIN/, transport);
  }
});

test('tsig-only, unsigned: the marker is answered byte for byte as a name that never had one', async () => {
  // A name of the same length, so that compression pointers into the question point at the same offsets.
  const absent = `_dnsplane.abc.${zone}`;
  for (const ask of [udpQuery, tcpQuery]) {
    for (const type of ['TXT', 'ANY', 'AAAA']) {
      const hidden = await ask(hidingServer.port, query(marker, type, { id: 9, udpSize: 1232 }));
      const never = await ask(hidingServer.port, query(absent, type, { id: 9, udpSize: 1232 }));
      assert.equal(hidden.rcode, 'NXDOMAIN', type);
      assert.equal(hidden.authorities?.[0]?.type, 'SOA', type);
      const afterQuestion = (response: { raw: Buffer }) => response.raw.subarray(12 + marker.length + 2 + 4);
      assert.deepEqual(hidden.raw.subarray(0, 12), never.raw.subarray(0, 12), `${type}: header`);
      assert.deepEqual(afterQuestion(hidden), afterQuestion(never), `${type}: every section`);
    }
  }
});

test('tsig-only, signed with the key: the marker, in an answer kdig and dig verify, over UDP and TCP', async () => {
  for (const transport of ['+notcp', '+tcp']) {
    const knot = await kdigWithWarnings(hidingServer, transport, ...signedWith(secret), marker, 'TXT');
    assert.match(knot.stdout, /status: NOERROR/, transport);
    assert.match(knot.stdout, /"generation=1" "version=\d+"/, transport);
    assert.match(knot.stdout, /TSIG PSEUDOSECTION:\nmarkers-key\.\s+0\s+ANY\s+TSIG\s+hmac-sha256\. \d+ 300 32 \S+ \d+ NOERROR/);
    // kdig verifies the answer's TSIG and warns on stderr when it fails ("failed to verify TSIG").
    assert.equal(knot.stderr, '', transport);
    for (const type of ['TXT', 'ANY']) {
      const output = await dig(hidingServer, transport, ...signedWith(secret), marker, type);
      assert.match(output, /status: NOERROR/, `${transport} ${type}`);
      assert.match(output, markerText, `${transport} ${type}`);
      assertDigVerified(output, `${transport} ${type}`);
    }
    // Signed queries for ordinary names get the ordinary answer, signed.
    const address = await dig(hidingServer, transport, ...signedWith(secret), web, 'A');
    assert.deepEqual(addressesIn(address), ['10.1.1.1', '10.1.1.2'], transport);
    assertDigVerified(address, `${transport} A`);
  }
});

test('tsig-only, a wrong secret: NOTAUTH with BADSIG; an unknown key: BADKEY; neither shows the marker', async () => {
  for (const transport of ['+notcp', '+tcp']) {
    const badSig = await dig(hidingServer, transport, ...signedWith(wrongSecret), marker, 'TXT');
    assert.match(badSig, /status: NOTAUTH/, transport);
    assert.match(badSig, /TSIG\s+hmac-sha256\. \d+ 300 0 \d+ BADSIG 0/, `${transport}: an unsigned error, MAC size 0`);
    assert.doesNotMatch(badSig, anyTxt, transport);
    const badKey = await dig(hidingServer, transport, ...signedWith(secret, 'stranger'), marker, 'TXT');
    assert.match(badKey, /status: NOTAUTH/, transport);
    assert.match(badKey, /stranger\.\s+0\s+ANY\s+TSIG\s+hmac-sha256\. \d+ 300 0 \d+ BADKEY 0/, transport);
    assert.match(await kdig(hidingServer, transport, ...signedWith(wrongSecret), marker, 'TXT'), /status: BADSIG/, transport);
    assert.match(await kdig(hidingServer, transport, ...signedWith(secret, 'stranger'), marker, 'TXT'), /status: BADKEY/, transport);
  }
});

test('tsig-only, signed at a time outside the fudge: NOTAUTH with BADTIME, signed, with the server time', async () => {
  const nowSeconds = Math.floor(Date.now() / 1000);
  for (const ask of [udpQuery, tcpQuery]) {
    const { signed, mac } = signMessage(dnsPacket.encode(query(marker, 'TXT', { id: 77 })), key, nowSeconds - 3600);
    const response = await ask(hidingServer.port, signed);
    assert.equal(response.raw.readUInt16BE(2) & 0xf, 9, 'NOTAUTH');
    assert.deepEqual(response.answers, []);
    const record = readTsig(response.raw)!;
    assert.equal(record.error, tsigError.BADTIME);
    assert.equal(record.other.length, 6, 'Other Data: the server time (RFC 8945 §5.2.3)');
    assert.ok(Math.abs(record.other.readUIntBE(0, 6) - nowSeconds) < 60, 'the server time, not the request time');
    const check = verifyMessage(response.raw, key, mac, Math.floor(Date.now() / 1000));
    assert.ok(check.ok, `the BADTIME answer is signed over the request's MAC: ${check.ok ? '' : check.problem}`);
  }
});

test('ordinary A queries are answered the same in both modes', async () => {
  for (const server of [publicServer, hidingServer]) {
    for (const transport of ['+notcp', '+tcp']) {
      const output = await dig(server, transport, web, 'A');
      assert.match(output, /status: NOERROR/);
      assert.deepEqual(addressesIn(output), ['10.1.1.1', '10.1.1.2']);
      assert.deepEqual(addressesIn(await kdig(server, transport, web, 'A')), ['10.1.1.1', '10.1.1.2']);
    }
    assert.match(await dig(server, `nope.${zone}`, 'A'), /status: NXDOMAIN/);
  }
});

test('tsig-only with two worker processes: every worker hides the marker and signs it for the key', async () => {
  const workers = await startServe({ [web]: records }, { markers: 'tsig-only', tsig: [keyConfig] }, ['--workers', '2']);
  try {
    // The kernel spreads datagrams and connections over the workers: enough queries reach both.
    for (let round = 0; round < 8; round += 1) {
      const transport = round % 2 === 0 ? '+notcp' : '+tcp';
      const hidden = await dig(workers, transport, marker, 'TXT');
      assert.match(hidden, /status: NXDOMAIN/, `${transport} round ${round}`);
      assert.doesNotMatch(hidden, anyTxt);
      const shown = await dig(workers, transport, ...signedWith(secret), marker, 'TXT');
      assert.match(shown, markerText, `${transport} round ${round}`);
      assertDigVerified(shown, `${transport} round ${round}`);
    }
  } finally {
    await workers.stop();
  }
});

test('serve refuses tsig-only without a key, naming dns.tsig, before it binds anything', async () => {
  const dir = tempDir('dnsplane-markers-');
  try {
    const config = writeConfig(dir.path, {
      zone: `${zone}.`,
      dns: { listen: '127.0.0.1:0', markers: 'tsig-only' },
      endpoints: [{ name: 'placeholder', targets: [{ id: 'p1', address: '127.0.0.9' }] }],
    });
    const result = await runCli(['serve', '--config', config, '--data', join(dir.path, 'data')]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /dns\.tsig: dns\.markers tsig-only shows markers only to queries signed with a key/);
  } finally {
    dir.cleanup();
  }
});

// In-process: the prepared-answer table and signatures no tool sends.

const options: AnswerOptions = {
  zone, ttl: 5, maxAnswers: 8, udpSizeMax: 1232, nameServer: { name: `ns1.${zone}`, v4: ['127.0.0.1'], v6: [] },
  markers: 'tsig-only', tsig: [keyConfig],
};

function snapshotOf(): ServedSnapshot {
  const snapshot = new ServedSnapshot(zone);
  snapshot.apply([{ name: web, version: 1, state: { name: web, generation: 3, version: '1', records } }], 1);
  return snapshot;
}

type Decoded = DecodedPacket & { rcode: string };

test('the answer table never carries a marker from a signed answer to an unsigned query, nor the reverse', () => {
  const snapshot = snapshotOf();
  const answerer = new Answerer(options);
  const nowSeconds = Math.floor(Date.now() / 1000);
  const unsigned = () => dnsPacket.decode(answerer.answer(dnsPacket.encode(query(marker, 'TXT')), 'udp', snapshot, seededRng(1))!) as Decoded;
  const signed = () => {
    const { signed: request } = signMessage(dnsPacket.encode(query(marker, 'TXT')), key, nowSeconds);
    return dnsPacket.decode(answerer.answer(request, 'udp', snapshot, seededRng(1))!) as Decoded;
  };
  for (const round of [1, 2]) {
    assert.equal(unsigned().rcode, 'NXDOMAIN', `round ${round}`);
    assert.deepEqual(signed().answers!.map((record) => record.type), ['TXT'], `round ${round}`);
  }
  assert.equal(unsigned().rcode, 'NXDOMAIN', 'after a signed answer');
});

test('a TSIG that is not the last record, or a MAC of a bad length, is FORMERR; a truncated one BADTRUNC', () => {
  const snapshot = snapshotOf();
  const answerer = new Answerer(options);
  const nowSeconds = Math.floor(Date.now() / 1000);
  const { signed } = signMessage(dnsPacket.encode(query(marker, 'TXT')), key, nowSeconds);
  const rcodeOf = (request: Buffer) => (dnsPacket.decode(answerer.answer(request, 'udp', snapshot, seededRng(1))!) as Decoded).rcode;
  // An OPT after the TSIG.
  const opt = dnsPacket.encode({ ...query('x', 'A', { udpSize: 1232 }), questions: [] }).subarray(12);
  const notLast = Buffer.concat([signed, opt]);
  notLast.writeUInt16BE(2, 10);
  assert.equal(rcodeOf(notLast), 'FORMERR');
  assert.match(answerer.outcome.problem ?? '', /TSIG record that is not the last/);
  // The same signature with its MAC cut to 16 bytes (half of SHA-256, the least RFC 8945 §5.2.2.1 allows) and to 8.
  const full = readTsig(signed)!.mac;
  const withMac = (mac: Buffer) => {
    const macStart = signed.length - 6 - full.length;
    const message = Buffer.concat([signed.subarray(0, macStart - 2), Buffer.from([0, mac.length]), mac, signed.subarray(macStart + full.length)]);
    const rdlength = signed.length - readTsig(signed)!.unsigned.length - 10 - key.name.length - 2;
    message.writeUInt16BE(rdlength - full.length + mac.length, readTsig(signed)!.unsigned.length + key.name.length + 2 + 8);
    return message;
  };
  const truncated = answerer.answer(withMac(full.subarray(0, 16)), 'udp', snapshot, seededRng(1))!;
  assert.equal(truncated.readUInt16BE(2) & 0xf, 9, 'NOTAUTH');
  assert.equal(readTsig(truncated)!.error, tsigError.BADTRUNC);
  assert.equal(rcodeOf(withMac(full.subarray(0, 8))), 'FORMERR');
  assert.equal(rcodeOf(withMac(Buffer.alloc(16, 1))), 'NOTAUTH', 'a wrong truncated MAC is BADSIG');
  assert.equal(readTsig(answerer.answer(withMac(Buffer.alloc(16, 1)), 'udp', snapshot, seededRng(1))!)!.error, tsigError.BADSIG);
});
