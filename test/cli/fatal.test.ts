// Goal: the CLI's fatal and refusal paths exit with the codes its help promises. A broken invariant (here: a plan
// whose record set an outside hand emptied in the store: '' is the encoding of no records) is exit 70 with one FATAL line naming the rule, and changes
// nothing; `planner --once` whose health withdrawals the capacity guard holds exits 3 and publishes nothing, and
// `--force` publishes it (exit 0). Method: the real CLI as child processes on a SQLite installation; the store is
// corrupted with SQL, as a hand or a bug elsewhere would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runCli, sampleConfig, tempDir, writeConfig } from '../helpers/env.js';

function latestGeneration(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.prepare('SELECT MAX(generation) AS g FROM plans').get() as { g: number }).g;
  } finally {
    db.close();
  }
}

test('an invariant broken in the store: exit 70, one FATAL line naming S1 and the name, nothing published', async () => {
  const dir = tempDir('dnsplane-fatal-');
  try {
    const config = writeConfig(dir.path, sampleConfig(3));
    const data = join(dir.path, 'data');
    const paths = ['--config', config, '--data', data];
    const seeded = await runCli(['planner', '--once', ...paths]);
    assert.equal(seeded.code, 0, seeded.stderr);
    const dbPath = join(data, 'state.db');
    const before = latestGeneration(dbPath);
    const db = new Database(dbPath);
    try {
      const emptied = db.prepare("UPDATE plan_versions SET records = '' WHERE name = 'svc1.dnsplane.test'").run();
      assert.equal(emptied.changes, 1, 'the test emptied one record set');
    } finally {
      db.close();
    }
    const fatal = await runCli(['planner', '--once', ...paths]);
    assert.equal(fatal.code, 70, fatal.stderr);
    const fatalLines = fatal.stderr.split('\n').filter((line) => line.startsWith('FATAL'));
    assert.equal(fatalLines.length, 1, fatal.stderr);
    assert.match(fatalLines[0]!, /^FATAL invariant S1 violated: svc1\.dnsplane\.test: plan \d+ holds an empty set$/);
    assert.equal(latestGeneration(dbPath), before, 'nothing was published');
  } finally {
    dir.cleanup();
  }
});

test('planner --once: withdrawals held by the capacity guard exit 3 and publish nothing; --force publishes (0)', async () => {
  const dir = tempDir('dnsplane-held-');
  try {
    const config = writeConfig(dir.path, sampleConfig(4));
    const data = join(dir.path, 'data');
    const paths = ['--config', config, '--data', data];
    assert.equal((await runCli(['planner', '--once', ...paths])).code, 0);
    const dbPath = join(data, 'state.db');
    const before = latestGeneration(dbPath);
    // Two of three targets of every name down: two thirds of the served capacity, above the default 50%.
    for (let n = 0; n < 4; n += 1) {
      for (const t of [0, 1]) assert.equal((await runCli(['health', 'set', `t${n}-${t}`, 'down', ...paths])).code, 0);
    }
    const held = await runCli(['planner', '--once', ...paths]);
    assert.equal(held.code, 3, `${held.stdout}\n${held.stderr}`);
    const result = JSON.parse(held.stdout) as { kind: string; reason: string; held: string[]; header: unknown };
    assert.equal(result.kind, 'held');
    assert.match(result.reason, /above safety\.maxWithdrawnCapacityFraction/);
    assert.equal(result.held.length, 8);
    assert.equal(result.header, null);
    assert.equal(latestGeneration(dbPath), before, 'nothing was published');
    const forced = await runCli(['planner', '--once', '--force', ...paths]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(JSON.parse(forced.stdout).kind, 'published');
    assert.equal(latestGeneration(dbPath), before + 1);
  } finally {
    dir.cleanup();
  }
});
