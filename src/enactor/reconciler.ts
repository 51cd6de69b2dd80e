import { recordSetKey, type Generation, type PlanEntry } from '../domain/types.js';
import { runLoop } from '../util/loop.js';
import { assert, InvariantViolation } from '../util/assert.js';
import { isZoneLoopOf, ZoneSet } from '../domain/zones.js';
import { zoneRoutes } from '../providers/zoned.js';
import type { Clock, Rng } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type {
  Adoptions, Alarms, Controls, Counters, EnactorInfo, Heartbeats, History, HistoryEntry, OperatorRequest, PlanReader,
} from '../store/types.js';
import { forEachPlanPage } from './plan-pages.js';
import type { Provider, ServedState } from '../providers/types.js';
import {
  adoptedDetail, clearAdoptedAlarms, compareAndSwapAll, heldMessage, type CasDecision, type CasOutcome,
  type CasRetryOptions,
} from './protocol.js';

export interface ReconcilerOptions extends CasRetryOptions {
  id: string;
  intervalMs: number;
  /** How long a name may trail the newest plan before it counts as drift. */
  maxLagMs: number;
  pageSize: number;
  /**
   * The fewest plan entries the rolling sweep reads a pass (config `reconciler.sweepNamesMin`): a plan up to this
   * size is swept whole every pass, a larger one in slices that cover it within maxLag (`sweepPasses`). Absent: the
   * whole plan every pass.
   */
  sweepNamesMin?: number;
}

export interface ReconcilerDeps {
  /** Controls: the operators' re-enactment requests (freezes come through `frozen`). */
  store: PlanReader & Heartbeats & History & Alarms & Counters & Controls & Pick<Adoptions, 'readAdoptions'>;
  provider: Provider;
  clock: Clock;
  rng: Rng;
  log: Logger;
  frozen?: () => Promise<ReadonlySet<string> | 'zone'>;
}

/**
 * `foreign` and `unmanaged`: a name of the plan that is not this installation's to write (providers/types.ts: Held),
 * found by the repair's read. Reported on every pass, never repaired — an unmanaged name is adopted by the repair
 * once the store holds an adoption grant for it.
 */
export type DriftKind =
  | 'missing' | 'empty' | 'edited' | 'deleted-plan' | 'lagging' | 'reenact' | 'foreign' | 'unmanaged';

/** The alarm of a rolling sweep that took longer than maxLag (subject: "*"). */
export const sweepOverrunAlarm = 'reconciler-sweep';

/** The alarm of a zone whose provider a pass could not read (subject: the zone). */
export const unreachableAlarm = 'zone-unreachable';

/** Operator re-enactments taken per pass. */
const reenactRequestsMax = 100;

export interface Drift {
  name: string;
  kind: DriftKind;
  detail: string;
}

export interface ReconcileResult {
  generation: Generation;
  /** Names this pass read and judged: what changed since the last pass, what it watches, and the sweep's slice. */
  checked: number;
  drifts: Drift[];
  repaired: number;
  /** The rolling sweep's part of the pass: the plan entries of its slice, and whether it reached the plan's end. */
  sweep: { names: number; completed: boolean };
}

/**
 * Passes a rolling sweep of the whole plan is spread over, so that every name is read at least once within `maxLag`:
 * a pass every `periodMs` (the interval plus what a pass takes), one period of slack for the pass that finds and
 * repairs. 1 (the whole plan every pass) when maxLag is under two periods.
 */
export function sweepPasses(maxLagMs: number, periodMs: number): number {
  assert(periodMs > 0, 'internal', `sweep period ${periodMs}`);
  return Math.max(1, Math.floor(maxLagMs / periodMs) - 1);
}

/**
 * A rolling sweep: it reads the plan in name order, a slice a pass, and ends `budgetMs` after it started —
 * sweepPasses(maxLag, period) periods, so a name is read again at most maxLag − period after it was last read while
 * passes take what they took when the sweep began. A sweep whose passes grow slower reads larger slices to end in time.
 */
