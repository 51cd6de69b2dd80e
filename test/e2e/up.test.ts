// Goal: `dnsplane up` is the whole system on one machine — in demo mode on
// free ports, a real `dig` answers dynamodb.us-east-1.dnsplane.test; failing
// a demo load balancer (its /healthz fails for real) removes its address and
// recovering it brings it back; an enactor child killed with SIGKILL is
// restarted and the system still converges; SIGTERM leaves no process
// behind, and a SIGKILLed `up` leaves no role running either (each notices
// its supervisor is gone). And a bad config starts nothing. Method: `up` as a child process,
// observed through dig, the `demo` and `status` commands and /proc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freeDualPort, freeTcpPort, pollUntil, runCli, spawnCli, tempDir, writeConfig } from '../helpers/env.js';
import { digA } from '../helpers/dig.js';
import { childrenOf, descendantsOf, isAlive } from '../helpers/procs.js';

const dynamo = 'dynamodb.us-east-1.dnsplane.test';

/** SIGKILLs whichever of `pids` still run (a pid that exits meanwhile is fine; any other error is not). */
function killAll(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
}
const s3 = 's3.us-east-1.dnsplane.test';

test('up (demo): dig answers, a failed load balancer is withdrawn and restored, a killed enactor is restarted, SIGTERM leaves nothing', async () => {
  const dir = tempDir('dnsplane-up-');
  const data = join(dir.path, 'data');
  const dnsPort = await freeDualPort();
  const httpPort = await freeTcpPort();
  const up = spawnCli(['up', '--data', data, '--dns-port', String(dnsPort), '--http-port', String(httpPort)]);
  const upPid = up.process.pid!;
  const seen = new Set<number>();
  const remember = () => { for (const pid of descendantsOf(upPid)) seen.add(pid); };
  // The first failure is the one reported: the clean-up checks below run only after a passing body.
  let failure: unknown = null;
  try {
    await pollUntil(() => up.stdout().includes('Press Ctrl-C to stop.'), 'the banner', 90_000);
    assert.match(up.stdout(), new RegExp(`dig @127\\.0\\.0\\.1 -p ${dnsPort} ${dynamo.replace(/\./g, '\\.')} A \\+short`));
    assert.match(up.stdout(), new RegExp(`http://127\\.0\\.0\\.1:${httpPort}/`));
    await pollUntil(async () => (await digA(dnsPort, dynamo)).join() === '127.0.0.2,127.0.0.3,127.0.0.4', 'dig to answer with all three demo load balancers', 90_000, 100);
    remember();

    assert.equal((await runCli(['demo', 'fail', 'lb-2', '--data', data])).code, 0);
    await pollUntil(async () => (await digA(dnsPort, dynamo)).join() === '127.0.0.2,127.0.0.4', 'lb-2 to leave the answer', 20_000, 100);
    // JSON carries typed fields; the display string ("down (checker)") is only in the text output.
    const list = JSON.parse((await runCli(['demo', 'list', '--json', '--data', data])).stdout) as Record<string, unknown>[];
    assert.deepEqual(list.find((t) => t.id === 'lb-2'), {
      id: 'lb-2', address: '127.0.0.3', az: 'az2', endpoint: 'dynamodb.us-east-1', port: list[0]!.port, failed: true, health: { state: 'down', source: 'checker' },
    });
    assert.equal(typeof list[0]!.port, 'number');
    assert.match((await runCli(['demo', 'list', '--data', data])).stdout, /^lb-2 +127\.0\.0\.3:\d+ +dynamodb\.us-east-1 +az2 {2}failed {3}health down \(checker\)$/m);
    assert.equal((await runCli(['demo', 'recover', 'lb-2', '--data', data])).code, 0);
    await pollUntil(async () => (await digA(dnsPort, dynamo)).join() === '127.0.0.2,127.0.0.3,127.0.0.4', 'lb-2 to come back', 20_000, 100);

    // SIGKILL one enactor child; the supervisor restarts it and the system still converges.
    const victim = childrenOf(upPid).find((child) => child.args.includes('enactor') && child.args.includes('az2'))!;
    assert.ok(victim !== undefined, 'enactor az2 runs as a child of up');
    process.kill(victim.pid, 'SIGKILL');
    const restarted = await pollUntil(() => childrenOf(upPid).find((c) => c.args.includes('enactor') && c.args.includes('az2') && c.pid !== victim.pid), 'az2 to be restarted', 20_000);
    remember();
    assert.equal((await runCli(['demo', 'fail', 'lb-5', '--data', data])).code, 0);
    await pollUntil(async () => (await digA(dnsPort, s3)).join() === '127.0.0.5', 'lb-5 to leave the answer after the restart', 20_000, 100);
    await pollUntil(async () => {
      const status = JSON.parse((await runCli(['status', '--json', '--data', data])).stdout);
      const az2 = status.enactors.find((e: { id: string }) => e.id === 'az2');
      return az2.alive && az2.enactedGeneration === status.generation.latest && status.names.converged === status.names.total;
    }, 'the restarted az2 to reach the newest generation', 20_000, 200);
    assert.ok(isAlive(restarted.pid));
    remember();
  } catch (error) {
    failure = error;
  }
  remember();
  up.process.kill('SIGTERM');
  const code = await Promise.race([up.exited, new Promise((resolve) => setTimeout(() => resolve('timeout'), 20_000))]);
  if (code === 'timeout') up.process.kill('SIGKILL');
  if (failure !== null) {
    killAll(seen);
    dir.cleanup();
    throw failure;
  }
  try {
    assert.equal(code, 0, `up exits cleanly on SIGTERM: ${up.stderr().slice(-1500)}`);
    await pollUntil(() => [...seen].every((pid) => !isAlive(pid)), 'every child of up to be gone', 10_000);
    assert.ok(seen.size >= 9, `up ran its roles as children (${seen.size} seen)`);
    assert.equal(existsSync(join(data, 'up.pid')), false, 'the pid file is removed');
  } finally {
    killAll(seen);
    dir.cleanup();
  }
});

