import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ConvergenceTracker, ConvergenceView, EnactorView } from '../status/report.js';
import { enactorViews } from '../status/report.js';
import type { Alarm, Alarms, Controls, Counters, HealthRecord, Heartbeats, PlanReader } from '../store/types.js';
import type { InventoryIndex } from './inventory.js';
import type { HealthReader } from './health-reader.js';
import type { HealthState } from '../domain/types.js';
import { assert } from '../util/assert.js';
import { alarmKindsKnown, CounterTable } from './metrics-counters.js';

export { parseCounterName } from './metrics-counters.js';

/**
 * Prometheus metrics, every name prefixed `dnsplane_`. The roles run in
 * other processes, so nothing here is counted in this process: each scrape
 * reads one snapshot from the store (generations, convergence, enactors,
 * alarms, health, counters) and the registry's collect callbacks turn it
 * into series. Label cardinality is bounded by config:
 * `api.metricsNamesMax` per-name series (names behind the newest plan come
 * first, then the rest in name order), `api.metricsTargetsMax` per-target
 * series, `api.metricsCounterSeriesMax` series from the counters table;
 * aggregates are always exported, and what a bound left out is itself a
 * gauge (`dnsplane_metrics_series_omitted{source}`).
 *
 * The store's counters table (counters and histograms any process adds)
 * is exported by src/api/metrics-counters.ts, whose comment gives the row
 * naming convention. Names follow Prometheus' conventions, checked by
 * `promtool check metrics` in the tests: counters end in `_total`, gauges do
 * not, durations are histograms in seconds, every family has HELP text.
 * prom-client's default process metrics keep their own names (under the
 * `dnsplane_api_` prefix), three of which promtool flags.
 */

/**
 * prom-client's default Node process metrics keep their own names under this prefix
 * (`dnsplane_api_process_cpu_seconds_total`, ...).
 */
export const processMetricsPrefix = 'dnsplane_api_';

export interface MetricsOptions {
  namesMax: number;
  targetsMax: number;
  counterSeriesMax: number;
}

export interface MetricsSources {
  store: PlanReader & Heartbeats & Alarms & Counters & Controls;
  tracker: ConvergenceTracker;
  index: InventoryIndex;
  health: HealthReader;
}

interface NameSeries {
  name: string;
  generation: number;
  lag: number;
}

interface Snapshot {
  oldest: number;
  convergence: ConvergenceView;
  enactors: EnactorView[];
  alarms: Alarm[];
  /** Reported targets per state, and the per-target series: down targets first, then up, up to targetsMax. */
  healthCounts: Record<HealthState, number>;
  health: HealthRecord[];
  drains: number;
  freezes: string[];
  names: NameSeries[];
  namesOmitted: number;
  lagMax: number;
}

/** Sets a gauge's series from one snapshot. */
type GaugeFill<L extends string> = (
  set: (labels: Partial<Record<L, string>>, value: number) => void, snapshot: Snapshot,
) => void;

export class MetricsExporter {
  readonly registry = new Registry();
  private snapshot: Snapshot | null = null;
  private readonly counters: CounterTable;
  private rendering: Promise<string> | null = null;
  readonly requests: Counter<'method' | 'route' | 'status'>;

  constructor(private readonly sources: MetricsSources, private readonly options: MetricsOptions) {
    assert(options.namesMax >= 0, 'internal', 'api.metricsNamesMax is never negative');
    assert(options.targetsMax >= 0, 'internal', 'api.metricsTargetsMax is never negative');
    assert(options.counterSeriesMax > 0, 'internal', 'api.metricsCounterSeriesMax must be positive');
    collectDefaultMetrics({ register: this.registry, prefix: processMetricsPrefix });
    this.requests = new Counter({
      name: 'dnsplane_api_requests_total', help: 'HTTP requests served by this API process',
      labelNames: ['method', 'route', 'status'], registers: [this.registry],
    });
    this.defineGenerationGauges();
    this.defineEnactorGauges();
    this.defineAlarmAndHealthGauges();
    this.counters = new CounterTable(this.registry, options.counterSeriesMax);
  }

