// Goal: one builder turns the validated settings into every role's options (src/roles/build.ts), so that `dnsplane
// up` and the simulator run the same rules with the same defaults: every role key of the config reaches its role,
// an unset key gets the config's default, and settings outside the config's bounds are refused. Method: the pure
// option functions on a config that sets every role key and on one that sets none, and parseRoleSettings (the
// simulator's way in) against the config loader and on values out of bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import {
  checkerOptions, enactorOptions, janitorOptions, parseRoleSettings, plannerOptions, reconcilerOptions,
  type RoleSettings,
} from '../../src/roles/build.js';
import { InvariantViolation } from '../../src/util/assert.js';
import { sampleConfig } from '../helpers/env.js';

const everyRoleKey = {
  safety: {
    maxChangedFraction: 0.25, maxWithdrawnCapacityFraction: 0.4, minNamesForThreshold: 3, retainGenerations: 7,
    acknowledgeSelfDependency: true,
  },
  planner: { interval: '300ms', leaseTtl: '6s' },
  enactor: {
    pollInterval: '60ms', batchNamesMax: 11, retriesMax: 12, backoffBase: '6ms', backoffMax: '600ms',
    heartbeatInterval: '400ms', heartbeatTtl: '4s',
  },
  janitor: { interval: '3s', batchVersionsMax: 13, compactInterval: '5m' },
  reconciler: { interval: '4s', maxLag: '9s', pageNamesMax: 14, sweepNamesMin: 15 },
  health: {
    interval: '700ms', timeout: '200ms', rise: 3, fall: 4, concurrency: 15, jitter: 0.2, selfDoubtFraction: 0.6,
    selfDoubtMinTargets: 5, maxWithdrawFraction: 0.45,
  },
};

test('every role key of the config reaches its role', () => {
  const settings: RoleSettings = parseConfig(sampleConfig(1, 3, everyRoleKey));
  assert.deepEqual(plannerOptions(settings, 'p', 'dnsplane.test.'), {
    id: 'p', zone: 'dnsplane.test.', intervalMs: 300, leaseTtlMs: 6000, safety: everyRoleKey.safety,
  });
  assert.deepEqual(enactorOptions(settings, 'az1'), {
    id: 'az1', pollIntervalMs: 60, batchNamesMax: 11, retriesMax: 12, backoffBaseMs: 6, backoffMaxMs: 600,
    heartbeatIntervalMs: 400, heartbeatTtlMs: 4000,
  });
  assert.deepEqual(janitorOptions(settings), {
    intervalMs: 3000, retainGenerations: 7, batchVersionsMax: 13, compactIntervalMs: 300_000,
    history: { perNameMax: 1000, maxAgeMs: 720 * 3_600_000, intervalMs: 60_000 },
  });
  // The reconciler repairs with the enactor's retry bounds.
  assert.deepEqual(reconcilerOptions(settings, 'r'), {
    id: 'r', intervalMs: 4000, maxLagMs: 9000, pageSize: 14, sweepNamesMin: 15, retriesMax: 12, backoffBaseMs: 6,
    backoffMaxMs: 600,
  });
  assert.deepEqual(checkerOptions(settings, 'c1'), {
    id: 'c1', viewTtlMs: 5000, intervalMs: 700, timeoutMs: 200, rise: 3, fall: 4, concurrency: 15, jitterFraction: 0.2,
    selfDoubt: { fraction: 0.6, minTargets: 5 }, maxWithdrawFraction: 0.45,
  });
  assert.equal(checkerOptions(settings, 'c1', 900).viewTtlMs, 900, 'a caller may pass its own view TTL');
});

test('an unset key gets the config default, the same through the loader and through parseRoleSettings', () => {
  const loaded = parseConfig(sampleConfig(1));
  const parsed = parseRoleSettings({});
  for (const section of ['safety', 'planner', 'enactor', 'janitor', 'reconciler', 'health'] as const) {
    assert.deepEqual(parsed[section], loaded[section], section);
  }
  assert.equal(reconcilerOptions(parsed, 'r').pageSize, 5000, 'the page size `dnsplane up` always used');
  assert.equal(enactorOptions(parsed, 'az1').batchNamesMax, 1000);
  // Production's view TTL: four rounds of 500 + 300 ms, at least 5 s.
  assert.equal(checkerOptions(parsed, 'c1').viewTtlMs, 5000);
});

test('settings outside the config bounds are refused, naming the key', () => {
  const refused: Parameters<typeof parseRoleSettings>[0][] = [
    { reconciler: { pageNamesMax: 0 } },
    { enactor: { heartbeatInterval: 200, heartbeatTtl: 150 } },
    { health: { interval: 60, timeout: 60 } },
    { safety: { retainGenerations: 0 } },
  ];
  for (const input of refused) {
    const key = Object.keys(Object.values(input)[0]!)[0]!;
    assert.throws(() => parseRoleSettings(input), (error: unknown) => {
      assert.ok(error instanceof InvariantViolation, String(error));
      assert.match(error.message, new RegExp(key));
      return true;
    }, JSON.stringify(input));
  }
});
