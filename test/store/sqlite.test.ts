// Goal: what the SQLite store promises beyond the Store contract it shares
// with etcd and the memory store (test/store/contract.ts, run on each by
// test/store/contract.test.ts: fenced publication, versioned plans, safe
// clean-up, leases, alarms, history, adoptions, owner ids): its fencing
// tokens count 1, 2, 3 with each new holder, and a plan carries the token it
// was published under; a file made by an older release (before services,
// before adoptions and owner ids) opens read-only and to write; a write
// waiting for the lock another process holds takes it as soon as it is let
// go, the event loop free meanwhile, and fails with SQLITE_BUSY only after
// the busy timeout.
// Method: direct calls on a real SQLite file, with a hand-driven clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { manualClock, records } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/env.js';
import { BuiltinSqliteProvider, setUpSqliteInstallation } from '../../src/providers/builtin/sqlite.js';
import { openDatabase } from '../../src/store/sqlite/db.js';
import { UserError } from '../../src/util/assert.js';

async function withStore(body: (store: SqliteStore, clock: ReturnType<typeof manualClock>, path: string) => Promise<void>) {
  const dir = tempDir();
  const clock = manualClock();
  const path = join(dir.path, 'state.db');
  const store = new SqliteStore(path, clock);
  try {
    await body(store, clock, path);
  } finally {
    await store.close();
    dir.cleanup();
  }
}

test('fencing tokens count up by one with each new holder, and a plan carries its token', async () => {
  await withStore(async (store, clock) => {
    const lease = (await store.acquireLease('planner', 'p1', 1000))!;
    assert.equal(lease.token, 1);
    const first = await store.publishPlan({ lease, baseGeneration: 0, changes: [{ name: 'a.dnsplane.test', records: records('192.0.2.1') }], namesTotal: 1, forced: false, note: '' });
    assert.ok(first.ok && first.header.generation === 1 && first.header.fencingToken === 1);
    clock.advance(1001);
    const lease2 = (await store.acquireLease('planner', 'p2', 1000))!;
    assert.equal(lease2.token, 2, 'a new holder gets a higher fencing token');
    const second = await store.publishPlan({ lease: lease2, baseGeneration: 1, changes: [{ name: 'b.dnsplane.test', records: records('192.0.2.2') }], namesTotal: 2, forced: false, note: '' });
    assert.ok(second.ok && second.header.generation === 2 && second.header.fencingToken === 2);
  });
});

test('the store and the built-in provider each set up their own tables; a reader names the tables a file lacks', async () => {
  const dir = tempDir();
  try {
    const path = join(dir.path, 'state.db');
    const provider = new BuiltinSqliteProvider(path);
    await provider.close();
    assert.throws(() => new SqliteStore(path, manualClock(), { readonly: true }), (error: Error) => {
      assert.ok(error instanceof UserError, String(error));
      assert.match(error.message, /^store .*state\.db has no plans, plan_versions, .* tables: no dnsplane writer has set it up/);
      return true;
    });
    const tables = (): string[] => {
      const db = openDatabase(path, { ddl: '', tables: [] }, { readonly: true });
      try {
        return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((row) => row.name);
      } finally {
        db.close();
      }
    };
    assert.ok(!tables().includes('plans') && tables().includes('served'), 'the provider created only its own tables');
    setUpSqliteInstallation(path);
    const reader = new SqliteStore(path, manualClock(), { readonly: true });
    assert.equal(await reader.latestGeneration(), 0, 'set up as up does, the store reads as empty');
    await reader.close();
    assert.ok(tables().includes('plans') && tables().includes('served'));
  } finally {
    dir.cleanup();
  }
});

