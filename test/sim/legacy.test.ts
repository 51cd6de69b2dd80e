// Goal: the model of the 2025 design (up-front check, CAS on the lock only,
// per-plan trees behind a root alias, distance-based clean-up, no repair)
// reproduces the incident: a rollback, then an empty answer, then a dead end
// from which no later plan can be enacted; and a failing seed replays into
// the same readable timeline every time. Method: 1,000 legacy seeds counted
// per invariant; the timeline of one failing seed, replayed twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSeeds } from '../../src/sim/run.js';
import { runLegacy } from '../../src/sim/legacy.js';

test('legacy mode finds the empty record and the dead end within 1,000 runs', async () => {
  const summary = await runSeeds({ mode: 'legacy', firstSeed: 1n, runs: 1000, mutant: null, keepGoing: true });
  assert.ok((summary.byInvariant.S1 ?? 0) > 0, `an empty answer (S1) was found: ${JSON.stringify(summary.byInvariant)}`);
  assert.ok((summary.byInvariant.L3 ?? 0) > 0, 'a dead end (L3) was found');
  assert.ok((summary.byInvariant.S2 ?? 0) > 0, 'a rollback (S2) was found');
  assert.equal(summary.byInvariant.internal ?? 0, 0, 'the model itself never broke');
});

test('a legacy failing seed replays into the same readable timeline of the incident', async () => {
  let seed = 1n;
  let result = await runLegacy(seed, { trace: true });
  for (; !result.violations.some((v) => v.invariant === 'S1') && seed < 1000n; ) {
    seed += 1n;
    result = await runLegacy(seed, { trace: true });
  }
  const again = await runLegacy(seed, { trace: true });
  assert.deepEqual(again.trace, result.trace, 'identical trace on replay');
  const timeline = result.trace!.join('\n');
  // The incident's story, in order: a stale up-front check, a stale write, the clean-up of the active plan, the empty answer.
  const stale = timeline.indexOf('STALE');
  const deletedActive = timeline.indexOf('the ACTIVE plan');
  const empty = timeline.indexOf('VIOLATION S1');
  assert.ok(timeline.includes('up-front check'), 'the up-front check is in the timeline');
  assert.ok(stale >= 0 && deletedActive > stale && empty > deletedActive, 'stale write, then clean-up of the active plan, then the empty answer');
});
