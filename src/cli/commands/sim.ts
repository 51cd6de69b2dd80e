import { Option, type Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { UserError } from '../../util/assert.js';
import { checkedOption, integerOption } from '../common.js';
import { parseSeed } from '../../sim/random.js';
import type { SimSummary } from '../../sim/run.js';
import { mutantNames, type MutantName, type RunResult, type SimMode } from '../../sim/types.js';

interface SimOptions {
  mode: string;
  seed?: bigint;
  /** Checked against the simulator's bound when the command runs (`runsOf`). */
  runs: string;
  replay?: bigint;
  trace?: boolean;
  json?: boolean;
  mutant?: string;
  keepGoing?: boolean;
  removals?: boolean;
}

/** The simulator (src/sim/run.ts), loaded when the command runs: it brings zod and pino, which `--help` needs not. */
type Simulator = typeof import('../../sim/run.js');

/**
 * `dnsplane sim`: the deterministic simulator (src/sim). Exit 0 when no
 * invariant was violated, 1 when one was, with the first failing seed and
 * the command that replays it.
 */
export function registerSimCommand(program: Command): void {
  const mode = new Option('--mode <mode>', 'safe: dnsplane; legacy: the 2025 design')
    .choices(['safe', 'legacy']).default('safe');
  const mutant = new Option('--mutant <name>', 'test-only: break the safe design on purpose, to show the checker'
    + ' catches it').choices([...mutantNames]);
  program
    .command('sim')
    .description('deterministic simulation with fault injection: the real planner/enactor/janitor/reconciler (safe)'
      + ' or the 2025 design (legacy)')
    .addOption(mode)
    .option('--seed <n>', 'seed of the first run (decimal or 0x-hex, 64-bit); run i uses seed + i (default: random)',
      seedOption('--seed'))
    .addOption(new Option('--runs <k>', 'number of runs').default('1000', '1000'))
    .option('--replay <seed>', 'run this one seed (with --trace: print its timeline)', seedOption('--replay'))
    .option('--trace', 'with --replay: print the timeline of the run')
    .option('--keep-going', 'run every seed even after a failure, and count failures per invariant')
    .option('--json', 'machine-readable output')
    .addOption(mutant)
    .option('--no-removals', 'safe mode: leave out operator removals of endpoints (on by default: endpoints leave the'
      + ' inventory and come back)')
    .action(async (options: SimOptions) => {
      process.exitCode = await sim(options);
    });
}

/** The argParser of `--seed` and `--replay`: the simulator's own rule for a seed (src/sim/random.ts). */
function seedOption(flag: string): (text: string) => bigint {
  return checkedOption(flag, 'a 64-bit unsigned integer (decimal or 0x-hex)', parseSeed);
}

/** `--runs`, by the rule of every whole-number flag, up to the simulator's bound (known once it is loaded). */
function runsOf(options: SimOptions, simulator: Simulator): number {
  return integerOption('--runs', { min: 1, max: simulator.runsMax })(options.runs);
}

function parseOptions(options: SimOptions): { mode: SimMode; mutant: MutantName | null } {
  const mode = options.mode as SimMode;
  const mutant = (options.mutant ?? null) as MutantName | null;
  if (mutant !== null && mode !== 'safe') throw new UserError('--mutant applies to --mode safe only');
  if (options.removals === false && mode !== 'safe') throw new UserError('--no-removals applies to --mode safe only');
  if (options.trace === true && options.replay === undefined) {
    throw new UserError('--trace needs --replay SEED (a trace is of one run)');
  }
  return { mode, mutant };
}

/** Whether the runs include operator removals: a choice of safe mode only (undefined in legacy mode). */
function removalsOf(mode: SimMode, options: SimOptions): boolean | undefined {
  return mode === 'safe' ? options.removals !== false : undefined;
}

function mutantText(mutant: MutantName | null): string {
  return mutant === null ? '' : `, mutant ${mutant}`;
}

function summaryJson(summary: SimSummary, elapsedMs: number, simulator: Simulator): unknown {
  const failure = summary.firstFailure;
  return {
    mode: summary.mode, mutant: summary.mutant, firstSeed: String(summary.firstSeed), runs: summary.runs,
    failures: summary.failures, byInvariant: summary.byInvariant,
    steps: summary.steps, generations: summary.generations,
    elapsedMs: Math.round(elapsedMs), runsPerSecond: Math.round((summary.runs / elapsedMs) * 1000),
    firstFailure: failure === null
      ? null
      : { seed: String(failure.seed), violations: failure.violations, reproduce: simulator.reproduceCommand(failure) },
  };
}

function summaryLines(
  summary: SimSummary, runs: number, elapsedMs: number, keepGoing: boolean, simulator: Simulator,
): string[] {
  const failure = summary.firstFailure;
  const byInvariant = Object.entries(summary.byInvariant).map(([name, count]) => `${name} ${count}`).join(', ');
  const speed = `${(elapsedMs / 1000).toFixed(1)} s (${Math.round((summary.runs / elapsedMs) * 1000)} runs/s)`;
  return [
    `dnsplane sim: mode ${summary.mode}${mutantText(summary.mutant)}, seeds ${summary.firstSeed}..`
      + ` (${summary.runs} of ${runs} runs)`,
    `${summary.runs} runs, ${summary.failures} with violations, ${summary.steps} steps,`
      + ` ${summary.generations} generations, ${speed}`,
    ...(summary.failures > 0 && keepGoing ? [`violations by invariant (runs): ${byInvariant}`] : []),
    ...(failure === null ? ['no invariant violated'] : simulator.describeFailure(failure)),
  ];
}

async function sim(options: SimOptions): Promise<number> {
  const simulator = await import('../../sim/run.js');
  const runs = runsOf(options, simulator);
  const { mode, mutant } = parseOptions(options);
  if (options.replay !== undefined) return replay(options.replay, mode, mutant, options, simulator);
  const firstSeed = options.seed ?? randomBytes(8).readBigUInt64BE();
  const startedMs = performance.now();
  const keepGoing = options.keepGoing === true;
  const removals = removalsOf(mode, options);
  const summary = await simulator.runSeeds({ mode, firstSeed, runs, mutant, removals, keepGoing });
  const elapsedMs = performance.now() - startedMs;
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(summaryJson(summary, elapsedMs, simulator), null, 2)}\n`);
  } else {
    process.stdout.write(`${summaryLines(summary, runs, elapsedMs, keepGoing, simulator).join('\n')}\n`);
  }
  return summary.firstFailure === null ? 0 : 1;
}

async function replay(
  seed: bigint, mode: SimMode, mutant: MutantName | null, options: SimOptions, simulator: Simulator,
): Promise<number> {
  const trace = options.trace === true;
  const result = await simulator.runSeed(mode, seed, { mutant, trace, removals: removalsOf(mode, options) });
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(replayJson(result), null, 2)}\n`);
  } else {
    const lines = [
      ...(result.trace ?? []),
      `seed ${seed} (${mode}${mutantText(mutant)}): ${result.steps} steps, ${result.stats.generations} generations,`
        + ` ${result.virtualMs} ms virtual`,
      ...(result.violations.length === 0
        ? ['no invariant violated']
        : result.violations.map((violation) => `VIOLATION ${simulator.describeViolation(violation)}`)),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return result.violations.length === 0 ? 0 : 1;
}

function replayJson(result: RunResult): unknown {
  return { ...result, seed: String(result.seed) };
}
