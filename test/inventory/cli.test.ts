// Goal: the inventory commands as an operator uses them — validate (one line per problem, exit 2; the holes found
// by trying it as a new user: the same name twice once qualified, a fully qualified name outside the zone, reserved
// names, a file over the size limit), diff and plan --dry-run (exit 0 no change, 1 changes; nothing written), apply
// (exit 3 when refused, --force audited), two shells applying from one reviewed diff (one wins, the other is told
// to diff again), history and rollback. Method: the real CLI as child processes on one temporary installation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { runCli, sampleConfig, tempDir, writeConfig } from '../helpers/env.js';

test('validate: every hole is one line naming its key and exit 2; a good file is exit 0 and writes nothing', async () => {
  const dir = tempDir('dnsplane-validate-');
  try {
    const bad = writeConfig(dir.path, {
      zone: 'dnsplane.test.',
      endpoints: [
        { name: 'web', targets: [{ id: 'a', address: '127.0.0.2' }] },
        { name: 'web.dnsplane.test.', targets: [{ id: 'b', address: '127.0.0.3' }] },
        { name: 'api.example.com.', targets: [{ id: 'c', address: '127.0.0.4' }] },
        { name: '_dnsplane.web', targets: [{ id: 'd', address: '127.0.0.5' }] },
        { name: 'ns1', targets: [{ id: 'e', address: '127.0.0.6' }] },
      ],
    }, 'bad.yaml');
    const result = await runCli(['validate', '-f', bad]);
    assert.equal(result.code, 2);
    const lines = result.stderr.split('\n').filter((line) => /^\s+endpoints\[/.test(line)).map((line) => line.trim());
    assert.equal(lines.length, 4, result.stderr);
    assert.match(lines[0]!, /^endpoints\[1\]\.name: duplicate endpoint "web\.dnsplane\.test\.": it is web\.dnsplane\.test, as is endpoints\[0\]/);
    assert.match(lines[1]!, /^endpoints\[2\]\.name: "api\.example\.com\." ends with "\." \(fully qualified\) but is not in the zone dnsplane\.test/);
    assert.match(lines[2]!, /^endpoints\[3\]\.name: .*"_dnsplane" label/);
    assert.match(lines[3]!, /^endpoints\[4\]\.name: .*name-server host/);
    const scheme = writeConfig(dir.path, { zone: 'dnsplane.test.', endpoints: [{ name: 'ftp', targets: [{ id: 'f', address: '127.0.0.7', check: { http: 'ftp://127.0.0.7/' } }] }] }, 'scheme.yaml');
    const unknownScheme = await runCli(['validate', '-f', scheme]);
    assert.equal(unknownScheme.code, 2);
    assert.match(unknownScheme.stderr, /^\s+endpoints\[0\]\.targets\[0\]\.check\.http: "ftp:\/\/127\.0\.0\.7\/" is not an http:\/\/ URL/m);
    const good = writeConfig(dir.path, sampleConfig(3), 'good.yaml');
    const ok = await runCli(['validate', '-f', good, '--data', join(dir.path, 'never')]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /valid \(3 names, 9 targets\)/);
    const huge = join(dir.path, 'huge.yaml');
    writeFileSync(huge, 'zone: dnsplane.test.\n');
    truncateSync(huge, 129 * 1024 * 1024);
    const tooLarge = await runCli(['validate', '-f', huge]);
    assert.equal(tooLarge.code, 2);
    assert.match(tooLarge.stderr, /above the 128 MiB a config or inventory file may have/);
  } finally {
    dir.cleanup();
  }
});

test('diff, plan --dry-run, apply (refused, forced), concurrent applies from one diff, history and rollback', async () => {
  const dir = tempDir('dnsplane-apply-');
  try {
    const config = writeConfig(dir.path, sampleConfig(20));
    const paths = ['--config', config, '--data', join(dir.path, 'data')];
    assert.equal((await runCli(['planner', '--once', ...paths])).code, 0, 'the first role seeds inventory v1 and plans it');
    // Retire svc0-svc6 (7 of 20, 35 %) and add 10 names.
    const next = sampleConfig(30);
    next.endpoints = (next.endpoints as unknown[]).slice(7);
    const nextPath = writeConfig(dir.path, { endpoints: next.endpoints }, 'next.yaml');
    const otherPath = writeConfig(dir.path, sampleConfig(21), 'other.yaml');
    const same = await runCli(['diff', '-f', config, ...paths]);
    assert.deepEqual([same.code, same.stdout.trim().split('\n').at(-1)], [0, 'no change']);
    const diff = await runCli(['diff', '-f', nextPath, '--json', ...paths]);
    assert.equal(diff.code, 1);
    const parsed = JSON.parse(diff.stdout) as { version: number; added: number; removed: number; changed: number };
    assert.deepEqual([parsed.version, parsed.added, parsed.removed, parsed.changed], [1, 10, 7, 0]);
    const refused = await runCli(['apply', '-f', nextPath, '--reason', 'retire the old fleet', ...paths]);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stdout, /refused: the change removes or edits 7 of 20 names \(35\.0%\)/);
    const dry = await runCli(['plan', '--dry-run', ...paths]);
    assert.deepEqual([dry.code, dry.stdout.split('\n')[0]], [0, 'against plan 1: 0 names would change (0 by edits, 0 by health)'], 'a refused apply changed nothing');
    // Two shells apply from the same reviewed diff (version 1): one wins, the other must diff again.
    const [first, second] = await Promise.all([
      runCli(['apply', '-f', nextPath, '--force', '--base-version', '1', '--reason', 'shell one', ...paths]),
      runCli(['apply', '-f', otherPath, '--force', '--base-version', '1', '--reason', 'shell two', ...paths]),
    ]);
    const codes = [first.code, second.code].sort();
    assert.deepEqual(codes, [0, 1], `${first.stdout}${first.stderr}\n${second.stdout}${second.stderr}`);
    const loser = first.code === 1 ? first : second;
    assert.match(loser.stdout, /not applied: the inventory changed meanwhile \(now version 2\); run diff again/);
    const winnerIsNext = first.code === 0;
    const planned = await runCli(['plan', '--dry-run', '--json', ...paths]);
    assert.equal(planned.code, 1);
    assert.equal((JSON.parse(planned.stdout) as { names: unknown[] }).names.length, winnerIsNext ? 17 : 1, 'the winner\'s change, whole: 7 removals and 10 additions, or 1 addition');
    const history = await runCli(['inventory', 'history', '--json', ...paths]);
    const versions = JSON.parse(history.stdout) as { version: number; forced: boolean; reason: string }[];
    assert.deepEqual(versions.map((v) => v.version), [2, 1]);
    assert.equal(versions[0]!.reason, winnerIsNext ? 'shell one' : 'shell two');
    const rollback = await runCli(['inventory', 'rollback', '1', '--reason', 'undo', '--force', ...paths]);
    assert.equal(rollback.code, 0, rollback.stderr);
    assert.match(rollback.stdout, /applied as inventory version 3/);
    const store = new SqliteStore(join(dir.path, 'data', 'state.db'));
    try {
      const newest = (await store.readInventory())!;
      assert.equal(newest.endpoints.length, 20, 'back to the first inventory');
    } finally {
      await store.close();
    }
    const missing = await runCli(['inventory', 'rollback', '99', '--reason', 'x', ...paths]);
    assert.deepEqual([missing.code, /inventory version 99 does not exist/.test(missing.stderr)], [2, true]);
    const noReason = await runCli(['apply', '-f', nextPath, ...paths]);
    assert.deepEqual([noReason.code, /--reason TEXT is required/.test(noReason.stderr)], [2, true]);
  } finally {
    dir.cleanup();
  }
});
