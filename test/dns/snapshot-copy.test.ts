// Goal (issue 16): the DNS server's copy of the served records (dns-snapshot.json, what it serves from when the store
// cannot be read at start) is read on a connection of its own from one read snapshot and written a page at a time:
// the thread that answers queries gets the event loop back between pages, the copy holds one version whatever is
// written meanwhile, and an invalid record set is left out so the copy stays loadable.
// Method: a real SQLite file with 5,000 served names, the real served source; the copy is read back with the reader
// the server uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { SqliteServedSource } from '../../src/dns/source.js';
import { entryState, readSnapshotFile, writeSnapshotPages } from '../../src/dns/snapshot-file.js';
import { pollUntil, tempDir } from '../helpers/env.js';
import { records } from '../helpers/fixtures.js';

const namesCount = 5000;

test('the DNS snapshot copy is one read snapshot, written page by page with the event loop free, invalid sets left out', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'state.db');
  const copyPath = join(dir.path, 'dns-snapshot.json');
  const store = new SqliteStore(path);
  const provider = new BuiltinSqliteProvider(path);
  const source = new SqliteServedSource(path, 'dns-test', { snapshotPath: copyPath, snapshotIntervalMs: 0 });
  try {
    const names = Array.from({ length: namesCount }, (_, n) => `svc${n}.dnsplane.test`);
    const outcomes = await provider.apply(names.map((name, n) => ({
      name, records: records(`127.0.${n >> 8}.${n & 255}`), generation: 1, expectedVersion: null,
    })));
    assert.ok(outcomes.every((outcome) => outcome.outcome === 'applied'));
    // One set made invalid by hand: a copy holding it could not be loaded.
    provider.db.prepare("UPDATE served SET records = '' WHERE name = 'svc7.dnsplane.test'").run();
    await source.start();
    // Every turn of the event loop while the copy is made, a name is written: the copy must hold exactly the rows of
    // one version, none written after it.
    let turns = 0;
    let counting = true;
    const writes: Promise<unknown>[] = [];
    const count = () => {
      if (!counting) return;
      turns += 1;
      const name = `late${turns}.dnsplane.test`;
      writes.push(provider.apply([{ name, records: records('127.9.9.9'), generation: 1, expectedVersion: null }]));
      setImmediate(count);
    };
    setImmediate(count);
    source.open(); // the first open starts the copy
    await pollUntil(() => existsSync(copyPath), 'the copy is written', 30_000);
    counting = false;
    await Promise.all(writes);
    assert.ok(turns >= 3, `the event loop turned ${turns} times while the copy of ${namesCount} names was written`);
    const copy = readSnapshotFile(copyPath, 'no copy');
    const copied = new Map(copy.names.map((entry) => [entry[0], entryState(entry)]));
    const rows = provider.db.prepare('SELECT name, version FROM served WHERE records != \'\'').all() as { name: string; version: number }[];
    const atCopy = rows.filter((row) => row.version <= copy.version).map((row) => row.name).sort();
    assert.deepEqual([...copied.keys()].sort(), atCopy, `the copy is the rows of version ${copy.version}`);
    assert.ok(rows.some((row) => row.version > copy.version), 'names were written while the copy was made');
    assert.ok(!copied.has('svc7.dnsplane.test'), 'the invalid set is left out');
    assert.ok(names.every((name) => name === 'svc7.dnsplane.test' || copied.has(name)));
    const served = await provider.read([...copied.keys()]);
    for (const [name, state] of copied) assert.deepEqual(state, served.get(name), name);
  } finally {
    await source.close();
    await provider.close();
    await store.close();
    dir.cleanup();
  }
});

test('the copy\'s parts: served pages hold one read snapshot while writes land between them; the file is written with the event loop turning between pages', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'state.db');
  const provider = new BuiltinSqliteProvider(path);
  const reader = new BuiltinSqliteProvider(path, {}, { readonly: true });
  try {
    const names = Array.from({ length: 30 }, (_, n) => `n${String(n).padStart(2, '0')}.dnsplane.test`);
    await provider.apply(names.map((name, n) => ({ name, records: records(`127.0.1.${n + 1}`), generation: 1, expectedVersion: null })));
    const version = provider.currentVersion();
    const pages = reader.servedPages(10);
    const first = pages.next();
    assert.ok(!first.done && first.value.changes.length === 10 && first.value.version === version);
    // Between two pages: a name is rewritten and one is added.
    const [last] = (await provider.read(['n29.dnsplane.test'])).values();
    await provider.apply([
      { name: 'n29.dnsplane.test', records: records('127.0.2.1'), generation: 2, expectedVersion: last!.version },
      { name: 'n99.dnsplane.test', records: records('127.0.2.2'), generation: 2, expectedVersion: null },
    ]);
    const rest = [...pages];
    assert.ok(rest.every((page) => page.version === version), 'every page at the version the snapshot began at');
    const states = [first.value, ...rest].flatMap((page) => page.changes.map((change) => change.state!));
    assert.deepEqual(states.map((state) => state.name).sort(), names);
    assert.deepEqual(states.find((state) => state.name === 'n29.dnsplane.test')?.records.map((r) => r.address), ['127.0.1.30']);
    // The writer gives the event loop back between pages: an immediate scheduled as a page is handed over runs before
    // the next page is asked for.
    const ran: boolean[] = [];
    let flag = false;
    function* paged() {
      for (let page = 0; page < 4; page += 1) {
        if (page > 0) ran.push(flag);
        flag = false;
        setImmediate(() => { flag = true; });
        yield { version: 7, names: [[`p${page}.dnsplane.test`, 1, '1', '127.0.0.1/1/t', page] as [string, number, string, string, number]] };
      }
    }
    const copyPath = join(dir.path, 'copy.json');
    assert.equal(await writeSnapshotPages(copyPath, paged(), 1), 7);
    assert.deepEqual(ran, [true, true, true]);
    assert.deepEqual(readSnapshotFile(copyPath, 'no copy').names.map((entry) => entry[0]),
      ['p0.dnsplane.test', 'p1.dnsplane.test', 'p2.dnsplane.test', 'p3.dnsplane.test']);
  } finally {
    await reader.close();
    await provider.close();
    dir.cleanup();
  }
});
