// Goal: in the seeds whose health comes from checkers, the simulator runs
// three production health checkers (src/health/checker.ts) on virtual time
// against a true health, with an AZ lost at once, one checker cut off from the
// targets and failover pools, and the planner's capacity guard at its
// production default — and no invariant breaks: S1-S6 and L3 after every
// step, H1 (a lone checker's false view withdraws nothing) after every health
// write, L1 and H2 (an AZ loss converges without an operator) at the liveness
// bound. The mutants that break H1 and H2 on purpose are caught in
// test/sim/safe.test.ts with the others. Method: the first 300 seeds in
// checkers mode, counting that every event really happened; a replay of one
// such seed through the CLI, twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { healthModeOf } from '../../src/sim/health.js';
import { runSafe } from '../../src/sim/safe.js';
import { runCli } from '../helpers/env.js';

const checkerSeedsRun = 300;

/** The first `count` seeds from 1 whose health comes from checkers. */
function checkerSeeds(count: number): bigint[] {
  const seeds: bigint[] = [];
  for (let seed = 1n; seeds.length < count; seed += 1n) if (healthModeOf(seed) === 'checkers') seeds.push(seed);
  return seeds;
}

test(`checkers mode: ${checkerSeedsRun} seeds with AZ losses, a checker cut off and failover pools, no invariant violated`, async () => {
  const totals = { azLosses: 0, checkerPartitions: 0, checkerWithdrawals: 0, capacityHolds: 0, secondaryServed: 0 };
  for (const seed of checkerSeeds(checkerSeedsRun)) {
    const result = await runSafe(seed, {});
    assert.equal(result.violations.length, 0, `seed ${seed}: ${JSON.stringify(result.violations[0])}`);
    assert.ok(result.convergedAfterMs !== null && result.convergedAfterMs <= 2500, `seed ${seed} converged (L1)`);
    for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += result.stats[key];
  }
  // A scenario whose events never happened would pass vacuously.
  for (const [event, count] of Object.entries(totals)) assert.ok(count > 0, `${event} happened (${count})`);
});

test('H1 witnesses: a checker cut off is no majority while the other two doubt themselves', async () => {
  // Seeds found by this simulator: a burst of real failures makes the two honest checkers suspect themselves. When
  // the quorum divided by the non-suspect checkers only, the cut-off checker was a majority of one and withdrew a
  // target that was up; a suspect checker now counts as live and seeing nothing down.
  for (const seed of [2120n, 7220n, 9566n]) {
    const result = await runSafe(seed, {});
    assert.equal(result.violations.length, 0, `seed ${seed}: ${JSON.stringify(result.violations[0])}`);
  }
});

test('dnsplane sim --replay of a checkers-mode seed: the same timeline twice, with the AZ loss and the partition in it', async () => {
  let seed: bigint | null = null;
  for (const candidate of checkerSeeds(50)) {
    const header = (await runSafe(candidate, { trace: true })).trace![0]!;
    if (/lost at .* for good/.test(header) && /cut off \(all-fail\)/.test(header)) {
      seed = candidate;
      break;
    }
  }
  assert.ok(seed !== null, 'one of the first 50 checkers-mode seeds loses an AZ for good and cuts a checker off');
  const first = await runCli(['sim', '--replay', String(seed), '--trace']);
  const second = await runCli(['sim', '--replay', String(seed), '--trace']);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.equal(second.stdout, first.stdout, 'a replay is exact');
  assert.match(first.stdout, /health by 3 checkers/);
  assert.match(first.stdout, /AZ LOSS: every target of az\d truly down/);
  assert.match(first.stdout, /PARTITION: cut off from every target/);
  assert.match(first.stdout, /health written \(checker\): .* down/);
});
