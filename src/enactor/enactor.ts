import { validateRecordSet } from '../domain/validate.js';
import { runLoop, WakeablePause } from '../util/loop.js';
import type { Generation, PlanEntry } from '../domain/types.js';
import { assert } from '../util/assert.js';
import type { Clock, Rng } from '../util/clock.js';
import {
  adoptedDetail, clearAdoptedAlarms, compareAndSwapAll, raiseHeldAlarms, type CasOutcome,
} from './protocol.js';
import { forEachPlanPage } from './plan-pages.js';
import type { Logger } from '../util/log.js';
import type {
  Adoptions, Alarms, Counters, Heartbeats, History, HistoryEntry, PlanReader,
} from '../store/types.js';
import type { ApplyChange, Provider, ServedState } from '../providers/types.js';

export interface EnactorOptions {
  id: string;
  pollIntervalMs: number;
  batchNamesMax: number;
  retriesMax: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  heartbeatIntervalMs: number;
  heartbeatTtlMs: number;
}

export interface EnactorDeps {
  store: PlanReader & Heartbeats & History & Alarms & Counters & Pick<Adoptions, 'readAdoptions'>;
  provider: Provider;
  clock: Clock;
  rng: Rng;
  log: Logger;
  /** Names an operator froze: left exactly as they are. */
  frozen?: () => Promise<ReadonlySet<string> | 'zone'>;
}

export interface BatchOutcome {
  applied: number;
  skipped: number;
  conflicts: number;
  /** Names still pending after retriesMax attempts; the generation is retried on the next step. */
  unfinished: number;
  history: HistoryEntry[];
}

/**
 * The decision for one name, made against a state read from the provider
 * and guarded at the write by that state's version (DESIGN.md §3): skip when
 * the served generation already covers the entry (S2, S5), write otherwise.
 */
export function decide(entry: PlanEntry, state: ServedState | undefined, generation: Generation): EnactorDecision {
  assert(entry.since <= generation, 'internal',
    () => `${entry.name}: entry since ${entry.since} above plan ${generation}`);
  const decision = decideEntry(entry, state, generation);
  if (state === undefined) return decision;
  if (state.generation >= entry.since) {
    // S5: applying a plan again writes nothing — a name that already serves this entry (or newer) is skipped.
    assert(decision === 'skip', 'S5',
      () => `${entry.name}: a write over generation ${state.generation} >= ${entry.since}`);
  } else {
    // L3: whatever a name serves below the entry (any generation, edited, emptied, on a deleted plan), it is written.
    assert(decision !== 'skip', 'L3',
      () => `${entry.name}: behind at ${state.generation} < ${entry.since}, not written`);
  }
  return decision;
}

type EnactorDecision = ApplyChange | 'skip' | 'invalid';

function decideEntry(entry: PlanEntry, state: ServedState | undefined, generation: Generation): EnactorDecision {
  if (entry.records === null) {
    if (state === undefined || state.generation >= entry.since) return 'skip';
    return { name: entry.name, records: null, generation, expectedVersion: state.version };
  }
  if (state !== undefined && state.generation >= entry.since) return 'skip';
  if (validateRecordSet(entry.name, entry.records).length > 0) return 'invalid';
  assert(entry.records.length > 0, 'S1', () => `${entry.name}: an empty set passed validation`);
  return { name: entry.name, records: entry.records, generation, expectedVersion: state?.version ?? null };
}

/**
 * One of several redundant enactors. Each watches for a newer plan and
 * applies it name by name with compare-and-swap writes; any number may run
 * at once (the write, not an up-front check, decides).
 */
export class Enactor {
  /** Newest generation this enactor has completely applied (only reads after it are needed). */
  private watermark: Generation = 0;
  /** The generation announced in the heartbeat, at or above the watermark: the janitor keeps it (S4). */
  private heldGeneration: Generation = 0;
  private lastHeartbeatMs = -Infinity;

