// Goal: what only a distributed store has to prove about publication — a
// plan far larger than one etcd request is published atomically (readers
// see the old plan or the whole new one, never a part); a planner paused in
// the middle of a publication while its lease expires is fenced at its next
// write and leaves nothing visible; leftovers of a crashed attempt never
// leak into the next plan; deltas reaching below the oldest kept plan stay
// exact; a watch announces new generations. Method: EtcdStore instances
// (separate connections, as separate hosts would have) on a real
// three-member etcd cluster, one key prefix per test; the pause is a hook
// on one connection's transactions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { IRequestOp, ITxnRequest } from 'etcd3';
import { EtcdStore } from '../../../src/store/etcd/store.js';
import { keys } from '../../../src/store/etcd/keys.js';
import { prefixEnd } from '../../../src/store/etcd/client.js';
import type { RecordEntry } from '../../../src/domain/types.js';
import { records } from '../../helpers/fixtures.js';
import { pollUntil } from '../../helpers/env.js';
import { startEtcdCluster, type EtcdCluster } from '../../helpers/etcd.js';

let cluster: EtcdCluster;
const stores: EtcdStore[] = [];

before(async () => {
  cluster = await startEtcdCluster();
});
after(async () => {
  for (const store of stores) await store.close();
  await cluster?.stop();
});

function openStores(count: number): EtcdStore[] {
  const prefix = `/publication-${randomUUID().slice(0, 8)}/`;
  const opened = Array.from({ length: count }, () => new EtcdStore({ endpoints: cluster.endpoints, prefix }));
  stores.push(...opened);
  return opened;
}

function wideRecords(n: number): RecordEntry[] {
  return Array.from({ length: 8 }, (_, r) => ({ target: `t${n}-${r}`, address: `2001:db8::${n.toString(16)}:${r + 1}`, weight: 10 + r }));
}

async function keysUnder(store: EtcdStore, path: string): Promise<string[]> {
  const start = store.etcd.key(path);
  const response = await store.etcd.range({ key: start, range_end: prefixEnd(start), keys_only: true });
  return response.kvs.map((kv) => store.etcd.path(kv.key));
}

test('a plan of several MiB is published in bounded chunks and becomes visible all at once', async () => {
  const [writer, reader] = openStores(2) as [EtcdStore, EtcdStore];
  const lease = (await writer.acquireLease('planner', 'p', 60_000))!;
  const small = Array.from({ length: 10 }, (_, n) => ({ name: `small${n}.dnsplane.test`, records: records(`192.0.2.${n + 1}`) }));
  assert.ok((await writer.publishPlan({ lease, baseGeneration: 0, changes: small, namesTotal: 10, forced: false, note: '' })).ok);
  const big = Array.from({ length: 20_000 }, (_, n) => ({ name: `big${String(n).padStart(5, '0')}.dnsplane.test`, records: wideRecords(n) }));
  const bytes = big.reduce((sum, change) => sum + change.name.length + JSON.stringify(change.records).length, 0);
  assert.ok(bytes > 1.5 * 1024 * 1024 * 2, `the plan (${bytes} bytes) is larger than etcd's request limit`);
  let done = false;
  const observed = { before: 0, after: 0 };
  const watching = (async () => {
    while (!done) {
      const latest = await reader.latestGeneration();
      const view = await reader.readPlan(2, { names: ['big00000.dnsplane.test', 'big19999.dnsplane.test', 'small3.dnsplane.test'] });
      if (latest === 1 && (await reader.latestGeneration()) === 1) {
        assert.equal(view, null, 'before the flip, plan 2 does not exist for readers');
        observed.before += 1;
      } else if (latest === 2) {
        assert.equal(view!.entries.length, 3, 'after the flip, plan 2 is whole');
        observed.after += 1;
      }
    }
  })();
  const published = await writer.publishPlan({ lease, baseGeneration: 1, changes: big, namesTotal: 20_010, forced: false, note: '' });
  await pollUntil(() => observed.after > 0, 'a read after the flip', 10_000, 5);
  done = true;
  await watching;
  assert.ok(published.ok && published.header.generation === 2, JSON.stringify(published));
  assert.ok(observed.before > 0, 'the reader looked while the plan was being written');
  const chunks = await keysUnder(writer, keys.deltaOf(2));
  assert.ok(chunks.length >= 6, `${chunks.length} delta chunks of at most 512 KiB`);
  const full = (await reader.readPlan(2))!;
  assert.equal(full.entries.length, 20_010);
  assert.deepEqual(full.entries.find((entry) => entry.name === 'big12345.dnsplane.test')!.records, wideRecords(12345));
  let paged = 0;
  let afterName = '';
  for (let page = 0; page < 10; page += 1) {
    const view = (await reader.readPlan(2, { sinceAfter: 1, afterName, limit: 5000 }))!;
    paged += view.entries.length;
    if (view.entries.length < 5000) break;
    afterName = view.entries[view.entries.length - 1]!.name;
  }
  assert.equal(paged, 20_000, 'the delta pages through every new name once');
});

