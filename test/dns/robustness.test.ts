// Goal: no packet and no client can take the DNS server down or hold it
// up. Method: a seeded generator (test/dns/fuzz.ts; the seed is printed)
// produces random and mutated messages — truncated, bad section counts,
// compression loops, oversized labels, odd opcodes and EDNS. First 100,000
// of them go through answerQuery in process, where every answer must decode
// and never amplify junk; then 100,000 more are thrown at a real
// `dnsplane serve` child, 75,000 over UDP and 25,000 over TCP, with a valid
// query after every batch that must be answered correctly. Last, half-open,
// slow-loris and non-reading TCP clients fill the connection limit while
// ordinary queries must still be answered promptly, and the server must
// close those clients itself.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import { answerQuery, type AnswerOptions } from '../../src/dns/answer.js';
import { ServedSnapshot } from '../../src/dns/snapshot.js';
import type { Rng } from '../../src/util/clock.js';
import { pollUntil } from '../helpers/env.js';
import { fastRng, fuzzPacket, validQuery } from './fuzz.js';
import { addresses, answerAddresses, query, startServe, tcpQuery, udpQuery, zone, type ServeHandle } from './helpers.js';

const seed = Number(process.env.DNSPLANE_FUZZ_SEED ?? Date.now() % 1_000_000_007);
const served = `dynamodb.us-east-1.${zone}`;
const servedAddresses = ['127.0.0.2', '127.0.0.3'];
const idleTimeoutMs = 1000;
const connectionsMax = 32;
let server: ServeHandle;

before(async () => {
  server = await startServe(
    { [served]: servedAddresses.map((address, index) => ({ target: `lb-${index}`, address, weight: 1 })), [`big.${zone}`]: addresses(64, 6) },
    {
      maxAnswers: 64,
      // This test is about parsing and connections, not rate limiting: a limit far above what it sends.
      rateLimit: { responsesPerSecond: 10_000_000, burst: 10_000_000 },
      tcp: { connectionsMax, idleTimeout: `${idleTimeoutMs}ms` },
    },
  );
});

after(async () => {
  await server?.stop();
});

/** Asserts the server is alive and answers a valid query correctly over both transports. */
async function assertServing(what: string): Promise<void> {
  assert.equal(server.child.process.exitCode, null, `${what}: the server process is up`);
  assert.doesNotMatch(server.child.stderr(), /unexpected error while answering|FATAL|invariant/, `${what}: no internal error`);
  for (const ask of [udpQuery, tcpQuery]) {
    const response = await ask(server.port, query(served, 'A', { id: 777 }), 3000);
    assert.equal(response.id, 777, what);
    assert.deepEqual(answerAddresses(response).sort(), servedAddresses, what);
  }
}

