// Goal: the server object's own duties — counters by query type and rcode
// for the metrics exporter, response rate limiting on the wire (dropped and
// slipped answers over UDP, a slip counted as a truncated answer and not as a
// drop, TCP untouched), freshness by polling alone
// when there are no change notices, and the sum of the counters of cluster
// workers. Method: an in-process DnsServer on a free loopback port
// with its store filled through BuiltinSqliteProvider.apply, queried with
// raw UDP and TCP clients; its `counters` field is read directly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { parseConfig } from '../../src/config/load.js';
import { emptyCounters, sumCounters } from '../../src/dns/counters.js';
import { dnsServerOptions } from '../../src/dns/options.js';
import { DnsServer } from '../../src/dns/server.js';
import { SqliteServedSource } from '../../src/dns/source.js';
import type { ServedSource } from '../../src/dns/served.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { silentLogger } from '../../src/util/log.js';
import { freeDualPort, pollUntil, tempDir } from '../helpers/env.js';
import { addresses, answerAddresses, query, tcpQuery, udpQuery, zone } from './helpers.js';

const served = `dynamodb.us-east-1.${zone}`;

/** The real source without its change notices, so only polling keeps the snapshot fresh. */
class PollingOnlySource implements ServedSource {
  constructor(private readonly inner: SqliteServedSource) {}
  open() {
    return this.inner.open();
  }
  raiseAlarm(kind: string, message: string) {
    return this.inner.raiseAlarm(kind, message);
  }
  clearAlarm(kind: string) {
    return this.inner.clearAlarm(kind);
  }
  close() {
    return this.inner.close();
  }
}

async function withServer(dns: Record<string, unknown>, body: (server: DnsServer, provider: BuiltinSqliteProvider) => Promise<void>, pollingOnly = false): Promise<void> {
  const temp = tempDir();
  const dbPath = join(temp.path, 'state.db');
  const provider = new BuiltinSqliteProvider(dbPath);
  await provider.apply([{ name: served, records: addresses(3), generation: 1, expectedVersion: null }]);
  const config = parseConfig({ zone: `${zone}.`, dns: { listen: '127.0.0.1:53', ...dns }, endpoints: [{ name: 'p', targets: [{ id: 'p1', address: '127.0.0.9' }] }] });
  const options = dnsServerOptions(config, temp.path, { port: await freeDualPort() });
  const source = new SqliteServedSource(dbPath);
  const server = new DnsServer({ ...options, storePath: dbPath }, pollingOnly ? new PollingOnlySource(source) : source, silentLogger);
  await server.start();
  try {
    await body(server, provider);
  } finally {
    await server.stop();
    await provider.close();
    temp.cleanup();
  }
}

test('counters count queries by type and responses by rcode, per transport', async () => {
  await withServer({}, async (server) => {
    await udpQuery(server.port, query(served, 'A'));
    await udpQuery(server.port, query(served, 'A'));
    await tcpQuery(server.port, query(served, 'AAAA'));
    await udpQuery(server.port, query(`nope.${zone}`, 'A'));
    await udpQuery(server.port, query('example.com', 'TXT'));
    await udpQuery(server.port, query(served, 'A', { udpSize: 1232, ednsVersion: 1 }));
    await udpQuery(server.port, Buffer.concat([dnsPacket.encode(query(served, 'A')), Buffer.from([1])]));
    const counters = server.counters;
    assert.equal(counters.queriesByType.A, 4);
    assert.equal(counters.queriesByType.AAAA, 1);
    assert.equal(counters.queriesByType.TXT, 1);
    assert.deepEqual(
      { NOERROR: counters.responsesByRcode.NOERROR, NXDOMAIN: counters.responsesByRcode.NXDOMAIN, REFUSED: counters.responsesByRcode.REFUSED, BADVERS: counters.responsesByRcode.BADVERS, FORMERR: counters.responsesByRcode.FORMERR },
      { NOERROR: 3, NXDOMAIN: 1, REFUSED: 1, BADVERS: 1, FORMERR: 1 },
    );
    assert.equal(counters.udpQueries, 6);
    assert.equal(counters.tcpQueries, 1);
    assert.equal(counters.snapshotNames, 1);
    await pollUntil(() => server.counters.refreshes > 0, 'a refresh to be counted');
  });
});

