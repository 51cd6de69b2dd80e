/**
 * Retention benchmark (issue 16): the retention scenario of test/enactor/retention.test.ts at the size,
 * 100,000 generations of 1% churn (one name of 100 changes a generation; every tenth generation a removal and a
 * return). The real planner, enactor and janitor on a real SQLite file. Every checkpoint holds the test's bounds (a
 * count above its bound fails the run); the figures are the store's size along the way: it must level off, not grow.
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { bounds, retention, runRetentionScenario, type StoreSize } from '../test/enactor/retention-scenario.js';
import { verdict, writeSection } from './common.js';

const generations = 100_000;
const checkpointEvery = 10_000;
// What is measured is size, not speed: the SQLite file goes on tmpfs where there is one, so that 100,000 generations
// of fsyncs (synchronous = FULL) do not make the run hours long.
const tmpfs = existsSync('/dev/shm');
if (tmpfs) process.env.TMPDIR = '/dev/shm';

const load = loadavg()[0]!.toFixed(2);
const limit = bounds();
const sizes: StoreSize[] = [];
const startedMs = Date.now();
await runRetentionScenario(generations, checkpointEvery, (size) => {
  for (const key of Object.keys(limit) as (keyof typeof limit)[]) {
    if (size[key] > limit[key]) throw new Error(`generation ${size.generation}: ${key} ${size[key]} above ${limit[key]}`);
  }
  sizes.push(size);
  process.stdout.write(`${JSON.stringify(size)}\n`);
});
const seconds = (Date.now() - startedMs) / 1000;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
const first = sizes[0]!;
const last = sizes.at(-1)!;
const largest = Math.max(...sizes.map((size) => size.fileBytes));
// Levelled off: the last half of the run grew the file by less than a tenth of its size at the first checkpoint.
const half = sizes[Math.floor(sizes.length / 2) - 1]!;
const levelled = last.fileBytes - half.fileBytes <= first.fileBytes / 10;
writeSection('retention', `Store size over ${generations.toLocaleString('en')} generations of 1% churn (SQLite)`, 'npm run bench -- retention', [
  { metric: `SQLite file (+ WAL) at generation ${first.generation.toLocaleString('en')} / ${last.generation.toLocaleString('en')}`, value: `${mib(first.fileBytes)} / ${mib(last.fileBytes)}`, target: 'bounded by retention settings', verdict: verdict(levelled) },
  { metric: 'largest file size at any checkpoint', value: mib(largest) },
  { metric: 'rows at the end: plans / record-set versions / history / removal tombstones / DNS-feed tombstones', value: `${last.plans} / ${last.planVersions} / ${last.history} / ${last.removalTombstones} / ${last.feedTombstones}` },
  { metric: 'bounds from the settings (same order)', value: `${limit.plans} / ${limit.planVersions} / ${limit.history} / ${limit.removalTombstones} / ${limit.feedTombstones}` },
  { metric: `generations published and enacted a second (${tmpfs ? 'on tmpfs: no fsync cost' : 'on disk'})`, value: (generations / seconds).toFixed(0) },
], [
  `Load average (1 min) at the start: ${load}. Settings: safety.retainGenerations ${retention.retainGenerations}, history.retainPerName ${retention.retainPerName}, janitor every 10 generations (clean-up, history prune, tombstone compaction); 100 names.`,
  '',
  'The bound of each count holds at every checkpoint (the run fails otherwise). What the bound is, from the settings alone: plans since the floor (retainGenerations + the generations between two janitor runs); a record-set version per name plus at most two superseded ones per generation above the floor; retainPerName history entries per name plus those written since the last prune; the removal tombstones of removals above the compaction floor; one DNS-feed tombstone per name ever removed (the SQLite change feed keeps the newest removal of a name for the DNS servers\' incremental refresh).',
  '',
  '| generation | file | plans | versions | history | removal tombstones | feed tombstones |',
  '| --- | --- | --- | --- | --- | --- | --- |',
  ...sizes.map((size) => `| ${size.generation.toLocaleString('en')} | ${mib(size.fileBytes)} | ${size.plans} | ${size.planVersions} | ${size.history} | ${size.removalTombstones} | ${size.feedTombstones} |`),
]);