test('a planner paused mid-publication while its lease expires is fenced at its next write', async () => {
  const [paused, other] = openStores(2) as [EtcdStore, EtcdStore];
  const leaseA = (await paused.acquireLease('planner', 'pA', 1000))!;
  assert.ok((await paused.publishPlan({ lease: leaseA, baseGeneration: 0, changes: [{ name: 'x.dnsplane.test', records: records('192.0.2.1') }], namesTotal: 1, forced: false, note: '' })).ok);
  // Hook: the paused planner's first transaction that writes plan versions waits at the gate.
  let arrived: () => void = () => {};
  const atGate = new Promise<void>((resolve) => { arrived = resolve; });
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const original = paused.etcd.txn.bind(paused.etcd);
  let held = false;
  paused.etcd.txn = async (request: ITxnRequest) => {
    // Writes are packed in nested groups (client.ts: packGrouped): look at every level.
    const writesVersion = (ops: IRequestOp[]): boolean => ops.some((op) => op.request_put?.key?.toString().includes('/plan/version/') === true
      || writesVersion(op.request_txn?.success ?? []));
    const writesVersions = writesVersion(request.success ?? []);
    if (writesVersions && !held) {
      held = true;
      arrived();
      await gate;
    }
    return original(request);
  };
  const changes = Array.from({ length: 300 }, (_, n) => ({ name: `a${n}.dnsplane.test`, records: records(`198.51.100.${(n % 250) + 1}`) }));
  const publishing = paused.publishPlan({ lease: leaseA, baseGeneration: 1, changes, namesTotal: 301, forced: false, note: '' });
  await atGate;
  // Its stage record and delta chunks are written; it stops renewing, and the lease runs out at etcd.
  await pollUntil(async () => (await other.etcd.get(keys.lease('planner'))) === null, 'the paused planner\'s lease to expire', 10_000, 50);
  const leaseB = (await other.acquireLease('planner', 'pB', 1000))!;
  assert.ok(leaseB.token > leaseA.token);
  const byOther = await other.publishPlan({ lease: leaseB, baseGeneration: 1, changes: [{ name: 'b1.dnsplane.test', records: records('192.0.2.2') }], namesTotal: 2, forced: false, note: '' });
  assert.ok(byOther.ok && byOther.header.generation === 2);
  release();
  const late = await publishing;
  assert.deepEqual(late.ok ? 'published' : late.reason, 'fenced', 'the late writes were refused by the fencing check');
  const plan2 = (await other.readPlan(2))!;
  assert.deepEqual(plan2.entries.map((entry) => entry.name).sort(), ['b1.dnsplane.test', 'x.dnsplane.test'], 'nothing of the fenced attempt is in the plan');
  assert.deepEqual((await keysUnder(other, `${keys.versionPrefix}a`)), [], 'no version of the fenced attempt exists at all');
  assert.equal(plan2.header.plannerId, 'pB');
  assert.equal(await other.latestGeneration(), 2);
});

