// Goal: the pure planning function — weights, fail-open, removals, the
// safety threshold — behaves as DESIGN.md §3 says. Method: direct calls on
// small inventories plus a property test that no plan is ever empty.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { computePlan, desiredRecords, safetyRefusal, weightsFor } from '../../src/planner/compute.js';
import { recordSetKey, type EndpointSpec, type HealthState } from '../../src/domain/types.js';

const endpoint: EndpointSpec = {
  name: 'db.dnsplane.test',
  targets: [
    { id: 'a', address: '192.0.2.1', az: 'az1', capacity: 100 },
    { id: 'b', address: '192.0.2.2', az: 'az2', capacity: 50 },
    { id: 'c', address: '192.0.2.3', az: 'az3', capacity: 0 },
  ],
};

test('weights are relative to the largest capacity; capacity 0 is weight 0', () => {
  assert.deepEqual(weightsFor([100, 50, 0]), [255, 128, 0]);
  assert.deepEqual(weightsFor([1, 1000]), [1, 255]);
});

test('healthy targets with weight are served; down ones withdrawn', () => {
  const result = desiredRecords(endpoint, new Map<string, HealthState>([['b', 'down']]), new Set());
  assert.equal(result.failOpen, false);
  assert.deepEqual(result.records.map((r) => r.target), ['a']);
});

test('every target down: fail open to all targets with positive weight, flagged', () => {
  const health = new Map<string, HealthState>([['a', 'down'], ['b', 'down'], ['c', 'down']]);
  const result = desiredRecords(endpoint, health, new Set());
  assert.equal(result.failOpen, true);
  assert.deepEqual(result.records.map((r) => r.target), ['a', 'b']);
});

test('drained targets get weight 0 and are kept only when nothing else is left', () => {
  assert.deepEqual(desiredRecords(endpoint, new Map(), new Set(['a'])).records.map((r) => r.target), ['b']);
  const onlyDrained = desiredRecords(endpoint, new Map(), new Set(['a', 'b']));
  assert.ok(onlyDrained.records.length > 0);
});

test('computePlan emits only changed names and explicit removals', () => {
  const current = new Map<string, string>();
  const first = computePlan({ endpoints: [endpoint], health: new Map(), current });
  assert.equal(first.changes.length, 1);
  current.set(endpoint.name, recordSetKey(first.changes[0]!.records));
  current.set('gone.dnsplane.test', 'x');
  const second = computePlan({ endpoints: [endpoint], health: new Map(), current });
  assert.deepEqual(second.changes, [{ name: 'gone.dnsplane.test', records: null }]);
});

test('safety threshold refuses large changes, not small ones, not the first plan, not small zones', () => {
  const policy = { maxChangedFraction: 0.3, minNamesForThreshold: 10 };
  assert.equal(safetyRefusal(100, 0, 100, policy), null);
  assert.equal(safetyRefusal(3, 10, 10, policy), null);
  assert.match(safetyRefusal(4, 10, 10, policy) ?? '', /changes 4 of 10 names \(40.0%\)/);
  assert.equal(safetyRefusal(5, 5, 5, policy), null);
});

test('property: whatever the health, every name gets a non-empty valid set (S1 at the planner)', () => {
  fc.assert(
    fc.property(fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), fc.array(fc.integer({ min: 0, max: 10 }), { minLength: 3, maxLength: 3 }), (downs, capacities) => {
      if (!capacities.some((c) => c > 0)) capacities[0] = 1;
      const spec = { ...endpoint, targets: endpoint.targets.map((t, i) => ({ ...t, capacity: capacities[i]! })) };
      const health = new Map<string, HealthState>(spec.targets.map((t, i) => [t.id, downs[i] ? 'down' : 'up']));
      const plan = computePlan({ endpoints: [spec], health, current: new Map() });
      const records = plan.changes[0]!.records!;
      assert.ok(records.length > 0);
      assert.ok(records.some((r) => r.weight > 0));
    }),
  );
});
