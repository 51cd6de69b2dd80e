// Goal: the simulator's in-memory Store and Provider have the semantics of
// the SQLite ones they stand in for — the simulator proves nothing about
// production unless its doubles answer exactly as production does. Method:
// differential testing (the generator and what may differ: differential.ts):
// the same seeded random sequence of calls (publish with fresh and stale
// leases and bases, every kind of plan read, clean-up, leases and heartbeats
// under a moving clock, lease releases, conditional applies with current,
// stale and missing versions, served listings and removal tombstones,
// inventory versions put with current and stale bases and read back) goes to
// both, and every answer must be equal (provider versions and fencing tokens
// compared by the order in which they appear). The etcd counterpart:
// memory-etcd.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { MemoryStore, MemoryStoreState } from '../../src/sim/memory-store.js';
import { MemoryProvider, MemoryProviderState } from '../../src/sim/memory-provider.js';
import { tempDir } from '../helpers/env.js';
import { clockTiming, ManualClock, newSide, reached, runDifferential } from './differential.js';

const operationsPerSeed = 400;

const reachedAcrossSeeds = new Map<string, number>();
let supersededAcrossSeeds = 0;
for (const seed of [1n, 2n, 3n, 4n]) {
  test(`memory store and provider answer as the SQLite ones (seed ${seed})`, async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const dbPath = join(dir.path, 'state.db');
    const sqlite = newSide(new SqliteStore(dbPath, clock), new BuiltinSqliteProvider(dbPath));
    const memoryStoreState = new MemoryStoreState(() => clock.now);
    const memoryProviderState = new MemoryProviderState();
    const memory = newSide(new MemoryStore(memoryStoreState, clock, 'test'), new MemoryProvider(memoryProviderState, 'test'));
    try {
      const answers = await runDifferential({ seed, operations: operationsPerSeed, clock, timing: clockTiming, reference: sqlite, candidate: memory, label: 'memory vs SQLite' });
      assert.ok(memoryStoreState.generationLast > 3, 'plans were published');
      assert.ok(memoryStoreState.inventories.length > 3, 'inventory versions were stored');
      supersededAcrossSeeds += memoryProviderState.supersededWrites;
      for (const [key, count] of reached(answers)) reachedAcrossSeeds.set(key, (reachedAcrossSeeds.get(key) ?? 0) + count);
    } finally {
      await sqlite.provider.close();
      await sqlite.store.close();
      dir.cleanup();
    }
  });
}

test('the seeds above reached a first write refused by a removal tombstone (so that answer was compared too)', () => {
  assert.ok(supersededAcrossSeeds > 0, `superseded first writes: ${supersededAcrossSeeds}`);
});

test('the seeds above reached every kind of publish, apply and inventory answer, and a lease hand-over', () => {
  const summary = JSON.stringify(Object.fromEntries(reachedAcrossSeeds));
  for (const key of ['published', 'fenced', 'stale-base', 'applied', 'conflict', 'superseded', 'inventory put', 'inventory stale-base']) {
    assert.ok((reachedAcrossSeeds.get(key) ?? 0) > 0, `${key} never reached: ${summary}`);
  }
  assert.ok((reachedAcrossSeeds.get('tokens') ?? 0) >= 2, `the lease never changed hands: ${summary}`);
});
