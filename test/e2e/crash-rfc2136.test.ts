// Goal (issue 21): crash and lost answer with the RFC 2136 provider, on Knot DNS and BIND 9.
// 1. An enactor SIGKILLed between the UPDATE messages of one batch — the UPDATEs of the first half of its apply
//    answered, those of the second half never sent — breaks no invariant, repeatedly, while two others go on; after
//    the victim comes back as a plain `dnsplane enactor`, every name converges.
// 2. An enactor whose applies are answered and then lost (the UPDATEs applied by the server, the answer thrown away)
//    retries from a fresh read: no generation of a name is written twice, nothing regresses, every name converges.
// Method: `store: sqlite` and `provider: rfc2136` with updateNamesMax 2, so that one batch of several names is several
// UPDATE messages; role processes as in test/providers/rfc2136/race.test.ts; the faults are wrapped around the
// victim's provider in test/helpers/test-enactor.ts (test/helpers/fault-provider.ts), which prints what happened —
// the test counts it. The real Planner publishes in this process, several names changing per plan, endpoints now
// and then leaving the inventory and coming back; the DNS invariant checker samples the server throughout (dig:
// marker, A, marker per name; and the provider's read): S1-S5 at every sample. No double apply: every enactor
// prints each write its provider reported applied, each (name, generation) must appear once, and each name's marker
// on the server at the end carries the version of the one counted write of its generation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRng } from '../../src/util/clock.js';
import { Rfc2136Provider } from '../../src/providers/rfc2136/provider.js';
import { pollUntil } from '../helpers/env.js';
import { providerSection, startDnsServer, dnsServerNames, type DnsServer, type DnsServerKind } from '../helpers/dns-servers.js';
import {
  appliedWrites, assertEachGenerationWrittenOnce, assertRereadAfterLoss, assertServedIsCounted, churnSeveral,
  killMidApply, lostAcks, spawnFaultEnactor, type Cut,
} from '../helpers/fault-enactor.js';
import { DnsInvariantChecker } from '../providers/rfc2136/dns-checker.js';
import { assertHistoryForward, churningPlanner, startCluster, waitConverged, type Cluster } from './harness.js';

const namesCount = 20;
const names = Array.from({ length: namesCount }, (_, index) => `svc${index}.dnsplane.test`);
const maxAnswers = 2;
/** Two names per UPDATE: a batch of several names is several messages. */
const updateNamesMax = 2;
const enactor = {
  pollInterval: '10ms', batchNamesMax: 40, retriesMax: 20, backoffBase: '1ms', backoffMax: '20ms',
  heartbeatInterval: '200ms', heartbeatTtl: '3s',
};

interface Setup {
  server: DnsServer;
  cluster: Cluster;
  provider: Rfc2136Provider;
  checker: DnsInvariantChecker;
  churn: () => Promise<void>;
}

async function withInstallation(kind: DnsServerKind, seed: number, body: (setup: Setup) => Promise<void>): Promise<void> {
  const server = await startDnsServer(kind);
  const cluster = startCluster(namesCount, { provider: providerSection(server, server.key, { updateNamesMax }), dns: { maxAnswers }, enactor });
  const provider = new Rfc2136Provider({ server: server.server, zone: server.zone, timeoutMs: 5000, tsig: server.key, ttl: 5, maxAnswers, owner: null });
  const checker = new DnsInvariantChecker(cluster.dbPath, server, provider, names, maxAnswers);
  const rng = seededRng(seed);
  const { churnOnce } = churningPlanner(cluster, 'planner-under-test', rng, { removalChance: 0.2 });
  try {
    await body({ server, cluster, provider, checker, churn: churnSeveral(cluster.store, churnOnce, namesCount, rng) });
  } finally {
    checker.close();
    await provider.close();
    await cluster.stop();
    await server.stop();
  }
}

/** Samples of each kind the fault phase lasts for at least: a fast run must not end before the sampler has looked. */
const samplesMin = 10;

function sampledEnough(checker: DnsInvariantChecker): boolean {
  return checker.digSamples >= samplesMin && checker.readSamples >= samplesMin;
}

/** Samples until the returned halt(); verdict() halts, samples once more of each kind and asserts what broke. */
function sampleThroughout(checker: DnsInvariantChecker) {
  let running = true;
  const sampling = checker.sampleWhile(() => running);
  const halt = async () => {
    running = false;
    await sampling;
  };
  return {
    halt,
    async verdict() {
      await halt();
      await checker.sampleDig();
      await checker.sampleRead();
      assert.deepEqual(checker.violations.slice(0, 10), [], 'no invariant broke at any sample');
      assert.deepEqual(checker.digFailures.slice(0, 3), [], 'every dig run answered');
      assert.ok(sampledEnough(checker), `sampled throughout (${checker.digSamples} dig, ${checker.readSamples} read samples)`);
    },
  };
}

