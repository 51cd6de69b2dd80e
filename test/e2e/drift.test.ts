// Goal: L2 with real processes — a name emptied by hand in the database, and
// a name pointed at a cleaned-up plan's generation, are both repaired by the
// `dnsplane reconciler` process within one reconcile interval, with an alarm
// counted. Method: enactor, janitor and reconciler processes on a real
// SQLite file; drift is written with SQL; the repair is awaited by polling,
// and its time is checked against the interval plus scheduling slack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil } from '../helpers/env.js';
import { churningPlanner, seeded, startCluster, waitConverged } from './harness.js';

const intervalMs = 1000;
// Scheduling slack on a loaded 2-core machine; the exact bound is checked in reconciler passes below.
const slackMs = 2000;

test('the reconciler repairs an emptied name and a name on a deleted plan within one interval', async () => {
  const cluster = startCluster(5, { reconciler: { interval: `${intervalMs}ms`, maxLag: '30s' } });
  try {
    cluster.spawnRole(['enactor', '--id', 'az1']);
    cluster.spawnRole(['janitor']);
    const { planner } = churningPlanner(cluster, 'planner-under-test', seeded(1));
    await planner.tick();
    // svc0 changes 20 times so its early versions are cleaned up.
    for (let i = 0; i < 20; i += 1) {
      await cluster.store.setHealth('t0-0', i % 2 === 0 ? 'down' : 'up', 'test');
      await planner.tick();
    }
    await waitConverged(cluster.store, cluster.provider, 30_000);
    await pollUntil(async () => !(await cluster.store.readEntriesAt(['svc0.dnsplane.test'], 1)).has('svc0.dnsplane.test'), 'svc0 generation 1 to be cleaned up');
    cluster.spawnRole(['reconciler']);
    // Let the reconciler process start and make its first (clean) pass before the drift.
    const passes = async () => (await cluster.store.readCounters()).find((c) => c.name === 'reconciler_passes')?.value ?? 0;
    await pollUntil(async () => (await passes()) >= 1, 'the reconciler\'s first pass', 30_000);
    const latest = await cluster.store.latestGeneration();
    const passesBefore = await passes();
    const driftAtMs = Date.now();
    cluster.store.db.prepare("UPDATE served SET records = '' WHERE name = 'svc2.dnsplane.test'").run();
    cluster.store.db.prepare("UPDATE served SET generation = 1 WHERE name = 'svc0.dnsplane.test'").run();
    await pollUntil(async () => {
      const rows = cluster.store.db.prepare("SELECT name, generation, records FROM served WHERE name IN ('svc0.dnsplane.test', 'svc2.dnsplane.test')").all() as { generation: number; records: string }[];
      return rows.length === 2 && rows.every((row) => row.generation === latest && row.records.length > 0);
    }, 'both names repaired', intervalMs * 3 + slackMs * 5, 10);
    const elapsedMs = Date.now() - driftAtMs;
    // The first reconciler pass may come up to one interval after the drift; the start-up of its process is excluded above.
    assert.ok(elapsedMs <= intervalMs + slackMs, `repaired in ${elapsedMs} ms (interval ${intervalMs} ms)`);
    // The reconciler writes its counters and history just after the repairs themselves: wait for them too.
    const counters = await pollUntil(async () => {
      const values = Object.fromEntries((await cluster.store.readCounters()).map((c) => [c.name, c.value]));
      return (values.reconciler_repairs ?? 0) >= 2 ? values : null;
    }, 'the repairs to be counted', 10_000);
    assert.ok((counters.alarms_drift ?? 0) >= 2, `drift alarms counted: ${counters.alarms_drift}`);
    // Within one interval, counted in passes rather than milliseconds: the pass running at the drift may miss it, the next may not.
    assert.ok((counters.reconciler_passes ?? 0) <= passesBefore + 2, `repaired by pass ${counters.reconciler_passes}, drift after pass ${passesBefore}`);
    const repairs = await pollUntil(async () => {
      const entries = (await cluster.store.readHistory(null, 100)).filter((entry) => entry.kind === 'repair').map((entry) => [entry.name, entry.detail]).sort();
      return entries.length >= 2 ? entries : null;
    }, 'the repairs in history', 10_000);
    assert.deepEqual(repairs, [['svc0.dnsplane.test', 'deleted-plan'], ['svc2.dnsplane.test', 'empty']]);
  } finally {
    await cluster.stop();
  }
});
