// Goal: the quorum rule alone — a target is down only when a strict majority of the live, non-suspect checkers
// see it down; a tie keeps it up; stale and self-doubting checkers do not vote; the writer is the live checker
// with the smallest id. Method: the pure functions of src/health/quorum.ts over hand-made views.
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

test('stale and self-doubting checkers do not vote; with no voter there is no decision', () => {
  const decision = decideByQuorum([view('a', ['x'], { expired: true }), view('b', ['x'], { suspect: true }), view('c', [])], ['x'], now);
  assert.deepEqual(decision.voters, ['c']);
  assert.equal(decision.states.get('x'), 'up');
  assert.equal(decideByQuorum([view('a', ['x'], { suspect: true })], ['x'], now).states.size, 0);
  assert.equal(decideByQuorum([], ['x'], now).states.size, 0);
});

test('the writer is the live checker with the smallest id, suspect or not', () => {
  assert.equal(aggregatorOf([view('b', []), view('a', [], { suspect: true }), view('c', [])], now), 'a');
  assert.equal(aggregatorOf([view('b', []), view('a', [], { expired: true })], now), 'b');
  assert.equal(aggregatorOf([view('a', [], { expired: true })], now), null);
});
