// Goal: removal tombstones compacted into one floor (issue 16) refuse every
// write the tombstones refused — a stale first write of a removed name, at or
// below its removal, stays refused once its tombstone is gone (S2) — while the
// tombstones themselves go, a batch a call, and the floor never goes down.
// Method: the same cases on every provider that compacts: the built-in one on
// a SQLite file and on a real three-member etcd cluster, and the simulator's
// in-memory one; and on the in-memory one with the mutant that deletes the
// tombstones without raising the floor, which must bring a removed name back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { BuiltinEtcdProvider } from '../../src/providers/builtin/etcd.js';
import { MemoryProvider, MemoryProviderState } from '../../src/sim/memory-provider.js';
import type { ApplyOutcome, Provider, RemovalCompaction } from '../../src/providers/types.js';
import { tempDir } from '../helpers/env.js';
import { startEtcdCluster } from '../helpers/etcd.js';
import { recordSet } from './contract.js';

interface Backend {
  /** A provider on a backend of its own (every case starts with no tombstone and floor 0). */
  open(): Provider;
  stop(): Promise<void>;
  /** etcd only: deletes the removal floor's key behind the provider's back, as a hand edit would. */
  deleteFloor?: (provider: Provider) => Promise<void>;
}

const zone = 'compaction.test';
const records = recordSet('192.0.2.1', '192.0.2.2');

function compactionOf(provider: Provider): RemovalCompaction {
  const compaction = provider.removalCompaction();
  assert.ok(compaction !== null, `${provider.kind} compacts its tombstones`);
  return compaction;
}

async function firstWrite(provider: Provider, name: string, generation: number): Promise<ApplyOutcome> {
  const [outcome] = await provider.apply([{ name, records, generation, expectedVersion: null }]);
  return outcome!;
}

/** Writes `name` at `written`, then removes it at `removed`: its tombstone holds `removed`. */
async function writeThenRemove(provider: Provider, name: string, written: number, removed: number): Promise<void> {
  const outcome = await firstWrite(provider, name, written);
  assert.equal(outcome.outcome, 'applied', `${name} first written`);
  const version = outcome.outcome === 'applied' ? outcome.version : '';
  const [removal] = await provider.apply([{ name, records: null, generation: removed, expectedVersion: version }]);
  assert.equal(removal!.outcome, 'applied', `${name} removed`);
}

const cases: Record<string, (provider: Provider) => Promise<void>> = {
  'a stale first write of a removed name stays refused once its tombstone is compacted (S2)': async (provider) => {
    const name = `gone.${zone}`;
    await writeThenRemove(provider, name, 2, 3);
    assert.deepEqual(await provider.readRemovals([name]), new Map([[name, 3]]), 'the tombstone before compaction');
    const compacted = await compactionOf(provider).compact(4, 100);
    assert.deepEqual(compacted, { floor: 4, deleted: 1 }, 'the floor rose to 4 and the tombstone at 3 went');
    assert.deepEqual(await provider.readRemovals([name, `never.${zone}`]),
      new Map([[name, 4], [`never.${zone}`, 4]]), 'every absent name now reports the floor');
    for (const stale of [2, 3, 4]) {
      assert.deepEqual(await firstWrite(provider, name, stale), { name, outcome: 'superseded', generation: 4 },
        `a first write at ${stale} is refused by the floor`);
    }
    assert.equal((await provider.read([name])).size, 0, 'the removed name did not come back');
    assert.equal((await firstWrite(provider, name, 5)).outcome, 'applied', 'a first write above the floor goes');
    assert.equal((await firstWrite(provider, `new.${zone}`, 5)).outcome, 'applied', 'so does a new name above it');
  },
  'a tombstone above the floor stays, and the floor never goes down': async (provider) => {
    const name = `late.${zone}`;
    await writeThenRemove(provider, name, 5, 7);
    const compaction = compactionOf(provider);
    assert.deepEqual(await compaction.compact(6, 100), { floor: 6, deleted: 0 }, 'nothing at or below 6');
    assert.deepEqual(await provider.readRemovals([name]), new Map([[name, 7]]), 'the tombstone at 7 is kept');
    assert.deepEqual(await firstWrite(provider, name, 7), { name, outcome: 'superseded', generation: 7 },
      'and refuses a first write at 7');
    assert.deepEqual(await compaction.compact(2, 100), { floor: 6, deleted: 0 }, 'a lower through leaves the floor');
    assert.deepEqual(await firstWrite(provider, `other.${zone}`, 6), {
      name: `other.${zone}`, outcome: 'superseded', generation: 6,
    }, 'the floor still refuses at 6');
  },
  'compaction deletes at most its limit a call, and fewer once none is left': async (provider) => {
    const names = ['a', 'b', 'c', 'd', 'e'].map((label) => `${label}.batch.${zone}`);
    for (const name of names) await writeThenRemove(provider, name, 1, 2);
    const compaction = compactionOf(provider);
    assert.deepEqual(await compaction.compact(3, 2), { floor: 3, deleted: 2 });
    assert.deepEqual(await compaction.compact(3, 2), { floor: 3, deleted: 2 });
    assert.deepEqual(await compaction.compact(3, 2), { floor: 3, deleted: 1 }, 'fewer than the limit: none left');
    assert.deepEqual(await compaction.compact(3, 2), { floor: 3, deleted: 0 });
    const removals = await provider.readRemovals(names);
    assert.deepEqual([...removals.values()], names.map(() => 3), 'each reports the floor now');
  },
};