export interface Sweep {
  startedMs: number;
  budgetMs: number;
  /** Entries the sweep expects to read (the plan's size, or the last sweep's if larger), plus one. */
  expected: number;
  /** The slice of a pass on schedule; a sweep that overruns `expected` goes on at this pace. */
  slice: number;
  /** Where it goes on from ('' at its start) and the entries read so far. */
  afterName: string;
  seen: number;
}

export function startSweep(
  nowMs: number, options: { maxLagMs: number; periodMs: number; entries: number; namesMin: number },
): Sweep {
  const passes = sweepPasses(options.maxLagMs, options.periodMs);
  // One entry more than the plan is expected to hold: the sweep's last pass reads a short page and knows it is done.
  const expected = options.entries + 1;
  const slice = Math.max(Math.ceil(expected / passes), options.namesMin);
  return { startedMs: nowMs, budgetMs: passes * options.periodMs, expected, slice, afterName: '', seen: 0 };
}

/** The entries this pass of `sweep` reads: what is left, spread over the passes left before the sweep's end. */
export function sweepSlice(sweep: Sweep, nowMs: number, periodMs: number, namesMin: number): number {
  assert(periodMs > 0, 'internal', `sweep period ${periodMs}`);
  const passesLeft = Math.max(1, Math.floor((sweep.startedMs + sweep.budgetMs - nowMs) / periodMs));
  const left = Math.max(sweep.expected - sweep.seen, sweep.slice);
  return Math.max(Math.ceil(left / passesLeft), namesMin);
}

/** What one pass has found so far. */
interface PassState {
  latest: Generation;
  frozen: ReadonlySet<string>;
  /** Names read every pass (lagging, alarmed, held by another writer, asked to re-enact), and those in the plan. */
  watched: ReadonlySet<string>;
  found: Map<string, PlanEntry>;
  enactedFor: (name: string) => Generation | null;
  /** Names judged already, but for the sweep's (a changed or watched name is not judged again in the slice). */
  judged: Set<string>;
  checked: number;
  drifts: Drift[];
  /** The plan entries of the drifted names (and of the names asked to re-enact): what the repair writes. */
  entries: Map<string, PlanEntry>;
  unreachable: Map<string, string>;
  reached: Set<string>;
  /** The sweep once this pass is done (null: it ended), what the pass read of it, and its whole when it ended. */
  sweep: Sweep | null;
  swept: ReconcileResult['sweep'];
  sweepTotal: number;
  sweepStartedMs: number;
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
  /** Re-enactments taken from the store for names of a zone a pass could not read: kept for a pass that can. */
  private readonly waitingReenactments: OperatorRequest[] = [];
  /** The installation's zones when there are several (a ZonedProvider), to leave out an unreachable zone's names. */
  private readonly zones: ZoneSet | null;
  /** The generation whose changes the last pass took in: the next one reads only versions introduced after it. */
  private checkedThrough: Generation = 0;
  /** The rolling sweep under way (null: the next pass starts one), and the entries the last one read in all. */
  private sweep: Sweep | null = null;
  private lastSweepEntries = 0;
  /** The last sweep overran maxLag (its alarm is up); true at first, so a sweep in time clears one left before. */
  private sweepOverran = true;
  /** What the last pass took on the clock, for the sweep's period. */
  private lastPassMs = 0;

  constructor(private readonly options: ReconcilerOptions, private readonly deps: ReconcilerDeps) {
    assert(options.pageSize >= 1, 'internal', 'pageSize must be positive');
    assert(options.intervalMs > 0, 'internal', 'intervalMs must be positive');
    assert(options.maxLagMs >= 0, 'internal', 'maxLagMs is never negative');
    assert((options.sweepNamesMin ?? 1) >= 1, 'internal', 'a sweep reads at least one name a pass');
    const routes = zoneRoutes(deps.provider, '');
    this.zones = routes.length === 1 ? null : new ZoneSet(routes.map((route) => route.zone));
  }

  /** Whether `name` is in a zone this pass could not read (or, with several zones, in none of them: not judged). */
  private outOfReach(name: string, unreachable: ReadonlyMap<string, string>): boolean {
    if (this.zones === null) return false;
    const zone = this.zones.zoneOf(name);
    return zone === null || unreachable.has(zone);
  }

