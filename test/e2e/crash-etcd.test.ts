// Goal (issue 21): crash and lost answer with the built-in provider on etcd.
// 1. An enactor SIGKILLed between the transactions of one batch — the first half of its apply committed in etcd,
//    the second half never sent — breaks no invariant, repeatedly, while two others go on; after the victim comes
//    back as a plain `dnsplane enactor`, every name converges.
// 2. An enactor whose applies are answered and then lost (the writes committed, the answer thrown away) retries
//    from a fresh read: no generation of a name is written twice (counted in etcd's own history of every served
//    key), nothing regresses, and every name converges.
// Method: real role processes on a one-member etcd cluster (test/helpers/etcd.ts); the faults are wrapped around
// the victim's provider in test/helpers/test-enactor.ts (test/helpers/fault-provider.ts), which prints what
// happened — the test counts it. The real Planner publishes in this process, changing the health of several
// targets per plan, so that one apply has several names; an invariant checker samples every served name at one
// etcd revision (S1-S5) and a second sampler reads every name through the provider (S1: never absent, never empty;
// S2: never below what it served before) throughout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt, seededRng, type Rng } from '../../src/util/clock.js';
import { pollUntil } from '../helpers/env.js';
import { churningPlannerOn, EtcdInvariantChecker, startEtcdInstallation, waitConvergedEtcd, type EtcdInstallation } from '../helpers/etcd.js';
import {
  appliedWrites, assertEachGenerationWrittenOnce, assertRereadAfterLoss, assertServedIsCounted, churnSeveral,
  etcdServedWrites, killMidApply, lostAcks, spawnFaultEnactor, type Cut,
} from '../helpers/fault-enactor.js';
import type { Provider } from '../../src/providers/types.js';
import { assertHistoryForward } from './harness.js';

const namesCount = 30;
const names = Array.from({ length: namesCount }, (_, index) => `svc${index}.dnsplane.test`);
/** One page of the plan is one apply: every name changed in a plan is in the same batch. */
const enactor = {
  pollInterval: '10ms', batchNamesMax: 40, retriesMax: 20, backoffBase: '1ms', backoffMax: '20ms',
  heartbeatInterval: '200ms', heartbeatTtl: '2s',
};

/**
 * S1 and S2 through the provider's read: once every name is served, every sample finds each of them with records,
 * never at a lower generation than the sample before (no name leaves the inventory in these tests).
 */
class ReadSampler {
  readonly violations: string[] = [];
  samples = 0;
  private readonly last = new Map<string, number>();

  constructor(private readonly provider: Provider, private readonly names: readonly string[]) {}

  async sample(): Promise<void> {
    const states = await this.provider.read(this.names);
    const at = `(read sample ${this.samples})`;
    for (const name of this.names) {
      const state = states.get(name);
      const previous = this.last.get(name);
      if (state === undefined) {
        if (previous !== undefined) this.violations.push(`S1: ${name} is no longer served ${at}`);
        continue;
      }
      if (state.records.length === 0) this.violations.push(`S1: ${name} serves no records at generation ${state.generation} ${at}`);
      if (previous !== undefined && state.generation < previous) this.violations.push(`S2: ${name} went from generation ${previous} to ${state.generation} ${at}`);
      this.last.set(name, Math.max(previous ?? 0, state.generation));
    }
    this.samples += 1;
  }

