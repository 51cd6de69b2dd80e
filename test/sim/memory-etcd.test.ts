// Goal: the simulator's in-memory Store and Provider have the semantics of
// the etcd ones as well as of the SQLite ones (memory.test.ts): the
// simulator proves nothing about an etcd installation unless its doubles
// answer as etcd does. Method: the same differential generator
// (differential.ts) against EtcdStore + BuiltinEtcdProvider on a real
// three-member etcd cluster (one cluster for the file, a fresh key prefix
// per seed) and MemoryStore + MemoryProvider; every answer must be equal
// (provider versions — etcd mod revisions — and fencing tokens — the lease
// key's create revision — compared by the order in which they appear).
//
// Time, adapted by design: the etcd store takes a Clock only for the times
// it records (plan headers, inventory versions, heartbeats, lease grants'
// expiresAtMs); whether a lease or an enactor is alive is an etcd lease with
// a real TTL in whole seconds, not the clock. So expiry itself is not
// compared: the generator draws TTLs that outlive the run (leases one TTL of
// 300 s, heartbeats 120 s or 300 s) while the shared manual clock still moves.
// One lease TTL only, because an etcd lease keeps the TTL it was granted
// with: renewing with a longer TTL than the grant's reports the grant's
// (renewLease: min(ttl, remaining)), where the memory store reports the new
// one. Lease hand-overs — and so fencing of the old holder — are still
// compared, through releases. Expiry is covered by the store contract
// (test/store/contract.test.ts) on etcd with real lease expiry.
//
// Open finding (src not changed here): EtcdStore.listInventoryVersions(0)
// returns every version (etcd's range limit 0 means "no limit"), where the
// SQLite and memory stores return none — every seed here stops on it (seed 1
// at operation 102). With that one answer wrapped, all four seeds agree.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EtcdStore } from '../../src/store/etcd/store.js';
import { BuiltinEtcdProvider } from '../../src/providers/builtin/etcd.js';
import { MemoryStore, MemoryStoreState } from '../../src/sim/memory-store.js';
import { MemoryProvider, MemoryProviderState } from '../../src/sim/memory-provider.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { ManualClock, newSide, reached, runDifferential, type Timing } from './differential.js';

const operationsPerSeed = 400;
const etcdTiming: Timing = { leaseTtlsMs: [300_000], heartbeatTtlsMs: [120_000, 300_000] };

let cluster: EtcdCluster;
before(async () => {
  cluster = await startEtcdCluster();
});
after(async () => {
  await cluster?.stop();
});

const reachedAcrossSeeds = new Map<string, number>();
for (const seed of [1n, 2n, 3n, 4n]) {
  test(`memory store and provider answer as the etcd ones (seed ${seed})`, async () => {
    const clock = new ManualClock();
    const connection = { endpoints: cluster.endpoints, prefix: `/sim-diff-${randomUUID().slice(0, 8)}/` };
    const etcd = newSide(new EtcdStore(connection, clock), new BuiltinEtcdProvider(connection));
    const memoryStoreState = new MemoryStoreState(() => clock.now);
    const memory = newSide(new MemoryStore(memoryStoreState, clock, 'test'), new MemoryProvider(new MemoryProviderState(), 'test'));
    try {
      const answers = await runDifferential({ seed, operations: operationsPerSeed, clock, timing: etcdTiming, reference: etcd, candidate: memory, label: 'memory vs etcd' });
      assert.ok(memoryStoreState.generationLast > 3, 'plans were published');
      assert.ok(memoryStoreState.inventories.length > 3, 'inventory versions were stored');
      for (const [key, count] of reached(answers)) reachedAcrossSeeds.set(key, (reachedAcrossSeeds.get(key) ?? 0) + count);
    } finally {
      await etcd.provider.close();
      await etcd.store.close();
    }
  });
}

test('the seeds above reached every kind of publish, apply and inventory answer, and a lease hand-over', () => {
  const summary = JSON.stringify(Object.fromEntries(reachedAcrossSeeds));
  for (const key of ['published', 'fenced', 'stale-base', 'applied', 'conflict', 'superseded', 'inventory put', 'inventory stale-base']) {
    assert.ok((reachedAcrossSeeds.get(key) ?? 0) > 0, `${key} never reached: ${summary}`);
  }
  assert.ok((reachedAcrossSeeds.get('tokens') ?? 0) >= 2, `the lease never changed hands: ${summary}`);
});
