import { assert } from '../util/assert.js';
import { runLoop } from '../util/loop.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { Generation } from '../domain/types.js';
import type { Counters, Heartbeats, History, PlanCleanup, PlanReader, SupersededVersion } from '../store/types.js';
import type { Provider, ServedState } from '../providers/types.js';

export interface JanitorOptions {
  intervalMs: number;
  retainGenerations: number;
  batchVersionsMax: number;
  /** History retention (config `history`); absent: history is kept whole (the simulator's short runs). */
  history?: { perNameMax: number; maxAgeMs: number; intervalMs: number };
  /** How often removal tombstones are compacted (config `janitor.compactInterval`); absent: never. */
  compactIntervalMs?: number;
}

/** History entries deleted per store call; a prune makes calls until one deletes fewer. */
const historyPruneBatch = 10_000;
/** Calls per prune: with the batch, a million entries a prune at most, the rest at the next. */
const historyPruneCallsMax = 100;
/** Removal tombstones compacted per provider call, and calls per compaction (the rest wait for the next). */
const compactionBatch = 10_000;
const compactionCallsMax = 100;

export interface JanitorDeps {
  store: PlanReader & PlanCleanup & Heartbeats & Counters & Pick<History, 'pruneHistory'>;
  provider: Provider;
  clock: Clock;
  log: Logger;
}

/** What a clean-up pass may delete below, and why: the newest generation and the live enactors' holds. */
interface Bounds {
  latest: Generation;
  /** The highest generation below which plan data may go. */
  floor: Generation;
  /** The held generation of each live enactor. */
  holds: Generation[];
}

/** What the provider serves for the names of a clean-up batch, and the removal tombstones of those it does not. */
interface ServedView {
  states: ReadonlyMap<string, ServedState>;
  removals: ReadonlyMap<string, Generation>;
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
  private historyPrunedAtMs = -Infinity;
  private compactedAtMs = -Infinity;
  constructor(private readonly options: JanitorOptions, private readonly deps: JanitorDeps) {
    const retain = 'retainGenerations must be at least 1 (the newest plan is never deleted)';
    assert(options.retainGenerations >= 1, 'S4', retain);
    assert(options.batchVersionsMax >= 1, 'internal', 'batchVersionsMax must be positive');
    assert(options.intervalMs > 0, 'internal', 'intervalMs must be positive');
  }

  /** The highest generation below which plan data may go: min(newest − retain, every live enactor's hold). */
  async floor(): Promise<Generation> {
    return (await this.bounds()).floor;
  }

  private async bounds(): Promise<Bounds> {
    const { store, clock } = this.deps;
    const latest = await store.latestGeneration();
    let floor = latest - this.options.retainGenerations;
    const now = clock.nowMs();
    const holds: Generation[] = [];
    for (const enactor of await store.listEnactors()) {
      if (enactor.expiresAtMs <= now) continue;
      holds.push(enactor.heldGeneration);
      floor = Math.min(floor, enactor.heldGeneration);
    }
    assert(floor < latest || latest === 0, 'S4', () => `floor ${floor} would reach the newest plan ${latest}`);
    assert(floor <= latest - this.options.retainGenerations, 'S4',
      () => `floor ${floor} inside the retained generations`);
    return { latest, floor, holds };
  }

  /**
   * Whether one superseded version may go (S4): a name still serving the set of this version (its generation is
   * below the replacement) keeps it. So does a name not served at all, unless a plan removed it at or above the
   * replacement: without that tombstone a late first write (a reconciler pass or an enactor whose heartbeat expired,
   * acting on a plan read before) could still make this version the served one (found by the simulator: `dnsplane
   * sim`, S4). The removal floor counts as such a tombstone (readRemovals reports it): it refuses the same writes.
   */
  private deletable(
    version: SupersededVersion, state: ServedState | undefined, removedAt: Generation | undefined,
  ): boolean {
    const order = `${version.name}@${version.since} superseded at ${version.supersededBy}`;
    assert(version.since < version.supersededBy, 'internal', order);
    if (state === undefined) return removedAt !== undefined && removedAt >= version.supersededBy;
    return state.generation >= version.supersededBy;
  }

  /**
   * The last check before plan data is deleted, at the point of deletion: nothing below the floor is held by a live
   * enactor (S4) or still what a name serves (S4), and nothing is part of the newest plan (L3: the newest plan stays
   * whole, so applying it is always possible).
   */
  private checkDeletion(versions: readonly SupersededVersion[], bounds: Bounds, served: ServedView): void {
    const { floor, latest, holds } = bounds;
    const held = `floor ${floor} above a live enactor's hold (${holds.join(', ')})`;
    assert(holds.every((hold) => hold >= floor), 'S4', held);
    for (const version of versions) {
      const what = `${version.name}@${version.since} (superseded at ${version.supersededBy})`;
      assert(version.supersededBy <= floor, 'S4', () => `${what}: above the floor ${floor}`);
      assert(version.supersededBy < latest, 'L3', () => `${what}: still in the newest plan ${latest}`);
      const state = served.states.get(version.name);
      if (state !== undefined) {
        assert(state.generation >= version.supersededBy, 'S4', () => `${what}: still served`);
      } else {
        const removedAt = served.removals.get(version.name) ?? 0;
        assert(removedAt >= version.supersededBy, 'S4',
          () => `${what}: not served, and not removed (nor below the removal floor) above it`);
      }
    }
  }

