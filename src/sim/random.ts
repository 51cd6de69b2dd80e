import { assert } from '../util/assert.js';
import { seededRng, type Rng } from '../util/clock.js';

/**
 * The simulator's randomness. One 64-bit seed derives every choice of a run,
 * so a seed replays exactly on the same commit (STYLE.md, VOPR).
 *
 * The stream is xoshiro128** seeded from `seededRng` (SplitMix64) of the run
 * seed: `seededRng` works on BigInt and costs about a microsecond per draw,
 * which a run drawing thousands of numbers cannot afford; xoshiro128** uses
 * 32-bit integer arithmetic only and is just as deterministic.
 */
export interface SimRandom extends Rng {
  /** Integer in [0, n). */
  int(n: number): number;
  /** Integer in [low, high]. */
  between(low: number, high: number): number;
  chance(probability: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** An independent stream, for an actor whose draws must not shift the others'. */
  fork(): SimRandom;
}

export const seedMax = (1n << 64n) - 1n;

/** Parses a seed given in decimal or 0x-hex; null unless it is an unsigned 64-bit integer. */
export function parseSeed(text: string): bigint | null {
  const trimmed = text.trim();
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(trimmed)) return null;
  const value = BigInt(trimmed);
  return value <= seedMax ? value : null;
}

/** The seed of the run `index` runs after `first` (wrapping at 2^64). */
export function seedAt(first: bigint, index: number): bigint {
  return BigInt.asUintN(64, first + BigInt(index));
}

function uint32(rng: Rng): number {
  return Math.floor(rng.next() * 2 ** 32) >>> 0;
}

export function createRandom(seed: bigint): SimRandom {
  assert(seed >= 0n && seed <= seedMax, 'internal', `seed ${seed} is not an unsigned 64-bit integer`);
  const mixer = seededRng(seed);
  return xoshiro([uint32(mixer), uint32(mixer), uint32(mixer), uint32(mixer) | 1]);
}

function xoshiro(initial: readonly number[]): SimRandom {
  return new Xoshiro128(initial[0]!, initial[1]!, initial[2]!, initial[3]!);
}

/** xoshiro128** (Blackman and Vigna): four 32-bit words of state. A class, so a fork costs one allocation. */
class Xoshiro128 implements SimRandom {
  constructor(private a: number, private b: number, private c: number, private d: number) {}

  private nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  next(): number {
    return this.nextUint32() / 2 ** 32;
  }

  int(n: number): number {
    assert(Number.isInteger(n) && n > 0, 'internal', () => `int(${n}) needs a positive integer bound`);
    return Math.floor(this.next() * n);
  }

  between(low: number, high: number): number {
    return low + this.int(high - low + 1);
  }

  chance(probability: number): boolean {
    return probability > 0 && this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'internal', 'pick from an empty list');
    return items[this.int(items.length)]!;
  }

  fork(): SimRandom {
    return new Xoshiro128(this.nextUint32(), this.nextUint32(), this.nextUint32(), this.nextUint32() | 1);
  }
}

function rotl(value: number, bits: number): number {
  return ((value << bits) | (value >>> (32 - bits))) >>> 0;
}

/**
 * A long-tailed delay: usually uniform in [0, baseMs], sometimes (with
 * `tailProbability`) a Pareto-distributed pause up to `tailMaxMs` — the slow
 * enactor of the incident, a GC pause, a lost packet retried.
 */
export function longTailDelayMs(random: SimRandom, baseMs: number, tailProbability: number, tailMaxMs: number): number {
  if (!random.chance(tailProbability)) return random.int(baseMs + 1);
  const paretoAlpha = 1.2;
  const tailMinMs = Math.max(1, baseMs * 4);
  const draw = tailMinMs / Math.pow(1 - random.next(), 1 / paretoAlpha);
  return Math.min(tailMaxMs, Math.round(draw));
}
