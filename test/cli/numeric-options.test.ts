// Goal: every numeric flag and argument of the CLI goes through one checked parser (src/cli/common.ts): a bad value
// exits 2 with one line naming the flag and what it must be, before anything is opened, so nothing changes — no more
// `plans --limit abc` silently running with 50 — and a good value still works. Method: the real CLI as child
// processes on a SQLite installation that a `planner --once` seeded, one or two bad values a flag (the parser's
// handling of every kind of malformed text is in common.test.ts); the data directory's files are hashed before and
// after, and the roles that would create a data directory (serve, api, up) are pointed at one that must still not
// exist afterwards. The good values are run against an installation too, the long-running roles until they say where
// they listen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  freeDualPort, freeTcpPort, pollUntil, runCli, sampleConfig, spawnCli, tempDir, writeConfig, type Child,
} from '../helpers/env.js';

/** Where a command line takes the value under test. */
const valueMark = '<value>';

interface BadValue {
  /** How the error names the flag or argument. */
  flag: string;
  /** What the error says the value must be. */
  expected: string;
  values: string[];
  /** The command line, with `valueMark` where the bad value goes. */
  args: string[];
}

function bad(flag: string, expected: string, values: string[], args: string[]): BadValue {
  return { flag, expected, values, args };
}

const limit = 'a whole number from 1 to 10000';
const port = 'a port number';
const seed = 'a 64-bit unsigned integer (decimal or 0x-hex)';

/** Most CLI processes run at once (each is a Node process with tsx). */
const parallelMax = 6;

/** Every file of the data directory (SQLite and its side files) by name, with its content's hash. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    files[name] = createHash('sha256').update(readFileSync(join(dir, name))).digest('hex');
  }
  return files;
}

async function inBatches<T, R>(items: readonly T[], run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += parallelMax) {
    results.push(...(await Promise.all(items.slice(start, start + parallelMax).map(run))));
  }
  return results;
}

/** A seeded installation: inventory version 1 and plan generation 1, from a config with names svc0 and svc1. */
async function installation(dir: string): Promise<{ config: string; data: string; paths: string[] }> {
  const config = writeConfig(dir, sampleConfig(2));
  const data = join(dir, 'data');
  const paths = ['--config', config, '--data', data];
  const seeded = await runCli(['planner', '--once', ...paths]);
  assert.equal(seeded.code, 0, seeded.stderr);
  return { config, data, paths };
}

test('a bad number for any numeric flag or argument exits 2 naming it, and changes nothing', async () => {
  const dir = tempDir('dnsplane-numbers-bad-');
  try {
    const { config, data, paths } = await installation(dir.path);
    const fresh = join(dir.path, 'never-created');
    const role = ['--config', config, '--data', fresh];
    const V = valueMark;
    const cases: BadValue[] = [
      bad('--limit', limit, ['abc', '0'], ['plans', '--limit', V, ...paths]),
      bad('--limit', limit, ['10001'], ['history', 'svc0', '--limit', V, ...paths]),
      bad('--limit', limit, ['-1'], ['inventory', 'history', '--limit', V, ...paths]),
      bad('VERSION', 'a whole number of 1 or more', ['0'], ['inventory', 'rollback', V, '--reason', 'r', ...paths]),
      bad('--base-version', 'a whole number', ['1.5'],
        ['apply', '-f', config, '--reason', 'r', '--base-version', V, ...paths]),
      bad('--dns-port', port, ['65536'], ['serve', '--dns-port', V, ...role]),
      bad('--workers', 'a whole number', ['abc'], ['serve', '--workers', V, ...role]),
      bad('--http-port', port, ['eighty'], ['api', '--http-port', V, ...role]),
      bad('--dns-port', port, ['0x35'], ['up', '--data', fresh, '--dns-port', V]),
      bad('--http-port', port, [''], ['up', '--data', fresh, '--http-port', V]),
      bad('--runs', 'a whole number from 1 to 100000000', ['1e3'], ['sim', '--runs', V]),
      bad('--seed', seed, ['twelve'], ['sim', '--seed', V]),
      bad('--replay', seed, ['18446744073709551616'], ['sim', '--replay', V]),
    ];
    const before = snapshot(data);
    const runs = cases.flatMap((entry) => entry.values.map((value) => ({ entry, value })));
    const results = await inBatches(runs, async ({ entry, value }) => {
      const args = entry.args.map((arg) => (arg === valueMark ? value : arg));
      return { args, value, entry, result: await runCli(args) };
    });
    for (const { args, value, entry, result } of results) {
      const what = `dnsplane ${args.join(' ')}`;
      assert.equal(result.code, 2, `${what}: ${result.stderr}`);
      assert.equal(result.stderr, `error: ${entry.flag} must be ${entry.expected}, not "${value}"\n`, what);
      assert.equal(result.stdout, '', what);
    }
    assert.deepEqual(snapshot(data), before, 'no file of the installation changed');
    assert.equal(existsSync(fresh), false, 'serve, api and up created no data directory');
  } finally {
    dir.cleanup();
  }
});

