import { assert } from '../util/assert.js';
import type { Rng } from '../util/clock.js';

export interface Weighted {
  readonly weight: number;
}

/**
 * Picks at most `count` distinct entries, sampled by weight without
 * replacement, in the order they were drawn: the first entry is each one's
 * with probability weight / total, the next from what is left, and so on.
 * The order matters because most clients use the first address.
 *
 * Entries of weight 0 are drained targets: they are used only when every
 * positive entry has been taken and room is left (so a name never answers
 * with fewer addresses than it has, S1), in uniformly random order.
 *
 * Method: Efraimidis–Spirakis (2006) — each positive entry gets the key
 * u^(1/w) for a uniform u, and the entries with the largest keys, by
 * decreasing key, are an exact weighted sample without replacement. It costs
 * one random number per entry, so a query on a large set stays linear.
 */
export function sampleByWeight<T extends Weighted>(entries: readonly T[], count: number, rng: Rng): T[] {
  assert(Number.isInteger(count) && count >= 0, 'internal', `sample count ${count} is not a non-negative integer`);
  const take = Math.min(count, entries.length);
  if (take === 0) return [];
  if (entries.length === 1) return [entries[0]!];
  const positive: Keyed<T>[] = [];
  const zero: Keyed<T>[] = [];
  for (const entry of entries) {
    assert(
      entry.weight >= 0 && Number.isFinite(entry.weight),
      'internal',
      `weight ${entry.weight} is not a finite non-negative number`,
    );
    // log(u) / w orders entries exactly like u^(1/w) and does not underflow for tiny weights.
    // 1 - next() is in (0, 1], so the logarithm is finite.
    const logU = Math.log(1 - rng.next());
    if (entry.weight > 0) positive.push({ entry, key: logU / entry.weight });
    else zero.push({ entry, key: logU });
  }
  positive.sort(byKeyDescending);
  const sample: T[] = [];
  for (let index = 0; index < positive.length && sample.length < take; index += 1) sample.push(positive[index]!.entry);
  if (sample.length < take) zero.sort(byKeyDescending);
  for (let index = 0; sample.length < take; index += 1) sample.push(zero[index]!.entry);
  assert(sample.length === take, 'internal', `sampled ${sample.length} of ${take}`);
  return sample;
}

interface Keyed<T> {
  entry: T;
  key: number;
}

/** At module level, not a closure per call: this runs for every weighted answer. */
function byKeyDescending(a: Keyed<unknown>, b: Keyed<unknown>): number {
  return b.key - a.key;
}
