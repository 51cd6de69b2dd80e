#!/usr/bin/env node
// Runs every test file under test/ with node:test through tsx. Node 20 does not
// expand globs for --test, so the files are listed here. Extra arguments are
// passed through (e.g. a file list to run a subset).
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

const args = process.argv.slice(2);
const files = args.length > 0 ? args : findTests('test');
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=600000', ...files],
  { stdio: 'inherit', env: { DNSPLANE_LOG_LEVEL: 'warn', ...process.env } },
);
process.exit(result.status ?? 1);
