import type { Generation } from '../domain/types.js';
import { readAllServed } from '../providers/listing.js';
import type { Provider, ServedChangeFeed, ServedState } from '../providers/types.js';
import { zoneRoutes, type ZoneRoute } from '../providers/zoned.js';
import { ZoneSet } from '../domain/zones.js';
import type {
  Alarm, Alarms, CheckerView, CheckerViews, Counters, EnactorInfo, Heartbeats, PlanReader,
} from '../store/types.js';
import { decideByQuorum } from '../health/quorum.js';
import { assert, InvariantViolation } from '../util/assert.js';

/** Read-side views shared by the CLI and the API. */

/** Names listed as behind in a status report. */
const behindSampleMax = 20;
/** Providers without a change feed are re-listed in full at most this often. */
const fullReadIntervalMs = 2000;

/** One zone's part of the status (several with config `zones:`). */
export interface ZoneStatus {
  zone: string;
  /** Its provider's kind (builtin, rfc2136, route53). */
  provider: string;
  names: { total: number; converged: number };
  /** False when the last read of its served names failed (`error` says why); its counts are from before. */
  reachable: boolean;
  error?: string;
}

export interface ConvergenceView {
  generation: Generation;
  servedVersion: number;
  total: number;
  converged: number;
  behindSample: string[];
}

/**
 * Which names serve the newest plan, maintained incrementally so that a
 * status read stays cheap with 100,000 names while generations advance:
 * a new generation costs a read of the versions it introduced (as the
 * enactor reads them), and a served change costs a read of the rows whose
 * version moved (as the DNS server refreshes). A name is converged when its
 * served generation is at least the generation its newest set was introduced
 * at (`since`) — the enactor's own skip rule (DESIGN.md §3).
 */
export class ConvergenceTracker {
  /** name -> since, for every name the newest plan gives records. */
  private readonly planSince = new Map<string, Generation>();
  /** name -> served generation, for every served name. */
  private readonly servedGeneration = new Map<string, Generation>();
  /** Plan names that do not serve the newest plan's set yet. */
  private readonly behind = new Set<string>();
  private planGeneration: Generation = 0;
  private servedVersion = -1;
  private lastFullReadMs = -Infinity;
  private refreshing: Promise<void> | null = null;

  /** The provider's change feed (the built-in one on SQLite has one): with it the tracker reads only deltas. */
  private readonly feed: ServedChangeFeed | null;
  /** With several zones (a ZonedProvider): each zone's provider, read on its own so one failing leaves the others. */
  private readonly routes: readonly ZoneRoute[];
  private readonly zoneSet: ZoneSet | null;
  /** Zones whose last read failed, with the error. */
  private readonly zoneErrors = new Map<string, string>();

  constructor(
    private readonly store: PlanReader,
    private readonly provider: Provider,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.feed = provider.servedChangeFeed();
    this.routes = zoneRoutes(provider, '');
    this.zoneSet = this.routes.length === 1 ? null : new ZoneSet(this.routes.map((route) => route.zone));
  }

  /** Each zone's counts, reachability and provider (`zone`: the one zone's name when there is one). */
  zones(zone: string): ZoneStatus[] {
    const { zoneSet } = this;
    if (zoneSet === null) {
      const { total, converged } = this.view();
      return [{ zone, provider: this.provider.kind, names: { total, converged }, reachable: true }];
    }
    const counts = new Map(this.routes.map((route) => [route.zone, { total: 0, converged: 0 }]));
    for (const name of this.planSince.keys()) {
      // A name of a zone taken out of `zones:` (still in the newest plan) is in no zone's count.
      const count = counts.get(zoneSet.zoneOf(name) ?? '');
      if (count === undefined) continue;
      count.total += 1;
      if (!this.behind.has(name)) count.converged += 1;
    }
    return this.routes.map((route) => {
      const error = this.zoneErrors.get(route.zone);
      const names = counts.get(route.zone)!;
      const base = { zone: route.zone, provider: route.provider.kind, names, reachable: error === undefined };
      return error === undefined ? base : { ...base, error };
    });
  }

  /** Brings the view up to date; concurrent callers share one refresh, so deltas are applied once and in order. */
  async refresh(): Promise<ConvergenceView> {
    if (this.refreshing === null) {
      this.refreshing = this.refreshOnce().finally(() => {
        this.refreshing = null;
      });
    }
    await this.refreshing;
    return this.view();
  }