  constructor(private readonly options: EnactorOptions, private readonly deps: EnactorDeps) {
    assert(options.batchNamesMax > 0, 'internal', 'batchNamesMax must be positive');
    assert(options.retriesMax > 0, 'internal', 'retriesMax must be positive');
    assert(options.pollIntervalMs > 0, 'internal', 'pollIntervalMs must be positive');
    // A live enactor must never look dead between two heartbeats, or the janitor would stop keeping its hold.
    const heartbeats = `heartbeat every ${options.heartbeatIntervalMs} ms, ttl ${options.heartbeatTtlMs} ms`;
    assert(options.heartbeatIntervalMs < options.heartbeatTtlMs, 'S4', heartbeats);
  }

  get enactedGeneration(): Generation {
    return this.watermark;
  }

  private async heartbeat(force: boolean): Promise<void> {
    // The hold covers everything this enactor may still read or write: never below what it has enacted (S4).
    assert(this.heldGeneration >= this.watermark, 'S4',
      () => `held ${this.heldGeneration} below enacted ${this.watermark}`);
    const now = this.deps.clock.nowMs();
    if (!force && now - this.lastHeartbeatMs < this.options.heartbeatIntervalMs) return;
    this.lastHeartbeatMs = now;
    await this.deps.store.heartbeat(
      { id: this.options.id, heldGeneration: this.heldGeneration, enactedGeneration: this.watermark },
      this.options.heartbeatTtlMs,
    );
  }

  /** Applies one batch of entries of plan `generation` through the compare-and-swap loop (protocol.ts). */
  async applyBatch(
    entries: readonly PlanEntry[], generation: Generation, frozen: ReadonlySet<string>,
  ): Promise<BatchOutcome> {
    assert(generation > 0, 'internal', () => `applying plan ${generation}`);
    const { store } = this.deps;
    const open = entries.filter((entry) => !frozen.has(entry.name));
    const decideEntry = (entry: PlanEntry, state: ServedState | undefined) => decide(entry, state, generation);
    const historyOf = (applied: CasOutcome<PlanEntry>['applied']): HistoryEntry[] => applied.map((write) => {
      const { change, fromGeneration, adopted } = write;
      // S2: an enactor writes a name only when it serves a generation below the entry's, so below this plan.
      assert(fromGeneration < generation, 'S2',
        () => `${change.name}: plan ${generation} written over ${fromGeneration}`);
      const kind = change.records === null ? 'remove' : 'enact';
      const detail = adoptedDetail(adopted);
      return { name: change.name, fromGeneration, toGeneration: generation, actor: this.options.id, kind, detail };
    });
    let history: HistoryEntry[] = [];
    // Every write made goes into the history, even when a later round fails (protocol.ts).
    const result = await compareAndSwapAll(open, decideEntry, this.options, this.deps, async (applied) => {
      history = historyOf(applied);
      await store.appendHistory(history);
    });
    for (const entry of result.invalid) {
      await store.raiseAlarm('invalid-plan', entry.name, `plan ${generation} holds an invalid record set; not enacted`);
    }
    await raiseHeldAlarms(store, result.held.map(({ item, held, raced }) => ({ name: item.name, held, raced })));
    await clearAdoptedAlarms(store, result.applied);
    // Superseded: removed by a newer plan since this batch was read — that plan decided the name (the guard checked
    // S2).
    // Held: not this installation's to write (another's, or unmanaged): alarmed, never retried blind.
    const skipped = entries.length - open.length + result.skipped.length + result.superseded.length
      + result.held.length;
    const outcome: BatchOutcome = {
      applied: result.applied.length, skipped, conflicts: result.conflicts,
      unfinished: result.unfinished.length, history,
    };
    const accounted = outcome.applied + outcome.skipped + outcome.unfinished + result.invalid.length;
    assert(accounted === entries.length, 'internal', () => `${accounted} of ${entries.length} entries accounted for`);
    return outcome;
  }