test('leftovers of a crashed attempt never reach the next plan', async () => {
  const [store] = openStores(1) as [EtcdStore];
  const lease = (await store.acquireLease('planner', 'p', 60_000))!;
  assert.ok((await store.publishPlan({ lease, baseGeneration: 0, changes: [{ name: 'x.dnsplane.test', records: records('192.0.2.1') }], namesTotal: 1, forced: false, note: '' })).ok);
  // What a planner that died after writing part of generation 2 leaves: a delta chunk, a version, a superseded marker.
  const put = (path: string, value: string) => ({ request_put: { key: store.etcd.key(path), value: Buffer.from(value) } });
  await store.etcd.txn({ success: [
    put(keys.deltaChunk(2, 0), 'ghost.dnsplane.test\t192.0.2.66/10/t0\nx.dnsplane.test\t192.0.2.67/10/t0'),
    put(keys.version('ghost.dnsplane.test', 2), '192.0.2.66/10/t0'),
    put(keys.version('x.dnsplane.test', 2), '192.0.2.67/10/t0'),
    put(keys.superseded(2, 'x.dnsplane.test', 1), ''),
  ] });
  assert.equal(await store.readPlan(2), null, 'leftovers above the pointer are invisible');
  assert.deepEqual(await store.listSuperseded(10, 10), [], 'and never clean-up candidates');
  const result = await store.publishPlan({ lease, baseGeneration: 1, changes: [{ name: 'y.dnsplane.test', records: records('192.0.2.2') }], namesTotal: 2, forced: false, note: '' });
  assert.ok(result.ok && result.header.generation === 2);
  const plan = (await store.readPlan(2))!;
  assert.deepEqual(plan.entries.map((entry) => [entry.name, entry.since, entry.records![0]!.address]), [['x.dnsplane.test', 1, '192.0.2.1'], ['y.dnsplane.test', 2, '192.0.2.2']]);
  assert.deepEqual(await store.listSuperseded(2, 10), [], 'the forged superseded marker is gone: x@1 is still current');
  assert.equal(await store.etcd.get(keys.version('ghost.dnsplane.test', 2)), null);
});

test('a delta that reaches below the oldest kept plan is read from the versions, exactly', async () => {
  const [store] = openStores(1) as [EtcdStore];
  const lease = (await store.acquireLease('planner', 'p', 60_000))!;
  const names = ['a', 'b', 'c', 'd'].map((letter) => `${letter}.dnsplane.test`);
  let base = 0;
  const publish = async (changes: { name: string; records: RecordEntry[] | null }[]) => {
    const result = await store.publishPlan({ lease, baseGeneration: base, changes, namesTotal: 4, forced: false, note: '' });
    assert.ok(result.ok);
    base = result.header.generation;
  };
  await publish(names.map((name, n) => ({ name, records: records(`192.0.2.${n + 1}`) })));
  await publish([{ name: names[0]!, records: records('198.51.100.1') }]);
  await publish([{ name: names[1]!, records: records('198.51.100.2') }, { name: names[0]!, records: records('198.51.100.3') }]);
  await publish([{ name: names[2]!, records: null }]);
  await publish([{ name: names[1]!, records: records('198.51.100.4') }]);
  const deleted = await store.deletePlanData(await store.listSuperseded(4, 100), 4);
  assert.deepEqual(deleted, { versions: 4, headers: 3 }, 'a@1, a@2, b@1 and c@1 were superseded at or below 4');
  assert.equal(await store.oldestGeneration(), 4);
  const delta = (await store.readPlan(5, { sinceAfter: 1 }))!;
  assert.deepEqual(delta.entries.map((entry) => [entry.name, entry.since]), [['a.dnsplane.test', 3], ['b.dnsplane.test', 5], ['c.dnsplane.test', 4]]);
  const paged = (await store.readPlan(5, { sinceAfter: 1, afterName: 'a.dnsplane.test', limit: 1 }))!;
  assert.deepEqual(paged.entries.map((entry) => entry.name), ['b.dnsplane.test']);
});

test('a watch announces each new generation', async () => {
  const [store, watcherStore] = openStores(2) as [EtcdStore, EtcdStore];
  const seen: number[] = [];
  const stop = watcherStore.watchGeneration((generation) => seen.push(generation));
  try {
    const lease = (await store.acquireLease('planner', 'p', 60_000))!;
    // The watch is set up asynchronously: publish until it reports (each publication is a real new generation).
    let base = 0;
    await pollUntil(async () => {
      const result = await store.publishPlan({ lease, baseGeneration: base, changes: [{ name: 'w.dnsplane.test', records: records(`192.0.2.${base + 1}`) }], namesTotal: 1, forced: false, note: '' });
      assert.ok(result.ok);
      base = result.header.generation;
      return seen.includes(base);
    }, 'the watch to report a publication', 10_000, 100);
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'in order');
  } finally {
    stop();
  }
});