  view(): ConvergenceView {
    const behindSample: string[] = [];
    for (const name of this.behind) {
      if (behindSample.length >= behindSampleMax) break;
      behindSample.push(name);
    }
    const total = this.planSince.size;
    const converged = total - this.behind.size;
    const { planGeneration: generation, servedVersion } = this;
    return { generation, servedVersion, total, converged, behindSample: behindSample.sort() };
  }

  /** The served generation of a name, or undefined when it is not served (as of the last refresh). */
  servedGenerationOf(name: string): Generation | undefined {
    return this.servedGeneration.get(name);
  }

  isBehind(name: string): boolean {
    return this.behind.has(name);
  }

  /** Iterates the plan's names that are behind (at most `limit`). */
  behindNames(limit: number): string[] {
    const names: string[] = [];
    for (const name of this.behind) {
      if (names.length >= limit) break;
      names.push(name);
    }
    return names;
  }

  private async refreshOnce(): Promise<void> {
    await this.refreshPlan();
    await this.refreshServed();
    const behind = `${this.behind.size} names behind of ${this.planSince.size}`;
    assert(this.behind.size <= this.planSince.size, 'internal', behind);
  }

  private async refreshPlan(): Promise<void> {
    const latest = await this.store.latestGeneration();
    if (latest <= this.planGeneration) return;
    const delta = this.planGeneration > 0;
    const view = await this.store.readPlan(latest, delta ? { sinceAfter: this.planGeneration } : {});
    // The newest plan is never cleaned up, but a store replaced underneath (tests, restore) may lack it: try again
    // next time.
    if (view === null) return;
    if (!delta) {
      this.planSince.clear();
      this.behind.clear();
    }
    for (const entry of view.entries) {
      if (entry.records === null) this.planSince.delete(entry.name);
      else this.planSince.set(entry.name, entry.since);
      this.classify(entry.name);
    }
    this.planGeneration = latest;
  }

  private async refreshServed(): Promise<void> {
    const { feed, provider } = this;
    if (feed !== null && this.servedVersion >= 0) {
      if (feed.currentVersion() === this.servedVersion) return;
      const { version, changes } = feed.changesSince(this.servedVersion);
      for (const change of changes) {
        if (change.state === null) this.servedGeneration.delete(change.name);
        else this.servedGeneration.set(change.name, change.state.generation);
        this.classify(change.name);
      }
      this.servedVersion = version;
      return;
    }
    if (feed === null && this.nowMs() - this.lastFullReadMs < fullReadIntervalMs) return;
    if (this.zoneSet !== null) {
      await this.readZones(this.zoneSet);
      return;
    }
    // The version is read before the listing: a write in between is seen again on the next delta, never lost.
    const version = feed === null ? 0 : feed.currentVersion();
    this.servedGeneration.clear();
    for (const state of await readAllServed(provider)) this.servedGeneration.set(state.name, state.generation);
    this.behind.clear();
    for (const name of this.planSince.keys()) this.classify(name);
    this.servedVersion = version;
    this.lastFullReadMs = this.nowMs();
  }

  /**
   * Every zone's served names, zone by zone: a zone whose read fails keeps what was read of it before and is reported
   * unreachable; the others are brought up to date.
   */
  private async readZones(zoneSet: ZoneSet): Promise<void> {
    for (const route of this.routes) {
      let states: ServedState[];
      try {
        states = await readAllServed(route.provider);
      } catch (error) {
        if (error instanceof InvariantViolation) throw error;
        this.zoneErrors.set(route.zone, error instanceof Error ? error.message : String(error));
        continue;
      }
      this.zoneErrors.delete(route.zone);
      const before = new Map<string, Generation>();
      for (const [name, generation] of this.servedGeneration) {
        if (zoneSet.zoneOf(name) !== route.zone) continue;
        before.set(name, generation);
        this.servedGeneration.delete(name);
      }
      for (const state of states) this.servedGeneration.set(state.name, state.generation);
      const moved = states.length !== before.size
        || states.some((state) => before.get(state.name) !== state.generation);
      // The served version readers watch (the dashboard reloads on it): a count of the reads that found a change.
      if (moved) this.servedVersion = Math.max(this.servedVersion, 0) + 1;
    }
    this.behind.clear();
    for (const name of this.planSince.keys()) this.classify(name);
    this.lastFullReadMs = this.nowMs();
  }