  /**
   * The served state of `names`, zone by zone, in reads of at most a page. With several zones (config `zones:`), a
   * zone whose provider fails is left out of the rest of the pass (`pass.unreachable`: zone, error) rather than
   * failing it: the other zones are still checked and repaired. `pass.reached`: the zones read this pass.
   */
  private async readServed(names: readonly string[], pass: PassState): Promise<Map<string, ServedState>> {
    const served = new Map<string, ServedState>();
    const routes = zoneRoutes(this.deps.provider, '');
    const { zones } = this;
    const byZone = new Map<string, string[]>(routes.map((route) => [route.zone, []]));
    for (const name of names) {
      // A name in none of the zones (a zone taken out of `zones:`) is not judged (outOfReach).
      const zone = zones === null ? routes[0]!.zone : zones.zoneOf(name);
      if (zone !== null) byZone.get(zone)!.push(name);
    }
    for (const route of routes) {
      const part = byZone.get(route.zone)!;
      if (part.length === 0 || pass.unreachable.has(route.zone)) continue;
      try {
        for (let start = 0; start < part.length; start += this.options.pageSize) {
          const read = await route.provider.read(part.slice(start, start + this.options.pageSize));
          // A name held by another writer is not served by this installation (as a listing leaves it out): the
          // repair's compare-and-swap finds it held and reports it as what it is.
          for (const [name, state] of read) if (state.held === undefined) served.set(name, state);
        }
        pass.reached.add(route.zone);
      } catch (error) {
        if (routes.length === 1 || error instanceof InvariantViolation) throw error;
        pass.unreachable.set(route.zone, error instanceof Error ? error.message : String(error));
      }
    }
    return served;
  }

  /**
   * A zone-wide alarm per zone this pass could not read, cleared by the first pass that reads it (by any reconciler
   * process: the stored alarms are looked at), and for a zone no longer configured.
   */
  private async alarmUnreachable(
    unreachable: ReadonlyMap<string, string>, reached: ReadonlySet<string>,
  ): Promise<void> {
    const { store, log } = this.deps;
    const configured = new Set(zoneRoutes(this.deps.provider, '').map((route) => route.zone));
    for (const alarm of await store.listAlarms(true)) {
      if (alarm.kind !== unreachableAlarm || unreachable.has(alarm.name)) continue;
      if (reached.has(alarm.name) || !configured.has(alarm.name)) await store.clearAlarm(alarm.kind, alarm.name);
    }
    for (const [zone, message] of unreachable) {
      await store.raiseAlarm(unreachableAlarm, zone, `zone ${zone}.: its provider failed (${message}); `
        + 'its names are neither checked nor repaired, the other zones are');
      log.warn({ zone, error: message }, 'zone provider unreachable');
    }
  }

  /**
   * For a name, the newest generation that some live enactor has completely applied, or null when no enactor is
   * live. With several zones only the loops of the name's zone count (their ids end in `@<zone>`,
   * roles/installation.ts): another zone's loop being done says nothing of this one. Read before the served state,
   * so anything an enactor finished by then is in what the pass reads.
   */
  private async enactedByLiveEnactors(): Promise<(name: string) => Generation | null> {
    const now = this.deps.clock.nowMs();
    const live = (await this.deps.store.listEnactors()).filter((enactor) => enactor.expiresAtMs > now);
    // An enactor announces a generation before it enacts it: it never holds less than it has enacted (S4).
    const overreaching = live.find((enactor) => enactor.enactedGeneration > enactor.heldGeneration);
    assert(overreaching === undefined, 'S4', () => `enactor ${overreaching?.id} enacted above its hold`);
    const newest = (enactors: readonly EnactorInfo[]) => {
      if (enactors.length === 0) return null;
      const enacted = Math.max(...enactors.map((enactor) => enactor.enactedGeneration));
      assert(enacted >= 0, 'internal', () => `enacted generation ${enacted}`);
      return enacted;
    };
    const { zones } = this;
    if (zones === null) {
      const enacted = newest(live);
      return () => enacted;
    }
    const byZone = new Map(zones.names.map((zone) => [zone, newest(live.filter((e) => isZoneLoopOf(e.id, zone)))]));
    return (name) => byZone.get(zones.zoneOf(name) ?? '') ?? null;
  }

