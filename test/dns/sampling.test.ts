// Goal: the weighted sampling behind every A/AAAA answer is a correct
// weighted sample without replacement. Method: fast-check properties over
// random record sets, counts and seeds (size, distinctness, weight-0 entries
// only once every positive entry is in, determinism for a seed), and a
// statistical check over 10,000 draws: the share of each address in first
// position is its weight / total within 2 percentage points. For shares of
// 5 %..60 % and n = 10,000 the standard deviation is at most 0.5 point, so
// a correct sampler fails this by chance with probability below 1e-4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sampleByWeight } from '../../src/dns/sampling.js';
import { seededRng } from '../../src/util/clock.js';

interface Entry {
  id: number;
  weight: number;
}

const entriesArbitrary = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 0, maxLength: 40 }).map((weights) => weights.map((weight, id): Entry => ({ id, weight })));

test('a sample has min(count, n) distinct entries of the input', () => {
  fc.assert(
    fc.property(entriesArbitrary, fc.integer({ min: 0, max: 64 }), fc.integer(), (entries, count, seed) => {
      const sample = sampleByWeight(entries, count, seededRng(seed));
      assert.equal(sample.length, Math.min(count, entries.length));
      assert.equal(new Set(sample.map((entry) => entry.id)).size, sample.length, 'no entry twice');
      for (const entry of sample) assert.ok(entries.includes(entry), 'only entries of the input');
    }),
    { numRuns: 500 },
  );
});

test('weight-0 entries appear only after every positive entry, and only when room is left', () => {
  fc.assert(
    fc.property(entriesArbitrary, fc.integer({ min: 1, max: 64 }), fc.integer(), (entries, count, seed) => {
      const sample = sampleByWeight(entries, count, seededRng(seed));
      const positives = entries.filter((entry) => entry.weight > 0).length;
      const firstZero = sample.findIndex((entry) => entry.weight === 0);
      if (firstZero >= 0) {
        assert.equal(firstZero, positives, 'zero weights come after all positive entries');
        assert.ok(sample.slice(firstZero).every((entry) => entry.weight === 0));
      } else {
        assert.equal(sample.length, Math.min(count, positives));
      }
    }),
    { numRuns: 500 },
  );
});

test('the same seed gives the same sample (reproducible)', () => {
  fc.assert(
    fc.property(entriesArbitrary, fc.integer({ min: 0, max: 64 }), fc.integer(), (entries, count, seed) => {
      assert.deepEqual(sampleByWeight(entries, count, seededRng(seed)), sampleByWeight(entries, count, seededRng(seed)));
    }),
    { numRuns: 200 },
  );
});

test('over 10,000 draws each entry comes first in proportion to its weight (±2 points)', () => {
  const entries: Entry[] = [{ id: 0, weight: 10 }, { id: 1, weight: 30 }, { id: 2, weight: 60 }, { id: 3, weight: 5 }, { id: 4, weight: 0 }];
  const total = entries.reduce((sum, entry) => sum + entry.weight, 0);
  const draws = 10_000;
  const first = new Map<number, number>();
  const rng = seededRng(20251020);
  for (let draw = 0; draw < draws; draw += 1) {
    const [head] = sampleByWeight(entries, 3, rng);
    first.set(head!.id, (first.get(head!.id) ?? 0) + 1);
  }
  for (const entry of entries) {
    const share = (first.get(entry.id) ?? 0) / draws;
    const expected = entry.weight / total;
    assert.ok(Math.abs(share - expected) <= 0.02, `entry ${entry.id}: share ${share.toFixed(4)}, expected ${expected.toFixed(4)}`);
  }
  assert.equal(first.get(4) ?? 0, 0, 'a weight-0 entry never comes first while positive ones exist');
});

test('rejects a negative count and a negative weight (assertions, not silent answers)', () => {
  assert.throws(() => sampleByWeight([{ weight: 1 }], -1, seededRng(1)), /sample count/);
  assert.throws(() => sampleByWeight([{ weight: 1 }, { weight: -2 }], 1, seededRng(1)), /weight -2/);
});