function compactionCases(label: string, start: () => Promise<Backend>): void {
  describe(`removal compaction: ${label}`, () => {
    let backend: Backend;
    before(async () => {
      backend = await start();
    });
    after(async () => {
      await backend?.stop();
    });
    for (const [title, run] of Object.entries(cases)) {
      test(title, async () => {
        const provider = backend.open();
        try {
          await run(provider);
        } finally {
          await provider.close();
        }
      });
    }
    if (label.includes('etcd')) {
      test('a removal floor deleted by hand: first writes fail with an error naming the key, nothing is written', async () => {
        const provider = backend.open();
        try {
          assert.equal((await firstWrite(provider, `first.${zone}`, 3)).outcome, 'applied', 'the floor key exists now');
          await backend.deleteFloor!(provider);
          await assert.rejects(firstWrite(provider, `second.${zone}`, 4), /served-removals-floor \(the removal floor\) is missing/);
          assert.equal((await provider.read([`second.${zone}`])).size, 0);
        } finally {
          await provider.close();
        }
      });
    }
  });
}

compactionCases('builtin on SQLite', async () => {
  const dir = tempDir('dnsplane-compaction-');
  let index = 0;
  return {
    open: () => new BuiltinSqliteProvider(join(dir.path, `state-${(index += 1)}.db`)),
    stop: async () => dir.cleanup(),
  };
});

compactionCases('builtin on a three-member etcd cluster', async () => {
  const cluster = await startEtcdCluster();
  return {
    open: () => new BuiltinEtcdProvider({ endpoints: cluster.endpoints, prefix: `/compaction-${randomUUID()}/` }),
    stop: () => cluster.stop(),
    deleteFloor: async (provider) => {
      const { etcd } = provider as BuiltinEtcdProvider;
      await etcd.txn({ success: [{ request_delete_range: { key: etcd.key('served-removals-floor') } }] });
    },
  };
});

compactionCases('the simulator\'s in-memory provider', async () => ({
  open: () => new MemoryProvider(new MemoryProviderState(), 'test'),
  stop: async () => {},
}));

test('mutant: compaction that deletes tombstones without raising the floor brings a removed name back', async () => {
  const provider = new MemoryProvider(new MemoryProviderState({ compactWithoutFloor: true }), 'test');
  const name = `gone.${zone}`;
  await writeThenRemove(provider, name, 2, 3);
  assert.deepEqual(await compactionOf(provider).compact(4, 100), { floor: 4, deleted: 1 });
  const stale = await firstWrite(provider, name, 2);
  assert.equal(stale.outcome, 'applied', 'without the floor, the stale first write at 2 goes through (S2 broken)');
  assert.equal((await provider.read([name])).get(name)?.generation, 2, 'the name removed at 3 serves generation 2');
});
