// Goal: an enactor killed with SIGKILL in the middle of an apply (its write
// transaction open and half written) breaks no invariant, and the rest of the
// system converges; repeated 24 times. Method: enactors az1 and az2 run
// normally; az3 runs as test/helpers/test-enactor.ts (--hang-in-apply K), the
// production enactor role whose SQLite provider is given the test-only hook
// that, at its K-th apply (K random 1-3), prints "inside-apply" and holds the
// write transaction open halfway through the changes; the test kills it only
// after that line, so every kill lands inside an open write, by construction
// (counted); finally az3 is restarted as a plain `dnsplane enactor`. The real Planner churns health in
// this process and the invariant checker samples throughout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil, spawnTestEnactor } from '../helpers/env.js';
import { assertHistoryForward, churningPlanner, InvariantChecker, seeded, startCluster, waitConverged } from './harness.js';

const killsMin = 24;

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
    let killedInsideApply = 0;
    while (kills < killsMin) {
      const victim = spawnTestEnactor('az3', cluster, { hangInApply: 1 + Math.floor(rng.next() * 3) });
      cluster.children.push(victim);
      // Keep publishing until this incarnation of az3 says it is inside an apply, its transaction open; then kill it.
      // Publish only while az3 is not working on a generation: a publication would wait for the write lock that az3
      // holds while it hangs (this process's SQLite calls block), and the kill with it.
      await pollUntil(async () => {
        if (/inside-apply/.test(victim.stdout())) return true;
        assert.equal(victim.process.exitCode, null, `az3 exited before hanging in an apply: ${victim.stderr().slice(-1500)}`);
        const az3 = (await cluster.store.listEnactors()).find((enactor) => enactor.id === 'az3');
        if (az3 === undefined || az3.heldGeneration <= az3.enactedGeneration) await churnOnce();
        return false;
      }, 'az3 to hang inside an apply', 60_000, 5);
      victim.process.kill('SIGKILL');
      await victim.exited;
      assert.equal(victim.process.signalCode, 'SIGKILL', 'az3 died of the kill, inside its apply');
      killedInsideApply += 1;
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
    assert.equal(killedInsideApply, killsMin, 'every kill landed inside an open write transaction');
    // A killed enactor may have committed a write but not its history row; history must still only move forward.
    assertHistoryForward(await cluster.store.readHistory(null, 1_000_000));
  } finally {
    checker.close();
    await cluster.stop();
  }
});

