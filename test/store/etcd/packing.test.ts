// Goal: the packed transactions that make a full plan fast on etcd keep
// every promise of the unpacked ones — etcd's --max-txn-ops default still
// holds at every level (and our check of it agrees with etcd's own), every
// name in a packed apply gets the outcome it would get alone (update,
// conflict, first write with no tombstone, below a tombstone, at or below a
// tombstone or the removal floor), a dense read and a sparse read answer
// the same, and history entries written a thousand to a transaction keep
// distinct, ordered ids. Method: BuiltinEtcdProvider and EtcdStore over a
// real three-member etcd cluster (default --max-txn-ops), one key prefix per
// test; transactions counted by a hook on the connection.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { IRequestOp, ITxnRequest } from 'etcd3';
import { BuiltinEtcdProvider } from '../../../src/providers/builtin/etcd.js';
import { EtcdStore } from '../../../src/store/etcd/store.js';
import { packGrouped, txnOpsFit } from '../../../src/store/etcd/client.js';
import { keys } from '../../../src/store/etcd/keys.js';
import { InvariantViolation } from '../../../src/util/assert.js';
import type { ApplyChange, ApplyOutcome } from '../../../src/providers/types.js';
import { records } from '../../helpers/fixtures.js';
import { startEtcdCluster, type EtcdCluster } from '../../helpers/etcd.js';

let cluster: EtcdCluster;
const closers: (() => Promise<void>)[] = [];

before(async () => {
  cluster = await startEtcdCluster();
});
after(async () => {
  for (const close of closers.reverse()) await close();
  await cluster?.stop();
});

function openProvider(): BuiltinEtcdProvider {
  const provider = new BuiltinEtcdProvider({ endpoints: cluster.endpoints, prefix: `/packing-${randomUUID().slice(0, 8)}/` });
  closers.push(() => provider.close());
  return provider;
}

/** Counts the write transactions a provider sends (any with a put or delete at some level). */
function countWrites(provider: BuiltinEtcdProvider): { count: number } {
  const counter = { count: 0 };
  const original = provider.etcd.txn.bind(provider.etcd);
  const writes = (ops: IRequestOp[]): boolean => ops.some((op) => op.request_put !== undefined
    || op.request_delete_range !== undefined || writes(op.request_txn?.success ?? []));
  provider.etcd.txn = async (request: ITxnRequest) => {
    if (writes(request.success ?? [])) counter.count += 1;
    return original(request);
  };
  return counter;
}

const name = (kind: string, n: number) => `${kind}${String(n).padStart(4, '0')}.dnsplane.test`;
const address = (n: number) => `198.51.100.${(n % 250) + 1}`;

test('etcd\'s --max-txn-ops is kept at every level, and our check of it agrees with etcd\'s', async () => {
  const provider = openProvider();
  const put = (n: number): IRequestOp => ({ request_put: { key: provider.etcd.key(`ops/${n}`), value: Buffer.from('x') } });
  const packed = packGrouped(Array.from({ length: 1000 }, (_, n) => put(n)));
  assert.equal(packed.length, 1, 'a thousand puts pack into one transaction');
  assert.ok(txnOpsFit({ success: packed[0]!.groups }));
  await provider.etcd.txn({ success: packed[0]!.groups });
  const flat: ITxnRequest = { success: Array.from({ length: 129 }, (_, n) => put(n)) };
  const deep: ITxnRequest = { success: [...Array.from({ length: 20 }, (_, n) => put(2000 + n)),
    { request_txn: { compare: [], success: Array.from({ length: 110 }, (_, n) => put(3000 + n)), failure: [] } }] };
  for (const [what, request] of [['129 operations in one list', flat], ['a group over what its parent leaves', deep]] as const) {
    assert.equal(txnOpsFit(request), false, what);
    await assert.rejects(provider.etcd.client.kv.txn(request), /too many operations/, `etcd refuses ${what} too`);
    await assert.rejects(provider.etcd.txn(request), (error: unknown) => error instanceof InvariantViolation, `and it never leaves here: ${what}`);
  }
});