test('rate limiting over UDP: past the burst answers are dropped or slipped (TC, empty), TCP still answers', async () => {
  await withServer({ rateLimit: { responsesPerSecond: 1, burst: 20, slip: 2 } }, async (server) => {
    const socket = createSocket('udp4');
    const replies: dnsPacket.DecodedPacket[] = [];
    socket.on('message', (raw) => replies.push(dnsPacket.decode(raw)));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    try {
      for (let index = 0; index < 200; index += 1) socket.send(dnsPacket.encode(query(served, 'A', { id: index })), server.port, '127.0.0.1');
      await pollUntil(() => server.counters.udpQueries + server.counters.dropped['rate-limited']! >= 200 && replies.length >= 110, 'every query to be handled');
    } finally {
      socket.close();
    }
    const full = replies.filter((reply) => !reply.flag_tc);
    const slipped = replies.filter((reply) => reply.flag_tc);
    assert.ok(full.length >= 20 && full.length <= 21, `${full.length} full answers: the burst (plus at most one refilled token)`);
    assert.ok(full.every((reply) => answerAddresses(reply).length === 3));
    assert.ok(slipped.length >= 85 && slipped.length <= 90, `${slipped.length} slipped: every second limited answer`);
    assert.ok(slipped.every((reply) => (reply.answers ?? []).length === 0 && reply.questions?.[0]?.name === served));
    // A slip is an answer (truncated), not a drop: only the queries that got nothing back count as dropped.
    assert.equal(server.counters.dropped['rate-limited'], 200 - full.length - slipped.length);
    assert.ok(!('rate-limit-slipped' in server.counters.dropped), 'no drop reason for slips');
    assert.equal(server.counters.udpQueries, full.length + slipped.length, 'every answered query is counted');
    assert.equal(server.counters.truncated, slipped.length, 'slips count as truncated answers');
    assert.equal(server.counters.responsesByRcode.NOERROR, full.length + slipped.length);
    const overTcp = await tcpQuery(server.port, query(served, 'A'));
    assert.equal(answerAddresses(overTcp).length, 3, 'TCP is not rate limited: a limited client can always get its answer there');
  });
});

// How fast polling shows an apply is measured by bench/dns.bench.ts, not asserted here (a loaded machine is slow).
test('without change notices, polling alone (every 25 ms) shows each apply', async () => {
  await withServer({ refreshInterval: '25ms' }, async (server, provider) => {
    for (let round = 0; round < 10; round += 1) {
      const current = (await provider.read([served])).get(served)!;
      const address = `198.51.100.${round + 1}`;
      await provider.apply([{ name: served, records: [{ target: `r${round}`, address, weight: 1 }], generation: round + 2, expectedVersion: current.version }]);
      await pollUntil(async () => answerAddresses(await udpQuery(server.port, query(served, 'A')))[0] === address, `round ${round}: the new address`, 10_000, 5);
    }
  }, true);
});

test('cluster counters add up, and the snapshot figures are those of the most behind worker', () => {
  const first = emptyCounters();
  first.queriesByType.A = 5;
  first.responsesByRcode.NOERROR = 5;
  first.snapshotVersion = 9;
  first.snapshotNames = 3;
  const second = emptyCounters();
  second.queriesByType.A = 2;
  second.dropped['rate-limited'] = 4;
  second.failStatic = true;
  second.snapshotVersion = 7;
  second.snapshotNames = 3;
  const total = sumCounters([first, second]);
  assert.equal(total.queriesByType.A, 7);
  assert.equal(total.responsesByRcode.NOERROR, 5);
  assert.equal(total.dropped['rate-limited'], 4);
  assert.equal(total.failStatic, true);
  assert.equal(total.snapshotVersion, 7);
});

test('a removed name answers NXDOMAIN, as does its marker, with the SOA; its removal generation stays in the store', async () => {
  // Goal (issue 13): removal answers NXDOMAIN on every provider — here the built-in one, served by the built-in server.
  await withServer({}, async (server, provider) => {
    const current = (await provider.read([served])).get(served)!;
    const [removed] = await provider.apply([{ name: served, records: null, generation: 2, expectedVersion: current.version }]);
    assert.equal(removed!.outcome, 'applied');
    assert.deepEqual(await provider.readRemovals([served]), new Map([[served, 2]]), 'the tombstone is kept');
    for (const [name, type] of [[served, 'A'], [served, 'AAAA'], [served, 'TXT'], [`_dnsplane.${served}`, 'TXT']] as const) {
      await pollUntil(async () => (await udpQuery(server.port, query(name, type))).rcode === 'NXDOMAIN',
        `${name} ${type} to answer NXDOMAIN`, 10_000, 5);
      const answer = await udpQuery(server.port, query(name, type));
      assert.deepEqual(answer.answers, [], `${name} ${type}: no answer`);
      assert.equal(answer.authorities?.[0]?.type, 'SOA', `${name} ${type}: the SOA in authority (RFC 2308)`);
    }
  });
});
