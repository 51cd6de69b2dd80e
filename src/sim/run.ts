import { assert } from '../util/assert.js';
import type { Violation } from './checker.js';
import { runLegacy } from './legacy.js';
import { seedAt } from './random.js';
import { runSafe } from './safe.js';
import type { MutantName, RunResult, SimMode } from './types.js';

/**
 * Runs many seeds, one after another, and summarises them. Each run is a
 * pure function of (mode, mutant, seed) on one commit; run i of a request
 * uses seed firstSeed + i, so a failing seed is reported on its own and
 * replays alone.
 */

export interface SimRequest {
  mode: SimMode;
  firstSeed: bigint;
  runs: number;
  mutant: MutantName | null;
  /** Safe mode: simulate operator removals of endpoints (default on; false turns them off). */
  removals?: boolean;
  /** Run every seed even after a failure (for counting); the CLI stops at the first failure unless asked. */
  keepGoing: boolean;
}

export interface SimSummary {
  mode: SimMode;
  mutant: MutantName | null;
  firstSeed: bigint;
  runs: number;
  failures: number;
  /** Runs in which each invariant was violated. */
  byInvariant: Record<string, number>;
  firstFailure: RunResult | null;
  steps: number;
  generations: number;
  /** Slowest convergence after the faults stopped (safe mode), in virtual ms. */
  convergedAfterMsMax: number;
}

/** Runs between two turns of the event loop. */
const eventLoopTurnRuns = 256;

/** Upper bound on runs per request (a 64-bit seed space, but a finite afternoon). */
export const runsMax = 100_000_000;

export interface SeedOptions {
  mutant?: MutantName | null;
  trace?: boolean;
  removals?: boolean;
}

export async function runSeed(mode: SimMode, seed: bigint, options: SeedOptions = {}): Promise<RunResult> {
  assert(
    mode === 'safe' || ((options.mutant ?? null) === null && options.removals === undefined),
    'internal',
    'mutants and removals apply to safe mode only',
  );
  return mode === 'legacy'
    ? runLegacy(seed, { trace: options.trace })
    : runSafe(seed, { mutant: options.mutant ?? null, trace: options.trace, removals: options.removals });
}

export async function runSeeds(request: SimRequest): Promise<SimSummary> {
  assert(
    Number.isInteger(request.runs) && request.runs >= 1 && request.runs <= runsMax,
    'internal',
    `runs must be 1..${runsMax}`,
  );
  const summary: SimSummary = {
    mode: request.mode, mutant: request.mutant, firstSeed: request.firstSeed, runs: 0, failures: 0, byInvariant: {},
    firstFailure: null, steps: 0, generations: 0, convergedAfterMsMax: 0,
  };
  for (let index = 0; index < request.runs; index += 1) {
    // A run never yields to the event loop; between runs, now and then, it may (stall watchdogs fire, output flushes).
    if (index % eventLoopTurnRuns === eventLoopTurnRuns - 1) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const result = await runSeed(
      request.mode,
      seedAt(request.firstSeed, index),
      { mutant: request.mutant, removals: request.removals },
    );
    summary.runs += 1;
    summary.steps += result.steps;
    summary.generations += result.stats.generations;
    summary.convergedAfterMsMax = Math.max(summary.convergedAfterMsMax, result.convergedAfterMs ?? 0);
    if (result.violations.length === 0) continue;
    summary.failures += 1;
    for (const invariant of new Set(result.violations.map((violation) => violation.invariant))) {
      summary.byInvariant[invariant] = (summary.byInvariant[invariant] ?? 0) + 1;
    }
    summary.firstFailure ??= result;
    if (!request.keepGoing) break;
  }
  return summary;
}

export function reproduceCommand(result: RunResult): string {
  return `npx dnsplane sim --replay ${result.seed} --mode ${result.mode}`
    + `${result.mutant === null ? '' : ` --mutant ${result.mutant}`}`
    + `${result.mode === 'safe' && !result.removals ? ' --no-removals' : ''} --trace`;
}

export function describeViolation(violation: Violation): string {
  return `${violation.invariant} ${violation.name}: ${violation.message} `
    + `(step ${violation.step}, +${violation.atMs - 1_000_000}ms)`;
}

/** The lines a person needs about one failed run: what broke first, what else broke, and how to see it again. */
export function describeFailure(result: RunResult): string[] {
  const [first, ...others] = result.violations;
  assert(first !== undefined, 'internal', 'describeFailure of a run without violations');
  return [
    `FAILED seed ${result.seed}${result.mutant === null ? '' : ` (mutant ${result.mutant})`}: `
      + `${describeViolation(first)}`,
    ...others.map((violation) => `  then ${describeViolation(violation)}`),
    `reproduce with: ${reproduceCommand(result)}`,
  ];
}