test(`in process: 100,000 hostile packets never crash answerQuery, every reply decodes, junk is never amplified (seed ${seed})`, (t) => {
  t.diagnostic(`reproduce with DNSPLANE_FUZZ_SEED=${seed}`);
  const snapshot = new ServedSnapshot(zone);
  snapshot.apply([{ name: served, version: 1, state: { name: served, generation: 1, version: '1', records: addresses(3) } }], 1);
  const options: AnswerOptions = { zone, ttl: 5, maxAnswers: 8, udpSizeMax: 1232, nameServer: { name: `ns1.${zone}`, v4: ['127.0.0.1'], v6: [] } };
  const rng = fastRng(seed);
  const rcodes = new Map<string, number>();
  for (let index = 0; index < 100_000; index += 1) {
    const { kind, packet } = fuzzPacket(rng);
    const transport = index % 2 === 0 ? 'udp' : 'tcp';
    const result = answerQuery(packet, transport, snapshot, options, rng);
    rcodes.set(result.rcode ?? `dropped:${result.drop}`, (rcodes.get(result.rcode ?? `dropped:${result.drop}`) ?? 0) + 1);
    if (result.response === null) continue;
    // Checked by hand and the message built only on failure: 100,000 assert calls with formatted messages cost seconds.
    const where = () => `packet ${index} (${kind}) ${packet.toString('hex')}`;
    const reply = dnsPacket.decode(result.response);
    if (!reply.flag_qr || reply.flag_ra || reply.id !== packet.readUInt16BE(0)) assert.fail(`${where()}: QR set, RA clear, id echoed`);
    if (transport === 'udp' && result.response.length > 1232) assert.fail(`${where()}: larger than udpSizeMax`);
    const error = result.rcode !== 'NOERROR' && result.rcode !== 'NXDOMAIN';
    if (error && result.response.length > packet.length) assert.fail(`${where()}: an error reply larger than the query`);
  }
  t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(rcodes))}`);
  assert.ok((rcodes.get('FORMERR') ?? 0) > 10_000, 'the corpus is mostly malformed');
  assert.ok((rcodes.get('NOERROR') ?? 0) > 5000, 'and still holds valid queries');
});

test(`serve: 75,000 hostile UDP packets, a valid query answered correctly after every 500 (seed ${seed})`, async () => {
  const rng = fastRng(seed + 1);
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  try {
    for (let batch = 0; batch < 150; batch += 1) {
      for (let index = 0; index < 500; index += 1) socket.send(fuzzPacket(rng).packet, server.port, '127.0.0.1');
      // The server reads its socket in order: once this is answered, the batch before it has been handled.
      const response = await udpQuery(server.port, query(served, 'A', { id: batch }), 5000);
      assert.deepEqual(answerAddresses(response).sort(), servedAddresses, `after batch ${batch}`);
    }
  } finally {
    socket.close();
  }
  await assertServing('after the UDP barrage');
});

/** Writes `frames` on a new connection, reads whatever comes back, resolves when the server answers the last (sentinel) frame or closes. */
function tcpSession(port: number, frames: Buffer[], sentinelId: number): Promise<'answered' | 'closed'> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('a TCP fuzz session got neither its sentinel answer nor a close within 10 s'));
    }, 10_000);
    const finish = (outcome: 'answered' | 'closed') => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    socket.on('error', () => {});
    socket.on('close', () => finish('closed'));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        const message = received.subarray(2, 2 + received.readUInt16BE(0));
        received = received.subarray(2 + message.length);
        const reply = dnsPacket.decode(message);
        if (reply.id === sentinelId && reply.questions?.[0]?.name === served) {
          assert.deepEqual(answerAddresses(reply).sort(), servedAddresses);
          return finish('answered');
        }
      }
    });
    socket.write(Buffer.concat(frames));
  });
}

function frame(message: Buffer): Buffer {
  const framed = Buffer.alloc(2 + message.length);
  framed.writeUInt16BE(message.length, 0);
  message.copy(framed, 2);
  return framed;
}

test(`serve: 25,000 hostile TCP messages on 100 connections, some with broken framing (seed ${seed})`, async () => {
  const rng = fastRng(seed + 2);
  const outcomes = { answered: 0, closed: 0 };
  for (let session = 0; session < 100; session += 1) {
    const frames: Buffer[] = [];
    for (let index = 0; index < 250; index += 1) {
      const { packet } = fuzzPacket(rng);
      // One session in ten breaks the framing itself: a length prefix the server must refuse, closing the connection.
      if (session % 10 === 9 && index === 125) frames.push(Buffer.from([0, randomTiny(rng)]));
      else if (packet.length >= 12) frames.push(frame(packet));
      else frames.push(frame(validQuery(rng)));
    }
    const sentinelId = 60_000 + session;
    frames.push(frame(dnsPacket.encode(query(served, 'A', { id: sentinelId }))));
    outcomes[await tcpSession(server.port, frames, sentinelId)] += 1;
  }
  assert.equal(outcomes.answered, 90, 'every session with sound framing reached its sentinel answer');
  assert.equal(outcomes.closed, 10, 'every session with broken framing was closed');
  await assertServing('after the TCP barrage');
});

function randomTiny(rng: Rng): number {
  return Math.floor(rng.next() * 12);
}

function openClient(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

function closedPromise(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once('close', () => resolve());
  });
}

test('serve: half-open, slow-loris and non-reading TCP clients at the connection limit cannot block others', async () => {
  const halfOpen = await Promise.all(Array.from({ length: connectionsMax }, () => openClient(server.port)));
  const slow = await Promise.all(Array.from({ length: 4 }, () => openClient(server.port)));
  const trickle = setInterval(() => {
    for (const socket of slow) if (!socket.destroyed) socket.write(Buffer.from([0]));
  }, 100);
  const nonReader = await openClient(server.port);
  nonReader.pause();
  const greedy = dnsPacket.encode(query(`big.${zone}`, 'AAAA'));
  nonReader.write(Buffer.concat(Array.from({ length: 3000 }, () => frame(greedy))));
  const attackers = [...halfOpen, ...slow, nonReader];
  for (const socket of attackers) socket.on('error', () => {});
  const closed = attackers.map(closedPromise);
  try {
    for (let round = 0; round < 10; round += 1) {
      const response = await tcpQuery(server.port, query(served, 'A', { id: round }), 10_000);
      assert.deepEqual(answerAddresses(response).sort(), servedAddresses, `round ${round}`);
    }
    await assertServing('with the connection limit full of bad clients');
    // A client that does not read cannot see the server close it either: let it read now.
    nonReader.resume();
    // The server closes them itself: evicted at the limit, or idle for idleTimeoutMs (trickled bytes do not count).
    await pollUntil(async () => (await Promise.race([Promise.all(closed).then(() => true), new Promise((r) => setTimeout(() => r(false), 50))])), 'every bad client to be closed by the server', idleTimeoutMs * 5);
  } finally {
    clearInterval(trickle);
    for (const socket of attackers) socket.destroy();
  }
});
