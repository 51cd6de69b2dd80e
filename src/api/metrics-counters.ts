import { Counter, Histogram, type MetricObjectWithValues, type MetricValueWithName, type Registry } from 'prom-client';
import { countedTypes, dropReasons, rcodeNames } from '../dns/counters.js';
import { durationBucketsSeconds } from '../store/counter-histogram.js';
import type { Counter as StoreCounter } from '../store/types.js';
import { assert } from '../util/assert.js';

/**
 * The store's counters table as Prometheus families. Any process may add
 * counters with store.incrementCounter: a row name is `family` or
 * `family{label="value",...}` in Prometheus label syntax, values escaped as
 * in the exposition format (\\, \", \n). Characters outside [A-Za-z0-9_:] in
 * a family become "_".
 *
 * - A row is a counter, exported as `dnsplane_<family>_total` with its labels
 *   (no second `_total` when the family has one). Rows `alarms_<kind>`
 *   (written by raiseAlarm) become `dnsplane_alarms_raised_total{kind}`.
 * - Rows `<h>_bucket{le="<bound>"}` (the observations in that bucket alone),
 *   `<h>_sum` and `<h>_count` are the parts of the histogram `dnsplane_<h>`
 *   (src/store/counter-histogram.ts writes them; names in base units, e.g.
 *   `_seconds`). A histogram series without its `_count` row (e.g. a lone
 *   `_sum`) is left out and counted as omitted.
 * - Known families are exported from the first scrape with every label value
 *   they can take at zero (DNS query types and rcodes, alarm kinds, CAS
 *   conflicts, the probe duration histogram), so dashboards and alerts can be
 *   written before the first event.
 *
 * Examples: `dns_queries{type="A"}` -> `dnsplane_dns_queries_total{type="A"}`;
 * `health_probe_duration_seconds_bucket{le="0.1"}` ->
 * `dnsplane_health_probe_duration_seconds_bucket{le="0.1"}`.
 */

type Labels = Record<string, string>;

export interface ParsedRow {
  /** The exported family name: `dnsplane_x_total` for a counter, `dnsplane_h` for a histogram. */
  family: string;
  labels: Labels;
  part: 'counter' | 'bucket' | 'sum' | 'count';
  /** The `le` bound of a bucket row (+Inf as Infinity). */
  bound?: number;
}

interface KnownFamily {
  help: string;
  /** Label sets exported at zero before any row exists. */
  zero: readonly Labels[];
}

const metricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Longest counter-row name parsed; longer rows are dropped (they could not be a sane series). */
const counterNameLengthMax = 1024;
/** Alarm kinds counted from the first scrape (others appear when first raised). */
export const alarmKindsKnown = ['drift', 'fail-open', 'safety-threshold', 'invalid-plan'] as const;

const single: readonly Labels[] = [{}];
const byLabel = (label: string, values: readonly string[]): Labels[] => values.map((value) => ({ [label]: value }));

/** Counter families by row family (without `_total`). */
const knownCounters: Record<string, KnownFamily> = {
  enactor_cas_conflicts: {
    help: 'compare-and-swap writes of enactors that found the marker moved (each is re-read and retried)',
    zero: single,
  },
  reconciler_repairs: {
    help: 'names the reconciler rewrote because what DNS served was not their plan (L2)',
    zero: single,
  },
  reconciler_passes: { help: 'reconciler passes over every name', zero: single },
  planner_safety_refusals: {
    help: 'plans the planner refused because they changed more names than the safety threshold',
    zero: single,
  },
  planner_capacity_holds: {
    help: 'plans the planner held back because health would withdraw more served capacity than allowed',
    zero: single,
  },
  planner_published: { help: 'plans published', zero: single },
  janitor_versions_deleted: { help: 'record-set versions deleted by the janitor (S4-safe clean-up)', zero: single },
  janitor_plans_deleted: { help: 'plan headers deleted by the janitor', zero: single },
  janitor_tombstones_compacted: {
    help: 'removal tombstones the janitor folded into the removal floor (they refuse nothing more)',
    zero: single,
  },
  alarms_raised: { help: 'alarms raised (including repeats), by kind', zero: byLabel('kind', alarmKindsKnown) },
  health_probes: {
    help: 'health probes by result (ok or fail), all checkers together',
    zero: byLabel('result', ['ok', 'fail']),
  },
  dns_queries: {
    help: 'DNS queries received, by query type (OTHER: a type not listed)',
    zero: byLabel('type', [...countedTypes, 'OTHER']),
  },
  dns_responses: { help: 'DNS responses sent, by rcode', zero: byLabel('rcode', rcodeNames) },
  dns_dropped: {
    help: 'DNS packets that got no normal answer (dropped, or answered only with TC), by reason',
    zero: byLabel('reason', dropReasons),
  },
  dns_queries_udp: { help: 'DNS queries received over UDP', zero: single },
  dns_queries_tcp: { help: 'DNS queries received over TCP', zero: single },
  dns_truncated: { help: 'DNS responses truncated (TC) because they did not fit the UDP size', zero: single },
  dns_refresh_failures: {
    help: 'times the DNS server could not read the store to refresh its snapshot (it serves the last good one)',
    zero: single,
  },
};

