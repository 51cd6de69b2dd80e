// Goal: an enactor killed with SIGKILL in the middle of an apply on Route 53
// — some of the apply's change batches committed, the next one arriving, none
// followed to INSYNC — breaks no invariant, and the rest of the system
// converges; repeated 12 times.
// Method: enactors az1 and az2 run normally; az3 runs as
// test/helpers/test-enactor.ts (the production enactor role) with its own
// config: the emulator's endpoint under the path /az3 (so the emulator knows
// its requests) and batches of at most 20 records (so an apply of several
// names is several batches). The emulator's handler is wrapped: when az3
// sends a change batch right after one of its batches was committed (no
// GetChange between: the same apply), the k-th time (k drawn from 1-2 for
// each incarnation) it SIGKILLs az3 instead of applying it. The real Planner
// churns the health of about ten targets per generation in this process, the
// zone checker samples throughout; then az3 comes back as a plain `dnsplane
// enactor`, every name converges, and the history only moves forward.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { randomInt } from '../../../src/util/clock.js';
import { assertHistoryForward, churningPlanner, seeded, startCluster, waitConverged } from '../../e2e/harness.js';
import { pollUntil, spawnTestEnactor, type Child } from '../../helpers/env.js';
import { route53Section, shareCredentialsWithChildren, startEmulatedZone } from './helpers.js';
import { Route53InvariantChecker } from './checker.js';

const killsMin = 12;
const namesCount = 40;
const victimPrefix = '/az3';

shareCredentialsWithChildren();

const title = `SIGKILL an enactor between the change batches of an apply ${killsMin} times: no invariant breaks`;
test(`Route 53 (emulated): ${title}`, async () => {
  const zone = await startEmulatedZone({ insyncAfterMs: 5 });
  const cluster = startCluster(namesCount, {
    provider: route53Section(zone),
    enactor: {
      pollInterval: '5ms', batchNamesMax: 40, retriesMax: 20, backoffBase: '1ms', backoffMax: '20ms',
      heartbeatInterval: '20ms', heartbeatTtl: '3s',
    },
  });
  const victimConfig = parse(readFileSync(cluster.configPath, 'utf8')) as Record<string, unknown>;
  victimConfig.provider = route53Section(zone, { endpoint: `${zone.endpoint}${victimPrefix}`, batchRecordsMax: 20 });
  const victimConfigPath = join(cluster.dir, 'az3.yaml');
  writeFileSync(victimConfigPath, stringify(victimConfig));
  // The checker's reader: the role processes write under the installation's own owner id, which it does not judge.
  const provider = zone.open({ owner: null });
  const names = Array.from({ length: namesCount }, (_, index) => `svc${index}.dnsplane.test`);
  const checker = new Route53InvariantChecker(cluster.dbPath, zone.emulator, zone.hostedZoneId, provider, names);
  const rng = seeded(4243);
  let victim: Child | null = null;
  let afterCommit = false;
  let chances = 0;
  let killAt = 0;
  let killedMidApply = 0;
  zone.emulator.wrap((next) => async (request) => {
    if (!request.path.startsWith(`${victimPrefix}/`)) return next(request);
    const midApply = request.method === 'POST' && afterCommit;
    if (midApply && victim !== null && (chances += 1) === killAt) {
      victim.process.kill('SIGKILL');
      killedMidApply += 1;
      return { status: 500, body: '<ErrorResponse><Error><Code>InternalFailure</Code></Error></ErrorResponse>' };
    }
    const answer = await next({ ...request, path: request.path.slice(victimPrefix.length) });
    if (request.method === 'POST') afterCommit = answer.status === 200;
    else if (request.path.includes('/change/')) afterCommit = false;
    return answer;
  });
  const targets = Array.from({ length: namesCount * 3 }, (_, index) => `t${Math.floor(index / 3)}-${index % 3}`);
  /** About ten names change per generation: an apply of az3 takes several batches of 20 records. */
  async function churnHard(churnOnce: () => Promise<number | null>): Promise<void> {
    for (let flips = 0; flips < 8; flips += 1) {
      await cluster.store.setHealth(targets[randomInt(rng, targets.length)]!, rng.next() < 0.5 ? 'down' : 'up', 'test');
    }
    await churnOnce();
  }
  try {
    for (const id of ['az1', 'az2']) cluster.children.push(spawnTestEnactor(id, cluster, { delayMs: 10 }));
    cluster.spawnRole(['janitor']);
    const { churnOnce } = churningPlanner(cluster, 'planner-under-test', rng);
    await churnOnce();
    let running = true;
    const sampling = checker.sampleWhile(() => running);
    for (let kills = 0; kills < killsMin; kills += 1) {
      [afterCommit, chances, killAt] = [false, 0, 1 + randomInt(rng, 2)];
      const incarnation = spawnTestEnactor('az3', { configPath: victimConfigPath, data: cluster.data }, { delayMs: 5 });
      victim = incarnation;
      cluster.children.push(incarnation);
      // Keep publishing until this incarnation of az3 has been killed between two batches of one apply.
      await pollUntil(async () => {
        await churnHard(churnOnce);
        return incarnation.process.signalCode !== null || incarnation.process.exitCode !== null;
      }, `az3 to be killed between two batches of an apply (${killAt})`, 120_000, 5);
      assert.equal(await incarnation.exited, -1, `az3 died of the SIGKILL: ${incarnation.stderr().slice(-1000)}`);
      victim = null;
      checker.sampleZone();
    }
    cluster.spawnRole(['enactor', '--id', 'az3']);
    const convergedMs = await waitConverged(cluster.store, provider, 120_000);
    running = false;
    await sampling;
    checker.sampleZone();
    await checker.sampleRead();
    assert.deepEqual(checker.violations.slice(0, 10), [], 'no invariant broke');
    assert.equal(killedMidApply, killsMin, 'every kill came between two batches of an apply');
    // A killed enactor may have committed a batch but not its history rows; history must still only move forward.
    assertHistoryForward(await cluster.store.readHistory(null, 1_000_000));
    process.stdout.write(`# crash on Route 53 (emulated): ${killsMin} kills between batches of an apply, `
      + `${checker.zoneSamples} zone samples, converged ${convergedMs} ms after the restart\n`);
  } finally {
    checker.close();
    await cluster.stop();
    await zone.stop();
  }
});