  /**
   * One pass: if a newer plan exists, apply what changed since this enactor's
   * watermark (all of it after a restart). Returns the generation worked on,
   * or null when there was nothing to do.
   */
  async step(): Promise<{ generation: Generation; applied: number; conflicts: number; complete: boolean } | null> {
    const { store, log } = this.deps;
    const latest = await store.latestGeneration();
    // S5: a generation already applied in full is not applied again (nothing read, nothing written).
    if (latest <= this.watermark) {
      await this.heartbeat(false);
      return null;
    }
    // Announce the generation before reading it, so the janitor keeps it (S4).
    this.heldGeneration = latest;
    await this.heartbeat(true);
    const frozenSetting = this.deps.frozen === undefined ? new Set<string>() : await this.deps.frozen();
    if (frozenSetting === 'zone') return { generation: latest, applied: 0, conflicts: 0, complete: false };
    const { applied, conflicts, unfinished, vanished } = await this.applyPlan(latest, frozenSetting);
    if (vanished) return { generation: latest, applied, conflicts, complete: false };
    if (conflicts > 0) await store.incrementCounter('enactor_cas_conflicts', conflicts);
    const complete = unfinished === 0 && frozenSetting.size === 0;
    if (complete) {
      // S2: the watermark only moves forward (latest is above it, checked on entry).
      assert(latest > this.watermark, 'S2', () => `enacted ${latest} after ${this.watermark}`);
      this.watermark = latest;
    }
    assert(this.heldGeneration === latest, 'S4', () => `hold moved to ${this.heldGeneration} while applying ${latest}`);
    await this.heartbeat(true);
    if (applied > 0 || unfinished > 0) log.info({ generation: latest, applied, conflicts, unfinished }, 'enacted plan');
    return { generation: latest, applied, conflicts, complete };
  }

  /**
   * Pages through plan `generation` in name order (memory stays bounded by one batch, however large the plan) and
   * applies each page. `vanished` when the plan was cleaned up under us: the next step starts again from the newest
   * (L3).
   */
  private async applyPlan(
    generation: Generation, frozen: ReadonlySet<string>,
  ): Promise<{ applied: number; conflicts: number; unfinished: number; vanished: boolean }> {
    const totals = { applied: 0, conflicts: 0, unfinished: 0 };
    const range = { sinceAfter: this.watermark };
    const read = await forEachPlanPage(this.deps.store, generation, range, this.options.batchNamesMax, async (page) => {
      // Only what changed after the watermark: the store kept the delta.
      const stale = page.find((entry) => entry.since <= this.watermark);
      assert(stale === undefined, 'internal',
        () => `${stale?.name}@${stale?.since} is not a change after ${this.watermark}`);
      // Each batch records its writes in the history itself (applyBatch).
      const outcome = await this.applyBatch(page, generation, frozen);
      totals.applied += outcome.applied;
      totals.conflicts += outcome.conflicts;
      totals.unfinished += outcome.unfinished;
      await this.heartbeat(false);
    });
    return { ...totals, vanished: read.vanished };
  }

  async run(signal: AbortSignal): Promise<void> {
    // A store that can watch (etcd, SQLite) wakes the enactor as soon as a plan is published; polling stays the
    // fallback.
    const watch = this.deps.store.watchablePlans();
    const wakeable = new WakeablePause(this.deps.clock, signal, watch !== null);
    const stopWatching = watch?.watchGeneration((generation) => {
      if (generation > this.watermark) wakeable.wake();
    });
    let progressed = false;
    try {
      await runLoop(signal, { log: this.deps.log, what: 'enactor step' }, async () => {
        progressed = false;
        const result = await this.step();
        progressed = result !== null && result.complete;
      }, async () => {
        // After a complete generation look again at once (a newer one may be waiting); otherwise poll.
        if (progressed) return;
        await wakeable.pause(this.options.pollIntervalMs);
      });
    } finally {
      stopWatching?.();
    }
  }
}
