import { z } from 'zod';
import { zoneSet, type ZoneSet } from '../domain/zones.js';
import { configObject, type Config } from '../config/schema.js';
import { Planner, type PlannerDeps, type PlannerOptions } from '../planner/planner.js';
import { Enactor, type EnactorDeps, type EnactorOptions } from '../enactor/enactor.js';
import { Janitor, type JanitorDeps, type JanitorOptions } from '../enactor/janitor.js';
import { Reconciler, type ReconcilerDeps, type ReconcilerOptions } from '../enactor/reconciler.js';
import { Checker, type CheckerDeps, type CheckerOptions } from '../health/checker.js';
import { assert } from '../util/assert.js';

/**
 * The one place where the validated settings become the roles' options. `dnsplane up` and every role command build
 * their roles here from the config file (src/roles/installation.ts), and the simulator builds its roles here from
 * settings that went through the same schema (src/sim/settings.ts), so the code the simulator checks is the code
 * that runs, with the same defaults. What differs between the two is only what they pass: the settings values and
 * the deps (store, provider, clock, rng, log, inventory, probe, controls), which the caller may wrap.
 */

/** The config sections the roles are built from (src/config/schema.ts). */
export type RoleSettings = Pick<
  Config, 'safety' | 'planner' | 'enactor' | 'janitor' | 'reconciler' | 'health' | 'history'
>;

const sections = configObject.shape;
const roleSettingsSchema = z.strictObject({
  safety: sections.safety,
  planner: sections.planner,
  enactor: sections.enactor,
  janitor: sections.janitor,
  history: sections.history,
  reconciler: sections.reconciler,
  health: sections.health,
});

/** Role settings as a config file writes them: every key optional, durations as "200ms" or milliseconds. */
export type RoleSettingsInput = z.input<typeof roleSettingsSchema>;

/**
 * Validates role settings with the config file's own section schemas: a missing key gets the config's default, a
 * value outside the config's bounds is refused. For callers that do not load a config file (the simulator).
 */
export function parseRoleSettings(input: RoleSettingsInput): RoleSettings {
  const parsed = roleSettingsSchema.safeParse(input);
  assert(parsed.success, 'internal', `role settings out of the config's bounds: ${parsed.error?.message ?? ''}`);
  return parsed.data;
}

export function plannerOptions(settings: RoleSettings, id: string, zone: string | ZoneSet): PlannerOptions {
  const { planner, safety } = settings;
  assert(id.length > 0, 'S6', 'a planner needs an id: it holds the leadership lease under it');
  assert(zoneSet(zone).names.every((name) => name.length > 0), 'internal', 'a planner plans the names of its zones');
  return { id, zone, intervalMs: planner.interval, leaseTtlMs: planner.leaseTtl, safety };
}

export function buildPlanner(settings: RoleSettings, id: string, zone: string | ZoneSet, deps: PlannerDeps): Planner {
  return new Planner(plannerOptions(settings, id, zone), deps);
}

export function enactorOptions(settings: RoleSettings, id: string): EnactorOptions {
  const { enactor } = settings;
  assert(id.length > 0, 'S4', 'an enactor needs an id: the janitor keeps what it holds under it');
  assert(enactor.heartbeatInterval < enactor.heartbeatTtl, 'S4', 'a live enactor must heartbeat within its TTL');
  return {
    id, pollIntervalMs: enactor.pollInterval, batchNamesMax: enactor.batchNamesMax, retriesMax: enactor.retriesMax,
    backoffBaseMs: enactor.backoffBase, backoffMaxMs: enactor.backoffMax,
    heartbeatIntervalMs: enactor.heartbeatInterval, heartbeatTtlMs: enactor.heartbeatTtl,
  };
}

export function buildEnactor(settings: RoleSettings, id: string, deps: EnactorDeps): Enactor {
  return new Enactor(enactorOptions(settings, id), deps);
}

export function janitorOptions(settings: RoleSettings): JanitorOptions {
  const { janitor, safety, history } = settings;
  assert(safety.retainGenerations >= 1, 'S4', 'the janitor keeps at least the newest plan');
  assert(janitor.batchVersionsMax >= 1, 'internal', 'the janitor deletes at least one version per batch');
  assert(history.retainPerName >= 1, 'internal', 'history keeps at least the newest entry of a name');
  const { retainGenerations } = safety;
  return {
    intervalMs: janitor.interval, retainGenerations, batchVersionsMax: janitor.batchVersionsMax,
    compactIntervalMs: janitor.compactInterval,
    history: { perNameMax: history.retainPerName, maxAgeMs: history.retainAge, intervalMs: history.pruneInterval },
  };
}

export function buildJanitor(settings: RoleSettings, deps: JanitorDeps): Janitor {
  return new Janitor(janitorOptions(settings), deps);
}

/** The reconciler repairs with the enactor's compare-and-swap retry bounds: one protocol, one set of bounds. */
export function reconcilerOptions(settings: RoleSettings, id: string): ReconcilerOptions {
  const { reconciler, enactor } = settings;
  assert(id.length > 0, 'L2', 'a reconciler needs an id: its repairs are recorded under it');
  assert(reconciler.pageNamesMax >= 1, 'L2', 'the reconciler reads at least one served name per page');
  return {
    id, intervalMs: reconciler.interval, maxLagMs: reconciler.maxLag, pageSize: reconciler.pageNamesMax,
    sweepNamesMin: reconciler.sweepNamesMin,
    retriesMax: enactor.retriesMax, backoffBaseMs: enactor.backoffBase, backoffMaxMs: enactor.backoffMax,
  };
}

export function buildReconciler(settings: RoleSettings, id: string, deps: ReconcilerDeps): Reconciler {
  return new Reconciler(reconcilerOptions(settings, id), deps);
}

/** How long a checker's view counts without a new round: several rounds, so one slow round is not a death. */
export function checkerViewTtlMs(intervalMs: number, timeoutMs: number): number {
  return Math.max(5000, 4 * (intervalMs + timeoutMs));
}

/** `viewTtlMs` defaults to `checkerViewTtlMs` of the settings; the simulator, whose runs last seconds, passes one. */
export function checkerOptions(settings: RoleSettings, id: string, viewTtlMs?: number): CheckerOptions {
  const { health } = settings;
  const ttlMs = viewTtlMs ?? checkerViewTtlMs(health.interval, health.timeout);
  assert(id.length > 0, 'internal', 'a checker needs an id: its view is published under it');
  assert(health.timeout < health.interval, 'internal', 'a probe round ends before the next begins');
  assert(ttlMs > health.interval, 'internal', 'a checker view must outlive one interval');
  return {
    id, viewTtlMs: ttlMs, intervalMs: health.interval, timeoutMs: health.timeout, rise: health.rise, fall: health.fall,
    concurrency: health.concurrency, jitterFraction: health.jitter,
    selfDoubt: { fraction: health.selfDoubtFraction, minTargets: health.selfDoubtMinTargets },
    maxWithdrawFraction: health.maxWithdrawFraction,
  };
}

export function buildChecker(settings: RoleSettings, id: string, deps: CheckerDeps, viewTtlMs?: number): Checker {
  return new Checker(checkerOptions(settings, id, viewTtlMs), deps);
}
