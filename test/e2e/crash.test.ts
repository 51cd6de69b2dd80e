// Goal: an enactor killed with SIGKILL in the middle of an apply (its write
// transaction open and half written) breaks no invariant, and the rest of the
// system converges; repeated 24 times. Method: enactors az1 and az2 run
// normally; az3 runs as test/helpers/test-enactor.ts (--spin-ms), the production enactor role
// whose SQLite provider is given the test-only hook that holds its write
// transaction open halfway through every apply, and is killed while it is
// working (its heartbeat holds a generation it has not finished), then
// restarted as a plain `dnsplane enactor`. The real Planner churns health in
// this process and the invariant checker samples throughout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil, spawnTestEnactor } from '../helpers/env.js';
import { assertHistoryForward, churningPlanner, InvariantChecker, seeded, startCluster, waitConverged } from './harness.js';

const killsMin = 24;
/** How long az3 holds its write transaction open, half written, in every apply. */
const applySpinMs = 40;

test(`SIGKILL an enactor mid-apply ${killsMin} times: no invariant breaks and all converge`, async () => {
  const cluster = startCluster(40, {
    enactor: { pollInterval: '5ms', batchNamesMax: 40, retriesMax: 20, backoffBase: '1ms', backoffMax: '20ms', heartbeatInterval: '20ms', heartbeatTtl: '3s' },
  });
  const checker = new InvariantChecker(cluster.dbPath);
  try {
    for (const id of ['az1', 'az2']) cluster.children.push(spawnTestEnactor(id, cluster, { delayMs: 10 }));
    cluster.spawnRole(['janitor']);
    const rng = seeded(4242);
    const { churnOnce } = churningPlanner(cluster, 'planner-under-test', rng);
    await churnOnce();
    let running = true;
    const sampling = checker.sampleWhile(() => running);
    let kills = 0;
    while (kills < killsMin) {
      const spawnedAtMs = Date.now();
      const victim = spawnTestEnactor('az3', cluster, { spinMs: applySpinMs });
      cluster.children.push(victim);
      // Keep publishing until this incarnation of az3 is seen mid-generation, then kill it a random moment later.
      await pollUntil(async () => {
        await churnOnce();
        const az3 = (await cluster.store.listEnactors()).find((e) => e.id === 'az3');
        return az3 !== undefined && az3.heartbeatAtMs > spawnedAtMs && az3.heldGeneration > az3.enactedGeneration;
      }, 'az3 to start applying a generation', 30_000, 5);
      await new Promise((resolve) => setTimeout(resolve, Math.floor(rng.next() * 30)));
      victim.process.kill('SIGKILL');
      await victim.exited;
      kills += 1;
      checker.sample();
    }
    cluster.spawnRole(['enactor', '--id', 'az3']);
    await waitConverged(cluster.store, cluster.provider, 60_000);
    running = false;
    await sampling;
    checker.sample();
    assert.deepEqual(checker.violations.slice(0, 10), [], 'no invariant broke');
    assert.equal(kills, killsMin);
    // A killed enactor may have committed a write but not its history row; history must still only move forward.
    assertHistoryForward(await cluster.store.readHistory(null, 1_000_000));
  } finally {
    checker.close();
    await cluster.stop();
  }
});

