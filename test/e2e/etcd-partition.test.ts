// Goal: a real network partition. An enactor on a host of its own is cut
// off from etcd while it holds its heartbeat lease and is paused between
// reading states and writing them; its lease expires, the others move on
// (and the janitor cleans up the plan it held); when it comes back its
// stale writes are rejected by the compare-and-swap at the write (the
// fencing check) and it rejoins cleanly, with S1-S5 holding throughout and
// L1 at the end. Method: network namespaces created (and deleted) by this
// test — one for the three etcd members, one for the cut-off enactor —
// joined by a veth pair whose 10.231.x.1/30 and .2/30 addresses exist only
// inside them; the cut is `ip link set down` on the enactor's end. The other
// enactors, the janitor, the planner (in this process) and the invariant
// sampler reach etcd through the members' Unix sockets (files, no network
// traffic leaves the namespaces). The pause is SIGSTOP while the enactor
// has read the states of a generation the others (paused for that moment)
// have not written yet, and waits in its long read-to-write delay; the proof
// of rejection is the CAS conflict counter rising while it alone is running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomInt, seededRng } from '../../src/util/clock.js';
import { pollUntil, spawnTestEnactor } from '../helpers/env.js';
import {
  checkHistoryEtcd, churningPlannerOn, EtcdInvariantChecker, startEtcdInstallation, waitConvergedEtcd, waitForEnactorsEtcd, type EtcdInstallation,
} from '../helpers/etcd.js';

/**
 * The cut-off enactor is the slow one of the 2025 incident: up to 3 s between reading and writing. The pause lands
 * between the two unless that delay was under readSettleMs (a 10% chance), so a few attempts make a miss negligible.
 */
const slowDelayMaxMs = 3000;
const readSettleMs = 300;
const pauseAttemptsMax = 4;
const generationsWhilePartitioned = 20;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

interface Namespaces {
  etcd: string;
  enactor: string;
  etcdAddress: string;
  cut(): void;
  heal(): void;
  remove(): void;
}

/** Two namespaces joined by a veth pair created directly inside them (never in the host's namespace). */
function createNamespaces(): Namespaces {
  const id = `${process.pid % 10_000}${randomInt(seededRng(Date.now()), 100)}`;
  const etcd = `dpe${id}`;
  const enactor = `dpa${id}`;
  const subnet = `10.231.${randomInt(seededRng(process.pid), 250)}`;
  ip('netns', 'add', etcd);
  ip('netns', 'add', enactor);
  const namespaces: Namespaces = {
    etcd, enactor, etcdAddress: `${subnet}.1`,
    cut: () => ip('-n', enactor, 'link', 'set', 'veth-a', 'down'),
    heal: () => ip('-n', enactor, 'link', 'set', 'veth-a', 'up'),
    remove: () => {
      for (const name of [enactor, etcd]) {
        try { ip('netns', 'del', name); } catch { /* already gone */ }
      }
    },
  };
  try {
    ip('-n', etcd, 'link', 'set', 'lo', 'up');
    ip('-n', enactor, 'link', 'set', 'lo', 'up');
    ip('-n', etcd, 'link', 'add', 'veth-e', 'type', 'veth', 'peer', 'name', 'veth-a', 'netns', enactor);
    ip('-n', etcd, 'addr', 'add', `${subnet}.1/30`, 'dev', 'veth-e');
    ip('-n', enactor, 'addr', 'add', `${subnet}.2/30`, 'dev', 'veth-a');
    ip('-n', etcd, 'link', 'set', 'veth-e', 'up');
    ip('-n', enactor, 'link', 'set', 'veth-a', 'up');
  } catch (error) {
    namespaces.remove();
    throw error;
  }
  return namespaces;
}

async function counter(installation: EtcdInstallation, name: string): Promise<number> {
  return (await installation.store.readCounters()).find((entry) => entry.name === name)?.value ?? 0;
}

async function enactorInfo(installation: EtcdInstallation, id: string) {
  return (await installation.store.listEnactors()).find((enactor) => enactor.id === id);
}

