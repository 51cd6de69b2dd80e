// Goal: the core promise — three real enactor processes racing over one
// SQLite file while a planner publishes 500+ generations as fast as it can
// (endpoints now and then removed from the inventory and added back) and a
// janitor cleans up with a tiny retention never break S1-S5, a removed name
// never comes back below its removal, and every name ends on the newest plan
// (L1). Method: three enactor processes (the production role, with a random
// delay wrapped around each one's provider between its read and its write:
// test/helpers/test-enactor.ts) and `dnsplane janitor` as child processes;
// the real Planner in this process churns health at random; an invariant
// checker samples every served name throughout, and the enactment history
// is checked afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertRaced, checkHistory, churningPlanner, InvariantChecker, seeded, startCluster, waitConverged, waitForEnactors } from './harness.js';
import { spawnTestEnactor } from '../helpers/env.js';

const generationsMin = 500;

test('three racing enactors, 500+ generations, janitor retention 5: S1-S5 at every sample, then L1', async () => {
  const cluster = startCluster(30);
  const checker = new InvariantChecker(cluster.dbPath);
  try {
    for (const id of ['az1', 'az2', 'az3']) cluster.children.push(spawnTestEnactor(id, cluster, { delayMs: 15 }));
    cluster.spawnRole(['janitor']);
    await waitForEnactors(cluster.store, ['az1', 'az2', 'az3']);
    const rng = seeded(20251019);
    const { churnOnce, stats } = churningPlanner(cluster, 'planner-under-test', rng, { removalChance: 0.3 });
    let published = 0;
    let running = true;
    const sampling = checker.sampleWhile(() => running);
    while (published < generationsMin) {
      if ((await churnOnce()) !== null) published += 1;
      // A random 0-7 ms pace (not synchronisation): the enactors see many distinct generations, and the sampler runs.
      await new Promise((resolve) => setTimeout(resolve, Math.floor(rng.next() * 8)));
    }
    const latest = await cluster.store.latestGeneration();
    assert.ok(latest >= generationsMin, `published ${latest} generations`);
    await waitConverged(cluster.store, cluster.provider, 60_000);
    running = false;
    await sampling;
    checker.sample();
    assert.deepEqual(checker.violations.slice(0, 10), [], 'no invariant broke at any sample');
    assert.ok(checker.samples > 100, `the checker sampled throughout (${checker.samples} samples)`);
    // On a broken chain, what the enactors said (a failed step leaves a line there) is part of the failure.
    const history = await checkHistory(cluster.store).catch((error: Error) => {
      const said = cluster.children.map((child, index) => `child ${index}: ${child.stderr().slice(-1500)}`).join('\n');
      throw new Error(`${error.message}\n${said}`);
    });
    assert.ok(history.entries > 0);
    assert.ok(stats.removals > 5 && stats.readds > 5, `endpoints were removed (${stats.removals}) and added back (${stats.readds})`);
    const removalsEnacted = (await cluster.store.readHistory(null, 10_000_000)).filter((entry) => entry.kind === 'remove').length;
    assert.ok(removalsEnacted > 0, `removals reached DNS (${removalsEnacted})`);
    const counters = Object.fromEntries((await cluster.store.readCounters()).map((c) => [c.name, c.value]));
    assert.ok((counters.janitor_versions_deleted ?? 0) > 0, 'the janitor really cleaned up during the race');
    assert.ok((await cluster.store.oldestGeneration()) > 1, 'old plans are gone');
    for (const child of cluster.children) assert.equal(child.process.exitCode, null, `a role process died: ${child.stderr().slice(-2000)}`);
    const raced = await assertRaced(cluster.store, counters.enactor_cas_conflicts ?? 0, ['az1', 'az2', 'az3']);
    process.stdout.write(`# race: ${latest} generations, ${checker.samples} samples, ${history.entries} history entries, ${raced}\n`);
  } finally {
    checker.close();
    await cluster.stop();
  }
});
