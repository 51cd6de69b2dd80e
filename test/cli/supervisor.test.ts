// Goal: `up`'s supervisor restarts a crash-looping role with exponential backoff capped at restartMaxMs, and stops
// every child on stop(); a role that refuses its input (exit 2) is not restarted — `failed` reports it with the last
// lines of its stderr, so `up` can stop and say why instead of restarting it forever. Method: the Supervisor with real
// child processes of the CLI: a legacy simulation that exits 1 at once (a role that crashes at every start) and an
// enactor given a config file that does not exist (exit 2); its log is read as the JSON lines pino writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import { Supervisor } from '../../src/cli/supervisor.js';
import { pollUntil, tempDir } from '../helpers/env.js';
import { childrenOf, isAlive } from '../helpers/procs.js';

interface LogLine {
  msg: string;
  role?: string;
  code?: number;
  restartInMs?: number;
  restarts?: number;
}

function capturingLogger(): { log: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { log, lines };
}

const options = { restartBaseMs: 50, restartMaxMs: 400, stableAfterMs: 60_000, stopGraceMs: 2000 };

test('a crash-looping role is restarted with exponential backoff, capped; none after stop()', async () => {
  const { log, lines } = capturingLogger();
  const supervisor = new Supervisor(options, log);
  supervisor.start([{ name: 'crasher', args: ['sim', '--mode', 'legacy', '--runs', '1', '--seed', '1'] }]);
  const restarts = () => lines.filter((line) => line.msg === 'role crasher exited; restarting');
  try {
    await pollUntil(() => restarts().length >= 6, 'six restarts of the crashing role', 120_000, 50);
  } finally {
    await supervisor.stop();
  }
  const seen = restarts().slice(0, 6);
  assert.deepEqual(seen.map((line) => line.code), [1, 1, 1, 1, 1, 1], 'each start crashed with exit 1');
  assert.deepEqual(seen.map((line) => line.restartInMs), [50, 100, 200, 400, 400, 400], 'doubling, capped at 400 ms');
  assert.deepEqual(seen.map((line) => line.restarts), [1, 2, 3, 4, 5, 6]);
  const countAtStop = restarts().length;
  // Stopped: no restart is scheduled any more (the longest backoff is 400 ms; wait well past it).
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(restarts().length, countAtStop, 'no restart after stop()');
});

test('a role that refuses its input (exit 2) is not restarted: failed resolves with its stderr tail', async () => {
  const dir = tempDir('dnsplane-supervisor-');
  const { log, lines } = capturingLogger();
  const supervisor = new Supervisor(options, log);
  const missing = join(dir.path, 'no-such-config.yaml');
  try {
    supervisor.start([{ name: 'enactor-x', args: ['enactor', '--id', 'x', '--config', missing, '--data', dir.path] }]);
    const failure = await supervisor.failed;
    assert.equal(failure.role, 'enactor-x');
    assert.equal(failure.code, 2);
    assert.ok(failure.stderrTail.some((line) => line.includes(missing)), failure.stderrTail.join('\n'));
    assert.ok(lines.some((line) => line.msg === 'role enactor-x refused its input (exit 2); not restarting it'));
    assert.ok(!lines.some((line) => line.msg.endsWith('restarting')), 'never restarted');
  } finally {
    await supervisor.stop();
    dir.cleanup();
  }
});

test('stop() ends a running role: SIGTERM, and the child is gone when stop resolves', async () => {
  const { log } = capturingLogger();
  const supervisor = new Supervisor(options, log);
  // A simulation long enough to still run when stopped.
  supervisor.start([{ name: 'long', args: ['sim', '--mode', 'safe', '--runs', '1000000', '--seed', '1'] }]);
  const child = await pollUntil(
    () => childrenOf(process.pid).find((c) => c.args.includes('1000000')), 'the role to start', 30_000, 20);
  const pid = child.pid;
  assert.ok(isAlive(pid));
  await supervisor.stop();
  assert.ok(!isAlive(pid), 'the role is gone when stop() resolves');
});
