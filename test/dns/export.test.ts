// Goal: the DNS server's query counters reach the store's counters table,
// where the API exports them as dnsplane_dns_queries_total{type} and
// dnsplane_dns_responses_total{rcode}. Method: a real `serve` child, real
// queries (A answered, a name outside the zone refused), counters polled
// from the SQLite store with a deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { pollUntil } from '../helpers/env.js';
import { query, startServe, udpQuery, zone } from './helpers.js';

test('serve adds its query counts by type and rcode to the store', async () => {
  const name = `dynamodb.us-east-1.${zone}`;
  const server = await startServe({ [name]: [{ target: 'lb-1', address: '127.0.0.2', weight: 1 }] });
  const store = new SqliteStore(server.dbPath);
  try {
    for (let i = 0; i < 5; i += 1) assert.equal((await udpQuery(server.port, query(name, 'A', { id: 100 + i }))).rcode, 'NOERROR');
    assert.equal((await udpQuery(server.port, query('example.org', 'A', { id: 200 }))).rcode, 'REFUSED');
    const counters = await pollUntil(async () => {
      const values = Object.fromEntries((await store.readCounters()).map((c) => [c.name, c.value]));
      return (values['dns_queries{type="A"}'] ?? 0) >= 6 && (values['dns_responses{rcode="REFUSED"}'] ?? 0) >= 1 ? values : null;
    }, 'the counters to be exported', 15_000, 100);
    assert.ok(counters['dns_responses{rcode="NOERROR"}']! >= 5);
  } finally {
    await store.close();
    await server.stop();
  }
});
