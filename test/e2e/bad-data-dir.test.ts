// Goal: a data directory or store file that cannot be used is reported in one
// line naming the path and what is wrong, with exit code 2 and nothing
// modified — not a stack trace: `--data` naming a file, a data directory on
// a read-only file system, a state.db that is not a SQLite database (which
// must stay byte-identical, with no -wal or -shm created beside it).
// Method: real files and a real read-only tmpfs (mounted as root in the
// test's own directory, unmounted in finally); the CLI runs as a child
// process for `status`, `planner --once`, `serve` and `up`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeDualPort, freeTcpPort, runCli, sampleConfig, tempDir, writeConfig } from '../helpers/env.js';

/** The commands checked, each with the arguments after `--config C --data D`. */
async function commands(): Promise<string[][]> {
  return [
    ['status'], ['planner', '--once'], ['serve', '--dns-port', String(await freeDualPort())],
    ['up', '--dns-port', String(await freeDualPort()), '--http-port', String(await freeTcpPort())],
  ];
}

/** Runs `command` and checks: exit 2, one line on stderr matching `expected`. */
async function refused(command: string[], configPath: string, data: string, expected: RegExp): Promise<void> {
  const result = await runCli([...command, '--config', configPath, '--data', data]);
  const what = `${command.join(' ')}: ${result.stderr}`;
  assert.equal(result.code, 2, what);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, what);
  assert.match(lines[0]!, expected, what);
  assert.doesNotMatch(result.stderr, /\n\s+at /, what);
}

test('--data naming a file: one line, exit 2, the file untouched', async () => {
  const dir = tempDir();
  try {
    const configPath = writeConfig(dir.path, sampleConfig(1));
    const file = join(dir.path, 'not-a-directory');
    writeFileSync(file, 'some file\n');
    for (const command of await commands()) {
      await refused(command, configPath, file, new RegExp(`^error: data directory ${file} is a file, not a directory`));
    }
    assert.equal(readFileSync(file, 'utf8'), 'some file\n');
  } finally {
    dir.cleanup();
  }
});

test('a state.db that is not a SQLite database: one line naming it, exit 2, the file byte-identical', async () => {
  const dir = tempDir();
  try {
    const configPath = writeConfig(dir.path, sampleConfig(1));
    const data = join(dir.path, 'data');
    mkdirSync(data);
    const storePath = join(data, 'state.db');
    const garbage = Buffer.alloc(8192);
    for (let index = 0; index < garbage.length; index += 1) garbage[index] = (index * 131 + 7) % 251;
    writeFileSync(storePath, garbage);
    for (const command of await commands()) {
      await refused(command, configPath, data, new RegExp(`store ${storePath} is not a SQLite database \\(file is not a database\\)`));
      assert.deepEqual(readFileSync(storePath), garbage, `${command[0]} left the file byte-identical`);
      assert.deepEqual(readdirSync(data).filter((name) => name.startsWith('state.db')), ['state.db'], `${command[0]} created nothing beside it`);
    }
  } finally {
    dir.cleanup();
  }
});

test('a data directory on a read-only file system: one line naming the store, exit 2', async () => {
  const dir = tempDir();
  const mountPoint = join(dir.path, 'ro');
  mkdirSync(mountPoint);
  let mounted = false;
  try {
    const configPath = writeConfig(dir.path, sampleConfig(1));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mountPoint]);
    mounted = true;
    for (const command of await commands()) {
      // status (until it opens the store read-only) and planner create the store; serve creates it on a fresh installation.
      await refused(command, configPath, mountPoint, new RegExp(`store ${join(mountPoint, 'state.db')} is on a read-only file system|no store at ${join(mountPoint, 'state.db')}|data directory ${mountPoint} cannot be written \\(EROFS`));
    }
    assert.deepEqual(readdirSync(mountPoint), []);
  } finally {
    if (mounted) execFileSync('umount', [mountPoint]);
    dir.cleanup();
  }
});
