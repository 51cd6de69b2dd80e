import { assert } from '../util/assert.js';
import { runLoop } from '../util/loop.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { Generation } from '../domain/types.js';
import type { Counters, Heartbeats, PlanCleanup, PlanReader, SupersededVersion } from '../store/types.js';
import type { Provider } from '../providers/types.js';

export interface JanitorOptions {
  intervalMs: number;
  retainGenerations: number;
  batchVersionsMax: number;
}

export interface JanitorDeps {
  store: PlanReader & PlanCleanup & Heartbeats & Counters;
  provider: Provider;
  clock: Clock;
  log: Logger;
}

/**
 * Safe clean-up (S4). The 2025 clean-up deleted plans by distance from the
 * one just applied, and deleting a plan changed what DNS served. Here:
 * - plans live apart from served records, so deleting one never touches DNS;
 * - the floor is below every live enactor's held generation and
 *   `retainGenerations` below the newest;
 * - a record-set version is deleted only once the name's enacted generation
 *   (read from the provider) has moved past the version that replaced it, or
 *   the name was removed at or above that version (its tombstone refuses any
 *   first write that could make the old version served again).
 */
export class Janitor {
  constructor(private readonly options: JanitorOptions, private readonly deps: JanitorDeps) {
    assert(options.retainGenerations >= 1, 'S4', 'retainGenerations must be at least 1 (the newest plan is never deleted)');
  }

  /** The highest generation below which plan data may go: min(newest − retain, every live enactor's hold). */
  async floor(): Promise<Generation> {
    const { store, clock } = this.deps;
    const latest = await store.latestGeneration();
    let floor = latest - this.options.retainGenerations;
    const now = clock.nowMs();
    for (const enactor of await store.listEnactors()) {
      if (enactor.expiresAtMs > now) floor = Math.min(floor, enactor.heldGeneration);
    }
    assert(floor < latest || latest === 0, 'S4', `floor ${floor} would reach the newest plan ${latest}`);
    return floor;
  }

  async tick(): Promise<{ floor: Generation; versions: number; headers: number }> {
    const { store, provider } = this.deps;
    const floor = await this.floor();
    if (floor <= 0) return { floor, versions: 0, headers: 0 };
    const candidates = await store.listSuperseded(floor, this.options.batchVersionsMax);
    const names = [...new Set(candidates.map((version) => version.name))];
    const states = await provider.read(names);
    const absent = names.filter((name) => !states.has(name));
    const removals = absent.length === 0 ? new Map<string, Generation>() : await provider.readRemovals(absent);
    const deletable: SupersededVersion[] = [];
    for (const version of candidates) {
      const state = states.get(version.name);
      // A name still serving the set of this version (its generation is below the replacement) keeps it. So does a
      // name not served at all, unless a plan removed it at or above the replacement: without that tombstone a late
      // first write (a reconciler pass or an enactor whose heartbeat expired, acting on a plan read before) could
      // still make this version the served one (found by the simulator: `dnsplane sim`, S4).
      if (state === undefined) {
        const removedAt = removals.get(version.name);
        if (removedAt === undefined || removedAt < version.supersededBy) continue;
      } else if (state.generation < version.supersededBy) continue;
      assert(state === undefined || state.generation >= version.supersededBy, 'S4', `${version.name}@${version.since} is still enacted`);
      assert(version.supersededBy <= floor, 'S4', `${version.name}@${version.since} superseded above the floor`);
      deletable.push(version);
    }
    const deleted = await store.deletePlanData(deletable, floor);
    if (deleted.versions > 0 || deleted.headers > 0) {
      await store.incrementCounter('janitor_versions_deleted', deleted.versions);
      await store.incrementCounter('janitor_plans_deleted', deleted.headers);
      this.deps.log.info({ floor, ...deleted }, 'cleaned up old plans');
    }
    return { floor, ...deleted };
  }

  async run(signal: AbortSignal): Promise<void> {
    await runLoop(signal, { log: this.deps.log, what: 'janitor tick' }, async () => void (await this.tick()), () => this.deps.clock.sleep(this.options.intervalMs, signal));
  }
}
