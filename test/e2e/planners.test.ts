// Goal: S6 with two planner processes at once — generations unique and
// strictly increasing, published only under the lease, and a leader paused
// past its lease (SIGSTOP) is fenced when it wakes. Method: two real
// `dnsplane planner` processes with a 400 ms lease; this process churns
// health so there is always something to publish and freezes whichever
// planner leads, several times; then every plan header is checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import type { ChildProcess } from 'node:child_process';
import { pollUntil } from '../helpers/env.js';
import { checkPlanHeaders, seeded, startCluster } from './harness.js';
import { randomInt } from '../../src/util/clock.js';

/**
 * SIGSTOPs a process at a moment it holds no SQLite write lock. A process
 * paused inside `BEGIN IMMEDIATE` stalls every writer on a single-file store
 * until it resumes (SQLite has one writer; that pause is not a lease
 * question and leaves nothing to fence), so the lease test freezes the
 * leader between transactions: stop it, try the write lock from here without
 * waiting, and if the lock is held, let it run on and try again.
 */
async function freezeOutsideWriteTransaction(child: ChildProcess, dbPath: string): Promise<void> {
  const probe = new Database(dbPath, { timeout: 0 });
  try {
    await pollUntil(() => {
      child.kill('SIGSTOP');
      try {
        probe.exec('BEGIN IMMEDIATE');
        probe.exec('ROLLBACK');
        return true;
      } catch (error) {
        child.kill('SIGCONT');
        throw error;
      }
    }, 'a moment the leader holds no write lock', 10_000, 2);
  } finally {
    probe.close();
  }
}

test('two planners: unique, strictly increasing generations with non-decreasing fencing tokens (S6)', async () => {
  const cluster = startCluster(20, { planner: { interval: '5ms', leaseTtl: '400ms' } });
  try {
    const planners = new Map([['pA', cluster.spawnRole(['planner', '--id', 'pA'])], ['pB', cluster.spawnRole(['planner', '--id', 'pB'])]]);
    const rng = seeded(6);
    const churn = async () => {
      await cluster.store.setHealth(`t${randomInt(rng, 20)}-${randomInt(rng, 3)}`, rng.next() < 0.5 ? 'down' : 'up', 'test');
    };
    const leader = async () => {
      const plans = await cluster.store.listPlans(1);
      return plans[0]?.plannerId;
    };
    for (let round = 0; round < 4; round += 1) {
      // Let the current leader publish a little, then freeze it past its lease.
      const before = await cluster.store.latestGeneration();
      await pollUntil(async () => { await churn(); return (await cluster.store.latestGeneration()) > before + 5; }, 'some publications', 20_000, 5);
      const frozenId = (await leader())!;
      const frozen = planners.get(frozenId)!;
      await freezeOutsideWriteTransaction(frozen.process, cluster.dbPath);
      await pollUntil(async () => { await churn(); return (await leader()) !== frozenId; }, `the other planner to take over from ${frozenId}`, 20_000, 5);
      frozen.process.kill('SIGCONT');
    }
    await pollUntil(async () => { await churn(); return true; }, 'one more churn');
    const plans = await checkPlanHeaders(cluster.store);
    assert.ok(plans.length > 20, `${plans.length} plans`);
    const ids = new Set(plans.map((plan) => plan.plannerId));
    assert.deepEqual([...ids].sort(), ['pA', 'pB'], 'both planners led at some point');
    for (const child of planners.values()) assert.equal(child.process.exitCode, null, child.stderr().slice(-1000));
  } finally {
    await cluster.stop();
  }
});
