// Goal: `dnsplane sim` keeps its contract (DESIGN.md §5): exit 0 when no
// invariant was violated, 1 when one was, printing the first failing seed and
// the command that replays it; `--replay SEED --trace` prints the same
// timeline every time; bad input is refused with exit 2. Method: the real
// CLI as a child process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/env.js';

test('sim in safe mode: exit 0, no violation, a summary with the seeds', async () => {
  const result = await runCli(['sim', '--seed', '500', '--runs', '200']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /200 runs, 0 with violations/);
  assert.match(result.stdout, /no invariant violated/);
});

test('sim in legacy mode: exit 1, the first failing seed and how to replay it', async () => {
  const result = await runCli(['sim', '--mode', 'legacy', '--seed', '1', '--runs', '1000']);
  assert.equal(result.code, 1, result.stderr);
  const seed = /FAILED seed (\d+)/.exec(result.stdout)?.[1];
  assert.ok(seed !== undefined, result.stdout);
  assert.match(result.stdout, new RegExp(`reproduce with: npx dnsplane sim --replay ${seed} --mode legacy --trace`));
});

test('sim --json: a machine-readable summary', async () => {
  const result = await runCli(['sim', '--mode', 'legacy', '--seed', '1', '--runs', '50', '--keep-going', '--json']);
  assert.equal(result.code, 1);
  const summary = JSON.parse(result.stdout) as { runs: number; failures: number; byInvariant: Record<string, number>; firstFailure: { seed: string; reproduce: string } };
  assert.equal(summary.runs, 50);
  assert.ok(summary.failures > 0 && (summary.byInvariant.S2 ?? 0) > 0);
  assert.match(summary.firstFailure.reproduce, /--replay \d+ --mode legacy --trace/);
});

test('sim --replay SEED --mode legacy --trace: the same readable timeline twice', async () => {
  const first = await runCli(['sim', '--replay', '1', '--mode', 'legacy', '--trace']);
  const second = await runCli(['sim', '--replay', '1', '--mode', 'legacy', '--trace']);
  assert.equal(first.code, 1);
  assert.equal(second.stdout, first.stdout, 'a replay is exact');
  assert.match(first.stdout, /picks plan \d+ \(up-front check/);
  assert.match(first.stdout, /VIOLATION S1 .*EMPTY ANSWER/);
});

test('sim --replay in safe mode with a mutant fails and names the invariant', async () => {
  const result = await runCli(['sim', '--seed', '1', '--runs', '500', '--mutant', 'reconciler-off']);
  assert.equal(result.code, 1);
  const seed = /FAILED seed (\d+)/.exec(result.stdout)?.[1];
  assert.match(result.stdout, /L1 /);
  const replay = await runCli(['sim', '--replay', seed!, '--mutant', 'reconciler-off', '--trace']);
  assert.equal(replay.code, 1);
  assert.match(replay.stdout, /VIOLATION L1/);
  assert.match(replay.stdout, /MUTANT reconciler-off/);
});

test('sim refuses bad input with exit 2 and a clear message', async () => {
  const badSeed = await runCli(['sim', '--seed', 'twelve']);
  assert.equal(badSeed.code, 2);
  assert.match(badSeed.stderr, /--seed must be a 64-bit unsigned integer/);
  const tooBig = await runCli(['sim', '--replay', '18446744073709551616']);
  assert.equal(tooBig.code, 2);
  const badRuns = await runCli(['sim', '--runs', '0']);
  assert.equal(badRuns.code, 2);
  const traceWithoutReplay = await runCli(['sim', '--trace']);
  assert.equal(traceWithoutReplay.code, 2);
  assert.match(traceWithoutReplay.stderr, /--trace needs --replay/);
  const mutantInLegacy = await runCli(['sim', '--mode', 'legacy', '--mutant', 'no-cas']);
  assert.equal(mutantInLegacy.code, 2);
});
