// Goal: `dnsplane up` never reports success on ports another program holds, and never restarts forever a role that
// refuses its input. With the DNS port held (UDP) or the HTTP port held (TCP) by this test, `up` exits 2 at once with
// a message naming the port, prints no banner and leaves no process behind; and when a running role is restarted onto
// input it refuses (the config file made invalid, then the planner killed), `up` stops every role and exits 2 with
// that role's message. Method: `up` as a child process; its descendants are recorded by pid while it runs (and every
// process naming its data directory is looked for in /proc) and must all be gone once it exits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeDualPort, freeTcpPort, pollUntil, sampleConfig, spawnCli, tempDir, writeConfig, type Child } from '../helpers/env.js';
import { childrenOf, descendantsOf, isAlive } from '../helpers/procs.js';

/** Live processes (other than zombies) whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text) && isAlive(Number(entry))) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Runs `up` to its exit, recording every descendant it had; kills it after `timeoutMs` (then the test fails). */
async function runUp(up: Child, timeoutMs: number): Promise<{ code: number | null | 'timeout'; seen: Set<number> }> {
  const seen = new Set<number>();
  const watch = setInterval(() => { for (const pid of descendantsOf(up.process.pid!)) seen.add(pid); }, 20);
  const code = await Promise.race([up.exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs))]);
  clearInterval(watch);
  if (code === 'timeout') await up.stop(1000);
  return { code, seen };
}

async function assertNothingLeft(data: string, seen: Set<number>): Promise<void> {
  await pollUntil(() => [...seen].every((pid) => !isAlive(pid)), `every process up started to be gone (${[...seen].join(', ')})`, 10_000);
  await pollUntil(() => processesMentioning(data).length === 0, `no process naming ${data}`, 10_000);
  assert.equal(existsSync(join(data, 'up.pid')), false, 'the pid file is removed');
}

function holdUdp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => resolve(socket));
  });
}

function holdTcp(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

for (const held of ['dns', 'http'] as const) {
  test(`up with the ${held === 'dns' ? 'DNS port held over UDP' : 'HTTP port held'} exits 2 at once, names the port and starts nothing`, async () => {
    const dir = tempDir('dnsplane-up-ports-');
    const data = join(dir.path, 'data');
    const dnsPort = await freeDualPort();
    const httpPort = await freeTcpPort();
    const holder = held === 'dns' ? await holdUdp(dnsPort) : await holdTcp(httpPort);
    try {
      const up = spawnCli(['up', '--data', data, '--dns-port', String(dnsPort), '--http-port', String(httpPort)]);
      const { code, seen } = await runUp(up, 20_000);
      assert.equal(code, 2, `up exits 2: ${up.stderr().slice(-1500)}`);
      const expected = held === 'dns'
        ? new RegExp(`cannot use UDP port ${dnsPort} on 127\\.0\\.0\\.1 for DNS \\(dns\\.listen or --dns-port\\): another program holds it \\(EADDRINUSE\\)`)
        : new RegExp(`cannot use TCP port ${httpPort} on 127\\.0\\.0\\.1 for the API and dashboard \\(api\\.listen or --http-port\\): another program holds it`);
      assert.match(up.stderr(), expected);
      assert.doesNotMatch(up.stdout(), /dnsplane is up/);
      assert.equal(seen.size, 0, `no role was started (${[...seen].join(', ')})`);
      await assertNothingLeft(data, seen);
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
      dir.cleanup();
    }
  });
}

/** The info line each role logs once it has read its config and opened the store. */
const rolesStarted = ['checker started', 'planner started', 'enactor started', 'janitor started', 'reconciler started', 'DNS server started', 'API started'];

test('a role restarted onto input it refuses (exit 2) stops up with its message and exit 2, not a restart loop', async () => {
  const dir = tempDir('dnsplane-up-refused-');
  const data = join(dir.path, 'data');
  const config = writeConfig(dir.path, sampleConfig(2));
  const dnsPort = await freeDualPort();
  const httpPort = await freeTcpPort();
  const up = spawnCli(['up', '--config', config, '--data', data, '--dns-port', String(dnsPort), '--http-port', String(httpPort)], { DNSPLANE_LOG_LEVEL: 'info' });
  const seen = new Set<number>();
  try {
    await pollUntil(() => up.stdout().includes('Press Ctrl-C to stop.') || up.process.exitCode !== null, 'the banner', 30_000);
    assert.match(up.stdout(), /dnsplane is up/, up.stderr().slice(-1500));
    // Every role must have read the config before it is broken, or a role still starting would be the one to refuse it.
    await pollUntil(() => rolesStarted.every((message) => up.stderr().split(`"msg":"${message}"`).length - 1 >= (message.startsWith('checker') || message.startsWith('enactor') ? 3 : 1)), 'every role to log its start', 120_000, 100);
    const planner = await pollUntil(() => childrenOf(up.process.pid!).find((child) => child.args.includes('planner')), 'the planner child');
    for (const pid of descendantsOf(up.process.pid!)) seen.add(pid);
    // The operator breaks the config file; nothing notices until a role starts again.
    writeConfig(dir.path, { zone: 'dnsplane.test.', health: { interval: 'often' }, endpoints: [{ name: 'x', targets: [{ id: 'a', address: '127.0.0.1' }] }] });
    process.kill(planner.pid, 'SIGKILL');
    const { code, seen: later } = await runUp(up, 60_000);
    for (const pid of later) seen.add(pid);
    assert.equal(code, 2, `up exits 2: ${up.stderr().slice(-1500)}`);
    assert.match(up.stderr(), /error: role planner exited with code 2 \(bad input: a restart cannot fix it\), so dnsplane up stopped every role:\n {2}\S*config\.yaml is invalid:\n {4}health\.interval: "often" is not a duration/);
    assert.doesNotMatch(up.stdout(), /dnsplane stopped/);
    await assertNothingLeft(data, seen);
  } finally {
    await up.stop(1000);
    dir.cleanup();
  }
});
