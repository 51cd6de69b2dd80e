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
  const scratch = new SampleScratch();
  const taken = sampleIndexes(entries.map((entry) => entry.weight), count, rng, scratch);
  const sample: T[] = [];
  for (let index = 0; index < taken; index += 1) sample.push(entries[scratch.order[index]!]!);
  return sample;
}

/** Working arrays of `sampleIndexes`, grown to the largest set seen: one per caller, so a sample allocates nothing. */
export class SampleScratch {
  keys = new Float64Array(16);
  /** After `sampleIndexes`, the indexes of the sample in the order drawn. */
  order = new Int32Array(16);

  ensure(entries: number): void {
    if (entries <= this.order.length) return;
    this.keys = new Float64Array(entries);
    this.order = new Int32Array(entries);
  }
}

/**
 * `sampleByWeight` on weights alone, without allocating: writes the indexes of the sample into `scratch.order`
 * (first drawn first) and returns how many there are, min(count, weights.length).
 */
export function sampleIndexes(weights: ArrayLike<number>, count: number, rng: Rng, scratch: SampleScratch): number {
  assert(Number.isInteger(count) && count >= 0, 'internal', `sample count ${count} is not a non-negative integer`);
  const entries = weights.length;
  const take = Math.min(count, entries);
  scratch.ensure(entries);
  const { keys, order } = scratch;
  if (take === 0) return 0;
  if (entries === 1) {
    order[0] = 0;
    return 1;
  }
  let positives = 0;
  for (let index = 0; index < entries; index += 1) {
    const weight = weights[index]!;
    if (!(weight >= 0 && Number.isFinite(weight))) {
      assert(false, 'internal', `weight ${weight} is not a finite non-negative number`);
    }
    // log(u) / w orders entries exactly like u^(1/w) and does not underflow for tiny weights.
    // 1 - next() is in (0, 1], so the logarithm is finite.
    const logU = Math.log(1 - rng.next());
    keys[index] = weight > 0 ? logU / weight : logU;
    if (weight > 0) positives += 1;
  }
  // Positive entries first, then the weight-0 ones, each group in input order.
  let positive = 0;
  let zero = positives;
  for (let index = 0; index < entries; index += 1) {
    if (weights[index]! > 0) order[positive++] = index;
    else order[zero++] = index;
  }
  // Partial selection sort by decreasing key within each group: take x entries costs O(take x entries), and the
  // sets are small (dns.maxAnswers is at most 64).
  for (let slot = 0; slot < take; slot += 1) {
    const groupEnd = slot < positives ? positives : entries;
    let best = slot;
    for (let candidate = slot + 1; candidate < groupEnd; candidate += 1) {
      if (keys[order[candidate]!]! > keys[order[best]!]!) best = candidate;
    }
    const chosen = order[best]!;
    order[best] = order[slot]!;
    order[slot] = chosen;
  }
  return take;
}
