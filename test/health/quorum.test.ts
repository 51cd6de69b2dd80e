// Goal: the quorum rule alone — a target is down only when a strict majority of the live checkers see it down;
// a tie keeps it up; a stale checker does not count, a self-doubting one counts as seeing nothing down (so a lone
// cut-off checker can never be a majority of one); the writer is the live checker with the smallest id. Method: the pure functions of src/health/quorum.ts over hand-made views.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregatorOf, decideByQuorum } from '../../src/health/quorum.js';
import type { CheckerView } from '../../src/store/types.js';

const now = 1_000_000;
const view = (id: string, down: string[], options: { suspect?: boolean; expired?: boolean } = {}): CheckerView => ({
  id, probed: 3, down, suspect: options.suspect ?? false, heartbeatAtMs: now - 100, expiresAtMs: options.expired === true ? now : now + 5000,
});

test('a strict majority of voting checkers decides; a tie keeps the target up', () => {
  const decision = decideByQuorum([view('a', ['x', 'y']), view('b', ['x']), view('c', [])], ['x', 'y', 'z'], now);
  assert.deepEqual([...decision.states], [['x', 'down'], ['y', 'up'], ['z', 'up']]);
  assert.deepEqual(decision.voters, ['a', 'b', 'c']);
  assert.deepEqual(decision.disagreements, [{ target: 'x', down: ['a', 'b'], up: ['c'] }, { target: 'y', down: ['a'], up: ['b', 'c'] }]);
  const tie = decideByQuorum([view('a', ['x']), view('b', [])], ['x'], now);
  assert.equal(tie.states.get('x'), 'up', 'one of two is not a majority');
  assert.equal(decideByQuorum([view('a', ['x'])], ['x'], now).states.get('x'), 'down', 'one checker alone is its own majority');
});

test('a stale checker does not count; a suspect one counts as seeing nothing down; with no trusted view there is no decision', () => {
  const decision = decideByQuorum([view('a', ['x'], { expired: true }), view('b', ['x'], { suspect: true }), view('c', [])], ['x'], now);
  assert.deepEqual([decision.voters, decision.live], [['c'], 2]);
  assert.equal(decision.states.get('x'), 'up');
  // The simulator's counterexample: the honest checkers doubt themselves during a burst; the cut-off one is no majority.
  const burst = decideByQuorum([view('a', ['x', 'y']), view('b', ['x'], { suspect: true }), view('c', ['x'], { suspect: true })], ['x', 'y'], now);
  assert.deepEqual([...burst.states], [['x', 'up'], ['y', 'up']], 'one of three live checkers is not a majority');
  assert.equal(decideByQuorum([view('a', ['x']), view('b', ['x'], { suspect: true })], ['x'], now).states.get('x'), 'up', 'one of two is a tie');
  assert.equal(decideByQuorum([view('a', ['x'], { suspect: true })], ['x'], now).states.size, 0);
  assert.equal(decideByQuorum([], ['x'], now).states.size, 0);
});

test('the writer is the live checker with the smallest id, suspect or not', () => {
  assert.equal(aggregatorOf([view('b', []), view('a', [], { suspect: true }), view('c', [])], now), 'a');
  assert.equal(aggregatorOf([view('b', []), view('a', [], { expired: true })], now), 'b');
  assert.equal(aggregatorOf([view('a', [], { expired: true })], now), null);
});