test('up with a bad config reports every mistake with its path, exits non-zero and starts nothing', async () => {
  const dir = tempDir('dnsplane-up-bad-');
  try {
    const config = writeConfig(dir.path, {
      zone: 'dnsplane.test.',
      health: { interval: 'often' },
      endpoints: [{ name: 'x', targets: [{ id: 'a', address: '127.0.0.300' }] }],
    });
    const data = join(dir.path, 'data');
    const result = await runCli(['up', '--config', config, '--data', data]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /health\.interval: "often" is not a duration/);
    assert.match(result.stderr, /endpoints\[0\]\.targets\[0\]\.address: "127\.0\.0\.300" is not an IPv4 or IPv6 address/);
    assert.equal(existsSync(data), false, 'nothing was created or started');
    const badPort = await runCli(['up', '--data', data, '--dns-port', 'abc']);
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /--dns-port must be a port number, not "abc"/);
  } finally {
    dir.cleanup();
  }
});

test('a SIGTERM while up is still starting its roles stops it cleanly: exit 0, no role left, no pid file', async () => {
  const dir = tempDir('dnsplane-up-early-');
  const data = join(dir.path, 'data');
  const up = spawnCli(['up', '--data', data, '--dns-port', String(await freeDualPort()), '--http-port',
    String(await freeTcpPort())]);
  const upPid = up.process.pid!;
  const seen = new Set<number>();
  try {
    // The data directory claimed, the demo, the store and the roles still starting: a signal here used to kill `up`
    // outright (no handler yet), leaving its roles to notice on their own.
    const claimed = () => existsSync(join(data, 'up.pid')) || up.process.exitCode !== null;
    await pollUntil(claimed, 'up to claim its data', 90_000, 5);
    up.process.kill('SIGTERM');
    const code = await Promise.race([up.exited, new Promise((resolve) => setTimeout(() => resolve('timeout'), 20_000))]);
    for (const pid of descendantsOf(upPid)) seen.add(pid);
    assert.equal(code, 0, `up exits cleanly on a SIGTERM while it starts: ${up.stderr().slice(-1500)}`);
    assert.match(up.stdout(), /dnsplane stopped/);
    await pollUntil(() => [...seen].every((pid) => !isAlive(pid)), 'every child of up to be gone', 10_000);
    assert.equal(existsSync(join(data, 'up.pid')), false, 'the pid file is removed');
  } finally {
    if (up.process.exitCode === null) up.process.kill('SIGKILL');
    killAll(seen);
    dir.cleanup();
  }
});

test('roles stop themselves when up is SIGKILLed: every child notices its supervisor is gone and exits', async () => {
  const dir = tempDir('dnsplane-up-killed-');
  const data = join(dir.path, 'data');
  const dnsPort = await freeDualPort();
  const up = spawnCli(['up', '--data', data, '--dns-port', String(dnsPort), '--http-port', String(await freeTcpPort())]);
  const upPid = up.process.pid!;
  const seen = new Set<number>();
  try {
    await pollUntil(() => up.stdout().includes('Press Ctrl-C to stop.'), 'the banner', 90_000);
    await pollUntil(async () => (await digA(dnsPort, dynamo)).length === 3, 'dig to answer', 90_000, 100);
    for (const pid of descendantsOf(upPid)) seen.add(pid);
    assert.ok(seen.size >= 9, `up runs its roles as children (${seen.size} seen)`);
    up.process.kill('SIGKILL');
    await up.exited;
    // No supervisor is left to stop them: each role must see that its parent changed and shut itself down.
    await pollUntil(() => [...seen].every((pid) => !isAlive(pid)), 'every role of the killed up to exit', 30_000, 100);
  } finally {
    if (up.process.exitCode === null && up.process.signalCode === null) up.process.kill('SIGKILL');
    killAll(seen);
    dir.cleanup();
  }
});
