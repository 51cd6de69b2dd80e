#!/usr/bin/env node
// Runs every test file under test/ with node:test through tsx. Node 20 does not
// expand globs for --test, so the files are listed here. Extra arguments are
// passed through (e.g. a file list to run a subset: `npm test -- test/x/y.test.ts`).
// It builds dist/ first (scripts/build.mjs): the tests import the sources, but
// every CLI they spawn runs bin/dnsplane.mjs, which runs dist/, and must not run
// a build older than the sources.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function findTests(dir) {
  const found = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (entry.endsWith('.test.ts')) found.push(path);
  }
  return found.sort();
}

const build = spawnSync(process.execPath, [join(import.meta.dirname, 'build.mjs')], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const args = process.argv.slice(2);
const files = args.length > 0 ? args : findTests('test');
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=600000', ...files],
  { stdio: 'inherit', env: { DNSPLANE_LOG_LEVEL: 'warn', ...process.env } },
);
process.exit(result.status ?? 1);
