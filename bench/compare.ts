/**
 * Side-by-side benchmarks of two commits, in one run: `npx tsx bench/compare.ts BEFORE [AFTER] [-- NAME ...]`.
 *
 * Clones each commit into a temporary directory (sharing this checkout's node_modules), then runs each named
 * benchmark (default: those both commits have) at BEFORE and at AFTER, alternating BEFORE, AFTER, BEFORE, AFTER
 * for `rounds` rounds (COMPARE_ROUNDS, default 1), so both see the same hour of a shared machine. Writes
 * bench/results/compare.md: per benchmark, every metric row of both commits' sections side by side. Sections are
 * joined on their metric text; a metric one commit lacks shows "—".
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { machineLine } from './common.js';

const root = resolve(import.meta.dirname, '..');
const separator = process.argv.indexOf('--');
const commits = process.argv.slice(2, separator < 0 ? undefined : separator);
const wanted = separator < 0 ? [] : process.argv.slice(separator + 1);
const rounds = Number(process.env.COMPARE_ROUNDS ?? 1);
if (commits.length < 1 || commits.length > 2 || !Number.isInteger(rounds) || rounds < 1) {
  process.stderr.write('usage: npx tsx bench/compare.ts BEFORE [AFTER] [-- NAME ...]  (COMPARE_ROUNDS=n)\n');
  process.exit(2);
}

function git(args: string[], cwd = root): string {
  const result = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`git ${args.join(' ')}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

const [before, after] = [git(['rev-parse', '--short', commits[0]!]), git(['rev-parse', '--short', commits[1] ?? 'HEAD'])];
const work = mkdtempSync(join(tmpdir(), 'dnsplane-compare-'));

function checkout(commit: string): string {
  const dir = join(work, commit);
  git(['clone', '--quiet', '--no-checkout', root, dir]);
  git(['checkout', '--quiet', commit], dir);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  // Since the CLI runs compiled JavaScript (dist/), a commit's benchmarks that spawn it need its own build.
  if (existsSync(join(dir, 'scripts', 'build.mjs'))) {
    const built = spawnSync(process.execPath, [join(dir, 'scripts', 'build.mjs')], { cwd: dir, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`build of ${commit} failed: ${built.stderr}`);
  }
  return dir;
}

function benches(dir: string): string[] {
  return readdirSync(join(dir, 'bench')).filter((file) => file.endsWith('.bench.ts')).map((file) => file.slice(0, -9));
}

interface Section { rows: Map<string, string>; order: string[] }

/** The metric rows of one results section: metric → value. */
function readSection(path: string): Section {
  const rows = new Map<string, string>();
  const order: string[] = [];
  if (!existsSync(path)) return { rows, order };
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const cells = line.split(' | ');
    if (!line.startsWith('| ') || cells.length < 2 || cells[0] === '| metric' || line.startsWith('| ---')) continue;
    const metric = cells[0]!.slice(2);
    if (!rows.has(metric)) order.push(metric);
    rows.set(metric, cells[1]!);
  }
  return { rows, order };
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|');
}

try {
  const dirs = { [before]: checkout(before), [after]: checkout(after) };
  const names = wanted.length > 0 ? wanted : benches(dirs[before]!).filter((name) => benches(dirs[after]!).includes(name));
  const lines = [
    '## Side by side: two commits in one run',
    '',
    `Run ${new Date().toISOString()} with \`npx tsx bench/compare.ts ${before} ${after} -- ${names.join(' ')}\``
      + ` (${rounds} round${rounds === 1 ? '' : 's'}, alternating) on ${machineLine()}.`,
    '',
  ];
  for (const name of names) {
    const runs: Record<string, Section[]> = { [before]: [], [after]: [] };
    for (let round = 0; round < rounds; round += 1) {
      for (const commit of [before, after]) {
        const dir = dirs[commit]!;
        const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
        process.stdout.write(`=== ${name} at ${commit}, round ${round + 1} (load ${load})\n`);
        // The clone holds the section committed with it: gone first, so a failed run shows as "—", not as old news.
        const section = join(dir, 'bench', 'results', `${name}.md`);
        rmSync(section, { force: true });
        const result = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', join('bench', `${name}.bench.ts`)], {
          cwd: dir, stdio: ['ignore', 'inherit', 'inherit'], env: { DNSPLANE_LOG_LEVEL: 'error', ...process.env },
        });
        if (result.status !== 0) process.stdout.write(`${name} at ${commit} failed with ${result.status}\n`);
        runs[commit]!.push(readSection(section));
      }
    }
    lines.push(`### ${name}`, '', `| metric | ${before} (before) | ${after} (after) |`, '| --- | --- | --- |');
    const metrics = [...new Set([...runs[before]!.flatMap((s) => s.order), ...runs[after]!.flatMap((s) => s.order)])];
    for (const metric of metrics) {
      const cell = (commit: string) => runs[commit]!.map((section) => section.rows.get(metric) ?? '—').join('; ');
      lines.push(`| ${escapeCell(metric)} | ${escapeCell(cell(before))} | ${escapeCell(cell(after))} |`);
    }
    lines.push('');
    // Written after each benchmark, so a run stopped part way keeps what it measured.
    writeFileSync(join(root, 'bench', 'results', 'compare.md'), `${lines.join('\n').trim()}\n`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