  private classify(name: string): void {
    const since = this.planSince.get(name);
    const served = this.servedGeneration.get(name);
    if (since !== undefined && (served === undefined || served < since)) this.behind.add(name);
    else this.behind.delete(name);
  }
}

export interface EnactorView extends EnactorInfo {
  alive: boolean;
  heartbeatAgeMs: number;
}

/** Targets listed per checker and disagreements listed per report: the counts are always whole. */
const checkerSampleMax = 20;

export interface CheckerStatus {
  id: string;
  alive: boolean;
  /** It suspects itself (most targets failing at once): its view does not count. */
  suspect: boolean;
  probed: number;
  downTotal: number;
  /** A sample of the targets it sees down (at most 20). */
  down: string[];
  heartbeatAtMs: number;
  heartbeatAgeMs: number;
}

export interface CheckersReport {
  /** Live checkers whose views count (the quorum is a strict majority of these). */
  voters: string[];
  checkers: CheckerStatus[];
  /** Targets the voting checkers see differently (at most 20), and the total. */
  disagreements: { target: string; down: string[]; up: string[] }[];
  disagreementsTotal: number;
}

/** Each checker's view and where the live, voting checkers disagree (the API, the CLI and the dashboard). */
export function checkersReport(views: readonly CheckerView[], nowMs: number): CheckersReport {
  const seenDown = new Set(views.flatMap((view) => view.down));
  const decision = decideByQuorum(views, [...seenDown].sort(), nowMs);
  return {
    voters: decision.voters,
    checkers: views.map((view) => ({
      id: view.id, alive: view.expiresAtMs > nowMs, suspect: view.suspect, probed: view.probed,
      downTotal: view.down.length, down: view.down.slice(0, checkerSampleMax),
      heartbeatAtMs: view.heartbeatAtMs, heartbeatAgeMs: Math.max(0, nowMs - view.heartbeatAtMs),
    })),
    disagreements: decision.disagreements.slice(0, checkerSampleMax),
    disagreementsTotal: decision.disagreements.length,
  };
}

/** What a status report reads from the store. */
export type StatusStore = PlanReader & Heartbeats & CheckerViews & Alarms & Counters;

export interface StatusReport {
  zone: string;
  /** Each zone's convergence and whether its provider could be read (one entry unless config `zones:`). */
  zones: ZoneStatus[];
  generation: { latest: Generation; oldest: Generation };
  names: { total: number; converged: number; behind: string[] };
  enactors: EnactorView[];
  health: CheckersReport;
  /** Active alarms, newest first; readers rank them by blast radius (blast-radius.ts). */
  alarms: Alarm[];
  counters: Record<string, number>;
}

export function enactorViews(enactors: readonly EnactorInfo[], nowMs: number): EnactorView[] {
  return enactors.map((enactor) => {
    const heartbeatAgeMs = Math.max(0, nowMs - enactor.heartbeatAtMs);
    return { ...enactor, alive: enactor.expiresAtMs > nowMs, heartbeatAgeMs };
  });
}

/**
 * Generations, convergence, enactors, alarms and counters. Pass a long-lived
 * tracker (the API does) to make repeated reports cost only what changed;
 * without one, the report reads the newest plan and every served name once.
 */
export async function statusReport(
  context: { store: StatusStore; provider: Provider; zone: string }, tracker?: ConvergenceTracker,
): Promise<StatusReport> {
  const { store } = context;
  const tracking = tracker ?? new ConvergenceTracker(store, context.provider);
  const convergence = await tracking.refresh();
  const now = Date.now();
  return {
    zone: context.zone,
    zones: tracking.zones(context.zone),
    generation: { latest: convergence.generation, oldest: await store.oldestGeneration() },
    names: { total: convergence.total, converged: convergence.converged, behind: convergence.behindSample },
    enactors: enactorViews(await store.listEnactors(), now),
    health: checkersReport(await store.listCheckerViews(), now),
    alarms: await store.listAlarms(true),
    counters: Object.fromEntries((await store.readCounters()).map((counter) => [counter.name, counter.value])),
  };
}