/** Histogram families by row family (without the part suffix), with their bucket bounds. */
const knownHistograms: Record<string, KnownFamily & { bounds: readonly number[] }> = {
  health_probe_duration_seconds: {
    help: 'duration of one health probe, from connect to verdict (a timed-out probe counts its timeout)',
    zero: single,
    bounds: durationBucketsSeconds,
  },
};

function parseBound(text: string | undefined): number | null {
  if (text === '+Inf') return Infinity;
  if (text === undefined || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return null;
  return Number(text);
}

/** Splits `family{a="1"}` into its family text and labels; null when the label syntax is broken. */
function splitRow(raw: string): { family: string; labels: Labels } | null {
  if (raw.length === 0 || raw.length > counterNameLengthMax) return null;
  const brace = raw.indexOf('{');
  const labels: Labels = {};
  if (brace < 0) return { family: raw, labels };
  if (!raw.endsWith('}')) return null;
  const body = raw.slice(brace + 1, -1);
  const pair = /\s*([^=\s,]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  let position = 0;
  while (position < body.length) {
    pair.lastIndex = position;
    const match = pair.exec(body);
    if (
      match === null
      || !labelNamePattern.test(match[1]!)
      || match[1]!.startsWith('__')
      || Object.hasOwn(labels, match[1]!)
    ) {
      return null;
    }
    labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    position = pair.lastIndex;
  }
  return { family: raw.slice(0, brace), labels };
}

/** Parses a counters-table row name (see the file comment); null when it is not a valid series. */
export function parseCounterName(raw: string): ParsedRow | null {
  const split = splitRow(raw);
  if (split === null) return null;
  let { family } = split;
  const { labels } = split;
  if (family.startsWith('alarms_') && raw.indexOf('{') < 0) {
    labels.kind = family.slice('alarms_'.length);
    family = 'alarms_raised';
  }
  family = family.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/^dnsplane_/, '');
  if (family.length === 0) return null;
  if (/^[0-9]/.test(family)) family = `_${family}`;
  const suffix = /_(bucket|sum|count)$/.exec(family);
  if (suffix === null) {
    if (Object.hasOwn(labels, 'le')) return null; // `le` belongs to histogram buckets
    const name = `dnsplane_${family.endsWith('_total') ? family : `${family}_total`}`;
    assert(metricNamePattern.test(name), 'internal', `counter family ${name}`);
    return { family: name, labels, part: 'counter' };
  }
  const part = suffix[1] as 'bucket' | 'sum' | 'count';
  const base = family.slice(0, -suffix[0].length);
  // A histogram named `_total` reads as a counter to Prometheus' tools; refused.
  if (base.length === 0 || base.endsWith('_total')) return null;
  const name = `dnsplane_${base}`;
  assert(metricNamePattern.test(name), 'internal', `histogram family ${name}`);
  const { le, ...rest } = labels;
  if (part !== 'bucket') return le === undefined ? { family: name, labels: rest, part } : null;
  const bound = parseBound(le);
  return bound === null ? null : { family: name, labels: rest, part, bound };
}

interface CounterSeries {
  labels: Labels;
  value: number;
}

interface HistogramSeries {
  labels: Labels;
  /** Bucket row values by bound (+Inf as Infinity), as read. */
  buckets: Map<number, number>;
  sum: number;
  /** Null until the `_count` row is read: a series without one is incomplete. */
  count: number | null;
}

/**
 * One histogram series for the exposition. Each bucket row counts only the
 * observations that fell in it (src/store/counter-histogram.ts), so the
 * exported buckets are running sums and never decrease. The rows are written
 * one by one, so a scrape may see buckets that the count does not include
 * yet: the count (+Inf) is the larger of the two. A bucket row of a bound the
 * series does not export (a family's bounds changed) counts toward the next.
 */
export function assembleHistogram(
  name: string,
  bounds: readonly number[],
  series: HistogramSeries,
): MetricValueWithName<string>[] {
  assert(series.count !== null, 'internal', `histogram ${name} series without a count`);
  const values: MetricValueWithName<string>[] = [];
  const rows = [...series.buckets].sort(([a], [b]) => a - b);
  let cumulative = 0;
  let next = 0;
  for (const bound of bounds) {
    for (; next < rows.length && rows[next]![0] <= bound; next += 1) cumulative += rows[next]![1];
    values.push({ metricName: `${name}_bucket`, labels: { ...series.labels, le: String(bound) }, value: cumulative });
  }
  for (; next < rows.length; next += 1) cumulative += rows[next]![1];
  const count = Math.max(cumulative, series.count);
  values.push({ metricName: `${name}_bucket`, labels: { ...series.labels, le: '+Inf' }, value: count });
  values.push({ metricName: `${name}_sum`, labels: series.labels, value: series.sum });
  values.push({ metricName: `${name}_count`, labels: series.labels, value: count });
  return values;
}

/** A histogram whose series are read from the counters table on each scrape rather than observed in this process. */
class TableHistogram extends Histogram<string> {
  series: HistogramSeries[] = [];
  bounds: readonly number[] = [];

  constructor(private readonly familyName: string, private readonly helpText: string, registry: Registry) {
    super({ name: familyName, help: helpText, registers: [registry] });
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values = this.series.flatMap((series) => assembleHistogram(this.familyName, this.bounds, series));
    // prom-client's typings give `type` as an enum, but its registry writes the string it holds at run time.
    return {
      name: this.familyName,
      help: this.helpText,
      type: 'histogram',
      aggregator: 'sum',
      values,
    } as unknown as MetricObjectWithValues<MetricValueWithName<string>>;
  }

  /** prom-client's registry formats a histogram from this method when it has one. */
  getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return this.get();
  }
}

