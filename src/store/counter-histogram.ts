import type { Counters } from './types.js';
import { assert } from '../util/assert.js';

/**
 * A Prometheus histogram kept in the store's counters table, so that a role
 * in another process can publish a distribution that the API process exports
 * (src/api/metrics-counters.ts assembles the rows into one histogram).
 * Histogram `family` is the rows `family_bucket{le="<bound>"}`, `family_sum`
 * and `family_count`, named as Prometheus names a histogram's series, with
 * values in base units (seconds). Unlike the exposition, a bucket row counts
 * only the observations that fall in it (above the bound below it, at most
 * its own; "+Inf" above the largest): one observation writes one bucket row
 * rather than every wider one, and since the exporter adds the rows up, a
 * scrape that falls between two row writes still reads cumulative buckets.
 */

/** Probe and request durations in seconds: Prometheus' default bounds, 5 ms to 10 s (slower ones fall in +Inf). */
export const durationBucketsSeconds: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const familyPattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * The row increments that observing `values` adds to histogram `family` (pure); rows that would not change are left
 * out.
 */
export function histogramDeltas(
  family: string, values: readonly number[], bounds: readonly number[] = durationBucketsSeconds,
): Map<string, number> {
  assert(familyPattern.test(family), 'internal', `histogram family "${family}" is not a metric name`);
  assert(bounds.length > 0, 'internal', 'a histogram needs at least one bucket bound');
  bounds.forEach((bound, index) => {
    assert(Number.isFinite(bound), 'internal', `bucket bound ${bound} must be finite (+Inf is implicit)`);
    assert(index === 0 || bound > bounds[index - 1]!, 'internal', 'bucket bounds must increase');
  });
  const deltas = new Map<string, number>();
  let sum = 0;
  for (const value of values) {
    assert(Number.isFinite(value), 'internal', `histogram ${family} observed ${value}: a duration is finite`);
    assert(value >= 0, 'internal', `histogram ${family} observed ${value}: a duration is not negative`);
    sum += value;
    const bound = bounds.find((candidate) => value <= candidate);
    const row = `${family}_bucket{le="${bound ?? '+Inf'}"}`;
    deltas.set(row, (deltas.get(row) ?? 0) + 1);
  }
  if (sum > 0) deltas.set(`${family}_sum`, sum);
  if (values.length > 0) deltas.set(`${family}_count`, values.length);
  assert(deltas.size <= values.length + 2, 'internal', 'one bucket row per observation at most');
  return deltas;
}

/** Adds `values` (seconds) to histogram `family` in the counters table. */
export async function observeHistogram(
  store: Pick<Counters, 'incrementCounter'>, family: string, values: readonly number[],
  bounds: readonly number[] = durationBucketsSeconds,
): Promise<void> {
  for (const [row, delta] of histogramDeltas(family, values, bounds)) await store.incrementCounter(row, delta);
}
