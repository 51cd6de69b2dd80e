// Goal: the SQLite store's contracts — fenced, base-checked publication (S6),
// versioned plans whose deltas are cheap, leases with fencing tokens, and a
// clean-up that can never take the newest plan. Method: direct calls on a
// real SQLite file, with a hand-driven clock for lease expiry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { InvariantViolation } from '../../src/util/assert.js';
import { manualClock, records } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/env.js';

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

test('publication needs the current lease token and the newest base generation', async () => {
  await withStore(async (store, clock) => {
    const lease = (await store.acquireLease('planner', 'p1', 1000))!;
    assert.equal(lease.token, 1);
    const first = await store.publishPlan({ lease, baseGeneration: 0, changes: [{ name: 'a.dnsplane.test', records: records('192.0.2.1') }], namesTotal: 1, forced: false, note: '' });
    assert.ok(first.ok && first.header.generation === 1);
    const stale = await store.publishPlan({ lease, baseGeneration: 0, changes: [], namesTotal: 1, forced: false, note: '' });
    assert.deepEqual(stale.ok ? null : stale.reason, 'stale-base');
    assert.equal(await store.acquireLease('planner', 'p2', 1000), null, 'a live lease is not taken');
    clock.advance(1001);
    const lease2 = (await store.acquireLease('planner', 'p2', 1000))!;
    assert.equal(lease2.token, 2, 'a new holder gets a higher fencing token');
    const fenced = await store.publishPlan({ lease, baseGeneration: 1, changes: [], namesTotal: 1, forced: false, note: '' });
    assert.deepEqual(fenced.ok ? null : fenced.reason, 'fenced', 'the old holder is fenced at the write');
    assert.equal(await store.renewLease(lease, 1000), null, 'the old holder cannot renew');
    const second = await store.publishPlan({ lease: lease2, baseGeneration: 1, changes: [{ name: 'b.dnsplane.test', records: records('192.0.2.2') }], namesTotal: 2, forced: false, note: '' });
    assert.ok(second.ok && second.header.generation === 2 && second.header.fencingToken === 2);
    assert.equal(await store.latestGeneration(), 2);
  });
});

test('plans are versions: full views, deltas and per-name lookups see the right sets', async () => {
  await withStore(async (store) => {
    const lease = (await store.acquireLease('planner', 'p', 60_000))!;
    const publish = async (base: number, changes: { name: string; records: ReturnType<typeof records> | null }[]) => {
      const result = await store.publishPlan({ lease, baseGeneration: base, changes, namesTotal: 0, forced: false, note: '' });
      assert.ok(result.ok);
    };
    await publish(0, [{ name: 'a', records: records('192.0.2.1') }, { name: 'b', records: records('192.0.2.2') }]);
    await publish(1, [{ name: 'a', records: records('192.0.2.3') }]);
    await publish(2, [{ name: 'b', records: null }]);
    const full3 = (await store.readPlan(3))!;
    assert.deepEqual(full3.entries.map((e) => [e.name, e.since, e.records?.[0]?.address ?? null]).sort(), [['a', 2, '192.0.2.3'], ['b', 3, null]]);
    const full1 = (await store.readPlan(1))!;
    assert.deepEqual(full1.entries.map((e) => [e.name, e.records![0]!.address]).sort(), [['a', '192.0.2.1'], ['b', '192.0.2.2']]);
    const delta = (await store.readPlan(3, { sinceAfter: 2 }))!;
    assert.deepEqual(delta.entries.map((e) => e.name), ['b'], 'a delta holds only what changed after the watermark');
    const at1 = await store.readEntriesAt(['a', 'b', 'zzz'], 1);
    assert.equal(at1.get('a')!.records![0]!.address, '192.0.2.1');
    assert.equal(at1.has('zzz'), false);
    assert.equal(await store.readPlan(4), null, 'a plan never published does not exist');
    const superseded = await store.listSuperseded(3, 100);
    assert.deepEqual(superseded.map((v) => [v.name, v.since, v.supersededBy]).sort(), [['a', 1, 2], ['b', 1, 3]]);
    const deleted = await store.deletePlanData(superseded.filter((v) => v.name === 'a'), 2);
    assert.deepEqual(deleted, { versions: 1, headers: 1 });
    assert.equal(await store.readPlan(1), null, 'a cleaned-up plan reads as missing, never as a partial view');
    assert.equal(await store.oldestGeneration(), 2);
    await assert.rejects(store.deletePlanData([], 4), (error: unknown) => error instanceof InvariantViolation && /S4/.test(error.message));
    assert.equal(await store.latestGeneration(), 3, 'the refused clean-up left the newest plan');
  });
});

test('a second connection sees the same state (several processes share one file)', async () => {
  await withStore(async (store, clock, path) => {
    const other = new SqliteStore(path, clock);
    try {
      const lease = (await store.acquireLease('planner', 'p', 60_000))!;
      assert.equal(await other.acquireLease('planner', 'q', 60_000), null);
      await store.publishPlan({ lease, baseGeneration: 0, changes: [{ name: 'a', records: records('192.0.2.1') }], namesTotal: 1, forced: false, note: '' });
      assert.equal(await other.latestGeneration(), 1);
      await other.heartbeat({ id: 'az1', heldGeneration: 1, enactedGeneration: 1 }, 500);
      assert.deepEqual((await store.listEnactors()).map((e) => [e.id, e.heldGeneration]), [['az1', 1]]);
    } finally {
      await other.close();
    }
  });
});

test('alarms count, clear and re-raise; counters add up; history keeps order', async () => {
  await withStore(async (store) => {
    await store.raiseAlarm('drift', 'a', 'empty');
    await store.raiseAlarm('drift', 'a', 'empty again');
    let alarms = await store.listAlarms(true);
    assert.equal(alarms.length, 1);
    assert.equal(alarms[0]!.count, 2);
    await store.clearAlarm('drift', 'a');
    assert.equal((await store.listAlarms(true)).length, 0);
    await store.raiseAlarm('drift', 'a', 'edited');
    alarms = await store.listAlarms(true);
    assert.equal(alarms[0]!.count, 3);
    const counters = Object.fromEntries((await store.readCounters()).map((c) => [c.name, c.value]));
    assert.equal(counters.alarms_drift, 3);
    await store.appendHistory([{ name: 'a', fromGeneration: 0, toGeneration: 1, actor: 'az1', kind: 'enact', detail: '' }, { name: 'a', fromGeneration: 1, toGeneration: 2, actor: 'az2', kind: 'enact', detail: '' }]);
    assert.deepEqual((await store.readHistory('a', 10)).map((h) => h.toGeneration), [1, 2]);
  });
});
