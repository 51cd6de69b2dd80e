// Goal: fail static — when the store cannot be read, the server keeps
// answering every managed name from its last good snapshot, counts and
// alarms the failure, and catches up once the store is back; it never
// answers a managed name with nothing because of a read error, and never
// trades a whole zone for an empty replacement file. Method: end to end, a
// real `dnsplane serve` child whose SQLite file is swapped for garbage
// (the original kept under a hard link, then put back), queried over UDP
// and TCP throughout; in process, a DnsServer whose source is made to fail
// on demand, and whose store file is replaced by a valid and by an empty
// store, with the counters, the snapshot and the store's alarms checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, linkSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { dnsServerOptions } from '../../src/dns/options.js';
import { failStaticAlarm } from '../../src/dns/refresher.js';
import { DnsServer } from '../../src/dns/server.js';
import { SqliteServedSource } from '../../src/dns/source.js';
import type { ServedReader, ServedSource } from '../../src/dns/served.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { silentLogger } from '../../src/util/log.js';
import { freeDualPort, pollUntil, tempDir } from '../helpers/env.js';
import { addresses, answerAddresses, query, startServe, tcpQuery, udpQuery, zone } from './helpers.js';

const served = `dynamodb.us-east-1.${zone}`;
const original = ['127.0.0.2', '127.0.0.3'];

/**
 * Moves a SQLite store with its -wal and -shm files to `target` (by hard link and unlink, or by rename), as one
 * must: a main file put in place next to another file's WAL would be read through that WAL.
 */
function moveStore(source: string, target: string, how: 'link' | 'rename'): void {
  for (const suffix of ['', '-wal', '-shm']) {
    if (!existsSync(`${source}${suffix}`)) continue;
    if (how === 'link') {
      linkSync(`${source}${suffix}`, `${target}${suffix}`);
      unlinkSync(`${source}${suffix}`);
    } else {
      renameSync(`${source}${suffix}`, `${target}${suffix}`);
    }
  }
}

async function answersOf(port: number, transport: 'udp' | 'tcp'): Promise<string[]> {
  const response = await (transport === 'udp' ? udpQuery : tcpQuery)(port, query(served, 'A'));
  assert.equal(response.rcode, 'NOERROR');
  return answerAddresses(response).sort();
}

test('serve: a store swapped for garbage keeps the answers flowing, is alarmed, and is caught up with once back', async () => {
  const server = await startServe({ [served]: original.map((address, index) => ({ target: `lb-${index}`, address, weight: 1 })) });
  try {
    assert.deepEqual(await answersOf(server.port, 'udp'), original);
    // The store's files vanish from under the server (kept under hard links, same inodes) and garbage takes the
    // main file's place. The WAL must go too: SQLite would otherwise read the valid pages from it.
    moveStore(server.dbPath, join(server.dir, 'kept.db'), 'link');
    writeFileSync(join(server.dir, 'garbage.db'), Buffer.alloc(64 * 1024, 0x5a));
    renameSync(join(server.dir, 'garbage.db'), server.dbPath);
    await pollUntil(() => server.child.stderr().includes(failStaticAlarm), 'the fail-static alarm in the log', 10_000);
    // An enactment lands in the real file while the server cannot read it; the server must keep the last good answers.
    await server.setRecords(served, [{ target: 'lb-9', address: '127.0.0.9', weight: 1 }]);
    for (let round = 0; round < 50; round += 1) {
      assert.deepEqual(await answersOf(server.port, round % 2 === 0 ? 'udp' : 'tcp'), original, `round ${round}: still the last good snapshot`);
    }
    // Back in place, the main file first: from then on the path names the file the server has open again.
    renameSync(join(server.dir, 'kept.db'), server.dbPath);
    for (const suffix of ['-wal', '-shm']) renameSync(join(server.dir, `kept.db${suffix}`), `${server.dbPath}${suffix}`);
    await pollUntil(async () => (await answersOf(server.port, 'udp')).join() === '127.0.0.9', 'the enactment made during the outage to be served', 10_000);
    await pollUntil(() => server.child.stderr().includes('store readable again'), 'the recovery log', 5000);
    const store = new SqliteStore(server.dbPath);
    try {
      const alarm = await pollUntil(async () => (await store.listAlarms(false)).find((a) => a.kind === failStaticAlarm), 'the alarm recorded in the store', 5000);
      assert.match(alarm.message, /unreadable/);
    } finally {
      await store.close();
    }
  } finally {
    await server.stop();
  }
});

