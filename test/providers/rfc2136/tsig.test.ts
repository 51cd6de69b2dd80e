// Goal: the TSIG code (RFC 8945) computes exactly the MACs that independent
// implementations compute, verifies them, and rejects anything altered.
// Method: BIND's `nsupdate` and Knot's `knsupdate` sign an UPDATE for each of
// hmac-sha256, hmac-sha512 and hmac-sha1 and send it to a loopback TCP
// listener of this test; the captured message is the known vector — our
// verifier accepts it, and re-signing its unsigned part with the same time
// reproduces their MAC byte for byte. Then round trips: a signed request,
// a response signed over the request MAC, a chain of transfer messages, and
// single-byte tampering, which must always be caught.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { spawnProcess, tempDir } from '../../helpers/env.js';
import { TransferVerifier, readTsig, signMessage, verifyMessage, type TsigAlgorithm, type TsigKey } from '../../../src/providers/rfc2136/tsig.js';
import { encodeQuery, encodeUpdate, dnsClass, dnsType, emptyRdata, type DecodedRecord } from '../../../src/providers/rfc2136/wire.js';
import { readZone } from '../../../src/providers/rfc2136/transfer.js';
import dnsPacket from 'dns-packet';
import { frame, serverSign } from './stand-in.js';

const algorithms: TsigAlgorithm[] = ['hmac-sha256', 'hmac-sha512', 'hmac-sha1'];

