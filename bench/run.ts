/**
 * `npm run bench`: runs every bench/*.bench.ts (or those named on the command
 * line) as its own process, each writing its section to
 * bench/results/<name>.md, then assembles BENCHMARKS.md with the command and
 * the machine. Sections of benchmarks not run this time are kept from their
 * last run (each section carries its own date).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const benchDir = join(root, 'bench');
const resultsDir = join(benchDir, 'results');
const wanted = process.argv.slice(2);
const all = readdirSync(benchDir).filter((file) => file.endsWith('.bench.ts')).sort();
const selected = wanted.length === 0 ? all : all.filter((file) => wanted.some((name) => file.startsWith(name)));

// The benchmarks run the CLI as users do, bin/dnsplane.mjs, which runs dist/: build it from today's sources first.
const build = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

let failed = 0;
for (const file of selected) {
  process.stdout.write(`\n=== ${file} ===\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', join(benchDir, file)], { stdio: 'inherit', cwd: root, env: { DNSPLANE_LOG_LEVEL: 'error', ...process.env } });
  if (result.status !== 0) {
    failed += 1;
    process.stdout.write(`${file} failed with ${result.status}\n`);
  }
}

const cpu = cpus();
const machine = `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Node.js ${process.version}, ${process.platform}/${process.arch}`;
const sections = existsSync(resultsDir)
  ? readdirSync(resultsDir).filter((file) => file.endsWith('.md')).sort().map((file) => readFileSync(join(resultsDir, file), 'utf8').trim())
  : [];
writeFileSync(
  join(root, 'BENCHMARKS.md'),
  [
    '# Benchmarks',
    '',
    'Produced by `npm run bench` (all) or `npm run bench -- NAME` (one file of `bench/`). Not part of the tests.',
    '',
    `Machine of the last run: ${machine}.`,
    '',
    ...sections.flatMap((section) => [section, '']),
  ].join('\n'),
);
process.exit(failed === 0 ? 0 : 1);
