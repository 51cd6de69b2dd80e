// Goal: the pure health policy — rise/fall hysteresis, checker self-doubt and
// the withdrawal velocity limit — decides as documented. Method: direct calls
// with hand-made sequences, plus a property test of hysteresis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { limitWithdrawals, observe, suspectChecker, type TargetHealth } from '../../src/health/policy.js';
import type { EndpointSpec } from '../../src/domain/types.js';

const thresholds = { rise: 2, fall: 3 };

function run(results: boolean[]): string[] {
  let health: TargetHealth | undefined;
  return results.map((ok) => (health = observe(health, ok, thresholds)).state);
}

test('hysteresis: fall consecutive failures to go down, rise consecutive passes to come back; flapping changes nothing', () => {
  assert.deepEqual(run([false, false, false]), ['up', 'up', 'down']);
  assert.deepEqual(run([false, false, true, false, false, true]), ['up', 'up', 'up', 'up', 'up', 'up']);
  assert.deepEqual(run([false, false, false, true, false, true, true]), ['up', 'up', 'down', 'down', 'down', 'down', 'up']);
});

test('property: the state only changes after a full run of fall failures or rise passes', () => {
  fc.assert(fc.property(fc.array(fc.boolean(), { maxLength: 60 }), (results) => {
    const states = run(results);
    states.forEach((state, index) => {
      const previous = index === 0 ? 'up' : states[index - 1];
      if (state === previous) return;
      const needed = state === 'down' ? thresholds.fall : thresholds.rise;
      const window = results.slice(index + 1 - needed, index + 1);
      assert.equal(window.length, needed);
      assert.ok(window.every((ok) => ok === (state === 'up')), `flip at ${index} without ${needed} in a row`);
    });
  }));
});

test('self-doubt: most targets failing at once is suspected; failures of already-withdrawn targets do not count', () => {
  const policy = { fraction: 0.5, minTargets: 4 };
  const results = new Map([['a', false], ['b', false], ['c', false], ['d', true]]);
  assert.equal(suspectChecker(results, new Map(), policy).suspect, true);
  const down: TargetHealth = { state: 'down', passes: 0, failures: 5 };
  const snapshot = new Map([['a', down], ['b', down]]);
  assert.equal(suspectChecker(results, snapshot, policy).suspect, false, 'a slowly spreading failure is believed');
  assert.equal(suspectChecker(new Map([['a', false], ['b', false]]), new Map(), policy).suspect, false, 'too few targets to doubt');
});

test('velocity: at most the allowed share of a name\'s capacity per interval, but always at least one target', () => {
  const endpoint: EndpointSpec = { name: 'n', targets: ['a', 'b', 'c', 'd'].map((id) => ({ id, address: '192.0.2.1', az: 'x', capacity: 100 })) };
  assert.deepEqual([...limitWithdrawals(['a', 'b', 'c'], [endpoint], 0.5)], ['a', 'b']);
  assert.deepEqual([...limitWithdrawals(['a', 'b', 'c'], [endpoint], 0.1)], ['a']);
  const two: EndpointSpec = { name: 'm', targets: [{ id: 'x', address: '192.0.2.1', az: 'a', capacity: 900 }, { id: 'y', address: '192.0.2.2', az: 'b', capacity: 100 }] };
  assert.deepEqual([...limitWithdrawals(['x'], [two], 0.5)], ['x'], 'one large target can still be withdrawn');
});