  async sampleWhile(running: () => boolean): Promise<void> {
    while (running()) {
      await this.sample();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Plans of several changed names each (no name leaves the inventory). */
function churner(installation: EtcdInstallation, rng: Rng) {
  const { churnOnce } = churningPlannerOn(installation.store, installation.configPath, 'planner-under-test', rng, { removalChance: 0 });
  return churnSeveral(installation.store, churnOnce, namesCount, rng);
}

/** The checkers sampling until halt(); stop() halts them, samples once more and asserts their verdicts. */
function sampleThroughout(installation: EtcdInstallation) {
  const checker = new EtcdInvariantChecker(installation.store);
  const reads = new ReadSampler(installation.provider, names);
  let running = true;
  const sampling = Promise.all([checker.sampleWhile(() => running, 20), reads.sampleWhile(() => running)]);
  const halt = async () => {
    running = false;
    await sampling;
  };
  return {
    checker, reads, halt,
    async stop() {
      await halt();
      await checker.sample();
      await reads.sample();
      assert.deepEqual(checker.violations.slice(0, 10), [], 'no invariant broke at any sample of etcd');
      assert.deepEqual(reads.violations.slice(0, 10), [], 'no name was absent, empty or regressed at any read');
      assert.ok(checker.samples > 20 && reads.samples > 20, `sampled throughout (${checker.samples} and ${reads.samples} samples)`);
    },
  };
}

/** No name was put twice at one generation in etcd's history of served keys; returns how many writes there were. */
async function assertEtcdWroteEachGenerationOnce(installation: EtcdInstallation): Promise<{ name: string; generation: number }[]> {
  const writes = await etcdServedWrites(installation.provider.etcd);
  const seen = new Set<string>();
  const twice: string[] = [];
  for (const { name, generation, revision } of writes) {
    const key = `${name}@${generation}`;
    if (seen.has(key)) twice.push(`${key} again at revision ${revision}`);
    seen.add(key);
  }
  assert.deepEqual(twice.slice(0, 10), [], 'etcd holds one write per generation of each name');
  return writes;
}

const killsMin = 6;

test(`etcd: SIGKILL an enactor between the transactions of a batch ${killsMin} times: no invariant breaks, all converge`, async () => {
  const installation = await startEtcdInstallation(namesCount, { enactor }, { members: 1 });
  const rng = seededRng(2021);
  let sampling: ReturnType<typeof sampleThroughout> | null = null;
  try {
    for (const id of ['az1', 'az2']) installation.children.push(spawnFaultEnactor(id, installation, { delayMs: 10 }));
    installation.spawnRole(['janitor']);
    const churn = churner(installation, rng);
    await churn();
    await waitConvergedEtcd(installation.store, installation.provider, 60_000);
    sampling = sampleThroughout(installation);
    const kills: Cut[] = [];
    while (kills.length < killsMin) {
      const spawnVictim = () => {
        const victim = spawnFaultEnactor('az3', installation, { hangMidApply: 1 + randomInt(rng, 2) });
        installation.children.push(victim);
        return victim;
      };
      const cut = await killMidApply(spawnVictim, churn, installation.provider);
      kills.push(cut);
    }
    installation.spawnRole(['enactor', '--id', 'az3']);
    const convergedMs = await waitConvergedEtcd(installation.store, installation.provider, 60_000);
    await sampling.stop();
    const writes = await assertEtcdWroteEachGenerationOnce(installation);
    assertHistoryForward(await installation.store.readHistory(null, 1_000_000));
    for (const child of installation.children.filter((child) => child.process.signalCode === null)) {
      assert.equal(child.process.exitCode, null, `a role process died: ${child.stderr().slice(-2000)}`);
    }
    const unsent = kills.reduce((sum, kill) => sum + kill.pending.length, 0);
    process.stdout.write(`# crash on etcd: ${kills.length} kills between transactions of a batch (${unsent} changes left unsent), `
      + `${sampling.checker.samples} etcd + ${sampling.reads.samples} read samples, ${writes.length} writes in etcd's history, `
      + `converged ${convergedMs} ms after the restart\n`);
  } finally {
    if (sampling !== null) await sampling.halt();
    await installation.stop();
  }
});

const lossesMin = 12;

test(`etcd: ${lossesMin} applies written but their answers lost: the enactor retries, no double apply, no regression`, async () => {
  const installation = await startEtcdInstallation(namesCount, { enactor }, { members: 1 });
  const rng = seededRng(2022);
  let sampling: ReturnType<typeof sampleThroughout> | null = null;
  try {
    const other = spawnFaultEnactor('az1', installation, { delayMs: 10, logApplied: true });
    const victim = spawnFaultEnactor('az3', installation, { loseAcks: lossesMin, logApplied: true });
    installation.children.push(other, victim);
    installation.spawnRole(['janitor']);
    const churn = churner(installation, rng);
    await churn();
    await waitConvergedEtcd(installation.store, installation.provider, 60_000);
    sampling = sampleThroughout(installation);
    await pollUntil(async () => {
      if (lostAcks(victim.stdout()).length >= lossesMin) return true;
      assert.equal(victim.process.exitCode, null, `az3 exited: ${victim.stderr().slice(-1500)}`);
      await churn();
      return false;
    }, `${lossesMin} lost answers`, 60_000, 20);
    const convergedMs = await waitConvergedEtcd(installation.store, installation.provider, 60_000);
    await sampling.stop();
    const losses = lostAcks(victim.stdout());
    assert.equal(losses.length, lossesMin, 'the answers were lost as many times as asked');
    assertRereadAfterLoss(victim.stdout());
    const logged = [...appliedWrites(other.stdout()), ...appliedWrites(victim.stdout())];
    const versions = assertEachGenerationWrittenOnce(logged);
    // etcd's own history: one put per generation of a name, and exactly the writes the enactors were told of (the
    // lost answers included) — no write went uncounted.
    const writes = await assertEtcdWroteEachGenerationOnce(installation);
    assert.deepEqual(writes.map((write) => `${write.name}@${write.generation}`).sort(), [...versions.keys()].sort(), 'etcd holds exactly the counted writes');
    for (const loss of losses) {
      for (const name of loss.names) assert.ok(versions.has(`${name}@${loss.generation}`), `the lost write of ${name}@${loss.generation} was made`);
    }
    assert.equal(await assertServedIsCounted(installation.provider, names, versions), namesCount);
    assertHistoryForward(await installation.store.readHistory(null, 1_000_000));
    for (const child of installation.children) assert.equal(child.process.exitCode, null, `a role process died: ${child.stderr().slice(-2000)}`);
    const lostNames = losses.reduce((sum, loss) => sum + loss.names.length, 0);
    process.stdout.write(`# lost answers on etcd: ${losses.length} applies (${lostNames} names) answered and lost, ${writes.length} writes `
      + `in etcd's history, each generation once, converged ${convergedMs} ms after the last\n`);
  } finally {
    if (sampling !== null) await sampling.halt();
    await installation.stop();
  }
});