  /**
   * Classifies one name; null when it serves what its enacted generation's plan says. `enactedLive` is the
   * newest generation a live enactor has finished (null: none is live).
   */
  private async classify(
    entry: PlanEntry, state: ServedState | undefined, latest: Generation, enactedLive: Generation | null,
  ): Promise<Drift | null> {
    assert(entry.since <= latest, 'internal', () => `${entry.name}: entry since ${entry.since} above plan ${latest}`);
    const drift = await this.classifyEntry(entry, state, latest, enactedLive);
    assert(drift === null || drift.name === entry.name, 'internal', () => `drift of ${drift?.name} for ${entry.name}`);
    return drift;
  }

  private async classifyEntry(
    entry: PlanEntry, state: ServedState | undefined, latest: Generation, enactedLive: Generation | null,
  ): Promise<Drift | null> {
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
    if (state.records.length === 0) {
      return { name, kind: 'empty', detail: `serves no records at generation ${state.generation}` };
    }
    let expected = entry;
    if (state.generation < entry.since) {
      const older = (await this.deps.store.readEntriesAt([name], state.generation)).get(name);
      if (older === undefined || older.records === null) {
        const detail = `enacted generation ${state.generation} refers to a plan that no longer exists`;
        return { name, kind: 'deleted-plan', detail };
      }
      expected = older;
    }
    if (recordSetKey(state.records) !== recordSetKey(expected.records)) {
      const planned = recordSetKey(expected.records);
      const detail = `serves ${recordSetKey(state.records)}, plan ${state.generation} says ${planned}`;
      return { name, kind: 'edited', detail };
    }
    if (state.generation >= entry.since) {
      this.behindSinceMs.delete(name);
      return null;
    }
    return this.lag(name, state, latest, 'changed');
  }

  /** A name behind the newest plan: drift once it has been behind for maxLag. */
  private lag(
    name: string, state: ServedState | null, latest: Generation, what: 'changed' | 'removed' | 'added',
  ): Drift | null {
    // Only a name behind the newest plan lags: one at or above it is sound or drifted, never waited for.
    const lagging = `${name}: lagging at ${state?.generation} of ${latest}`;
    assert(state === null || state.generation < latest, 'internal', lagging);
    const now = this.deps.clock.nowMs();
    const since = this.behindSinceMs.get(name) ?? now;
    this.behindSinceMs.set(name, since);
    if (now - since < this.options.maxLagMs) return null;
    const served = state === null ? 'not served' : `at generation ${state.generation}`;
    const detail = what === 'removed'
      ? `still served ${served}, removed by plan ${latest}, for ${now - since} ms`
      : `${served}, behind plan ${latest} for ${now - since} ms`;
    return { name, kind: 'lagging', detail };
  }

  /**
   * The repair of one drifted name against what it serves now: the newest plan's set, or its removal, at `latest`.
   * Unlike an enactor it rewrites a name even when its generation looks current (the set is what drifted), never
   * below a newer generation an enactor wrote meanwhile (moved on: nothing to repair).
   */
  private decideRepair(
    drift: Drift, state: ServedState | undefined, entry: PlanEntry, latest: Generation,
  ): CasDecision {
    if (state !== undefined && state.generation > latest) return 'skip'; // moved on by an enactor meanwhile
    const expectedVersion = state?.version ?? null;
    // The newest plan removes the name: the repair is that removal (nothing to do if it is gone already).
    if (entry.records === null) {
      if (expectedVersion === null) return 'skip';
      return { name: drift.name, records: null, generation: latest, expectedVersion };
    }
    assert(entry.records.length > 0, 'S1', () => `${drift.name}: repair with an empty set`);
    return { name: drift.name, records: entry.records, generation: latest, expectedVersion };
  }