/** A source that delegates to the real one but fails while `broken` is set, as a disk or lock error would. */
class FlakySource implements ServedSource {
  broken = false;
  constructor(private readonly inner: SqliteServedSource) {}
  open(): { reader: ServedReader; fresh: boolean } {
    if (this.broken) throw new Error('injected read failure (SQLITE_IOERR)');
    return this.inner.open();
  }
  raiseAlarm(kind: string, message: string): Promise<void> {
    return this.inner.raiseAlarm(kind, message);
  }
  clearAlarm(kind: string): Promise<void> {
    return this.inner.clearAlarm(kind);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

async function inProcessServer(dbPath: string, dataDir: string): Promise<{ server: DnsServer; source: FlakySource }> {
  const config = parseConfig({ zone: `${zone}.`, dns: { listen: '127.0.0.1:53', refreshInterval: '10ms' }, endpoints: [{ name: 'p', targets: [{ id: 'p1', address: '127.0.0.9' }] }] });
  const options = dnsServerOptions(config, dataDir, { port: await freeDualPort() });
  const source = new FlakySource(new SqliteServedSource(dbPath, 'dns-under-test'));
  const server = new DnsServer({ ...options, storePath: dbPath }, source, silentLogger);
  await server.start();
  return { server, source };
}

test('in process: read failures keep the snapshot, set the flag and counters, and alarm in the store while it is writable', async () => {
  const temp = tempDir();
  const dbPath = join(temp.path, 'state.db');
  const provider = new BuiltinSqliteProvider(dbPath);
  const store = new SqliteStore(dbPath);
  await provider.apply([{ name: served, records: addresses(3), generation: 1, expectedVersion: null }]);
  const { server, source } = await inProcessServer(dbPath, temp.path);
  try {
    source.broken = true;
    await pollUntil(() => server.counters.failStatic && server.counters.refreshFailures >= 3, 'fail static with several failed refreshes');
    await provider.apply([{ name: served, records: addresses(1), generation: 2, expectedVersion: '1' }]);
    assert.equal(answerAddresses(await udpQuery(server.port, query(served, 'A'))).length, 3, 'the last good snapshot is served');
    const raised = await pollUntil(async () => (await store.listAlarms(true)).find((a) => a.kind === failStaticAlarm && a.name === 'dns-under-test'), 'the alarm');
    assert.match(raised.message, /injected read failure/);
    source.broken = false;
    await pollUntil(async () => answerAddresses(await udpQuery(server.port, query(served, 'A'))).length === 1, 'the new set after recovery');
    assert.equal(server.counters.failStatic, false);
    await pollUntil(async () => (await store.listAlarms(true)).every((a) => a.kind !== failStaticAlarm), 'the alarm to be cleared');
  } finally {
    await server.stop();
    await provider.close();
    await store.close();
    temp.cleanup();
  }
});

test('in process: a replaced store file is followed when it is a valid store, and refused when it serves no names at all', async () => {
  const temp = tempDir();
  const dbPath = join(temp.path, 'state.db');
  const provider = new BuiltinSqliteProvider(dbPath);
  await provider.apply([{ name: served, records: addresses(2), generation: 1, expectedVersion: null }]);
  const { server } = await inProcessServer(dbPath, temp.path);
  try {
    // A valid replacement (a restored backup, say) with other records: the server rebuilds its snapshot from it.
    const restored = join(temp.path, 'restored.db');
    const other = new BuiltinSqliteProvider(restored);
    await other.apply([{ name: served, records: addresses(4), generation: 5, expectedVersion: null }]);
    await other.close();
    moveStore(dbPath, join(temp.path, 'previous.db'), 'rename');
    moveStore(restored, dbPath, 'rename');
    await pollUntil(async () => answerAddresses(await udpQuery(server.port, query(served, 'A'))).length === 4, 'the replaced file to be served');
    assert.equal(server.counters.failStatic, false);
    // An empty store in its place would empty the zone: refused, the snapshot stays, and that is fail static.
    const blank = join(temp.path, 'blank.db');
    await new BuiltinSqliteProvider(blank).close();
    moveStore(dbPath, join(temp.path, 'restored-before.db'), 'rename');
    moveStore(blank, dbPath, 'rename');
    await pollUntil(() => server.counters.failStatic, 'fail static on an empty replacement');
    assert.equal(answerAddresses(await udpQuery(server.port, query(served, 'A'))).length, 4, 'still the last good snapshot');
  } finally {
    await server.stop();
    await provider.close();
    temp.cleanup();
  }
});
