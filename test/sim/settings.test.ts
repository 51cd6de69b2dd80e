// Goal: the simulator's roles are built with the settings `dnsplane up` runs with, except the few a run chooses
// (src/sim/settings.ts), so the simulator cannot drift from production's defaults. Method: the settings of many
// seeds' scenarios against the config defaults, key by key: each chosen key carries the scenario's value, every
// other key the default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRoleSettings } from '../../src/roles/build.js';
import { deriveHealth } from '../../src/sim/health.js';
import { createRandom } from '../../src/sim/random.js';
import { deriveScenario } from '../../src/sim/scenario.js';
import { roleSettingsOf, withBatchNamesMax } from '../../src/sim/settings.js';

const defaults = parseRoleSettings({});

test('a run sets what its scenario chooses and keeps every other setting at the config default', () => {
  let checkersMode = 0;
  for (let seed = 1n; seed <= 200n; seed += 1n) {
    const derived = deriveScenario(createRandom(seed));
    const health = deriveHealth(seed, derived.endpoints, derived.safetyPhaseMs);
    const scenario = { ...derived, health: health.health, endpoints: health.endpoints };
    if (scenario.health.mode === 'checkers') checkersMode += 1;
    const settings = roleSettingsOf(scenario);
    const { timing, health: { checker } } = scenario;
    assert.deepEqual(settings.safety, {
      ...defaults.safety, minNamesForThreshold: 1, retainGenerations: scenario.retainGenerations,
      maxWithdrawnCapacityFraction: scenario.health.maxWithdrawnCapacityFraction,
    });
    assert.deepEqual(settings.planner, { interval: timing.plannerIntervalMs, leaseTtl: timing.plannerLeaseTtlMs });
    assert.deepEqual(settings.enactor, {
      ...defaults.enactor, pollInterval: timing.enactorPollMs, retriesMax: timing.retriesMax,
      backoffBase: timing.backoffBaseMs, backoffMax: timing.backoffMaxMs,
      heartbeatInterval: timing.heartbeatIntervalMs, heartbeatTtl: timing.heartbeatTtlMs,
    });
    assert.deepEqual(settings.janitor, {
      interval: timing.janitorIntervalMs, batchVersionsMax: 8, compactInterval: timing.janitorIntervalMs,
    });
    assert.deepEqual(settings.reconciler, {
      ...defaults.reconciler, interval: timing.reconcilerIntervalMs, maxLag: timing.reconcilerMaxLagMs, pageNamesMax: 2,
    });
    assert.deepEqual(settings.health, {
      ...defaults.health, interval: checker.intervalMs, timeout: checker.timeoutMs, rise: checker.rise,
      fall: checker.fall, concurrency: checker.concurrency,
    });
  }
  assert.ok(checkersMode > 0, 'some seeds run production checkers');
});

test('an enactor incarnation gets its own batch bound and nothing else of its own', () => {
  const settings = roleSettingsOf(deriveScenario(createRandom(1n)));
  const incarnation = withBatchNamesMax(settings, 2);
  assert.deepEqual(incarnation, { ...settings, enactor: { ...settings.enactor, batchNamesMax: 2 } });
  assert.equal(settings.enactor.batchNamesMax, defaults.enactor.batchNamesMax, 'the run\'s settings are not changed');
  assert.throws(() => withBatchNamesMax(settings, 0), /batchNamesMax 0/);
});