  /**
   * Writes the newest plan's set over each drifted name through the same compare-and-swap loop as the enactors
   * (protocol.ts). L3: from any state at or below the newest plan — emptied, edited by hand, missing, or enacted
   * from a plan the janitor has deleted — the repair writes: no served state is a dead end.
   */
  private async repair(
    drifts: readonly Drift[], entries: ReadonlyMap<string, PlanEntry>, latest: Generation,
  ): Promise<{ repaired: number; held: Drift[] }> {
    const decide = (drift: Drift, state: ServedState | undefined): CasDecision => {
      const entry = entries.get(drift.name);
      assert(entry !== undefined, 'internal', () => `${drift.name}: a drift outside the newest plan`);
      const decision = this.decideRepair(drift, state, entry, latest);
      const behind = state === undefined ? entry.records !== null : state.generation <= latest;
      assert(!behind || decision !== 'skip', 'L3',
        () => `${drift.name}: ${drift.kind} at ${state?.generation} left unrepaired`);
      return decision;
    };
    const historyOf = (applied: CasOutcome<Drift>['applied']): HistoryEntry[] => applied.map((write) => {
      const { item: drift, change, fromGeneration, adopted } = write;
      assert(change.generation === latest, 'internal',
        () => `${change.name}: repaired at ${change.generation}, not ${latest}`);
      const removal = change.records === null ? ' (removal)' : '';
      const adoption = adopted === null ? '' : `, ${adoptedDetail(adopted)}`;
      const detail = drift.kind === 'reenact' ? `reenact ${drift.detail}` : `${drift.kind}${removal}${adoption}`;
      const { id: actor } = this.options;
      return { name: change.name, fromGeneration, toGeneration: latest, actor, kind: 'repair', detail };
    });
    // Every repair made goes into the history, even when a later round fails (protocol.ts). Superseded: removed at
    // or above the newest plan this pass read — nothing left to repair.
    const result = await compareAndSwapAll(drifts, decide, this.options, this.deps,
      (applied) => this.deps.store.appendHistory(historyOf(applied)));
    await clearAdoptedAlarms(this.deps.store, result.applied);
    const held = result.held.map(({ item, held: why, raced }) => ({
      name: item.name, kind: why.kind, detail: heldMessage(item.name, why, raced),
    }));
    return { repaired: result.applied.length, held };
  }

  /** The names of the active "foreign" and "unmanaged" alarms (an enactor's or a pass's): every pass reads them. */
  private async holdAlarmNames(): Promise<string[]> {
    const alarms = await this.deps.store.listAlarms(true);
    return alarms.filter((alarm) => alarm.kind === 'foreign' || alarm.kind === 'unmanaged').map((alarm) => alarm.name);
  }

  /**
   * The enactors' "foreign" and "unmanaged" alarms of names this pass did not find held: written since (adopted, or
   * freed by the other installation's removal, by any enactor), or no longer in the plan. The enactor that raised one
   * may never meet the name again, so the reconciler, which reads every such name each pass (`read`: those this pass
   * read, an alarm raised since is left for the next), clears them.
   */
  private async clearReleasedHolds(
    read: ReadonlySet<string>, heldNow: ReadonlySet<string>, unreachable: ReadonlyMap<string, string>,
  ): Promise<void> {
    const { store } = this.deps;
    for (const alarm of await store.listAlarms(true)) {
      const holdAlarm = (alarm.kind === 'foreign' || alarm.kind === 'unmanaged') && read.has(alarm.name);
      const unseen = heldNow.has(alarm.name) || this.outOfReach(alarm.name, unreachable);
      if (holdAlarm && !unseen) await store.clearAlarm(alarm.kind, alarm.name);
    }
  }

  /** Operator re-enactments (API): those kept from a pass that could not reach their zone, then new ones. */
  private async takeReenactments(): Promise<OperatorRequest[]> {
    const waiting = this.waitingReenactments.splice(0);
    const room = Math.max(0, reenactRequestsMax - waiting.length);
    return [...waiting, ...(room === 0 ? [] : await this.deps.store.takeRequests('reenact', room))];
  }