const killsMin = 6;
const lossesMin = 10;
const seeds: Record<'knot' | 'bind', number> = { knot: 21_2136, bind: 21_2137 };

for (const kind of ['knot', 'bind'] as const) {
  test(`${dnsServerNames[kind]}: SIGKILL an enactor between the UPDATE messages of a batch ${killsMin} times: no invariant breaks, all converge`, async () => {
    await withInstallation(kind, seeds[kind], async ({ cluster, provider, checker, churn }) => {
      for (const id of ['az1', 'az2']) cluster.children.push(spawnFaultEnactor(id, cluster, { delayMs: 10 }));
      cluster.spawnRole(['janitor']);
      await churn();
      await waitConverged(cluster.store, provider, 60_000);
      const sampling = sampleThroughout(checker);
      try {
        const kills: Cut[] = [];
        let seed = 0;
        // At least killsMin kills, and on until the sampler has looked often enough while they happen.
        while (kills.length < killsMin || !sampledEnough(checker)) {
          seed += 1;
          const spawnVictim = () => {
            const victim = spawnFaultEnactor('az3', cluster, { hangMidApply: 1 + (seed % 2) });
            cluster.children.push(victim);
            return victim;
          };
          kills.push(await killMidApply(spawnVictim, churn, provider));
        }
        cluster.spawnRole(['enactor', '--id', 'az3']);
        const convergedMs = await waitConverged(cluster.store, provider, 60_000);
        await sampling.verdict();
        assertHistoryForward(await cluster.store.readHistory(null, 1_000_000));
        for (const child of cluster.children.filter((child) => child.process.signalCode === null)) {
          assert.equal(child.process.exitCode, null, `a role process died: ${child.stderr().slice(-2000)}`);
        }
        const sent = kills.reduce((sum, kill) => sum + kill.wrote.length, 0);
        const unsent = kills.reduce((sum, kill) => sum + kill.pending.length, 0);
        process.stdout.write(`# crash on ${kind}: ${kills.length} kills between UPDATEs of a batch (${sent} names written before, `
          + `${unsent} left unsent), ${checker.digSamples} dig + ${checker.readSamples} read samples, converged ${convergedMs} ms after the restart\n`);
      } finally {
        await sampling.halt();
      }
    });
  });

  test(`${dnsServerNames[kind]}: ${lossesMin} applies made but their answers lost: the enactor retries, no double apply, no regression`, async () => {
    await withInstallation(kind, seeds[kind] + 10, async ({ cluster, provider, checker, churn }) => {
      const other = spawnFaultEnactor('az1', cluster, { delayMs: 10, logApplied: true });
      const victim = spawnFaultEnactor('az3', cluster, { loseAcks: lossesMin, logApplied: true });
      cluster.children.push(other, victim);
      cluster.spawnRole(['janitor']);
      await churn();
      await waitConverged(cluster.store, provider, 60_000);
      const sampling = sampleThroughout(checker);
      try {
        await pollUntil(async () => {
          // The losses asked for, and churn on until the sampler has looked often enough (a fast run ends early).
          if (lostAcks(victim.stdout()).length >= lossesMin && sampledEnough(checker)) return true;
          assert.equal(victim.process.exitCode, null, `az3 exited: ${victim.stderr().slice(-1500)}`);
          await churn();
          return false;
        }, `${lossesMin} lost answers`, 60_000, 20);
        const convergedMs = await waitConverged(cluster.store, provider, 60_000);
        await sampling.verdict();
        const losses = lostAcks(victim.stdout());
        assert.equal(losses.length, lossesMin, 'the answers were lost as many times as asked');
        assertRereadAfterLoss(victim.stdout());
        const versions = assertEachGenerationWrittenOnce([...appliedWrites(other.stdout()), ...appliedWrites(victim.stdout())]);
        for (const loss of losses) {
          for (const name of loss.names) assert.ok(versions.has(`${name}@${loss.generation}`), `the lost write of ${name}@${loss.generation} was made`);
        }
        const served = await assertServedIsCounted(provider, names, versions);
        assert.ok(served > 0, 'names are served');
        assertHistoryForward(await cluster.store.readHistory(null, 1_000_000));
        for (const child of cluster.children) assert.equal(child.process.exitCode, null, `a role process died: ${child.stderr().slice(-2000)}`);
        const lostNames = losses.reduce((sum, loss) => sum + loss.names.length, 0);
        process.stdout.write(`# lost answers on ${kind}: ${losses.length} applies (${lostNames} names) made and their answers lost, `
          + `${versions.size} writes counted, each generation once, converged ${convergedMs} ms after the last\n`);
      } finally {
        await sampling.halt();
      }
    });
  });
}
