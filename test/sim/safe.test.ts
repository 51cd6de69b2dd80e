// Goal: the deterministic simulator drives the real Planner, Enactor, Janitor
// and Reconciler through crashes, lost acknowledgements, expiring leases,
// long pauses, bursts of generations, a second planner, clock skew and hand
// edits, operator removals of endpoints, and no invariant breaks (S1-S6, L3
// after every step; L1 once the faults stop) — and the checker has teeth:
// every mutant that breaks the design on purpose is caught. Method: a fixed
// set of 1,000 seeds in safe mode; then seeds in order for each mutant until
// one is caught.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSeeds, runSeed } from '../../src/sim/run.js';
import { runSafe } from '../../src/sim/safe.js';
import { mutantNames, type MutantName } from '../../src/sim/types.js';

test('safe mode: 1,000 fixed seeds, no invariant violated, every name converges after the faults', async () => {
  const summary = await runSeeds({ mode: 'safe', firstSeed: 1n, runs: 1000, mutant: null, keepGoing: true });
  const failure = summary.firstFailure;
  assert.equal(summary.runs, 1000);
  assert.equal(summary.failures, 0, failure === null ? '' : `seed ${failure.seed}: ${JSON.stringify(failure.violations[0])}`);
  assert.ok(summary.generations > 1000 * 3, `plans were published (${summary.generations} generations)`);
  assert.ok(summary.convergedAfterMsMax > 0 && summary.convergedAfterMsMax <= 2500, `L1 bound held (slowest ${summary.convergedAfterMsMax} ms)`);
});

test('safe mode: every kind of fault is really injected across the seeds', async () => {
  // Counted over 200 of the seeds: a simulator that never crashed anything would pass vacuously.
  const totals = { crashes: 0, pauses: 0, lostAcks: 0, transientErrors: 0, fencedPublishes: 0, drifts: 0, removals: 0, supersededWrites: 0, healthFlips: 0, maxGenerations: 0 };
  for (let seed = 1n; seed <= 200n; seed += 1n) {
    const result = await runSafe(seed, {});
    assert.equal(result.violations.length, 0);
    totals.crashes += result.stats.crashes;
    totals.pauses += result.stats.pauses;
    totals.lostAcks += result.stats.lostAcks;
    totals.transientErrors += result.stats.transientErrors;
    totals.fencedPublishes += result.stats.fencedPublishes; // a second planner, or a paused one, fenced off by the store (S6)
    totals.drifts += result.stats.drifts;
    totals.removals += result.stats.removals;
    totals.supersededWrites += result.stats.supersededWrites; // a stale first write refused by a removal tombstone (S2)
    totals.healthFlips += result.stats.healthFlips;
    totals.maxGenerations = Math.max(totals.maxGenerations, result.stats.generations);
  }
  for (const [fault, count] of Object.entries(totals)) assert.ok(count > 0, `${fault} happened (${count})`);
  assert.ok(totals.maxGenerations >= 15, `some run had a burst of generations (max ${totals.maxGenerations})`);
});

/** Runs seeds from 1 until the mutant is caught; returns the first catching run. */
async function firstCatch(mutant: MutantName, seedsMax: number) {
  for (let seed = 1n; seed <= BigInt(seedsMax); seed += 1n) {
    const result = await runSeed('safe', seed, { mutant });
    if (result.violations.length > 0) return result;
  }
  return null;
}

const expectedInvariant: Record<MutantName, string[]> = {
  'no-cas': ['S2'],
  'janitor-ignores-holds': ['S4'],
  'janitor-ignores-served': ['S4', 'S3'],
  'reconciler-off': ['L1'],
  'no-removal-tombstone': ['S2'],
  'quorum-any-down': ['H1'],
  'capacity-guard-counts-names': ['H2'],
};

for (const mutant of mutantNames) {
  test(`mutant ${mutant}: the checker catches it`, async () => {
    const caught = await firstCatch(mutant, 2000);
    assert.ok(caught !== null, `${mutant} survived 2,000 seeds`);
    const violation = caught.violations[0]!;
    assert.ok(expectedInvariant[mutant].includes(violation.invariant), `${mutant} broke ${violation.invariant}: ${violation.message}`);
    assert.ok(violation.name.length > 0 && violation.step > 0, 'the violation names the name and the step');
  });
}

test('a seed replays exactly: the same trace twice, a different one for another seed', async () => {
  const first = await runSafe(42n, { trace: true });
  const second = await runSafe(42n, { trace: true });
  const other = await runSafe(43n, { trace: true });
  assert.ok(first.trace !== null && first.trace.length > 50, 'a trace was recorded');
  assert.deepEqual(second.trace, first.trace);
  assert.equal(second.steps, first.steps);
  assert.notDeepEqual(other.trace, first.trace);
  // Tracing observes the run without changing it.
  const untraced = await runSafe(42n, {});
  assert.equal(untraced.steps, first.steps);
  assert.deepEqual(untraced.stats, first.stats);
});
