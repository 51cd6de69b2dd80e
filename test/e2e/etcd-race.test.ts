// Goal: the core promise across machines — three `dnsplane enactor`
// processes and a janitor sharing a three-member etcd cluster, racing with
// random delays while a planner publishes 300+ generations (endpoints now
// and then removed from the inventory and added back), never break S1-S5 nor
// bring a removed name back below its removal; the etcd member that leads the Raft group is SIGKILLed in the
// middle of the run, and enactment carries on without it; after it returns
// every name ends on the newest plan (L1). Method: real role processes on an
// etcd store (a random delay wrapped around each enactor's provider between its read and
// write), the real Planner in this process churning health at random, an
// invariant checker sampling every served name and its plan version at one
// etcd revision throughout, and the enactment history checked afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRng } from '../../src/util/clock.js';
import { InvariantViolation } from '../../src/util/assert.js';
import { assertRaced } from './harness.js';
import { pollUntil, spawnTestEnactor } from '../helpers/env.js';
import {
  checkHistoryEtcd, churningPlannerOn, EtcdInvariantChecker, startEtcdInstallation, waitConvergedEtcd, waitForEnactorsEtcd,
} from '../helpers/etcd.js';

const generationsPerPhase = 100;

test('three racing enactors on etcd, the etcd leader SIGKILLed mid-run: S1-S5 at every sample, then L1', async () => {
  const installation = await startEtcdInstallation(30);
  const { store, provider, cluster } = installation;
  const checker = new EtcdInvariantChecker(store);
  let running = true;
  let sampling: Promise<void> = Promise.resolve();
  try {
    for (const id of ['az1', 'az2', 'az3']) installation.children.push(spawnTestEnactor(id, installation, { delayMs: 15 }));
    installation.spawnRole(['janitor']);
    await waitForEnactorsEtcd(store, ['az1', 'az2', 'az3']);
    const rng = seededRng(20251020);
    const { churnOnce, stats } = churningPlannerOn(store, installation.configPath, 'planner-under-test', rng, { removalChance: 0.3 });
    sampling = checker.sampleWhile(() => running, 20);
    const failedPublications: string[] = [];
    const publish = async (count: number) => {
      let published = 0;
      while (published < count) {
        try {
          if ((await churnOnce()) !== null) published += 1;
        } catch (error) {
          // A publication cut short by the member's death is retried (the planner re-reads the newest generation); a
          // broken invariant or assertion is not, and a publication that keeps failing is a failure.
          if (error instanceof InvariantViolation || error instanceof assert.AssertionError) throw error;
          failedPublications.push((error as Error).message);
          assert.ok(failedPublications.length <= 20, `publications keep failing: ${failedPublications.slice(-3).join(' | ')}`);
        }
        await new Promise((resolve) => setTimeout(resolve, Math.floor(rng.next() * 8)));
      }
    };
    await publish(generationsPerPhase);
    const leader = await cluster.leaderIndex();
    await cluster.kill(leader);
    const enactedAtKill = Math.min(...(await store.listEnactors()).map((enactor) => enactor.enactedGeneration));
    await publish(generationsPerPhase);
    const latestDuringOutage = await store.latestGeneration();
    await waitConvergedEtcd(store, provider, 60_000);
    assert.ok(latestDuringOutage > enactedAtKill, 'plans were published with the member dead');
    await pollUntil(async () => Math.max(...(await store.listEnactors()).map((enactor) => enactor.enactedGeneration)) >= latestDuringOutage,
      `an enactor to complete generation ${latestDuringOutage} with member m${leader + 1} dead`, 30_000, 20);
    await cluster.restart(leader);
    await publish(generationsPerPhase);
    const latest = await store.latestGeneration();
    assert.ok(latest >= 3 * generationsPerPhase, `published ${latest} generations`);
    const convergedMs = await waitConvergedEtcd(store, provider, 60_000);
    running = false;
    await sampling;
    await checker.sample();
    assert.deepEqual(checker.violations.slice(0, 10), [], 'no invariant broke at any sample');
    assert.ok(checker.samples > 100, `the checker sampled throughout (${checker.samples} samples)`);
    const history = await checkHistoryEtcd(store);
    assert.ok(history.entries > 0, 'enactments were recorded');
    assert.ok(stats.removals > 5 && stats.readds > 5, `endpoints were removed (${stats.removals}) and added back (${stats.readds})`);
    const counters = Object.fromEntries((await store.readCounters()).map((counter) => [counter.name, counter.value]));
    assert.ok((counters.janitor_versions_deleted ?? 0) > 0, 'the janitor really cleaned up during the race');
    assert.ok((await store.oldestGeneration()) > 1, 'old plans are gone');
    for (const child of installation.children) assert.equal(child.process.exitCode, null, `a role process died: ${child.stderr().slice(-2000)}`);
    const raced = await assertRaced(store, counters.enactor_cas_conflicts ?? 0, ['az1', 'az2', 'az3']);
    process.stdout.write(`# etcd race: ${latest} generations, ${checker.samples} samples (${checker.failedSamples} failed during the election), ${history.entries} history entries, ${raced}, ${failedPublications.length} publications retried, converged ${convergedMs} ms after the last publication\n`);
  } finally {
    running = false;
    await sampling;
    await installation.stop();
  }
});