test('one packed apply of 2,600 names of every kind: each name gets the outcome it would get alone', async () => {
  const provider = openProvider();
  const served = Array.from({ length: 1200 }, (_, n) => name('served', n));
  const gone = Array.from({ length: 600 }, (_, n) => name('gone', n));
  const created = await provider.apply([...served, ...gone].map((each, n) => ({ name: each, records: records(address(n)), generation: 1, expectedVersion: null })));
  assert.ok(created.every((outcome) => outcome.outcome === 'applied'));
  const versions = new Map(created.map((outcome) => [outcome.name, outcome.outcome === 'applied' ? outcome.version : '']));
  // Every "gone" name removed at generation 3: a tombstone each.
  const removed = await provider.apply(gone.map((each) => ({ name: each, records: null, generation: 3, expectedVersion: versions.get(each)! })));
  assert.ok(removed.every((outcome) => outcome.outcome === 'applied'));
  const writes = countWrites(provider);
  const changes: ApplyChange[] = [
    // Updates over served names: the version read (applied), or a stale one (conflict).
    ...served.map((each, n) => ({ name: each, records: records(address(n + 1)), generation: 5, expectedVersion: n % 10 === 0 ? '1' : versions.get(each)! })),
    // First writes of removed names: above the tombstone (applied, the tombstone deleted), at it (superseded).
    ...gone.map((each, n) => ({ name: each, records: records(address(n + 2)), generation: n % 3 === 0 ? 3 : 5 + (n % 2), expectedVersion: null })),
    // First writes of new names at two generations (two floor compares), and one of a name that is served (conflict).
    ...Array.from({ length: 799 }, (_, n) => ({ name: name('new', n), records: records(address(n)), generation: 5 + (n % 2), expectedVersion: null })),
    { name: served[1]!, records: null, generation: 6, expectedVersion: null },
  ].filter((change, index, all) => all.findIndex((other) => other.name === change.name) === index);
  changes.push({ name: name('new', 799), records: records(address(7)), generation: 5, expectedVersion: null });
  assert.equal(changes.length, 2600);
  const outcomes = await provider.apply(changes);
  assert.ok(writes.count <= 6, `${writes.count} write transactions for 2,600 names (3 packed, then one for the tombstoned branch)`);
  const byName = new Map(outcomes.map((outcome) => [outcome.name, outcome]));
  const expected = (change: ApplyChange): ApplyOutcome['outcome'] => {
    if (change.name.startsWith('served')) return change.expectedVersion === '1' ? 'conflict' : 'applied';
    if (change.name.startsWith('gone')) return change.generation === 3 ? 'superseded' : 'applied';
    return 'applied';
  };
  for (const change of changes) assert.equal(byName.get(change.name)!.outcome, expected(change), change.name);
  assert.deepEqual(outcomes.map((outcome) => outcome.name), changes.map((change) => change.name), 'outcomes in the order given');
  const states = await provider.read(changes.map((change) => change.name));
  for (const change of changes) {
    const state = states.get(change.name);
    if (expected(change) === 'applied') assert.equal(state?.generation, change.generation, change.name);
    else if (change.name.startsWith('gone')) assert.equal(state, undefined, `${change.name} stays removed`);
    else assert.equal(state?.generation, 1, `${change.name} kept what it had`);
  }
  const removals = await provider.readRemovals(gone);
  assert.deepEqual([...removals.values()].sort(), Array(200).fill(3), 'tombstones stay only where the write was superseded');
});

test('the floor, compared once per group of first writes, refuses first writes at or below it and nothing else', async () => {
  const provider = openProvider();
  const [first] = await provider.apply([{ name: 'kept.dnsplane.test', records: records('192.0.2.1'), generation: 1, expectedVersion: null }]);
  const compaction = provider.removalCompaction()!;
  assert.equal((await compaction.compact(4, 10)).floor, 4);
  const outcomes = await provider.apply([
    ...Array.from({ length: 120 }, (_, n) => ({ name: name('low', n), records: records(address(n)), generation: 4, expectedVersion: null })),
    ...Array.from({ length: 120 }, (_, n) => ({ name: name('high', n), records: records(address(n)), generation: 5, expectedVersion: null })),
    { name: 'kept.dnsplane.test', records: records('192.0.2.2'), generation: 4, expectedVersion: first!.outcome === 'applied' ? first!.version : '' },
  ]);
  const counts = new Map<string, number>();
  for (const outcome of outcomes) {
    const key = `${outcome.name.slice(0, 4)} ${outcome.outcome}${outcome.outcome === 'superseded' ? ` ${outcome.generation}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { 'low0 superseded 4': 120, 'high applied': 120, 'kept applied': 1 });
  assert.equal((await provider.read([name('low', 0)])).size, 0, 'nothing written at the floor');
});

