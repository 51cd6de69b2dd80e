import { parseRoleSettings, type RoleSettings } from '../roles/build.js';
import { assert } from '../util/assert.js';
import type { Scenario } from './scenario.js';

/**
 * The settings a run builds its roles from, through the same builder as `dnsplane up` (src/roles/build.ts): the
 * config file's sections parsed by the config's own schema, so that every setting the run does not choose has the
 * default production runs with, and every one it chooses lies within the bounds a config file is held to. What a
 * run chooses is small and fast on purpose: virtual timings of tens of milliseconds, small batches and pages so
 * that one plan is enacted, cleaned up and reconciled in several steps that faults can fall between.
 */

/** The janitor deletes a few versions per batch, so a clean-up spans several store calls. */
const janitorBatchVersionsMax = 8;
/** The reconciler pages through a few names at a time, so a pass spans several provider reads. */
const reconcilerPageNamesMax = 2;
/**
 * The name threshold bites at one name, so every edit the planner publishes must come with a new inventory version
 * (checked at apply): an edit it refused would raise an error line, and so a violation.
 */
const minNamesForThreshold = 1;

/**
 * Settings already parsed, by their input: a run draws them from a handful of values, and the schema's parse was
 * a measurable share of a run. Frozen, so no run can change what a later one is handed.
 */
const parsedSettings = new Map<string, RoleSettings>();
const parsedSettingsMax = 1024;

export function roleSettingsOf(scenario: Scenario): RoleSettings {
  const input = settingsInput(scenario);
  const key = JSON.stringify(input);
  const known = parsedSettings.get(key);
  if (known !== undefined) return known;
  if (parsedSettings.size >= parsedSettingsMax) parsedSettings.clear();
  const settings = deepFreeze(parseRoleSettings(input));
  parsedSettings.set(key, settings);
  return settings;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function settingsInput(scenario: Scenario) {
  const { timing, health } = scenario;
  const { checker } = health;
  return {
    safety: {
      minNamesForThreshold, maxWithdrawnCapacityFraction: health.maxWithdrawnCapacityFraction,
      retainGenerations: scenario.retainGenerations,
    },
    planner: { interval: timing.plannerIntervalMs, leaseTtl: timing.plannerLeaseTtlMs },
    enactor: {
      pollInterval: timing.enactorPollMs, retriesMax: timing.retriesMax,
      backoffBase: timing.backoffBaseMs, backoffMax: timing.backoffMaxMs,
      heartbeatInterval: timing.heartbeatIntervalMs, heartbeatTtl: timing.heartbeatTtlMs,
    },
    janitor: {
      interval: timing.janitorIntervalMs, batchVersionsMax: janitorBatchVersionsMax,
      compactInterval: timing.janitorIntervalMs,
    },
    reconciler: {
      interval: timing.reconcilerIntervalMs, maxLag: timing.reconcilerMaxLagMs, pageNamesMax: reconcilerPageNamesMax,
    },
    health: {
      interval: checker.intervalMs, timeout: checker.timeoutMs, rise: checker.rise, fall: checker.fall,
      concurrency: checker.concurrency,
    },
  };
}

/** An enactor incarnation's settings: the run's, with a batch bound of its own (drawn by the caller). */
export function withBatchNamesMax(settings: RoleSettings, batchNamesMax: number): RoleSettings {
  assert(Number.isInteger(batchNamesMax), 'internal', `batchNamesMax ${batchNamesMax} is a whole number`);
  assert(batchNamesMax >= 1, 'internal', `batchNamesMax ${batchNamesMax} lets a batch hold a name`);
  return { ...settings, enactor: { ...settings.enactor, batchNamesMax } };
}
