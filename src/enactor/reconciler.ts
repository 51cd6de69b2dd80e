import { recordSetKey, type Generation, type PlanEntry } from '../domain/types.js';
import { runLoop } from '../util/loop.js';
import { assert } from '../util/assert.js';
import type { Clock, Rng } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { Alarms, Controls, Counters, Heartbeats, History, HistoryEntry, PlanReader } from '../store/types.js';
import type { Provider, ServedState } from '../providers/types.js';
import { compareAndSwapAll, type CasDecision, type CasRetryOptions } from './protocol.js';

export interface ReconcilerOptions extends CasRetryOptions {
  id: string;
  intervalMs: number;
  /** How long a name may trail the newest plan before it counts as drift. */
  maxLagMs: number;
  pageSize: number;
}

export interface ReconcilerDeps {
  /** Controls: the operators' re-enactment requests (freezes come through `frozen`). */
  store: PlanReader & Heartbeats & History & Alarms & Counters & Controls;
  provider: Provider;
  clock: Clock;
  rng: Rng;
  log: Logger;
  frozen?: () => Promise<ReadonlySet<string> | 'zone'>;
}

export type DriftKind = 'missing' | 'empty' | 'edited' | 'deleted-plan' | 'lagging' | 'reenact';

/** Operator re-enactments taken per pass. */
const reenactRequestsMax = 100;
/** Pages of served names read per pass (with the default page, 5e9 names): a listing that never ends cannot spin a pass. */
const servedPagesMax = 1_000_000;

export interface Drift {
  name: string;
  kind: DriftKind;
  detail: string;
}

export interface ReconcileResult {
  generation: Generation;
  checked: number;
  drifts: Drift[];
  repaired: number;
}

/**
 * The reconciler compares what DNS serves with the plan of each name's
 * enacted generation and repairs any difference by enacting the newest plan
 * (L2) — through the same compare-and-swap as the enactors, so it can never
 * roll a name back. It is what the 2025 automation lacked: a detector for
 * "the served state is not any valid plan" and a way out of it (L3).
 */
export class Reconciler {
  private readonly behindSinceMs = new Map<string, number>();
  private alarmed = new Set<string>();

  constructor(private readonly options: ReconcilerOptions, private readonly deps: ReconcilerDeps) {}

  private async readServed(): Promise<Map<string, ServedState>> {
    const served = new Map<string, ServedState>();
    let after: string | null = null;
    for (let pages = 0; pages < servedPagesMax; pages += 1) {
      const page = await this.deps.provider.list(after, this.options.pageSize);
      assert(page.every((state) => after === null || state.name > after), 'internal', 'the provider ignored paging');
      for (const state of page) served.set(state.name, state);
      if (page.length < this.options.pageSize) return served;
      after = page[page.length - 1]!.name;
    }
    assert(false, 'internal', `more than ${servedPagesMax} pages of served names`);
    return served;
  }

  /**
   * The newest generation that some live enactor has completely applied, or null when no enactor is live.
   * Read before the served state, so anything an enactor finished by then is in what the pass reads.
   */
  private async enactedByLiveEnactors(): Promise<Generation | null> {
    const now = this.deps.clock.nowMs();
    const live = (await this.deps.store.listEnactors()).filter((enactor) => enactor.expiresAtMs > now);
    if (live.length === 0) return null;
    return Math.max(...live.map((enactor) => enactor.enactedGeneration));
  }

  /**
   * Classifies one name; null when it serves what its enacted generation's plan says. `enactedLive` is the
   * newest generation a live enactor has finished (null: none is live).
   */
  private async classify(entry: PlanEntry, state: ServedState | undefined, latest: Generation, enactedLive: Generation | null): Promise<Drift | null> {
    const { name } = entry;
    if (entry.records === null) {
      // A removal is the enactors' job; one still not done after maxLag is drift like any other lag (L2).
      if (state === undefined || state.generation >= entry.since) {
        this.behindSinceMs.delete(name);
        return null;
      }
      return this.lag(name, state, latest, 'removed');
    }
    if (state === undefined) {
      // A name no live enactor has reached yet (a new installation, a name just added) is being enacted, not
      // drifted: it is lag, drift only after maxLag. Once an enactor has finished a plan that holds it, or when
      // no enactor is live, an absent name is drift at once (a row deleted by hand).
      if (enactedLive !== null && enactedLive < entry.since) return this.lag(name, null, latest, 'added');
      return { name, kind: 'missing', detail: `not served; plan ${latest} has ${entry.records.length} records` };
    }
    if (state.generation > latest) return null; // newer than the plan this pass read
    if (state.records.length === 0) return { name, kind: 'empty', detail: `serves no records at generation ${state.generation}` };
    let expected = entry;
    if (state.generation < entry.since) {
      const older = (await this.deps.store.readEntriesAt([name], state.generation)).get(name);
      if (older === undefined || older.records === null) return { name, kind: 'deleted-plan', detail: `enacted generation ${state.generation} refers to a plan that no longer exists` };
      expected = older;
    }
    if (recordSetKey(state.records) !== recordSetKey(expected.records)) {
      return { name, kind: 'edited', detail: `serves ${recordSetKey(state.records)}, plan ${state.generation} says ${recordSetKey(expected.records)}` };
    }
    if (state.generation >= entry.since) {
      this.behindSinceMs.delete(name);
      return null;
    }
    return this.lag(name, state, latest, 'changed');
  }

