/**
 * Simulator benchmark (issue 4): `dnsplane sim --runs 100000` in safe mode —
 * the real planner, enactors, janitor and reconciler under injected faults,
 * on virtual time — must find zero violations; its wall time and runs per
 * second (one process, so one core) are the figures. Target: at least 500
 * runs/s of the default scenario. For context, legacy mode over 1,000 seeds:
 * how often the 2025 design ends in an empty answer and a dead end.
 *
 * SIM_BENCH_RUNS overrides the number of safe runs (the section says so).
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { nowMs, verdict, writeSection } from './common.js';

const root = resolve(import.meta.dirname, '..');
const runsWanted = 100_000;
const runs = Number(process.env.SIM_BENCH_RUNS ?? runsWanted);
const runsPerSecondTarget = 500;

interface Summary {
  runs: number;
  failures: number;
  byInvariant: Record<string, number>;
  steps: number;
  generations: number;
  elapsedMs: number;
  runsPerSecond: number;
  firstFailure: { seed: string; reproduce: string } | null;
}

/** Runs the CLI as a user would, and reads its --json summary. */
function sim(args: string[]): { summary: Summary; wallMs: number } {
  const started = nowMs();
  const result = spawnSync(process.execPath, [join(root, 'bin', 'dnsplane.mjs'), 'sim', ...args, '--json'], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const wallMs = nowMs() - started;
  if (result.stdout === '') throw new Error(`dnsplane sim ${args.join(' ')} printed nothing (exit ${result.status}): ${result.stderr}`);
  return { summary: JSON.parse(result.stdout) as Summary, wallMs };
}

const safe = sim(['--mode', 'safe', '--seed', '1', '--runs', String(runs)]);
const legacy = sim(['--mode', 'legacy', '--seed', '1', '--runs', '1000', '--keep-going']);
const safeRate = safe.summary.runsPerSecond;
const stepsPerRun = safe.summary.steps / safe.summary.runs;

writeSection('sim', 'Deterministic simulator', `npm run bench -- sim (dnsplane sim --mode safe --seed 1 --runs ${runs})`, [
  { metric: 'safe-mode runs (seeds 1..)', value: String(safe.summary.runs), target: String(runsWanted), verdict: verdict(safe.summary.runs >= runsWanted) },
  { metric: 'violations in safe mode', value: String(safe.summary.failures), target: '0', verdict: verdict(safe.summary.failures === 0) },
  { metric: 'simulation time (in the command)', value: `${(safe.summary.elapsedMs / 1000).toFixed(1)} s` },
  { metric: 'wall time of the command (with start-up)', value: `${(safe.wallMs / 1000).toFixed(1)} s` },
  { metric: 'runs per second (one process, one core)', value: String(safeRate), target: `≥ ${runsPerSecondTarget}`, verdict: verdict(safeRate >= runsPerSecondTarget) },
  { metric: 'steps per run (mean) / steps per second', value: `${stepsPerRun.toFixed(0)} / ${Math.round((safe.summary.steps / safe.summary.elapsedMs) * 1000)}` },
  { metric: 'generations published (all runs)', value: String(safe.summary.generations) },
  { metric: 'legacy mode: runs with an empty answer (S1) / dead end (L3) / rollback (S2), of 1,000', value: `${legacy.summary.byInvariant.S1 ?? 0} / ${legacy.summary.byInvariant.L3 ?? 0} / ${legacy.summary.byInvariant.S2 ?? 0}`, target: '> 0', verdict: verdict((legacy.summary.byInvariant.S1 ?? 0) > 0) },
  { metric: 'legacy mode: runs per second', value: String(legacy.summary.runsPerSecond) },
], [
  ...(runs < runsWanted ? [`Only ${runs} safe runs this time (SIM_BENCH_RUNS), not ${runsWanted}.`] : []),
  ...(safe.summary.firstFailure === null ? [] : [`First failure: seed ${safe.summary.firstFailure.seed}; ${safe.summary.firstFailure.reproduce}`]),
  'Each run: 1-3 names, 2-3 enactors, 1-2 planners, a janitor and a reconciler (production classes) for 800 ms of virtual time with faults (operator removals of endpoints included, since removal tombstones; since versioned inventories, as versions applied through applyInventory and followed by each planner and checker, with I1 checked at every publish), then up to 2.5 s without, until every name converges (L1); the invariant checker runs after every step.',
  'In a quarter of the seeds (since the health scenarios) three production health checkers also run, with an AZ loss, a checker cut off and failover pools (H1, H2); such a run takes about 1.7 times the steps of the others, so the runs per second are not comparable with figures taken before.',
]);
process.exit(safe.summary.failures === 0 ? 0 : 1);