  /** Re-enactments become drifts: a name of the newest plan is rewritten even if it looks sound. */
  private addReenactments(
    drifts: Drift[], requests: readonly OperatorRequest[], entries: ReadonlyMap<string, PlanEntry>,
    unreachable: ReadonlyMap<string, string>,
  ): void {
    const before = drifts.length;
    for (const request of requests) {
      if (this.outOfReach(request.subject, unreachable)) {
        // Its zone could not be read: the request waits here for a pass that can.
        this.waitingReenactments.push(request);
        continue;
      }
      if (!entries.has(request.subject) || drifts.some((drift) => drift.name === request.subject)) continue;
      const detail = `requested by ${request.actor}: ${request.reason}`;
      drifts.push({ name: request.subject, kind: 'reenact', detail });
    }
    assert(drifts.length - before <= reenactRequestsMax, 'internal', 'more re-enactments than requests taken');
    assert(new Set(drifts.map((drift) => drift.name)).size === drifts.length, 'internal', 'a name drifted twice');
  }

  /** Alarms raised on the pass that found a drift are cleared on the first pass that finds the name sound. */
  private async alarm(drifts: readonly Drift[], unreachable: ReadonlyMap<string, string>): Promise<void> {
    const { store, log } = this.deps;
    const drifted = new Set(drifts.filter((drift) => drift.kind !== 'reenact').map((drift) => drift.name));
    // A name of a zone this pass could not read keeps its alarm: it was not found sound.
    for (const name of this.alarmed) if (this.outOfReach(name, unreachable)) drifted.add(name);
    for (const name of this.alarmed) if (!drifted.has(name)) await store.clearAlarm('drift', name);
    for (const drift of drifts) {
      if (drift.kind === 'reenact') continue;
      await store.raiseAlarm('drift', drift.name, `${drift.kind}: ${drift.detail}`);
      log.warn({ name: drift.name, kind: drift.kind }, `drift: ${drift.detail}`);
    }
    assert(drifted.size <= drifts.length + this.alarmed.size, 'internal',
      () => `${drifted.size} alarms for ${drifts.length} drifts and ${this.alarmed.size} alarmed before`);
    this.alarmed = drifted;
  }

  /**
   * Judges a page of the newest plan's entries against what DNS serves for them: their served state is read (zone by
   * zone, leaving out a zone already found unreachable this pass), each name classified. Only what a drift needs is
   * kept, so a pass holds a page of the plan at a time however large its slice.
   */
  private async judgePage(pass: PassState, page: readonly PlanEntry[], sweeping: boolean): Promise<void> {
    const open = page.filter((entry) => !pass.judged.has(entry.name));
    // The sweep's names are not remembered: it reads each once, and they are what a pass has most of.
    if (!sweeping) for (const entry of open) pass.judged.add(entry.name);
    for (const entry of open) if (pass.watched.has(entry.name)) pass.found.set(entry.name, entry);
    const judged = open.filter((entry) => !pass.frozen.has(entry.name));
    const served = await this.readServed(judged.map((entry) => entry.name), pass);
    pass.checked += open.length;
    for (const entry of judged) {
      if (this.outOfReach(entry.name, pass.unreachable)) continue;
      const drift = await this.classify(entry, served.get(entry.name), pass.latest, pass.enactedFor(entry.name));
      if (drift === null) continue;
      pass.drifts.push(drift);
      pass.entries.set(entry.name, entry);
    }
  }