  /** One scrape: a store snapshot, then the registry's collect callbacks. Concurrent scrapes share one. */
  render(): Promise<string> {
    this.rendering ??= this.renderOnce().finally(() => {
      this.rendering = null;
    });
    return this.rendering;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private async renderOnce(): Promise<string> {
    this.snapshot = await this.load();
    this.counters.sync(await this.sources.store.readCounters());
    return this.registry.metrics();
  }

  private async load(): Promise<Snapshot> {
    const { store, tracker, index } = this.sources;
    const convergence = await tracker.refresh();
    const latest = convergence.generation;
    const chosen = tracker.behindNames(this.options.namesMax);
    const seen = new Set(chosen);
    for (let i = 0; i < index.names.length && chosen.length < this.options.namesMax; i += 1) {
      const name = index.names[i]!;
      if (!seen.has(name)) chosen.push(name);
    }
    const names: NameSeries[] = [];
    for (const name of chosen) {
      const generation = tracker.servedGenerationOf(name);
      if (generation === undefined) continue;
      names.push({ name, generation, lag: tracker.isBehind(name) ? Math.max(0, latest - generation) : 0 });
    }
    const behind = tracker.behindNames(Number.MAX_SAFE_INTEGER);
    let lagMax = 0;
    for (const name of behind) lagMax = Math.max(lagMax, latest - (tracker.servedGenerationOf(name) ?? 0));
    return {
      oldest: await store.oldestGeneration(),
      convergence,
      enactors: enactorViews(await store.listEnactors(), Date.now()),
      alarms: await store.listAlarms(true),
      healthCounts: await this.sources.health.countByState(),
      health: await this.boundedHealth(),
      drains: (await store.listDrains()).length,
      freezes: await store.listFreezes(),
      names,
      namesOmitted: Math.max(0, convergence.total - names.length),
      lagMax,
    };
  }

  /** Down targets first (the ones an operator looks for), then up ones, metricsTargetsMax in all. */
  private async boundedHealth(): Promise<HealthRecord[]> {
    const down = await this.sources.health.list('down', 0, this.options.targetsMax);
    const up = await this.sources.health.list('up', 0, this.options.targetsMax - down.length);
    return [...down, ...up];
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[], fill: GaugeFill<L>): void {
    const exporter = this;
    new Gauge<L>({
      name: `dnsplane_${name}`, help, labelNames, registers: [this.registry],
      collect() {
        this.reset();
        if (exporter.snapshot !== null) fill((labels, value) => this.set(labels, value), exporter.snapshot);
      },
    });
  }

  private defineGenerationGauges(): void {
    this.gauge('generation_latest', 'newest published plan generation', [], (set, s) => {
      set({}, s.convergence.generation);
    });
    const oldestHelp = 'oldest plan generation still kept (the janitor deletes below it)';
    this.gauge('generation_oldest', oldestHelp, [], (set, s) => {
      set({}, s.oldest);
    });
    this.gauge('names', 'managed names by whether they serve the newest plan\'s record set', ['state'], (set, s) => {
      set({ state: 'converged' }, s.convergence.converged);
      set({ state: 'behind' }, s.convergence.total - s.convergence.converged);
    });
    const enactedHelp = 'generation enacted for a name (what DNS serves); bounded by api.metricsNamesMax';
    this.gauge('name_generation_enacted', enactedHelp, ['name'], (set, s) => {
      for (const series of s.names) set({ name: series.name }, series.generation);
    });
    const lagHelp = 'newest generation minus the name\'s enacted generation while it does not serve the newest set, '
      + 'else 0; bounded by api.metricsNamesMax';
    this.gauge('name_plan_lag_generations', lagHelp, ['name'], (set, s) => {
      for (const series of s.names) set({ name: series.name }, series.lag);
    });
    const lagMaxHelp = 'largest plan lag of any name (all names, not bounded)';
    this.gauge('names_plan_lag_generations_max', lagMaxHelp, [], (set, s) => {
      set({}, s.lagMax);
    });
    const omittedHelp = 'series left out by a cardinality bound of the API config';
    this.gauge('metrics_series_omitted', omittedHelp, ['source'], (set, s) => {
      set({ source: 'names' }, s.namesOmitted);
      set({ source: 'targets' }, Math.max(0, s.healthCounts.up + s.healthCounts.down - s.health.length));
      set({ source: 'counters' }, this.counters.omitted);
    });
  }

  private defineEnactorGauges(): void {
    const each = (fill: (enactor: EnactorView, latest: number) => number): GaugeFill<'enactor'> => (set, s) => {
      for (const enactor of s.enactors) set({ enactor: enactor.id }, fill(enactor, s.convergence.generation));
    };
    const enactor = (name: string, help: string, fill: (enactor: EnactorView, latest: number) => number) => {
      this.gauge(name, help, ['enactor'], each(fill));
    };
    const heldHelp = 'generation an enactor is working on (the janitor keeps it)';
    enactor('enactor_generation_enacted', 'newest generation an enactor has completely applied', (e) => {
      return e.enactedGeneration;
    });
    enactor('enactor_generation_held', heldHelp, (e) => e.heldGeneration);
    enactor('enactor_plan_lag_generations', 'newest generation minus what the enactor has applied', (e, latest) => {
      return Math.max(0, latest - e.enactedGeneration);
    });
    const ageHelp = 'time since the enactor\'s last heartbeat';
    enactor('enactor_heartbeat_age_seconds', ageHelp, (e) => e.heartbeatAgeMs / 1000);
    enactor('enactor_alive', '1 while the enactor\'s heartbeat has not expired', (e) => (e.alive ? 1 : 0));
  }

  private defineAlarmAndHealthGauges(): void {
    this.gauge('alarms_active', 'active alarms by kind', ['kind'], (set, s) => {
      const byKind = new Map<string, number>();
      for (const alarm of s.alarms) byKind.set(alarm.kind, (byKind.get(alarm.kind) ?? 0) + 1);
      for (const kind of alarmKindsKnown) byKind.set(kind, byKind.get(kind) ?? 0);
      for (const [kind, count] of byKind) set({ kind }, count);
    });
    const failOpenHelp = 'names whose targets are all down, served with every target (fail open)';
    this.gauge('fail_open_names', failOpenHelp, [], (set, s) => {
      set({}, s.alarms.filter((alarm) => alarm.kind === 'fail-open' && alarm.name !== '*').length);
    });
    const targetsHelp = 'targets with a reported health state (probe result or operator override), by state';
    this.gauge('targets', targetsHelp, ['state'], (set, s) => {
      set({ state: 'up' }, s.healthCounts.up);
      set({ state: 'down' }, s.healthCounts.down);
    });
    const upHelp = 'last health result of a target: 1 up, 0 down; down targets first, bounded by api.metricsTargetsMax';
    this.gauge('target_up', upHelp, ['target', 'source'], (set, s) => {
      for (const { target, source, state } of s.health) set({ target, source }, state === 'up' ? 1 : 0);
    });
    const ageHelp = 'time since a target\'s health was last reported; bounded by api.metricsTargetsMax';
    this.gauge('target_health_age_seconds', ageHelp, ['target'], (set, s) => {
      const now = Date.now();
      for (const record of s.health) set({ target: record.target }, Math.max(0, now - record.updatedAtMs) / 1000);
    });
    this.gauge('targets_drained', 'targets an operator drained (weight 0 in the next plan)', [], (set, s) => {
      set({}, s.drains);
    });
    this.gauge('freezes', 'frozen names (an operator froze them; "*" counts as the zone)', ['scope'], (set, s) => {
      set({ scope: 'zone' }, s.freezes.includes('*') ? 1 : 0);
      set({ scope: 'name' }, s.freezes.filter((scope) => scope !== '*').length);
    });
  }
}