test('an enactor partitioned mid-apply loses its lease; back, its stale writes are refused by the CAS and it rejoins', async () => {
  const namespaces = createNamespaces();
  let installation: EtcdInstallation | null = null;
  try {
    installation = await startEtcdInstallation(30, {}, { host: namespaces.etcdAddress, wrap: ['ip', 'netns', 'exec', namespaces.etcd], unixSockets: true });
    const current = installation;
    const { store, provider } = current;
    const remoteConfig = current.configFor(current.cluster.endpoints, 'config-partitioned.yaml');
    const partitioned = spawnTestEnactor('az1', { configPath: remoteConfig, data: current.data }, { delayMs: slowDelayMaxMs }, ['ip', 'netns', 'exec', namespaces.enactor]);
    const others = ['az2', 'az3'].map((id) => spawnTestEnactor(id, current, { delayMs: 10 }));
    current.children.push(partitioned, ...others);
    current.spawnRole(['janitor']);
    await waitForEnactorsEtcd(store, ['az1', 'az2', 'az3']);
    const checker = new EtcdInvariantChecker(store);
    let sampling = true;
    const samples = checker.sampleWhile(() => sampling, 20);
    const rng = seededRng(2025);
    const { churnOnce } = churningPlannerOn(store, current.configPath, 'planner-under-test', rng);
    const publishOne = async (): Promise<number> => pollUntil(() => churnOnce(), 'a publication', 10_000, 1);
    const publish = async (count: number) => {
      for (let published = 0; published < count; published += 1) await publishOne();
    };
    try {
      await publish(5);
      let rejected = 0;
      for (let attempt = 1; attempt <= pauseAttemptsMax && rejected === 0; attempt += 1) {
        // With the others paused, a new generation leaves names for az1 to write; az1 announces it (heartbeat) before
        // reading the plan and the served states, and then sits in its 0-3 s read-to-write delay.
        const caughtUp = await store.latestGeneration();
        await pollUntil(async () => (await enactorInfo(current, 'az1'))?.enactedGeneration === caughtUp, 'az1 to catch up (its next plan is then one small delta)', 30_000, 20);
        for (const child of others) child.process.kill('SIGSTOP');
        const held = await publishOne();
        await pollUntil(async () => (await enactorInfo(current, 'az1'))?.heldGeneration === held, `az1 to take up generation ${held}`, 15_000, 10);
        await new Promise((resolve) => setTimeout(resolve, readSettleMs));
        partitioned.process.kill('SIGSTOP');
        namespaces.cut();
        for (const child of others) child.process.kill('SIGCONT');
        await pollUntil(async () => ((await enactorInfo(current, 'az1'))?.expiresAtMs ?? 0) <= Date.now(), 'az1\'s heartbeat lease to expire', 15_000, 50);
        await publish(generationsWhilePartitioned);
        await waitConvergedEtcd(store, provider, 30_000);
        await pollUntil(async () => (await store.oldestGeneration()) > held, `the janitor to clean up plan ${held}, no longer held by a live enactor`, 15_000, 50);
        // Back on the network, with the others paused: whatever az1 writes now, it writes alone.
        namespaces.heal();
        for (const child of others) child.process.kill('SIGSTOP');
        const conflictsBefore = await counter(current, 'enactor_cas_conflicts');
        const latest = await store.latestGeneration();
        partitioned.process.kill('SIGCONT');
        await pollUntil(async () => (await enactorInfo(current, 'az1'))?.enactedGeneration === latest, `az1 to rejoin and complete generation ${latest}`, 30_000, 50);
        rejected = (await counter(current, 'enactor_cas_conflicts')) - conflictsBefore;
        for (const child of others) child.process.kill('SIGCONT');
        process.stdout.write(`# partition attempt ${attempt}: az1 held ${held}, rejoined at ${latest}; ${rejected} stale writes refused by the CAS\n`);
      }
      assert.ok(rejected > 0, 'the stale writes of the partitioned enactor were refused by the compare-and-swap');
      await publish(20);
      await waitConvergedEtcd(store, provider, 30_000);
      await pollUntil(async () => (await enactorInfo(current, 'az1'))?.enactedGeneration === (await store.latestGeneration()), 'az1 to keep up after rejoining', 30_000, 50);
    } finally {
      sampling = false;
      await samples;
      partitioned.process.kill('SIGCONT');
    }
    await checker.sample();
    assert.deepEqual(checker.violations.slice(0, 10), [], 'no invariant broke at any sample');
    assert.ok(checker.samples > 50, `${checker.samples} samples`);
    await checkHistoryEtcd(store);
    for (const child of current.children) assert.equal(child.process.exitCode, null, `a role process died: ${child.stderr().slice(-2000)}`);
  } finally {
    await installation?.stop();
    namespaces.remove();
  }
});
