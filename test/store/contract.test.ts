// Goal: one Store contract, held by every implementation — fenced,
// base-checked publication (S6), versioned plans with cheap deltas and
// paging, leases with fencing tokens, clean-up that never takes the newest
// plan, alarms, counters, history, health overrides and operator requests,
// adoption grants and the installation's owner id.
// Method: the cases of contract.ts run against SQLite (a temporary file, a
// hand-driven clock), against a real three-member etcd cluster (Debian
// etcd-server on loopback, one fresh key prefix per case, real lease expiry)
// and against the simulator's memory store (one shared state, a view per
// connection, as each simulated actor gets).
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { EtcdStore } from '../../src/store/etcd/store.js';
import { keys } from '../../src/store/etcd/keys.js';
import { MemoryStore, MemoryStoreState } from '../../src/sim/memory-store.js';
import { manualClock } from '../helpers/fixtures.js';
import { pollUntil, tempDir } from '../helpers/env.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { contractCases, type StoreFixture } from './contract.js';

/** etcd grants whole seconds, at least 1.5 x the election timeout (1 s): 2 s is the shortest real lease. */
const etcdLeaseTtlMs = 2000;

describe('SQLite store', () => {
  for (const [title, body] of contractCases) {
    test(title, async () => {
      const dir = tempDir();
      const clock = manualClock();
      const path = join(dir.path, 'state.db');
      const fixture: StoreFixture = {
        store: new SqliteStore(path, clock),
        other: async () => new SqliteStore(path, clock),
        leaseTtlMs: 1000,
        expireLease: async () => clock.advance(1001),
        close: async () => fixture.store.close(),
      };
      try {
        await body(fixture);
      } finally {
        await fixture.close();
        dir.cleanup();
      }
    });
  }
});

describe('memory store (the simulator\'s)', () => {
  for (const [title, body] of contractCases) {
    test(title, async () => {
      const clock = manualClock();
      const state = new MemoryStoreState(() => clock.nowMs());
      const fixture: StoreFixture = {
        store: new MemoryStore(state, clock, 'store'),
        other: async () => new MemoryStore(state, clock, 'other'),
        leaseTtlMs: 1000,
        expireLease: async () => clock.advance(1001),
        close: async () => fixture.store.close(),
      };
      await body(fixture);
      await fixture.close();
    });
  }
});

describe('etcd store', () => {
  let cluster: EtcdCluster;
  before(async () => {
    cluster = await startEtcdCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  for (const [title, body] of contractCases) {
    test(title, async () => {
      // A fresh prefix per case: the cases share the cluster but never each other's keys.
      const prefix = `/contract-${randomUUID().slice(0, 8)}/`;
      const store = new EtcdStore({ endpoints: cluster.endpoints, prefix });
      const fixture: StoreFixture = {
        store,
        other: async () => new EtcdStore({ endpoints: [...cluster.endpoints].reverse(), prefix }),
        leaseTtlMs: etcdLeaseTtlMs,
        expireLease: async (name) => {
          await pollUntil(async () => (await store.etcd.get(keys.lease(name))) === null, `lease ${name} to expire in etcd`, 10_000, 50);
        },
        close: async () => store.close(),
      };
      try {
        await body(fixture);
      } finally {
        await fixture.close();
      }
    });
  }
});
