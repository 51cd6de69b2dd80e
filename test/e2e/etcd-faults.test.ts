// Goal: etcd faults break nothing. (1) Two of three etcd members SIGKILLed:
// writes stall (no quorum), `dnsplane serve` keeps answering from its
// snapshot (fail static), no role process dies and no invariant breaks;
// when the members return, everything converges on the newest plan.
// (2) The planner that leads is SIGKILLed: another planner process takes
// the leader lease over within its TTL, and the plan headers show unique, consecutive
// generations with a higher fencing token at each change of leader (S6).
// Method: a three-member etcd cluster with real `dnsplane` role processes
// (planners, three enactors, janitor, serve) on an etcd store; this process
// churns health, samples S1-S5 at one etcd revision at a time, kills by pid
// and asks the DNS server with dig.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRng, randomInt } from '../../src/util/clock.js';
import { keys } from '../../src/store/etcd/keys.js';
import { freeDualPort, pollUntil } from '../helpers/env.js';
import { digA } from '../helpers/dig.js';
import { checkPlanHeaders, EtcdInvariantChecker, startEtcdInstallation, waitConvergedEtcd, waitForEnactorsEtcd, type EtcdInstallation } from '../helpers/etcd.js';

const zone = 'dnsplane.test';
/** The planners' lease in these tests (etcd grants whole seconds). */
const leaseTtlMs = 2000;

async function servedAddresses(installation: EtcdInstallation, name: string): Promise<string[]> {
  const state = (await installation.provider.read([name])).get(name);
  return (state?.records ?? []).filter((record) => record.weight > 0).map((record) => record.address).sort();
}

/** Flips one random target of the first `names` endpoints. */
function churner(installation: EtcdInstallation, names: number, seed: number) {
  const rng = seededRng(seed);
  return async () => {
    await installation.store.setHealth(`t${randomInt(rng, names)}-${randomInt(rng, 3)}`, rng.next() < 0.5 ? 'down' : 'up', 'test');
  };
}

