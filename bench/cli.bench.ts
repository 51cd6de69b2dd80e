/**
 * CLI start-up benchmark (issue 17): how long `dnsplane --help`, `--version` and `status` take from the start of the
 * process to its exit, the median of CLI_BENCH_RUNS runs (default 15) each, run as a user runs them
 * (`node bin/dnsplane.mjs …`: compiled JavaScript in dist/). For comparison, the same commands with the sources run
 * through tsx (`node --import tsx` importing src/cli/main.ts), as bin/dnsplane.mjs did before the build step; on
 * today's sources, so that column has the lazy loading of the commands too. `status` reads a SQLite installation of
 * 20 names whose plan `planner --once` published. Targets: `--help` ≤ 150 ms, `status` ≤ 300 ms. The runs of one
 * command alternate between the two ways, so a change of machine load hits both alike; node's own start (`node -e
 * 0`) is measured the same way, for the floor.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { nowMs, percentile, verdict, writeSection } from './common.js';

const root = resolve(import.meta.dirname, '..');
const bin = join(root, 'bin', 'dnsplane.mjs');
const runs = Number(process.env.CLI_BENCH_RUNS ?? 15);
const targetsMs: Record<string, number> = { '--help': 150, status: 300 };

/** The sources through tsx, as the bin ran them before the build step. */
const viaTsx = [
  '--import', 'tsx', '--input-type=module', '-e',
  `const { main } = await import(${JSON.stringify(join(root, 'src', 'cli', 'main.ts'))});`
    + ' process.exitCode = await main(process.argv.slice(1));',
  '--',
];

function timed(args: string[]): number {
  const started = nowMs();
  const result = spawnSync(process.execPath, args, {
    cwd: root, encoding: 'utf8', env: { ...process.env, DNSPLANE_LOG_LEVEL: 'error' },
  });
  const ms = nowMs() - started;
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return ms;
}

const dir = mkdtempSync(join(tmpdir(), 'dnsplane-cli-bench-'));
try {
  const endpoints = Array.from({ length: 20 }, (_, n) => ({
    name: `svc${n}`,
    targets: [1, 2, 3].map((t) => ({ id: `t${n}-${t}`, address: `127.1.${n}.${t}`, az: `az${t}`, capacity: 100 })),
  }));
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, stringify({ zone: 'dnsplane.test.', endpoints }));
  const paths = ['--config', configPath, '--data', join(dir, 'data')];
  timed([bin, 'planner', '--once', ...paths]);

  const commands: [string, string[]][] = [['--help', ['--help']], ['--version', ['--version']], ['status', ['status', ...paths]]];
  const floor: number[] = [];
  const rows = [];
  for (let run = 0; run < runs; run += 1) floor.push(timed(['-e', '0']));
  for (const [name, args] of commands) {
    const compiled: number[] = [];
    const tsx: number[] = [];
    // One warm-up of each (the file system cache), not counted.
    timed([bin, ...args]);
    timed([...viaTsx, ...args]);
    for (let run = 0; run < runs; run += 1) {
      compiled.push(timed([bin, ...args]));
      tsx.push(timed([...viaTsx, ...args]));
    }
    const median = percentile(compiled, 50);
    const target = targetsMs[name];
    rows.push({
      metric: `dnsplane ${name === 'status' ? 'status (20 names, SQLite)' : name}: median (p90) of ${runs}`,
      value: `${median.toFixed(0)} ms (${percentile(compiled, 90).toFixed(0)} ms); through tsx: `
        + `${percentile(tsx, 50).toFixed(0)} ms (${percentile(tsx, 90).toFixed(0)} ms)`,
      ...(target === undefined ? {} : { target: `≤ ${target} ms`, verdict: verdict(median <= target) }),
    });
  }
  rows.push({ metric: `node -e 0 (the floor): median of ${runs}`, value: `${percentile(floor, 50).toFixed(0)} ms` });
  const load = loadavg().map((value) => value.toFixed(1)).join(' / ');
  writeSection('cli', 'CLI start-up', `npm run bench -- cli (CLI_BENCH_RUNS=${runs})`, rows, [
    `Load average at the end of the run: ${load} (1 / 5 / 15 min); compare each figure with the floor of the same run.`,
    'Wall time of the whole process, spawned from the benchmark, to its exit. The compiled CLI loads, for `--help` and'
      + ' `--version`, commander and the command definitions only; `status` loads the config schema (zod, yaml), the'
      + ' SQLite store and the providers\' modules when it runs.',
  ]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