  /** A name behind the newest plan: drift once it has been behind for maxLag. */
  private lag(name: string, state: ServedState | null, latest: Generation, what: 'changed' | 'removed' | 'added'): Drift | null {
    const now = this.deps.clock.nowMs();
    const since = this.behindSinceMs.get(name) ?? now;
    this.behindSinceMs.set(name, since);
    if (now - since < this.options.maxLagMs) return null;
    const served = state === null ? 'not served' : `at generation ${state.generation}`;
    const detail = what === 'removed' ? `still served ${served}, removed by plan ${latest}, for ${now - since} ms` : `${served}, behind plan ${latest} for ${now - since} ms`;
    return { name, kind: 'lagging', detail };
  }

  /**
   * Writes the newest plan's set over each drifted name through the same compare-and-swap loop as the enactors
   * (protocol.ts): unlike an enactor it rewrites a name even when its generation looks current (the set is what
   * drifted), never below a newer generation an enactor wrote meanwhile (moved on: nothing to repair).
   */
  private async repair(drifts: readonly Drift[], entries: ReadonlyMap<string, PlanEntry>, latest: Generation): Promise<number> {
    const decideRepair = (drift: Drift, state: ServedState | undefined): CasDecision => {
      if (state !== undefined && state.generation > latest) return 'skip'; // moved on by an enactor meanwhile
      const entry = entries.get(drift.name)!;
      // The newest plan removes the name: the repair is that removal (nothing to do if it is gone already).
      if (entry.records === null) return state === undefined ? 'skip' : { name: drift.name, records: null, generation: latest, expectedVersion: state.version };
      assert(entry.records.length > 0, 'S1', `${drift.name}: repair with an empty set`);
      return { name: drift.name, records: entry.records, generation: latest, expectedVersion: state?.version ?? null };
    };
    const result = await compareAndSwapAll(drifts, decideRepair, this.options, this.deps);
    // Superseded: removed at or above the newest plan this pass read — nothing left to repair.
    const history: HistoryEntry[] = result.applied.map(({ item: drift, change, fromGeneration }) => ({
      name: change.name, fromGeneration, toGeneration: latest, actor: this.options.id, kind: 'repair',
      detail: drift.kind === 'reenact' ? `reenact ${drift.detail}` : `${drift.kind}${change.records === null ? ' (removal)' : ''}`,
    }));
    await this.deps.store.appendHistory(history);
    return result.applied.length;
  }

  async tick(): Promise<ReconcileResult> {
    const { store, log } = this.deps;
    const latest = await store.latestGeneration();
    if (latest === 0) return { generation: 0, checked: 0, drifts: [], repaired: 0 };
    const view = await store.readPlan(latest);
    if (view === null) return { generation: latest, checked: 0, drifts: [], repaired: 0 };
    const frozen = this.deps.frozen === undefined ? new Set<string>() : await this.deps.frozen();
    if (frozen === 'zone') return { generation: latest, checked: 0, drifts: [], repaired: 0 };
    const enactedLive = await this.enactedByLiveEnactors();
    const served = await this.readServed();
    const entries = new Map(view.entries.map((entry) => [entry.name, entry]));
    const drifts: Drift[] = [];
    for (const entry of view.entries) {
      if (frozen.has(entry.name)) continue;
      const drift = await this.classify(entry, served.get(entry.name), latest, enactedLive);
      if (drift !== null) drifts.push(drift);
    }
    // Alarms raised on the pass that found a drift are cleared on the first pass that finds the name sound.
    // Operator re-enactments (API): rewrite the name with the newest plan even if it looks sound.
    for (const request of await store.takeRequests('reenact', reenactRequestsMax)) {
      if (!entries.has(request.subject) || drifts.some((drift) => drift.name === request.subject)) continue;
      drifts.push({ name: request.subject, kind: 'reenact', detail: `requested by ${request.actor}: ${request.reason}` });
    }
    const drifted = new Set(drifts.filter((drift) => drift.kind !== 'reenact').map((drift) => drift.name));
    for (const name of this.alarmed) if (!drifted.has(name)) await store.clearAlarm('drift', name);
    for (const drift of drifts) {
      if (drift.kind === 'reenact') continue;
      await store.raiseAlarm('drift', drift.name, `${drift.kind}: ${drift.detail}`);
      log.warn({ name: drift.name, kind: drift.kind }, `drift: ${drift.detail}`);
    }
    this.alarmed = drifted;
    const repaired = drifts.length === 0 ? 0 : await this.repair(drifts, entries, latest);
    if (repaired > 0) await store.incrementCounter('reconciler_repairs', repaired);
    await store.incrementCounter('reconciler_passes');
    return { generation: latest, checked: view.entries.length, drifts, repaired };
  }

  async run(signal: AbortSignal): Promise<void> {
    await runLoop(signal, { log: this.deps.log, what: 'reconciler tick' }, async () => void (await this.tick()), () => this.deps.clock.sleep(this.options.intervalMs, signal));
  }
}