  /**
   * One pass over the newest plan (`latest`): the versions introduced since the last pass, the names it watches
   * (lagging, alarmed, held by another writer, asked to re-enact), and the rolling sweep's next slice — so a pass
   * costs what changed plus a bounded slice, not the plan. False when the plan was cleaned up meanwhile; else the
   * sweep once this pass is done is in `pass.sweep` (null: it ended).
   */
  private async judgeAll(pass: PassState, namesTotal: number): Promise<boolean> {
    const { store } = this.deps;
    const { pageSize } = this.options;
    const { latest } = pass;
    const judge = (page: readonly PlanEntry[]) => this.judgePage(pass, page, false);
    // What changed since the last pass (on the first, nothing: the sweep finds what lagged before this process).
    if (this.checkedThrough > 0 && this.checkedThrough < latest) {
      const delta = await forEachPlanPage(store, latest, { sinceAfter: this.checkedThrough }, pageSize, judge);
      if (delta.vanished) return false;
    }
    const names = [...pass.watched].filter((name) => !pass.judged.has(name));
    for (let start = 0; start < names.length; start += pageSize) {
      const view = await store.readPlan(latest, { names: names.slice(start, start + pageSize) });
      if (view === null) return false;
      await judge(view.entries);
    }
    const now = this.deps.clock.nowMs();
    const periodMs = this.options.intervalMs + this.lastPassMs;
    // Absent (direct constructions, tests): the whole plan every pass.
    const namesMin = this.options.sweepNamesMin ?? Number.MAX_SAFE_INTEGER;
    const planned = Math.max(namesTotal, this.lastSweepEntries);
    const sweep = { ...(this.sweep ?? startSweep(now, { ...this.options, periodMs, entries: planned, namesMin })) };
    const range = { afterName: sweep.afterName, entriesMax: sweepSlice(sweep, now, periodMs, namesMin) };
    const slice = await forEachPlanPage(store, latest, range, pageSize, (page) => this.judgePage(pass, page, true));
    if (slice.vanished) return false;
    sweep.seen += slice.entries;
    sweep.afterName = slice.lastName;
    pass.sweep = slice.end ? null : sweep;
    pass.swept = { names: slice.entries, completed: slice.end };
    if (slice.end) pass.sweepTotal = sweep.seen;
    pass.sweepStartedMs = sweep.startedMs;
    return true;
  }

  /**
   * A sweep that took longer than maxLag broke its bound (the zone is too large to read in maxLag at the speed this
   * reconciler reads): an alarm says so, and how long a hand edit may go unfound; the first sweep back within maxLag
   * clears it. Only when maxLag leaves room for slices (two intervals or more): below that every pass reads the whole
   * plan, and no sweep bound is promised.
   */
  private async judgeSweep(entries: number, tookMs: number): Promise<void> {
    const { maxLagMs, intervalMs } = this.options;
    const overran = maxLagMs >= 2 * intervalMs && tookMs > maxLagMs;
    if (overran) {
      const message = `the rolling sweep read ${entries} names in ${tookMs} ms, above reconciler.maxLag `
        + `${maxLagMs} ms: a hand edit may go unfound that long; raise maxLag, or give the reconciler a faster store`;
      await this.deps.store.raiseAlarm(sweepOverrunAlarm, '*', message);
      await this.deps.store.incrementCounter('reconciler_sweep_overruns');
      this.deps.log.warn({ entries, tookMs, maxLagMs }, 'rolling sweep slower than maxLag');
    } else if (this.sweepOverran) {
      await this.deps.store.clearAlarm(sweepOverrunAlarm, '*');
    }
    this.sweepOverran = overran;
  }