interface CounterFamily {
  kind: 'counter';
  metric: Counter<string>;
  labelNames: string[];
  series: CounterSeries[];
}

interface HistogramFamily {
  kind: 'histogram';
  metric: TableHistogram;
}

interface Grouped {
  counters: Map<string, CounterSeries[]>;
  histograms: Map<string, Map<string, HistogramSeries>>;
}

const seriesKey = (labels: Labels): string =>
  JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));

/** Every known family at zero: the starting point of each scrape's grouping. */
function seeded(): Grouped {
  const counters = new Map<string, CounterSeries[]>();
  for (const [base, known] of Object.entries(knownCounters)) {
    counters.set(`dnsplane_${base}_total`, known.zero.map((labels) => ({ labels, value: 0 })));
  }
  const histograms = new Map<string, Map<string, HistogramSeries>>();
  for (const [base, known] of Object.entries(knownHistograms)) {
    histograms.set(`dnsplane_${base}`, new Map(known.zero.map((labels) => [
      seriesKey(labels),
      { labels, buckets: new Map(), sum: 0, count: 0 },
    ])));
  }
  return { counters, histograms };
}

function addHistogramRow(series: Map<string, HistogramSeries>, row: ParsedRow, value: number): void {
  const key = seriesKey(row.labels);
  const entry = series.get(key) ?? { labels: row.labels, buckets: new Map<number, number>(), sum: 0, count: null };
  series.set(key, entry);
  if (row.part === 'bucket') entry.buckets.set(row.bound!, (entry.buckets.get(row.bound!) ?? 0) + value);
  else if (row.part === 'sum') entry.sum += value;
  else entry.count = (entry.count ?? 0) + value;
}

/** The counters table's families in a prom-client registry; `sync` is called before each scrape. */
export class CounterTable {
  private readonly families = new Map<string, CounterFamily | HistogramFamily>();
  /** Rows (or incomplete histogram series) left out at the last sync. */
  omitted = 0;

  constructor(private readonly registry: Registry, private readonly seriesMax: number) {
    assert(seriesMax > 0, 'internal', 'the counter series bound must be positive');
  }