/** Runs an update client against a listener that keeps the first framed message it receives, then stops the client by pid. */
async function captureSignedUpdate(tool: '/usr/bin/nsupdate' | '/usr/bin/knsupdate', key: TsigKey): Promise<Buffer> {
  const dir = tempDir('dnsplane-tsig-');
  let resolveMessage: (message: Buffer) => void = () => undefined;
  const captured = new Promise<Buffer>((resolve) => { resolveMessage = resolve; });
  const server = createServer((socket) => {
    let data = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        resolveMessage(data.subarray(2, 2 + data.readUInt16BE(0)));
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const script = join(dir.path, 'update.txt');
  writeFileSync(script, [`server 127.0.0.1 ${port}`, 'zone dnsplane.test', 'update add x.dnsplane.test 5 A 192.0.2.1', 'send', ''].join('\n'));
  const secret = key.secret.toString('base64');
  const client = spawnProcess(tool, ['-v', '-y', `${key.algorithm}:${key.name}:${secret}`, script]);
  try {
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${tool} sent nothing: ${client.stderr()}`)), 10_000).unref());
    return await Promise.race([captured, timeout]);
  } finally {
    await client.stop(1000);
    server.close();
    dir.cleanup();
  }
}

function keyFor(algorithm: TsigAlgorithm): TsigKey {
  return { name: `key-${algorithm}.example`, algorithm, secret: randomBytes(32) };
}

for (const tool of ['/usr/bin/nsupdate', '/usr/bin/knsupdate'] as const) {
  for (const algorithm of algorithms) {
    test(`a ${algorithm} UPDATE signed by ${tool.split('/').pop()} verifies, and re-signing reproduces its MAC`, async () => {
      const key = keyFor(algorithm);
      const message = await captureSignedUpdate(tool, key);
      const record = readTsig(message);
      assert.ok(record !== null, 'the captured UPDATE carries a TSIG record');
      assert.equal(record.algorithm, algorithm);
      assert.equal(record.keyName, key.name);
      const now = Math.floor(Date.now() / 1000);
      const check = verifyMessage(message, key, null, now);
      assert.ok(check.ok, check.ok ? '' : check.problem);
      const resigned = signMessage(record.unsigned, key, record.timeSigned);
      assert.deepEqual(resigned.mac, record.mac, 'our MAC equals theirs for the same message and time');
      const wrongKey = { ...key, secret: randomBytes(32) };
      assert.equal(verifyMessage(message, wrongKey, null, now).ok, false, 'another secret does not verify');
    });
  }
}

/** A response body: `message` with QR set and no TSIG. */
function asResponse(message: Buffer): Buffer {
  const response = Buffer.from(message);
  response.writeUInt16BE(response.readUInt16BE(2) | 0x8000, 2);
  return response;
}

test('a response signed over the request MAC verifies only with that request MAC and unaltered bytes', () => {
  const key = keyFor('hmac-sha256');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = encodeUpdate({
    id: 4242, zone: 'dnsplane.test',
    prerequisites: [{ owner: '_dnsplane.a.dnsplane.test', type: dnsType.TXT, klass: dnsClass.NONE, ttl: 0, rdata: emptyRdata }],
    updates: [{ owner: 'a.dnsplane.test', type: dnsType.A, klass: dnsClass.ANY, ttl: 0, rdata: emptyRdata }],
  }, 65_535);
  const request = signMessage(unsigned, key, now);
  assert.ok(verifyMessage(request.signed, key, null, now).ok, 'the request verifies as a request');
  const response = serverSign(asResponse(unsigned), key, now, request.mac, false).message;
  assert.ok(verifyMessage(response, key, request.mac, now).ok, 'the response verifies over the request MAC');
  assert.equal(verifyMessage(response, key, randomBytes(32), now).ok, false, 'another request MAC does not verify');
  assert.equal(verifyMessage(response, key, request.mac, now + 301).ok, false, 'outside the fudge window');
  // Bytes 0-1 are the message id, which RFC 8945 lets forwarders change (the MAC covers the Original ID instead).
  for (let offset = 2; offset < response.length; offset += 1) {
    const tampered = Buffer.from(response);
    tampered[offset] = tampered[offset]! ^ 0x01;
    let verified = false;
    try {
      verified = verifyMessage(tampered, key, request.mac, now).ok;
    } catch {
      verified = false; // a tampered length or name that no longer parses is caught too
    }
    assert.equal(verified, false, `a flipped bit at byte ${offset} of ${response.length} is detected`);
  }
});

test('a zone transfer verifies message by message over the previous MAC, and a reordered chain does not', () => {
  const key = keyFor('hmac-sha512');
  const now = Math.floor(Date.now() / 1000);
  const request = signMessage(encodeQuery(7, 'dnsplane.test', 'AXFR'), key, now);
  // A chain as a server sends it: the first message over the request MAC, each later one over the previous MAC, timers only.
  const chain: Buffer[] = [];
  let prior = request.mac;
  for (let index = 0; index < 3; index += 1) {
    const signed = serverSign(asResponse(encodeQuery(7, `m${index}.dnsplane.test`, 'TXT')), key, now, prior, index > 0);
    chain.push(signed.message);
    prior = signed.mac;
  }
  const verifier = new TransferVerifier(key, request.mac);
  for (const message of chain) assert.equal(verifier.accept(message, now), null);
  assert.ok(verifier.complete);
  const reordered = new TransferVerifier(key, request.mac);
  assert.equal(reordered.accept(chain[0]!, now), null);
  assert.notEqual(reordered.accept(chain[2]!, now), null, 'skipping a message breaks the chain');
});

/**
 * A stand-in for a server on the path that appends records to a signed zone transfer: it answers an AXFR with a first
 * message signed over the request MAC, then a closing message signed over that one or (`tamper`) not signed at all.
 */
async function transferFrom(key: TsigKey, tamper: boolean): Promise<DecodedRecord[]> {
  const zone = 'dnsplane.test';
  const soa = { name: zone, type: 'SOA' as const, ttl: 300, data: { mname: `ns1.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 5 } };
  const server = createServer((socket) => {
    let data = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length < 2 || data.length < 2 + data.readUInt16BE(0)) return;
      const query = data.subarray(2, 2 + data.readUInt16BE(0));
      const request = readTsig(query)!;
      const now = Math.floor(Date.now() / 1000);
      const body = (answers: dnsPacket.Answer[]) => dnsPacket.encode({
        id: query.readUInt16BE(0), type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER,
        questions: [{ name: zone, type: 'AXFR' }], answers,
      });
      const first = serverSign(body([soa, { name: `a.${zone}`, type: 'A', ttl: 5, data: '192.0.2.1' }]), key, now, request.mac, false);
      const closing = body([{ name: `evil.${zone}`, type: 'A', ttl: 5, data: '203.0.113.66' }, soa]);
      const last = tamper ? closing : serverSign(closing, key, now, first.mac, true).message;
      socket.end(Buffer.concat([frame(first.message), frame(last)]));
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    return await readZone({ server: address, zone, key, timeoutMs: 5000 });
  } finally {
    server.close();
  }
}

test('a signed zone transfer must end on a signed message: records appended unsigned after the last MAC are refused', async () => {
  const key = keyFor('hmac-sha256');
  const records = await transferFrom(key, false);
  assert.deepEqual(records.map((record) => `${record.name} ${record.type}`), ['dnsplane.test SOA', 'a.dnsplane.test A', 'evil.dnsplane.test A', 'dnsplane.test SOA'], 'a chain signed to its end is read whole');
  await assert.rejects(transferFrom(key, true), /did not end on a signed message/);
});