  async tick(): Promise<ReconcileResult> {
    const { store, clock } = this.deps;
    const startedMs = clock.nowMs();
    const latest = await store.latestGeneration();
    const idle = { generation: latest, checked: 0, drifts: [], repaired: 0, sweep: { names: 0, completed: false } };
    if (latest === 0) return idle;
    const head = await store.readPlan(latest, { names: [] });
    if (head === null) return idle;
    assert(head.header.generation === latest, 'internal',
      () => `asked for plan ${latest}, read ${head.header.generation}`);
    const frozen = this.deps.frozen === undefined ? new Set<string>() : await this.deps.frozen();
    if (frozen === 'zone') return idle;
    const requests = await this.takeReenactments();
    try {
      const holds = new Set(await this.holdAlarmNames());
      const watched = new Set([
        ...this.behindSinceMs.keys(), ...this.alarmed, ...holds, ...requests.map((request) => request.subject),
      ]);
      // Read before any served state, so anything an enactor finished by then is in what the pass reads.
      const enactedFor = await this.enactedByLiveEnactors();
      const pass: PassState = {
        latest, frozen, watched, enactedFor, judged: new Set(), found: new Map(), checked: 0, drifts: [],
        entries: new Map(), unreachable: new Map(), reached: new Set(), sweep: null, swept: idle.sweep, sweepTotal: 0,
        sweepStartedMs: 0,
      };
      if (!await this.judgeAll(pass, head.header.namesTotal)) {
        this.waitingReenactments.unshift(...requests);
        return idle;
      }
      const result = await this.conclude(pass, requests, holds);
      // The pass is done: what changed up to `latest` and the sweep's slice are taken in.
      this.checkedThrough = latest;
      this.sweep = pass.sweep;
      this.lastPassMs = Math.max(0, clock.nowMs() - startedMs);
      if (pass.swept.completed) {
        this.lastSweepEntries = pass.sweepTotal;
        await store.incrementCounter('reconciler_sweeps');
        await this.judgeSweep(pass.sweepTotal, clock.nowMs() - pass.sweepStartedMs);
      }
      return { ...result, sweep: pass.swept };
    } catch (error) {
      // The requests taken are not lost with a failed pass: the next one takes them again.
      for (const request of requests) {
        if (!this.waitingReenactments.includes(request)) this.waitingReenactments.push(request);
      }
      throw error;
    }
  }

  /** After the names are judged: re-enactments, alarms, repairs, and the alarms of what is sound again. */
  private async conclude(
    pass: PassState, requests: readonly OperatorRequest[], holds: ReadonlySet<string>,
  ): Promise<Omit<ReconcileResult, 'sweep'>> {
    const { store } = this.deps;
    const { latest, drifts, entries, unreachable } = pass;
    if (unreachable.size === zoneRoutes(this.deps.provider, '').length) {
      await this.alarmUnreachable(unreachable, pass.reached);
      const errors = [...unreachable].map(([zone, error]) => `${zone}: ${error}`);
      throw new Error(`no zone could be read: ${errors.join('; ')}`);
    }
    await this.alarmUnreachable(unreachable, pass.reached);
    // A watched name that left the plan lags no more: every lag clock is of a name this pass read, so the map stays
    // bounded by the plan's names.
    for (const name of pass.watched) if (!pass.found.has(name)) this.behindSinceMs.delete(name);
    assert(this.behindSinceMs.size <= pass.checked, 'internal',
      () => `${this.behindSinceMs.size} lag clocks, ${pass.checked} names read`);
    for (const request of requests) {
      const entry = pass.found.get(request.subject);
      if (entry !== undefined) entries.set(request.subject, entry);
    }
    this.addReenactments(drifts, requests, entries, unreachable);
    await this.alarm(drifts, unreachable);
    const { repaired, held } = drifts.length === 0
      ? { repaired: 0, held: [] }
      : await this.repair(drifts, entries, latest);
    assert(repaired + held.length <= drifts.length, 'internal',
      () => `${repaired} repairs and ${held.length} held for ${drifts.length} drifts`);
    // What the repair found not this installation's to write: reported as what it is, in place of what it looked.
    for (const found of held) {
      const index = drifts.findIndex((drift) => drift.name === found.name);
      assert(index >= 0, 'internal', () => `${found.name}: held, yet not among the drifts`);
      drifts[index] = found;
      await store.raiseAlarm('drift', found.name, `${found.kind}: ${found.detail}`);
    }
    await this.clearReleasedHolds(holds, new Set(held.map((found) => found.name)), unreachable);
    if (repaired > 0) await store.incrementCounter('reconciler_repairs', repaired);
    await store.incrementCounter('reconciler_passes');
    return { generation: latest, checked: pass.checked, drifts, repaired };
  }

  async run(signal: AbortSignal): Promise<void> {
    const tick = async () => void (await this.tick());
    const pause = () => this.deps.clock.sleep(this.options.intervalMs, signal);
    await runLoop(signal, { log: this.deps.log, what: 'reconciler tick' }, tick, pause);
  }
}