  /** Groups the rows into families on top of the known ones at zero, registering each new family (bounded). */
  sync(rows: readonly StoreCounter[]): void {
    const grouped = seeded();
    let kept = 0;
    let omitted = 0;
    for (const row of rows) {
      const parsed = parseCounterName(row.name);
      const kind = parsed?.part === 'counter' ? 'counter' : 'histogram';
      if (
        parsed === null
        || !Number.isFinite(row.value)
        || row.value < 0
        || kept >= this.seriesMax
        || !this.available(parsed.family, kind)
      ) {
        omitted += 1;
        continue;
      }
      kept += 1;
      if (parsed.part === 'counter') {
        grouped.counters.set(parsed.family, [
          ...(grouped.counters.get(parsed.family) ?? []),
          { labels: parsed.labels, value: row.value },
        ]);
      } else {
        const series = grouped.histograms.get(parsed.family) ?? new Map<string, HistogramSeries>();
        grouped.histograms.set(parsed.family, series);
        addHistogramRow(series, parsed, row.value);
      }
    }
    for (const family of this.families.values()) {
      if (family.kind === 'counter') family.series = [];
      else family.metric.series = [];
    }
    for (const [name, series] of grouped.counters) this.counterFamily(name, series).series = series;
    for (const [name, byLabels] of grouped.histograms) {
      const complete = [...byLabels.values()].filter((series) => series.count !== null);
      omitted += byLabels.size - complete.length;
      if (complete.length === 0 && !this.families.has(name)) continue;
      const metric = this.histogramFamily(name).metric;
      metric.series = complete;
      metric.bounds = this.boundsOf(name, complete);
    }
    this.omitted = omitted;
  }

  /** False when the name is taken by a built-in metric or by a family of the other kind. */
  private available(name: string, kind: 'counter' | 'histogram'): boolean {
    const family = this.families.get(name);
    if (family !== undefined) return family.kind === kind;
    return this.registry.getSingleMetric(name) === undefined;
  }

  /** A known histogram's own bounds; otherwise every finite bound any series has a row for. */
  private boundsOf(name: string, series: readonly HistogramSeries[]): number[] {
    const known = knownHistograms[name.replace(/^dnsplane_/, '')];
    if (known !== undefined) return [...known.bounds];
    const bounds = new Set(
      series.flatMap((entry) => [...entry.buckets.keys()]).filter((bound) => Number.isFinite(bound)),
    );
    return [...bounds].sort((a, b) => a - b);
  }

  private histogramFamily(name: string): HistogramFamily {
    const existing = this.families.get(name);
    if (existing !== undefined) {
      assert(existing.kind === 'histogram', 'internal', `${name} is a histogram`);
      return existing;
    }
    const base = name.replace(/^dnsplane_/, '');
    const help = knownHistograms[base]?.help ?? `store histogram "${base}" (written by another dnsplane process)`;
    const family: HistogramFamily = { kind: 'histogram', metric: new TableHistogram(name, help, this.registry) };
    this.families.set(name, family);
    return family;
  }

  private counterFamily(name: string, series: CounterSeries[]): CounterFamily {
    const labelNames = [...new Set(series.flatMap((s) => Object.keys(s.labels)))].sort();
    const found = this.families.get(name);
    assert(found === undefined || found.kind === 'counter', 'internal', `${name} is a counter`);
    const existing = found?.kind === 'counter' ? found : undefined;
    if (existing !== undefined && labelNames.every((label) => existing.labelNames.includes(label))) return existing;
    // A new label appeared: re-register the family with the union of its labels.
    const union = [...new Set([...(existing?.labelNames ?? []), ...labelNames])].sort();
    if (existing !== undefined) this.registry.removeSingleMetric(name);
    const base = name.replace(/^dnsplane_/, '').replace(/_total$/, '');
    const family: CounterFamily = {
      kind: 'counter',
      labelNames: union,
      series,
      metric: new Counter<string>({
        name,
        help: knownCounters[base]?.help ?? `store counter "${base}" (written by another dnsplane process)`,
        labelNames: union,
        registers: [this.registry],
        // Called on scrape, after sync has set this family's series from the counters table.
        collect() {
          this.reset();
          for (const entry of family.series) this.inc(entry.labels, entry.value);
        },
      }),
    };
    this.families.set(name, family);
    return family;
  }
}
