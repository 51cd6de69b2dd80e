import type { Generation } from '../domain/types.js';
import { ZoneSet } from '../domain/zones.js';
import { assert, InvariantViolation } from '../util/assert.js';
import type {
  ApplyChange, ApplyOutcome, Provider, RemovalCompaction, ServedChangeFeed, ServedState,
} from './types.js';

/** One zone of an installation and the provider that serves it. */
export interface ZoneRoute {
  /** Normalised ("corp.example"). */
  zone: string;
  provider: Provider;
}

/**
 * The providers of an installation with several zones (config `zones:`) as one Provider: every call is split by the
 * zone each name is in and sent to that zone's provider, each of which guards its own writes (guard.ts). What must
 * not wait on another zone's provider (each enactor loop, the reconciler's reads, the status read model) takes the
 * routes (`zoneRoutes`) and works zone by zone; through this one, a call fails when any zone it touches fails.
 */
export class ZonedProvider implements Provider {
  readonly kind: string;
  readonly zones: ZoneSet;

  constructor(readonly routes: readonly ZoneRoute[]) {
    assert(routes.length > 1, 'internal', 'a zoned provider routes several zones');
    this.zones = new ZoneSet(routes.map((route) => route.zone));
    this.kind = routes.map((route) => route.provider.kind).join('+');
  }

  private routeOf(name: string): ZoneRoute {
    const zone = this.zones.zoneOf(name);
    const route = this.routes.find((candidate) => candidate.zone === zone);
    // The planner publishes only names of the installation's zones (validatePlanChanges); an older plan may still
    // hold names of a zone since taken out of `zones:`.
    if (route === undefined) {
      throw new Error(`${name} is in none of the zones ${this.zones.toString()}: take it out of the inventory, `
        + 'or put its zone back in zones:');
    }
    return route;
  }

  /** `items` split by zone, each part in the given order. */
  private split<T>(items: readonly T[], nameOf: (item: T) => string): Map<ZoneRoute, T[]> {
    const parts = new Map<ZoneRoute, T[]>();
    for (const item of items) {
      const route = this.routeOf(nameOf(item));
      const part = parts.get(route);
      if (part === undefined) parts.set(route, [item]);
      else part.push(item);
    }
    return parts;
  }

  async read(names: readonly string[]): Promise<Map<string, ServedState>> {
    const parts = [...this.split(names, (name) => name)];
    const read = await Promise.all(parts.map(([route, part]) => route.provider.read(part)));
    return new Map(read.flatMap((states) => [...states]));
  }

  async readRemovals(names: readonly string[]): Promise<Map<string, Generation>> {
    const parts = [...this.split(names, (name) => name)];
    const read = await Promise.all(parts.map(([route, part]) => route.provider.readRemovals(part)));
    return new Map(read.flatMap((removals) => [...removals]));
  }

  /** Each zone's page from `afterName`, merged in name order and cut at `limit`: the next page goes on from there. */
  async list(afterName: string | null, limit: number): Promise<ServedState[]> {
    const pages = await Promise.all(this.routes.map((route) => route.provider.list(afterName, limit)));
    return pages.flat().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).slice(0, limit);
  }

  async apply(changes: readonly ApplyChange[]): Promise<ApplyOutcome[]> {
    const parts = [...this.split(changes, (change) => change.name)];
    const applied = await Promise.all(parts.map(([route, part]) => route.provider.apply(part)));
    const byName = new Map(applied.flat().map((outcome) => [outcome.name, outcome]));
    return changes.map((change) => {
      const outcome = byName.get(change.name);
      assert(outcome !== undefined, 'internal', () => `${change.name}: no outcome from its zone's provider`);
      return outcome;
    });
  }

  /** None: a reader of several zones lists them (a feed is one provider's). */
  servedChangeFeed(): ServedChangeFeed | null {
    return null;
  }

  /**
   * The compaction of every zone whose provider has one, zone after zone within one limit (so fewer deleted than the
   * limit still means none left anywhere); the floor reported is the lowest. Null when no zone's provider has one.
   */
  removalCompaction(): RemovalCompaction | null {
    const compactions = this.routes.flatMap((route) => route.provider.removalCompaction() ?? []);
    if (compactions.length === 0) return null;
    return {
      async compact(through: Generation, limit: number) {
        let floor = Number.MAX_SAFE_INTEGER;
        let deleted = 0;
        for (const compaction of compactions) {
          const result = await compaction.compact(through, limit - deleted);
          floor = Math.min(floor, result.floor);
          deleted += result.deleted;
          if (deleted >= limit) break;
        }
        return { floor, deleted };
      },
    };
  }

  async close(): Promise<void> {
    const closed = await Promise.allSettled(this.routes.map((route) => route.provider.close()));
    const failed = closed.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }
}

/**
 * `names` read zone by zone, for views that must show what they can while a zone's server is down (the API's names
 * and graph): the states of the zones that answered, and the names whose zone did not (or that are in no zone). A
 * provider of one zone is read as a whole and fails as one.
 */
export async function readReachable(
  provider: Provider, names: readonly string[],
): Promise<{ states: Map<string, ServedState>; unreachable: Set<string> }> {
  if (!(provider instanceof ZonedProvider)) return { states: await provider.read(names), unreachable: new Set() };
  const { zones } = provider;
  const states = new Map<string, ServedState>();
  const unreachable = new Set<string>();
  await Promise.all(provider.routes.map(async (route) => {
    const part = names.filter((name) => zones.zoneOf(name) === route.zone);
    if (part.length === 0) return;
    try {
      for (const [name, state] of await route.provider.read(part)) states.set(name, state);
    } catch (error) {
      if (error instanceof InvariantViolation) throw error;
      for (const name of part) unreachable.add(name);
    }
  }));
  for (const name of names) if (zones.zoneOf(name) === null) unreachable.add(name);
  return { states, unreachable };
}

/** The zones of a provider: those of a ZonedProvider, or the one zone of any other. */
export function zoneRoutes(provider: Provider, zone: string): readonly ZoneRoute[] {
  return provider instanceof ZonedProvider ? provider.routes : [{ zone, provider }];
}
