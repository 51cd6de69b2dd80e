import { hostname } from 'node:os';
import { Planner } from '../planner/planner.js';
import { Enactor } from '../enactor/enactor.js';
import { Janitor } from '../enactor/janitor.js';
import { Reconciler } from '../enactor/reconciler.js';
import { systemClock, systemRng, type Clock, type Rng } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { Context } from './context.js';
import { Checker } from '../health/checker.js';
import type { Store } from '../store/types.js';

/** Operator freezes as the enactor and reconciler want them: "*" (the whole zone) wins over single names. */
export function frozenFrom(store: Store): () => Promise<ReadonlySet<string> | 'zone'> {
  return async () => {
    const scopes = await store.listFreezes();
    return scopes.includes('*') ? 'zone' : new Set(scopes);
  };
}

export function drainedFrom(store: Store): () => Promise<ReadonlySet<string>> {
  return async () => new Set(await store.listDrains());
}

export interface RoleEnv {
  clock?: Clock;
  rng?: Rng;
  log: Logger;
}

export function makePlanner(context: Context, id: string, env: RoleEnv): Planner {
  const { config } = context;
  return new Planner(
    { id, zone: context.zone, intervalMs: config.planner.interval, leaseTtlMs: config.planner.leaseTtl, safety: config.safety },
    {
      store: context.store, clock: env.clock ?? systemClock, log: env.log, inventory: () => context.inventory,
      inventoryVersion: () => context.inventoryVersion, drained: drainedFrom(context.store),
    },
  );
}

export function makeEnactor(context: Context, id: string, env: RoleEnv): Enactor {
  const settings = context.config.enactor;
  return new Enactor(
    {
      id, pollIntervalMs: settings.pollInterval, batchNamesMax: settings.batchNamesMax, retriesMax: settings.retriesMax,
      backoffBaseMs: settings.backoffBase, backoffMaxMs: settings.backoffMax, heartbeatIntervalMs: settings.heartbeatInterval,
      heartbeatTtlMs: settings.heartbeatTtl,
    },
    { store: context.store, provider: context.provider, clock: env.clock ?? systemClock, rng: env.rng ?? systemRng, log: env.log, frozen: frozenFrom(context.store) },
  );
}

export function makeJanitor(context: Context, env: RoleEnv): Janitor {
  const { config } = context;
  return new Janitor(
    { intervalMs: config.janitor.interval, retainGenerations: config.safety.retainGenerations, batchVersionsMax: config.janitor.batchVersionsMax },
    { store: context.store, provider: context.provider, clock: env.clock ?? systemClock, log: env.log },
  );
}

export function makeReconciler(context: Context, env: RoleEnv): Reconciler {
  const { config } = context;
  return new Reconciler(
    {
      id: `reconciler@${hostname()}`, intervalMs: config.reconciler.interval, maxLagMs: config.reconciler.maxLag, pageSize: 5000,
      retriesMax: config.enactor.retriesMax, backoffBaseMs: config.enactor.backoffBase, backoffMaxMs: config.enactor.backoffMax,
    },
    { store: context.store, provider: context.provider, clock: env.clock ?? systemClock, rng: env.rng ?? systemRng, log: env.log, frozen: frozenFrom(context.store) },
  );
}

/** How long a checker's view counts without a new round: several rounds, so one slow round is not a death. */
export function checkerViewTtlMs(intervalMs: number, timeoutMs: number): number {
  return Math.max(5000, 4 * (intervalMs + timeoutMs));
}

export function makeChecker(context: Context, id: string, env: RoleEnv): Checker {
  const health = context.config.health;
  return new Checker(
    {
      id, viewTtlMs: checkerViewTtlMs(health.interval, health.timeout), intervalMs: health.interval, timeoutMs: health.timeout, rise: health.rise, fall: health.fall, concurrency: health.concurrency,
      jitterFraction: health.jitter, selfDoubt: { fraction: health.selfDoubtFraction, minTargets: health.selfDoubtMinTargets },
      maxWithdrawFraction: health.maxWithdrawFraction,
    },
    { store: context.store, clock: env.clock ?? systemClock, rng: env.rng ?? systemRng, log: env.log, inventory: () => context.inventory },
  );
}
