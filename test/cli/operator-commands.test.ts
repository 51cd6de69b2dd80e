// Goal: operator commands say what they did and nothing else. `health clear` removes an operator override only — a
// target without one is reported as such and the checkers' row stays — and an unknown target or name exits 2 for
// `health set|clear` and `history`; the `demo` commands refuse (exit 2) when no demo runs on the data directory
// instead of reporting a failure nobody serves. Method: the real CLI as child processes on a SQLite installation whose
// inventory a `planner --once` stored; a checker's row is written through the real store, as a checker writes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { runCli, sampleConfig, tempDir, writeConfig } from '../helpers/env.js';

test('health clear touches operator overrides only; unknown targets and names exit 2', async () => {
  const dir = tempDir('dnsplane-operator-');
  try {
    const config = writeConfig(dir.path, sampleConfig(2));
    const data = join(dir.path, 'data');
    const paths = ['--config', config, '--data', data];
    const seeded = await runCli(['planner', '--once', ...paths]);
    assert.equal(seeded.code, 0, seeded.stderr);

    assert.equal((await runCli(['health', 'set', 't0-0', 'down', ...paths])).code, 0);
    const cleared = await runCli(['health', 'clear', 't0-0', ...paths]);
    assert.deepEqual([cleared.code, cleared.stdout], [0, 't0-0: override cleared (was down)\n']);
    const again = await runCli(['health', 'clear', 't0-0', ...paths]);
    assert.deepEqual([again.code, again.stdout], [0, 'no override on t0-0\n']);

    // The checkers' verdict is not an override: clearing leaves it in place.
    const store = new SqliteStore(join(data, 'state.db'));
    try {
      await store.setHealth('t0-1', 'down', 'checker');
    } finally {
      await store.close();
    }
    const checkerRow = await runCli(['health', 'clear', 't0-1', ...paths]);
    assert.deepEqual([checkerRow.code, checkerRow.stdout], [0, 'no override on t0-1 (its health is down, from checker)\n']);
    const list = JSON.parse((await runCli(['health', 'list', '--json', ...paths])).stdout) as { target: string; state: string; source: string }[];
    assert.deepEqual(list.map((r) => [r.target, r.state, r.source]), [['t0-1', 'down', 'checker']]);

    for (const args of [['health', 'clear', 'NOSUCH'], ['health', 'set', 'NOSUCH', 'down']]) {
      const unknown = await runCli([...args, ...paths]);
      assert.equal(unknown.code, 2, `${args.join(' ')}: ${unknown.stderr}`);
      assert.match(unknown.stderr, /unknown target "NOSUCH" \(not in the served inventory\)/);
    }
    const noName = await runCli(['history', 'NOSUCH', ...paths]);
    assert.equal(noName.code, 2);
    assert.match(noName.stderr, /unknown name "NOSUCH" \(nosuch\.dnsplane\.test is not in the served inventory\)/);
    const known = await runCli(['history', 'svc0', '--json', ...paths]);
    assert.equal(known.code, 0, known.stderr);
    assert.ok(Array.isArray(JSON.parse(known.stdout)), 'a known name without enactments yet has an empty history, not an error');
  } finally {
    dir.cleanup();
  }
});

test('demo commands without a running demo say so and exit 2', async () => {
  const dir = tempDir('dnsplane-demo-none-');
  try {
    const data = join(dir.path, 'data');
    for (const args of [['demo', 'fail', 'lb-2'], ['demo', 'recover', 'lb-2'], ['demo', 'list', '--json']]) {
      const result = await runCli([...args, '--data', data]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /no demo is running on .*: start one with `dnsplane up --data /);
    }
    const unknown = await runCli(['demo', 'fail', 'lb-99', '--data', data]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown demo target "lb-99"/);
  } finally {
    dir.cleanup();
  }
});
