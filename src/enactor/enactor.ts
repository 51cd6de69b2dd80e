import { validateRecordSet } from '../domain/validate.js';
import { runLoop } from '../util/loop.js';
import type { Generation, PlanEntry } from '../domain/types.js';
import { assert } from '../util/assert.js';
import type { Clock, Rng } from '../util/clock.js';
import { compareAndSwapAll } from './protocol.js';
import type { Logger } from '../util/log.js';
import type { Alarms, Counters, Heartbeats, History, HistoryEntry, PlanReader } from '../store/types.js';
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
  store: PlanReader & Heartbeats & History & Alarms & Counters;
  provider: Provider;
  clock: Clock;
  rng: Rng;
  log: Logger;
  /** Names an operator froze: left exactly as they are. */
  frozen?: () => Promise<ReadonlySet<string> | 'zone'>;
}

/** Upper bound on pages per generation (with the default batch, 1e9 names): a store that never ends a listing cannot spin an enactor forever. */
const pagesMax = 1_000_000;

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
export function decide(entry: PlanEntry, state: ServedState | undefined, generation: Generation): ApplyChange | 'skip' | 'invalid' {
  assert(entry.since <= generation, 'internal', `${entry.name}: entry since ${entry.since} above plan ${generation}`);
  if (entry.records === null) {
    if (state === undefined || state.generation >= entry.since) return 'skip';
    return { name: entry.name, records: null, generation, expectedVersion: state.version };
  }
  if (state !== undefined && state.generation >= entry.since) return 'skip';
  if (validateRecordSet(entry.name, entry.records).length > 0) return 'invalid';
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
  private heldGeneration: Generation = 0;
  private lastHeartbeatMs = -Infinity;

  constructor(private readonly options: EnactorOptions, private readonly deps: EnactorDeps) {
    assert(options.batchNamesMax > 0 && options.retriesMax > 0, 'internal', 'batchNamesMax and retriesMax must be positive');
  }

  get enactedGeneration(): Generation {
    return this.watermark;
  }

  private async heartbeat(force: boolean): Promise<void> {
    const now = this.deps.clock.nowMs();
    if (!force && now - this.lastHeartbeatMs < this.options.heartbeatIntervalMs) return;
    this.lastHeartbeatMs = now;
    await this.deps.store.heartbeat(
      { id: this.options.id, heldGeneration: this.heldGeneration, enactedGeneration: this.watermark },
      this.options.heartbeatTtlMs,
    );
  }

  /** Applies one batch of entries of plan `generation` through the compare-and-swap loop (protocol.ts). */
  async applyBatch(entries: readonly PlanEntry[], generation: Generation, frozen: ReadonlySet<string>): Promise<BatchOutcome> {
    const { store } = this.deps;
    const open = entries.filter((entry) => !frozen.has(entry.name));
    const result = await compareAndSwapAll(open, (entry, state) => decide(entry, state, generation), this.options, this.deps);
    for (const entry of result.invalid) await store.raiseAlarm('invalid-plan', entry.name, `plan ${generation} holds an invalid record set; not enacted`);
    const history: HistoryEntry[] = result.applied.map(({ change, fromGeneration }) => ({
      name: change.name, fromGeneration, toGeneration: generation, actor: this.options.id, kind: change.records === null ? 'remove' : 'enact', detail: '',
    }));
    // Superseded: removed by a newer plan since this batch was read — that plan decided the name (the guard checked S2).
    const skipped = entries.length - open.length + result.skipped.length + result.superseded.length;
    return { applied: result.applied.length, skipped, conflicts: result.conflicts, unfinished: result.unfinished.length, history };
  }

  /**
   * One pass: if a newer plan exists, apply what changed since this enactor's
   * watermark (all of it after a restart). Returns the generation worked on,
   * or null when there was nothing to do.
   */
  async step(): Promise<{ generation: Generation; applied: number; conflicts: number; complete: boolean } | null> {
    const { store, log } = this.deps;
    const latest = await store.latestGeneration();
    if (latest <= this.watermark) {
      await this.heartbeat(false);
      return null;
    }
    // Announce the generation before reading it, so the janitor keeps it (S4).
    this.heldGeneration = latest;
    await this.heartbeat(true);
    const frozenSetting = this.deps.frozen === undefined ? new Set<string>() : await this.deps.frozen();
    if (frozenSetting === 'zone') return { generation: latest, applied: 0, conflicts: 0, complete: false };
    let applied = 0;
    let conflicts = 0;
    let unfinished = 0;
    let afterName = '';
    // Page through the plan in name order: memory stays bounded by one batch, however large the plan.
    for (let page = 0; page < pagesMax; page += 1) {
      const view = await store.readPlan(latest, { sinceAfter: this.watermark, afterName, limit: this.options.batchNamesMax });
      if (view === null) return { generation: latest, applied, conflicts, complete: false }; // cleaned up under us: start again
      assert(view.entries.every((entry) => entry.name > afterName), 'internal', 'the store ignored paging');
      const outcome = await this.applyBatch(view.entries, latest, frozenSetting);
      applied += outcome.applied;
      conflicts += outcome.conflicts;
      unfinished += outcome.unfinished;
      await store.appendHistory(outcome.history);
      await this.heartbeat(false);
      if (view.entries.length < this.options.batchNamesMax) break;
      afterName = view.entries[view.entries.length - 1]!.name;
    }
    if (conflicts > 0) await store.incrementCounter('enactor_cas_conflicts', conflicts);
    const complete = unfinished === 0 && frozenSetting.size === 0;
    if (complete) this.watermark = latest;
    await this.heartbeat(true);
    if (applied > 0 || unfinished > 0) log.info({ generation: latest, applied, conflicts, unfinished }, 'enacted plan');
    return { generation: latest, applied, conflicts, complete };
  }

  async run(signal: AbortSignal): Promise<void> {
    // A store that can watch (etcd) wakes the enactor as soon as a plan is published; polling stays the fallback.
    let wake = new AbortController();
    const stopWatching = this.deps.store.watchablePlans()?.watchGeneration((generation) => {
      if (generation > this.watermark) wake.abort();
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
        await this.deps.clock.sleep(this.options.pollIntervalMs, stopWatching === undefined ? signal : AbortSignal.any([signal, wake.signal]));
        if (wake.signal.aborted) wake = new AbortController();
      });
    } finally {
      stopWatching?.();
    }
  }
}
