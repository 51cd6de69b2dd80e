/**
 * Time and randomness enter through these small interfaces so the simulator
 * can drive the production planner, enactor, janitor and reconciler
 * deterministically (STYLE.md, FoundationDB's simulation).
 */
export interface Clock {
  nowMs(): number;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        signal?.removeEventListener('abort', done);
        clearTimeout(timer);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

export const systemRng: Rng = { next: () => Math.random() };

/** A seeded generator (SplitMix64-derived xorshift) for simulations and reproducible tests. */
export function seededRng(seed: bigint | number): Rng {
  let state = BigInt.asUintN(64, BigInt(seed) ^ 0x9e3779b97f4a7c15n);
  return {
    next() {
      state = BigInt.asUintN(64, state + 0x9e3779b97f4a7c15n);
      let z = state;
      z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
      z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
      z = z ^ (z >> 31n);
      return Number(z >> 11n) / 2 ** 53;
    },
  };
}

/** Integer in [0, n). */
export function randomInt(rng: Rng, n: number): number {
  return Math.floor(rng.next() * n);
}

/** Full-jitter exponential backoff: uniform in [0, min(max, base * 2^attempt)]. */
export function backoffMs(rng: Rng, attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(rng.next() * (ceiling + 1));
}
