import { hostname } from 'node:os';
import type { EndpointSpec, ServiceSpec } from '../domain/types.js';
import type { Checker } from '../health/checker.js';
import type { Enactor } from '../enactor/enactor.js';
import type { Janitor } from '../enactor/janitor.js';
import type { Reconciler } from '../enactor/reconciler.js';
import type { Planner } from '../planner/planner.js';
import type { Provider } from '../providers/types.js';
import type { Controls, Store } from '../store/types.js';
import { zoneLoopId, type ZoneSet } from '../domain/zones.js';
import { zoneRoutes } from '../providers/zoned.js';
import { zonePlanReader } from '../enactor/zone-scope.js';
import { assert } from '../util/assert.js';
import { selfDependencies, type ControlPlaneConfig } from '../graph/self-dependency.js';
import { systemClock, systemRng, type Clock, type Rng } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { buildChecker, buildEnactor, buildJanitor, buildPlanner, buildReconciler, type RoleSettings } from './build.js';

/**
 * The roles of a running installation, as `dnsplane up` and the role commands run them: the settings are the
 * loaded config's, the deps its store and provider, the system clock and randomness, the inventory it follows
 * (read on every call, so a newer version is seen at once) and the operators' freezes and drains from the store.
 */

/** What a role needs of an installation: the CLI's Context (src/cli/context.ts) is one. */
export interface RoleInstallation {
  /** The role settings, and what dnsplane itself connects to (store, provider, listen addresses) when known. */
  readonly config: RoleSettings & ControlPlaneConfig;
  /** The zone, normalised (the first of `zones:`). */
  readonly zone: string;
  /** The installation's zones (absent: just `zone`); the provider then routes names to each zone's (zoned.ts). */
  readonly zones?: ZoneSet;
  readonly store: Store;
  readonly provider: Provider;
  /** The inventory in effect: replaced, never mutated, when a newer version arrives. */
  readonly inventory: readonly EndpointSpec[];
  /** The dependency graph's services of the same version (absent: none, as in the simulator). */
  readonly services?: readonly ServiceSpec[];
  readonly inventoryVersion: number;
}

/** Operator freezes as the enactor and reconciler want them: "*" (the whole zone) wins over single names. */
export function frozenFrom(store: Pick<Controls, 'listFreezes'>): () => Promise<ReadonlySet<string> | 'zone'> {
  return async () => {
    const scopes = await store.listFreezes();
    return scopes.includes('*') ? 'zone' : new Set(scopes);
  };
}

export function drainedFrom(store: Pick<Controls, 'listDrains'>): () => Promise<ReadonlySet<string>> {
  return async () => new Set(await store.listDrains());
}

export interface RoleEnv {
  clock?: Clock;
  rng?: Rng;
  log: Logger;
}

export function makePlanner(installation: RoleInstallation, id: string, env: RoleEnv): Planner {
  const { store } = installation;
  return buildPlanner(installation.config, id, installation.zones ?? installation.zone, {
    store, clock: env.clock ?? systemClock, log: env.log, inventory: () => installation.inventory,
    inventoryVersion: () => installation.inventoryVersion, drained: drainedFrom(store),
    selfDependencies: (endpoints) => selfDependencies(installation.config, { endpoints }),
    services: () => installation.services,
  });
}

/**
 * An enactor process: one Enactor, or with several zones one per zone (id `<id>@<zone>`), each reading only its zone's
 * names of the plan and writing only through its zone's provider, with its own watermark and heartbeat. A zone whose
 * provider fails stalls only its own loop: the others go on, and the janitor keeps what the stalled one holds (S4).
 */
export function makeEnactors(installation: RoleInstallation, id: string, env: RoleEnv): Enactor[] {
  const { store, provider, zones } = installation;
  const base = { clock: env.clock ?? systemClock, rng: env.rng ?? systemRng, frozen: frozenFrom(store) };
  const routes = zoneRoutes(provider, installation.zone);
  if (routes.length === 1) return [buildEnactor(installation.config, id, { ...base, store, provider, log: env.log })];
  assert(zones !== undefined, 'internal', 'a provider of several zones without the zones');
  return routes.map((route) => buildEnactor(installation.config, zoneLoopId(id, route.zone), {
    ...base, store: zonePlanReader(store, zones, route.zone), provider: route.provider,
    log: env.log.child({ zone: route.zone }),
    // Only its zone's frozen names: a freeze in another zone must not keep this loop's watermark from moving.
    frozen: async () => {
      const frozen = await base.frozen();
      return frozen === 'zone' ? frozen : new Set([...frozen].filter((name) => zones.zoneOf(name) === route.zone));
    },
  }));
}

/** The enactor of a one-zone installation. */
export function makeEnactor(installation: RoleInstallation, id: string, env: RoleEnv): Enactor {
  const [enactor, ...others] = makeEnactors(installation, id, env);
  assert(enactor !== undefined && others.length === 0, 'internal', 'one enactor asked of several zones');
  return enactor;
}

export function makeJanitor(installation: RoleInstallation, env: RoleEnv): Janitor {
  const { store, provider } = installation;
  return buildJanitor(installation.config, { store, provider, clock: env.clock ?? systemClock, log: env.log });
}

export function makeReconciler(installation: RoleInstallation, env: RoleEnv): Reconciler {
  const { store, provider } = installation;
  return buildReconciler(installation.config, `reconciler@${hostname()}`, {
    store, provider, clock: env.clock ?? systemClock, rng: env.rng ?? systemRng, log: env.log,
    frozen: frozenFrom(store),
  });
}

export function makeChecker(installation: RoleInstallation, id: string, env: RoleEnv): Checker {
  return buildChecker(installation.config, id, {
    store: installation.store, clock: env.clock ?? systemClock, rng: env.rng ?? systemRng, log: env.log,
    inventory: () => installation.inventory,
  });
}