test('two etcd members SIGKILLed: writes stall, DNS answers from its snapshot, nothing breaks, all converges after', async () => {
  const installation = await startEtcdInstallation(12);
  const checker = new EtcdInvariantChecker(installation.store);
  let sampling = true;
  const samples = checker.sampleWhile(() => sampling, 20);
  try {
    const port = await freeDualPort();
    installation.spawnRole(['planner', '--id', 'pA']);
    for (const id of ['az1', 'az2', 'az3']) installation.spawnRole(['enactor', '--id', id]);
    installation.spawnRole(['janitor']);
    const serve = installation.spawnRole(['serve', '--dns-port', String(port)]);
    await waitForEnactorsEtcd(installation.store, ['az1', 'az2', 'az3']);
    const churn = churner(installation, 12, 8);
    await pollUntil(async () => { await churn(); return (await installation.store.latestGeneration()) >= 5; }, 'a few generations', 30_000, 20);
    await waitConvergedEtcd(installation.store, installation.provider, 30_000);
    await pollUntil(() => /serving zone/.test(serve.stdout()), 'serve to start', 30_000);
    const name = `svc0.${zone}`;
    // What is served at each look (a last churn may still be planned after the convergence check); the outage starts
    // right after DNS answers it.
    let before: string[] = [];
    await pollUntil(async () => {
      before = await servedAddresses(installation, name);
      return JSON.stringify(await digA(port, name)) === JSON.stringify(before);
    }, 'DNS to answer the converged plan', 10_000);
    const latestBefore = await installation.store.latestGeneration();

    await installation.cluster.kill(0);
    await installation.cluster.kill(1);
    // No quorum: a write cannot complete (bounded by the client's call deadline).
    const write = installation.store.etcd.client.put(installation.store.etcd.key('probe')).value('x').options({ deadline: Date.now() + 2000 });
    await assert.rejects(write.exec(), 'a write without quorum does not complete');
    const deadline = Date.now() + 6000;
    let answered = 0;
    while (Date.now() < deadline) {
      assert.deepEqual(await digA(port, name), before, 'DNS keeps answering from its snapshot while etcd has no quorum');
      answered += 1;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    for (const child of installation.children) assert.equal(child.process.exitCode, null, `a role process died without quorum: ${child.stderr().slice(-1500)}`);
    await pollUntil(() => /fail static/.test(serve.stderr()), 'serve to report that it answers from its snapshot (fail static)', 10_000);

    await installation.cluster.restart(0, 1);
    await pollUntil(async () => { await churn(); return (await installation.store.latestGeneration()) >= latestBefore + 5; }, 'publications after the outage', 60_000, 50);
    await waitConvergedEtcd(installation.store, installation.provider, 60_000);
    try {
      // Against what is served at each look, not at one moment: the planner may still publish the last churn's health
      // write after the convergence above, and DNS then rightly follows that newer plan while a value captured once
      // stays behind (a CI run timed out here; this race is the likely cause, not confirmed).
      let served: string[] = [];
      await pollUntil(async () => {
        served = await servedAddresses(installation, name);
        return JSON.stringify(await digA(port, name)) === JSON.stringify(served);
      }, 'DNS to follow the newest plan again', 60_000, 100);
      assert.ok(served.length > 0, 'the name serves addresses again');
      await pollUntil(() => /fail static ended/.test(serve.stderr()), 'serve to report the end of fail static', 30_000);
    } catch (error) {
      throw new Error(`${(error as Error).message}; serve's stderr ends:\n${serve.stderr().slice(-3000)}`, { cause: error });
    }
    sampling = false;
    await samples;
    await checker.sample();
    assert.deepEqual(checker.violations.slice(0, 10), [], 'no invariant broke at any sample');
    assert.ok(answered > 10 && checker.samples > 50, `${answered} answers without quorum, ${checker.samples} samples (${checker.failedSamples} refused without quorum)`);
    for (const child of installation.children) assert.equal(child.process.exitCode, null, `a role process died: ${child.stderr().slice(-1500)}`);
  } finally {
    sampling = false;
    await samples;
    await installation.stop();
  }
});

test('the leading planner SIGKILLed: another takes over within the lease TTL, generations unique and increasing (S6)', async () => {
  const installation = await startEtcdInstallation(10, { planner: { interval: '20ms', leaseTtl: `${leaseTtlMs}ms` } });
  try {
    const churn = churner(installation, 10, 6);
    const planners = new Map<string, ReturnType<EtcdInstallation['spawnRole']>>();
    // Info logs, to see when a planner process is up: a follower still starting cannot take over.
    const start = (id: string) => planners.set(id, installation.spawnRole(['planner', '--id', id], { DNSPLANE_LOG_LEVEL: 'info' }));
    const allStarted = () => pollUntil(() => [...planners.values()].every((child) => child.process.exitCode !== null || child.process.signalCode !== null || /planner started/.test(child.stderr())), 'every planner process to be up', 30_000);
    start('p1');
    start('p2');
    const leader = async () => (await installation.store.listPlans(1))[0]?.plannerId;
    const leaseHolder = async () => {
      const kv = await installation.store.etcd.get(keys.lease('planner'));
      return kv === null ? null : (JSON.parse(kv.value.toString()) as { holder: string }).holder;
    };
    const takeoverMs: number[] = [];
    for (let round = 0; round < 2; round += 1) {
      const before = await installation.store.latestGeneration();
      await pollUntil(async () => { await churn(); return (await installation.store.latestGeneration()) > before + 5; }, 'some publications', 30_000, 10);
      await allStarted();
      const killed = (await leaseHolder())!;
      const killedAt = Date.now();
      planners.get(killed)!.process.kill('SIGKILL');
      await planners.get(killed)!.exited;
      await pollUntil(async () => { const holder = await leaseHolder(); return holder !== null && holder !== killed; }, `a planner to take the lease over from ${killed}`, 20_000, 10);
      takeoverMs.push(Date.now() - killedAt);
      await pollUntil(async () => { await churn(); const now = await leader(); return now !== undefined && now !== killed; }, `a planner to publish after ${killed}`, 20_000, 10);
      start(`p${round + 3}`);
    }
    await pollUntil(async () => { await churn(); return true; }, 'one more churn');
    const logs = () => [...planners].map(([id, child]) => `${id}: ${child.stderr().slice(-1500)}`).join('\n');
    // etcd checks for expired leases every 500 ms and revokes them through Raft: allow a second beyond the TTL.
    for (const ms of takeoverMs) assert.ok(ms <= leaseTtlMs + 1000, `takeover took ${ms} ms with a ${leaseTtlMs} ms lease\n${logs()}`);
    const plans = await checkPlanHeaders(installation.store);
    assert.ok(plans.length > 10, `${plans.length} plans`);
    assert.ok(new Set(plans.map((plan) => plan.plannerId)).size >= 3, 'three planners led in turn');
    process.stdout.write(`# planner takeover on etcd: ${takeoverMs.join(', ')} ms with a ${leaseTtlMs} ms lease\n`);
  } finally {
    await installation.stop();
  }
});