test('a store made before services: read-only it reads each version with no services; opened to write it gains them', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'state.db');
  try {
    const old = new SqliteStore(path, manualClock());
    const endpoints = [{ name: 'a.dnsplane.test', targets: [{ id: 'lb-1', address: '192.0.2.1', az: 'az1', capacity: 1 }] }];
    assert.ok((await old.putInventory({
      baseVersion: 0, endpoints, services: [], actor: 't', reason: 'r', forced: false, summary: '1 name',
    })).ok);
    await old.close();
    // The file as a release before services left it: the table without the column.
    const db = openDatabase(path, { ddl: '', tables: [] });
    db.exec(`CREATE TABLE inventory_old AS SELECT version, created_at_ms, actor, reason, forced, names, summary, endpoints
      FROM inventory_versions; DROP TABLE inventory_versions; ALTER TABLE inventory_old RENAME TO inventory_versions;`);
    db.close();
    const reader = new SqliteStore(path, manualClock(), { readonly: true });
    assert.deepEqual((await reader.readInventory())!.services, [], 'an old version has no services');
    await reader.close();
    const writer = new SqliteStore(path, manualClock());
    const service = { id: 'dwfm', criticality: 'critical' as const, names: ['a.dnsplane.test'], services: [] };
    assert.ok((await writer.putInventory({
      baseVersion: 1, endpoints, services: [service], actor: 't', reason: 'r', forced: false, summary: '1 name',
    })).ok);
    assert.deepEqual((await writer.readInventory())!.services, [service]);
    assert.deepEqual((await writer.readInventory(1))!.services, []);
    await writer.close();
  } finally {
    dir.cleanup();
  }
});

test('a store made before adoptions and owner ids: read-only it reads none; opened to write it gains both tables', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'state.db');
  try {
    await new SqliteStore(path, manualClock()).close();
    // The file as a release before issue 13 left it: neither table.
    const db = openDatabase(path, { ddl: '', tables: [] });
    db.exec('DROP TABLE adoptions; DROP TABLE owner_identity;');
    db.close();
    const oldReader = new SqliteStore(path, manualClock(), { readonly: true });
    assert.deepEqual(await oldReader.readAdoptions(['a.dnsplane.test']), new Map());
    assert.deepEqual(await oldReader.listAdoptions(), []);
    await assert.rejects(oldReader.ownerIdentity('dp-reader'), (error: Error) => error instanceof UserError && /no owner id yet, and it is open read-only/.test(error.message));
    await oldReader.close();
    const writer = new SqliteStore(path, manualClock());
    await writer.grantAdoption('a.dnsplane.test', 'ops', 'hand-made record');
    assert.deepEqual(await writer.ownerIdentity('dp-writer'), { owner: 'dp-writer', former: [] });
    await writer.close();
    const reader = new SqliteStore(path, manualClock(), { readonly: true });
    assert.deepEqual((await reader.listAdoptions()).map((a) => [a.name, a.actor]), [['a.dnsplane.test', 'ops']]);
    assert.deepEqual(await reader.ownerIdentity('dp-reader'), { owner: 'dp-writer', former: [] }, 'a reader reads the stored id');
    await reader.close();
  } finally {
    dir.cleanup();
  }
});

test('a write waits for the lock with the event loop free, takes it at once when let go, and fails only after the busy timeout', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'state.db');
  const store = new SqliteStore(path, undefined, { busyTimeoutMs: 2000 });
  const other = new SqliteStore(path);
  try {
    // Another writer holds the lock for 40 ms. The release is a timer of this same process: a write that slept in
    // SQLite's busy handler would block the event loop, the release could not run, and it would wait the whole 2 s.
    other.db.exec('BEGIN IMMEDIATE');
    setTimeout(() => other.db.exec('COMMIT'), 40);
    const started = Date.now();
    await store.incrementCounter('waited');
    const waited = Date.now() - started;
    assert.ok(waited >= 35 && waited < 1000, `the write waited ${waited} ms for a lock held 40 ms`);
    assert.deepEqual(await store.readCounters(), [{ name: 'waited', value: 1 }]);
    // Held past the timeout: SQLITE_BUSY, nothing written, and the connection keeps its busy timeout.
    const impatient = new SqliteStore(path, undefined, { busyTimeoutMs: 60 });
    try {
      other.db.exec('BEGIN IMMEDIATE');
      const before = Date.now();
      await assert.rejects(impatient.incrementCounter('waited'), (error: { code?: string }) => error.code === 'SQLITE_BUSY');
      assert.ok(Date.now() - before >= 55, 'it tried until its timeout');
      other.db.exec('COMMIT');
      assert.equal(impatient.db.pragma('busy_timeout', { simple: true }), 60);
      assert.deepEqual(await store.readCounters(), [{ name: 'waited', value: 1 }]);
    } finally {
      await impatient.close();
    }
  } finally {
    await other.close();
    await store.close();
    dir.cleanup();
  }
});
