// Goal: the built-in provider on etcd keeps DESIGN.md §3's promise — each
// name's records and marker change together, only through a compare-and-
// swap on the marker's version (the key's mod revision), never to a lower
// generation (S2) or an empty set (S1) — and a DNS server can follow it:
// the mirror's currentVersion()/changesSince() answer like the SQLite
// provider's, follow every write and removal by watch, and keep their last
// state (marked unreachable) while etcd is down. Method: direct calls on
// BuiltinEtcdProvider over a real three-member etcd cluster; members are
// SIGKILLed by pid and restarted for the outage.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BuiltinEtcdProvider } from '../../../src/providers/builtin/etcd.js';
import { followServed, type EtcdServedMirror } from '../../../src/dns/etcd-source.js';
import { keys } from '../../../src/store/etcd/keys.js';
import { InvariantViolation } from '../../../src/util/assert.js';
import { records } from '../../helpers/fixtures.js';
import { pollUntil } from '../../helpers/env.js';
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

function openProvider(prefix = `/provider-${randomUUID().slice(0, 8)}/`): BuiltinEtcdProvider {
  const provider = new BuiltinEtcdProvider({ endpoints: cluster.endpoints, prefix });
  closers.push(() => provider.close());
  return provider;
}

async function follow(provider: BuiltinEtcdProvider): Promise<EtcdServedMirror> {
  const mirror = await followServed(provider, { probeIntervalMs: 100, probeTimeoutMs: 500 });
  closers.push(() => mirror.close());
  return mirror;
}

test('apply is a compare-and-swap on the marker: create, conflict, advance, never back, never empty', async () => {
  const provider = openProvider();
  const name = 'a.dnsplane.test';
  const [created] = await provider.apply([{ name, records: records('192.0.2.1'), generation: 3, expectedVersion: null }]);
  assert.equal(created!.outcome, 'applied');
  const [again] = await provider.apply([{ name, records: records('192.0.2.9'), generation: 4, expectedVersion: null }]);
  assert.equal(again!.outcome, 'conflict', 'a name that exists is not created twice');
  const state = (await provider.read([name])).get(name)!;
  assert.deepEqual([state.generation, state.version, state.records.map((r) => r.address)], [3, created!.outcome === 'applied' ? created!.version : '', ['192.0.2.1']]);
  const [stale] = await provider.apply([{ name, records: records('192.0.2.2'), generation: 5, expectedVersion: String(Number(state.version) - 1) }]);
  assert.equal(stale!.outcome, 'conflict', 'a version that moved refuses the write');
  const [advanced] = await provider.apply([{ name, records: records('192.0.2.2'), generation: 5, expectedVersion: state.version }]);
  assert.equal(advanced!.outcome, 'applied');
  const current = (await provider.read([name])).get(name)!;
  assert.equal(current.generation, 5);
  assert.ok(Number(current.version) > Number(state.version), 'every write changes the version');
  await assert.rejects(provider.apply([{ name, records: records('192.0.2.3'), generation: 4, expectedVersion: current.version }]),
    (error: unknown) => error instanceof InvariantViolation && /S2/.test(error.message), 'a lower generation over a matching version is a loud bug');
  await assert.rejects(provider.apply([{ name, records: null, generation: 4, expectedVersion: current.version }]),
    (error: unknown) => error instanceof InvariantViolation && /S2/.test(error.message), 'so is a removal below the served generation');
  await assert.rejects(provider.apply([{ name, records: [], generation: 6, expectedVersion: current.version }]),
    (error: unknown) => error instanceof InvariantViolation && /S1/.test(error.message), 'an empty set never reaches the store');
  assert.equal((await provider.read([name])).get(name)!.version, current.version, 'the refused writes changed nothing');
  const [blind] = await provider.apply([{ name, records: null, generation: 6, expectedVersion: null }]);
  assert.equal(blind!.outcome, 'conflict', 'a removal without the version read is refused');
  const [removed] = await provider.apply([{ name, records: null, generation: 6, expectedVersion: current.version }]);
  assert.equal(removed!.outcome, 'applied');
  assert.equal((await provider.read([name])).size, 0);
});

test('a removal leaves a tombstone: a first write at or below it is superseded, above it applies; a hand delete leaves none (S2)', async () => {
  const provider = openProvider();
  const name = 'gone.dnsplane.test';
  const [created] = await provider.apply([{ name, records: records('192.0.2.1'), generation: 2, expectedVersion: null }]);
  assert.equal(created!.outcome, 'applied');
  const [removed] = await provider.apply([{ name, records: null, generation: 4, expectedVersion: created!.outcome === 'applied' ? created!.version : '' }]);
  assert.equal(removed!.outcome, 'applied');
  // A stale enactor, still on generation 3, reads the name as absent and tries to create it; so does one on 4.
  for (const generation of [3, 4]) {
    const [stale] = await provider.apply([{ name, records: records('192.0.2.2'), generation, expectedVersion: null }]);
    assert.deepEqual(stale, { name, outcome: 'superseded', generation: 4 }, `a first write at generation ${generation}`);
  }
  assert.equal((await provider.read([name])).size, 0, 'the removed name did not come back');
  assert.deepEqual(await provider.readRemovals([name, 'never-served.dnsplane.test']), new Map([[name, 4]]), 'the janitor can see the tombstone');
  // Several names in one call: superseded, applied and conflict outcomes side by side.
  const [back, other, twice] = await provider.apply([
    { name, records: records('192.0.2.3'), generation: 5, expectedVersion: null },
    { name: 'fresh.dnsplane.test', records: records('192.0.2.4'), generation: 1, expectedVersion: null },
    { name: 'never.dnsplane.test', records: records('192.0.2.5'), generation: 1, expectedVersion: 'nope' },
  ]);
  assert.equal(back!.outcome, 'applied', 'a newer plan brings the name back');
  assert.equal(other!.outcome, 'applied', 'a name never removed is created as before');
  assert.equal(twice!.outcome, 'conflict');
  const state = (await provider.read([name])).get(name)!;
  assert.deepEqual([state.generation, state.version], [5, back!.outcome === 'applied' ? back!.version : '']);
  assert.equal((await provider.readRemovals([name])).size, 0, 'a served name has no removal');
  // A hand delete (etcdctl del) is drift, not a removal: any plan may write the name again.
  await provider.etcd.txn({ success: [{ request_delete_range: { key: provider.etcd.key(keys.served(name)) } }] });
  const [repaired] = await provider.apply([{ name, records: records('192.0.2.6'), generation: 5, expectedVersion: null }]);
  assert.equal(repaired!.outcome, 'applied');
  assert.deepEqual((await provider.list(null, 10)).map((served) => served.name), ['fresh.dnsplane.test', name], 'tombstones are not listed');
});