test('a good number still works for every numeric flag and argument', async () => {
  const dir = tempDir('dnsplane-numbers-good-');
  try {
    const { config, paths } = await installation(dir.path);
    const json = async (args: string[]): Promise<unknown> => {
      const result = await runCli([...args, '--json']);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
      return JSON.parse(result.stdout) as unknown;
    };
    const [plans, history, versions, applied, rolledBack, summary, replay] = await Promise.all([
      json(['plans', '--limit', '1', ...paths]),
      json(['history', 'svc0', '--limit', '10000', ...paths]),
      json(['inventory', 'history', '--limit', '1', ...paths]),
      json(['apply', '-f', config, '--reason', 'same file', '--base-version', '1', ...paths]),
      json(['inventory', 'rollback', '1', '--reason', 'to itself', ...paths]),
      json(['sim', '--runs', '2', '--seed', '0x10']),
      json(['sim', '--replay', '16']),
    ]);
    assert.equal((plans as unknown[]).length, 1);
    assert.ok(Array.isArray(history));
    assert.deepEqual((versions as { version: number }[]).map((v) => v.version), [1]);
    assert.deepEqual(applied, { outcome: 'unchanged', version: 1 });
    assert.deepEqual(rolledBack, { outcome: 'unchanged', version: 1 });
    assert.deepEqual([(summary as { runs: number }).runs, (summary as { firstSeed: string }).firstSeed], [2, '16']);
    assert.equal((replay as { seed: string }).seed, '16');
  } finally {
    dir.cleanup();
  }
});

test('the long-running roles listen on the port their flag names', async () => {
  const dir = tempDir('dnsplane-numbers-ports-');
  const children: Child[] = [];
  try {
    const { paths } = await installation(dir.path);
    const [dnsPort, httpPort, upDnsPort, upHttpPort] = [await freeDualPort(), await freeTcpPort(), await freeDualPort(),
      await freeTcpPort()];
    const roles: [string[], RegExp][] = [
      [['serve', '--dns-port', String(dnsPort), '--workers', '1', ...paths],
        new RegExp(`on 127\\.0\\.0\\.1:${dnsPort} \\(udp\\+tcp, 1 worker\\)`)],
      [['api', '--http-port', String(httpPort), ...paths], new RegExp(`on http://127\\.0\\.0\\.1:${httpPort}/`)],
      [['up', '--data', join(dir.path, 'up'), '--dns-port', String(upDnsPort), '--http-port', String(upHttpPort)],
        new RegExp(`DNS +127\\.0\\.0\\.1:${upDnsPort} [\\s\\S]*Dashboard +http://127\\.0\\.0\\.1:${upHttpPort}/`)],
    ];
    const ready = await Promise.all(roles.map(async ([args, pattern]) => {
      const child = spawnCli(args);
      children.push(child);
      const started = () => pattern.test(child.stdout()) || (child.process.exitCode !== null ? 'exited' : false);
      return pollUntil(started, `dnsplane ${args[0]} listening`, 60_000);
    }));
    const said = (index: number) =>
      `dnsplane ${roles[index]![0].join(' ')}:\n${children[index]!.stdout()}${children[index]!.stderr()}`;
    ready.forEach((started, index) => assert.equal(started, true, said(index)));
    // `up` stops its ten roles before it exits.
    const codes = await Promise.all(children.map((child) => child.stop(15_000)));
    codes.forEach((code, index) => assert.equal(code, 0, said(index)));
  } finally {
    await Promise.all(children.map((child) => child.stop(1000)));
    dir.cleanup();
  }
});
