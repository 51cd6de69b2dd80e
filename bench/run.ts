/**
 * `npm run bench`: runs every bench/*.bench.ts (or those named on the command
 * line) as its own process, each writing its section to
 * bench/results/<name>.md, then puts those sections into BENCHMARKS.md with
 * the machine. Every other section is kept as it is (each carries its own
 * date), hand-kept records of side-by-side runs included.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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

const startedMs = Date.now();
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
// BENCHMARKS.md keeps every section it has (hand-kept side-by-side records included); a section this run wrote to
// bench/results/ replaces the one with its title, or is added at the end when none has it.
const target = join(root, 'BENCHMARKS.md');
const sectionsOf = (text: string): string[] => text.split(/^(?=## )/m).filter((part) => part.startsWith('## ')).map((part) => part.trim());
const titleOf = (section: string): string => section.split('\n', 1)[0]!;
const sections = existsSync(target) ? sectionsOf(readFileSync(target, 'utf8')) : [];
const fresh = existsSync(resultsDir)
  ? readdirSync(resultsDir).filter((file) => file.endsWith('.md') && statSync(join(resultsDir, file)).mtimeMs >= startedMs)
    .sort().map((file) => readFileSync(join(resultsDir, file), 'utf8').trim())
  : [];
for (const section of fresh) {
  const index = sections.findIndex((existing) => titleOf(existing) === titleOf(section));
  if (index >= 0) sections[index] = section;
  else sections.push(section);
}
writeFileSync(
  target,
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
