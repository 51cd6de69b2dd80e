import { Option, type Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { UserError } from '../../util/assert.js';
import { parseSeed } from '../../sim/random.js';
import { describeFailure, describeViolation, reproduceCommand, runSeed, runSeeds, runsMax } from '../../sim/run.js';
import { mutantNames, type MutantName, type RunResult, type SimMode } from '../../sim/types.js';

interface SimOptions {
  mode: string;
  seed?: string;
  runs: string;
  replay?: string;
  trace?: boolean;
  json?: boolean;
  mutant?: string;
  keepGoing?: boolean;
  removals?: boolean;
}

/**
 * `dnsplane sim`: the deterministic simulator (src/sim). Exit 0 when no
 * invariant was violated, 1 when one was, with the first failing seed and
 * the command that replays it.
 */
export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('deterministic simulation with fault injection: the real planner/enactor/janitor/reconciler (safe) or the 2025 design (legacy)')
    .addOption(new Option('--mode <mode>', 'safe: dnsplane; legacy: the 2025 design').choices(['safe', 'legacy']).default('safe'))
    .option('--seed <n>', 'seed of the first run (decimal or 0x-hex, 64-bit); run i uses seed + i (default: random)')
    .option('--runs <k>', 'number of runs', '1000')
    .option('--replay <seed>', 'run this one seed (with --trace: print its timeline)')
    .option('--trace', 'with --replay: print the timeline of the run')
    .option('--keep-going', 'run every seed even after a failure, and count failures per invariant')
    .option('--json', 'machine-readable output')
    .addOption(new Option('--mutant <name>', 'test-only: break the safe design on purpose, to show the checker catches it').choices([...mutantNames]))
    .option('--no-removals', 'safe mode: leave out operator removals of endpoints (on by default: endpoints leave the inventory and come back)')
    .action(async (options: SimOptions) => {
      process.exitCode = await sim(options);
    });
}

function parseOptions(options: SimOptions): { mode: SimMode; mutant: MutantName | null; runs: number } {
  const mode = options.mode as SimMode;
  const mutant = (options.mutant ?? null) as MutantName | null;
  if (mutant !== null && mode !== 'safe') throw new UserError('--mutant applies to --mode safe only');
  if (options.removals === false && mode !== 'safe') throw new UserError('--no-removals applies to --mode safe only');
  if (!/^\d+$/.test(options.runs) || Number(options.runs) < 1 || Number(options.runs) > runsMax) throw new UserError(`--runs must be a whole number from 1 to ${runsMax}, not "${options.runs}"`);
  if (options.trace === true && options.replay === undefined) throw new UserError('--trace needs --replay SEED (a trace is of one run)');
  return { mode, mutant, runs: Number(options.runs) };
}

function seedOption(text: string, flag: string): bigint {
  const seed = parseSeed(text);
  if (seed === null) throw new UserError(`${flag} must be a 64-bit unsigned integer (decimal or 0x-hex), not "${text}"`);
  return seed;
}

async function sim(options: SimOptions): Promise<number> {
  const { mode, mutant, runs } = parseOptions(options);
  if (options.replay !== undefined) return replay(seedOption(options.replay, '--replay'), mode, mutant, options);
  const firstSeed = options.seed === undefined ? randomBytes(8).readBigUInt64BE() : seedOption(options.seed, '--seed');
  const startedMs = performance.now();
  const summary = await runSeeds({ mode, firstSeed, runs, mutant, removals: mode === 'safe' ? options.removals !== false : undefined, keepGoing: options.keepGoing === true });
  const elapsedMs = performance.now() - startedMs;
  const failure = summary.firstFailure;
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify({
      mode, mutant, firstSeed: String(firstSeed), runs: summary.runs, failures: summary.failures, byInvariant: summary.byInvariant,
      steps: summary.steps, generations: summary.generations, elapsedMs: Math.round(elapsedMs), runsPerSecond: Math.round((summary.runs / elapsedMs) * 1000),
      firstFailure: failure === null ? null : { seed: String(failure.seed), violations: failure.violations, reproduce: reproduceCommand(failure) },
    }, null, 2)}\n`);
  } else {
    const lines = [
      `dnsplane sim: mode ${mode}${mutant === null ? '' : `, mutant ${mutant}`}, seeds ${firstSeed}.. (${summary.runs} of ${runs} runs)`,
      `${summary.runs} runs, ${summary.failures} with violations, ${summary.steps} steps, ${summary.generations} generations, ${(elapsedMs / 1000).toFixed(1)} s (${Math.round((summary.runs / elapsedMs) * 1000)} runs/s)`,
      ...(summary.failures > 0 && options.keepGoing === true ? [`violations by invariant (runs): ${Object.entries(summary.byInvariant).map(([name, count]) => `${name} ${count}`).join(', ')}`] : []),
      ...(failure === null ? ['no invariant violated'] : describeFailure(failure)),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return failure === null ? 0 : 1;
}

async function replay(seed: bigint, mode: SimMode, mutant: MutantName | null, options: SimOptions): Promise<number> {
  const result = await runSeed(mode, seed, { mutant, trace: options.trace === true, removals: mode === 'safe' ? options.removals !== false : undefined });
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(replayJson(result), null, 2)}\n`);
  } else {
    const lines = [
      ...(result.trace ?? []),
      `seed ${seed} (${mode}${mutant === null ? '' : `, mutant ${mutant}`}): ${result.steps} steps, ${result.stats.generations} generations, ${result.virtualMs} ms virtual`,
      ...(result.violations.length === 0 ? ['no invariant violated'] : result.violations.map((violation) => `VIOLATION ${describeViolation(violation)}`)),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return result.violations.length === 0 ? 0 : 1;
}

function replayJson(result: RunResult): unknown {
  return { ...result, seed: String(result.seed) };
}