test('a dense read (one range scan) and a sparse one (point reads) answer as reads of one name each', async () => {
  const provider = openProvider();
  const names = Array.from({ length: 1500 }, (_, n) => name('svc', n));
  await provider.apply(names.map((each, n) => ({ name: each, records: records(address(n)), generation: 1 + (n % 3), expectedVersion: null })));
  // A hand edit in the middle reads as drift either way.
  await provider.etcd.client.put(provider.etcd.key(keys.served(names[700]!))).value('edited by hand');
  const dense = [...names.slice(0, 1200), name('absent', 1)];
  const sparse = [...names.filter((_, n) => n % 5 === 0), ...Array.from({ length: 250 }, (_, n) => name('absent', n))];
  const alone = new Map();
  for (const each of new Set([...dense, ...sparse])) for (const [key, state] of await provider.read([each])) alone.set(key, state);
  // 1,201 names over 1,200 served keys: one range scan; 550 names over 1,496: point reads.
  for (const asked of [dense, sparse, [...dense].reverse()]) {
    const expected = new Map([...alone].filter(([key]) => asked.includes(key)));
    assert.deepEqual(await provider.read(asked), expected, `${asked.length} names`);
  }
});

test('history written a thousand entries to a transaction keeps distinct ids, in order within each transaction', async () => {
  const store = new EtcdStore({ endpoints: cluster.endpoints, prefix: `/packing-${randomUUID().slice(0, 8)}/` });
  closers.push(() => store.close());
  const entries = Array.from({ length: 2500 }, (_, n) => ({ name: name('svc', n), fromGeneration: n, toGeneration: n + 1, actor: 'a', kind: 'enact' as const, detail: '' }));
  await store.appendHistory(entries);
  const read = await store.readHistory(null, 10_000);
  assert.equal(read.length, 2500);
  assert.equal(new Set(read.map((entry) => entry.id)).size, 2500, 'ids are distinct');
  // Entries 0-999, 1000-1999 and 2000-2499 share a transaction each (its revision): their ids follow their positions.
  // (Transactions go several at once, so their revisions, like a name's entries in different ones, are in any order;
  // one call holds each name once.)
  for (const block of [0, 1, 2]) {
    const positions = read.map((entry) => entry.fromGeneration).filter((position) => Math.floor(position / 1000) === block);
    assert.deepEqual(positions, Array.from({ length: positions.length }, (_, n) => block * 1000 + n), `block ${block}`);
  }
});

test('paged plan reads read the next page ahead: the same pages, and a plan cleaned up meanwhile reads as gone', async () => {
  const store = new EtcdStore({ endpoints: cluster.endpoints, prefix: `/packing-${randomUUID().slice(0, 8)}/` });
  closers.push(() => store.close());
  const lease = (await store.acquireLease('planner', 'p', 60_000))!;
  const changes = Array.from({ length: 1050 }, (_, n) => ({ name: name('svc', n), records: records(address(n)) }));
  assert.ok((await store.publishPlan({ lease, baseGeneration: 0, changes, namesTotal: 1050, forced: false, note: '' })).ok);
  const whole = (await store.readPlan(1))!.entries;
  const paged: string[] = [];
  let afterName = '';
  for (let page = 0; page < 20; page += 1) {
    const view = (await store.readPlan(1, { afterName, limit: 100 }))!;
    paged.push(...view.entries.map((entry) => entry.name));
    if (view.entries.length < 100) break;
    afterName = view.entries[view.entries.length - 1]!.name;
  }
  assert.deepEqual(paged, whole.map((entry) => entry.name), 'pages read ahead are the pages');
  // Page one is full, so page two is read ahead; the plan's header is then deleted (as the janitor would).
  const first = (await store.readPlan(1, { sinceAfter: 0, limit: 500 }))!;
  await store.etcd.txn({ success: [{ request_delete_range: { key: store.etcd.key(keys.header(1)) } }] });
  const second = await store.readPlan(1, { sinceAfter: 0, afterName: first.entries[499]!.name, limit: 500 });
  assert.equal(second, null, 'the page read ahead is not handed out for a plan that is gone');
});