  async tick(): Promise<{ floor: Generation; versions: number; headers: number }> {
    const { store, provider } = this.deps;
    const bounds = await this.bounds();
    const { floor } = bounds;
    if (floor <= 0) return { floor, versions: 0, headers: 0 };
    const candidates = await store.listSuperseded(floor, this.options.batchVersionsMax);
    assert(candidates.length <= this.options.batchVersionsMax, 'internal', 'the store ignored the batch limit');
    const names = [...new Set(candidates.map((version) => version.name))];
    const states = await provider.read(names);
    const absent = names.filter((name) => !states.has(name));
    const removals = absent.length === 0 ? new Map<string, Generation>() : await provider.readRemovals(absent);
    const deletable = candidates.filter((version) => {
      return this.deletable(version, states.get(version.name), removals.get(version.name));
    });
    this.checkDeletion(deletable, bounds, { states, removals });
    const deleted = await store.deletePlanData(deletable, floor);
    const counts = `${deleted.versions} versions deleted of ${deletable.length}`;
    assert(deleted.versions <= deletable.length, 'internal', counts);
    if (deleted.versions > 0 || deleted.headers > 0) {
      await store.incrementCounter('janitor_versions_deleted', deleted.versions);
      await store.incrementCounter('janitor_plans_deleted', deleted.headers);
      this.deps.log.info({ floor, ...deleted }, 'cleaned up old plans');
    }
    await this.compactRemovals(bounds);
    return { floor, ...deleted };
  }

  /**
   * Folds the removal tombstones below the floor into the provider's removal floor (issue 16; types.ts:
   * RemovalCompaction), at most once per `compactIntervalMs`: the floor goes to one below the clean-up floor, so it
   * refuses no write of a live enactor (each holds at or above the clean-up floor) nor of any retained plan, and
   * the newest plan is always enactable (L1). A stale writer below it — an enactor whose heartbeat expired, acting
   * on a plan read long before — is refused, as the tombstones refused it (S2). Returns the tombstones that went.
   */
  private async compactRemovals(bounds: Bounds): Promise<number> {
    const { compactIntervalMs } = this.options;
    const compaction = this.deps.provider.removalCompaction();
    const now = this.deps.clock.nowMs();
    if (compaction === null || compactIntervalMs === undefined) return 0;
    if (now - this.compactedAtMs < compactIntervalMs) return 0;
    const through = bounds.floor - 1;
    if (through <= 0) return 0;
    assert(bounds.holds.every((hold) => hold > through) && through < bounds.latest, 'L1',
      () => `removal floor ${through} would refuse a live enactor's writes (holds ${bounds.holds.join(', ')})`);
    let total = 0;
    for (let call = 0; call < compactionCallsMax; call += 1) {
      const { deleted } = await compaction.compact(through, compactionBatch);
      total += deleted;
      if (deleted < compactionBatch) break;
    }
    this.compactedAtMs = now;
    if (total > 0) {
      await this.deps.store.incrementCounter('janitor_tombstones_compacted', total);
      this.deps.log.info({ through, deleted: total }, 'compacted removal tombstones');
    }
    return total;
  }

  /**
   * Deletes the history the retention rule lets go (older than `maxAgeMs`, beyond `perNameMax` a name), at most once
   * per `intervalMs`. Returns how many entries went.
   */
  async pruneHistory(): Promise<number> {
    const { history } = this.options;
    const now = this.deps.clock.nowMs();
    if (history === undefined || now - this.historyPrunedAtMs < history.intervalMs) return 0;
    const rule = { beforeMs: now - history.maxAgeMs, perNameMax: history.perNameMax };
    let total = 0;
    for (let call = 0; call < historyPruneCallsMax; call += 1) {
      const deleted = await this.deps.store.pruneHistory(rule, historyPruneBatch);
      assert(deleted >= 0 && deleted <= historyPruneBatch, 'internal', () => `${deleted} history entries pruned`);
      total += deleted;
      if (deleted < historyPruneBatch) break;
    }
    this.historyPrunedAtMs = now;
    if (total > 0) {
      await this.deps.store.incrementCounter('history_entries_pruned', total);
      this.deps.log.info({ deleted: total, ...rule }, 'pruned history');
    }
    return total;
  }

  async run(signal: AbortSignal): Promise<void> {
    const tick = async () => {
      await this.tick();
      await this.pruneHistory();
    };
    const pause = () => this.deps.clock.sleep(this.options.intervalMs, signal);
    await runLoop(signal, { log: this.deps.log, what: 'janitor tick' }, tick, pause);
  }
}