test('large batches, name-ordered listing, and hand edits read as drift', async () => {
  const provider = openProvider();
  const names = Array.from({ length: 250 }, (_, n) => `svc${String(n).padStart(3, '0')}.dnsplane.test`);
  const outcomes = await provider.apply(names.map((name, n) => ({ name, records: records(`192.0.2.${(n % 250) + 1}`), generation: 1, expectedVersion: null })));
  assert.equal(outcomes.filter((outcome) => outcome.outcome === 'applied').length, 250, 'a batch above one transaction is split, not refused');
  const listed: string[] = [];
  let after: string | null = null;
  for (let page = 0; page < 10; page += 1) {
    const states = await provider.list(after, 100);
    listed.push(...states.map((state) => state.name));
    if (states.length < 100) break;
    after = states[states.length - 1]!.name;
  }
  assert.deepEqual(listed, names);
  const before = (await provider.read([names[7]!])).get(names[7]!)!;
  await provider.etcd.client.put(provider.etcd.key(keys.served(names[7]!))).value('whatever an operator typed');
  const edited = (await provider.read([names[7]!])).get(names[7]!)!;
  assert.deepEqual([edited.generation, edited.records], [0, []], 'an unreadable value is generation 0 with no records (the reconciler repairs it)');
  assert.notEqual(edited.version, before.version, 'a hand edit moves the version, so a CAS prepared before it fails');
});

test('a mirror follows writes and removals by watch, like the SQLite provider\'s incremental reads', async () => {
  const provider = openProvider();
  await provider.apply([{ name: 'a.dnsplane.test', records: records('192.0.2.1'), generation: 1, expectedVersion: null }]);
  const mirror = await follow(provider);
  const initial = mirror.changesSince(0);
  assert.deepEqual(initial.changes.map((change) => [change.name, change.state?.generation]), [['a.dnsplane.test', 1]]);
  const start = mirror.currentVersion();
  const a = (await provider.read(['a.dnsplane.test'])).get('a.dnsplane.test')!;
  await provider.apply([
    { name: 'a.dnsplane.test', records: records('192.0.2.2'), generation: 2, expectedVersion: a.version },
    { name: 'b.dnsplane.test', records: records('192.0.2.3'), generation: 2, expectedVersion: null },
  ]);
  await pollUntil(() => mirror.currentVersion() > start, 'the mirror to see the write', 5000, 10);
  const delta = mirror.changesSince(start);
  assert.deepEqual(delta.changes.map((change) => [change.name, change.state?.records[0]?.address]), [['a.dnsplane.test', '192.0.2.2'], ['b.dnsplane.test', '192.0.2.3']]);
  const afterWrite = mirror.currentVersion();
  const b = (await provider.read(['b.dnsplane.test'])).get('b.dnsplane.test')!;
  await provider.apply([{ name: 'b.dnsplane.test', records: null, generation: 3, expectedVersion: b.version }]);
  await pollUntil(() => mirror.currentVersion() > afterWrite, 'the mirror to see the removal', 5000, 10);
  assert.deepEqual(mirror.changesSince(afterWrite).changes.map((change) => [change.name, change.state]), [['b.dnsplane.test', null]]);
  assert.deepEqual(mirror.changesSince(0).changes.filter((change) => change.state !== null).map((change) => change.name), ['a.dnsplane.test'], 'a full read holds what is served now');
  assert.equal(mirror.changesSince(mirror.currentVersion()).changes.length, 0);
});

test('with etcd down the mirror keeps its last state and says so; it catches up when etcd returns', async () => {
  const provider = openProvider();
  await provider.apply([{ name: 'a.dnsplane.test', records: records('192.0.2.1'), generation: 1, expectedVersion: null }]);
  const mirror = await follow(provider);
  const writer = openProvider(provider.etcd.prefix);
  try {
    for (const index of [0, 1, 2]) await cluster.kill(index);
    await pollUntil(() => mirror.unreachableSinceMs !== null, 'the mirror to notice etcd is gone', 15_000, 20);
    assert.deepEqual(mirror.changesSince(0).changes.map((change) => change.state?.records[0]?.address), ['192.0.2.1'], 'the last state is still there to serve');
  } finally {
    await cluster.restart(0, 1, 2);
  }
  const a = (await writer.read(['a.dnsplane.test'])).get('a.dnsplane.test')!;
  await writer.apply([{ name: 'a.dnsplane.test', records: records('192.0.2.7'), generation: 2, expectedVersion: a.version }]);
  await pollUntil(() => mirror.unreachableSinceMs === null && mirror.changesSince(0).changes[0]?.state?.records[0]?.address === '192.0.2.7', 'the mirror to catch up', 20_000, 20);
});
