// Goal: health checking holds when one checker's own view breaks, and whatever mix of checks a config holds.
// (1) Three checkers, one of them cut off from every target: nothing is withdrawn, and a target that really fails
// is withdrawn by the other two. (2) One checker over http, https (a CA given in the config) and tcp checks:
// a healthy https target stays up; a wrong certificate, a wrong body and a wrong status each go down, and so does
// a dead tcp target beside them. Method: real `dnsplane checker` and `dnsplane planner` processes on one SQLite
// store. The cut-off checker runs in a network namespace the test creates with only its own loopback up (`ip netns`,
// as root), so every probe it makes is refused there; targets are real HTTP listeners in a separate process and
// real HTTPS/TCP servers started by the test; health and plans are read back from the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { cliPath, freeTcpPort, pollUntil, spawnCli, spawnProcess, tempDir, writeConfig, type Child } from '../helpers/env.js';
import { Fleet } from '../helpers/fleet.js';
import { makeCertificates } from '../helpers/tls.js';

const run = promisify(execFile);

/** A network namespace with only its loopback up: from inside, every 127.x address refuses (nothing listens there). */
async function isolatedNamespace(): Promise<{ name: string; remove: () => Promise<void> }> {
  const name = `dnsplane-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    await run('ip', ['netns', 'add', name]);
  } catch (error) {
    throw new Error(`cannot create a network namespace (the test setup runs as root, with iproute2): ${(error as Error).message}`);
  }
  await run('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  return { name, remove: async () => void (await run('ip', ['netns', 'delete', name])) };
}

async function healthStates(store: SqliteStore): Promise<Record<string, string>> {
  return Object.fromEntries((await store.readHealth()).map((record) => [record.target, record.state]));
}

test('three checkers, one cut off from every target: nothing is withdrawn; a target that really fails is withdrawn by the other two', async () => {
  const dir = tempDir('dnsplane-checkers-');
  const targets = [0, 1].flatMap((n) => [1, 2, 3].map((az) => ({ id: `t${n}-${az}`, address: `127.78.${n}.${az}`, az: `az${az}` })));
  let fleet: Fleet | null = null;
  let namespace: { remove: () => Promise<void> } | null = null;
  const children: Child[] = [];
  let store: SqliteStore | null = null;
  try {
    const lbs = await Fleet.start(targets);
    fleet = lbs;
    const configPath = writeConfig(dir.path, {
      zone: 'dnsplane.test.',
      // Self-doubt off (minimum above the 6 targets), so the cut-off checker votes "all down" and only the quorum stops it.
      health: { interval: '300ms', timeout: '200ms', rise: 2, fall: 2, selfDoubtMinTargets: 100 },
      planner: { interval: '100ms' },
      endpoints: [0, 1].map((n) => ({
        name: `svc${n}`,
        targets: targets.filter((target) => target.id.startsWith(`t${n}-`)).map((target) => ({ ...target, capacity: 100, check: { http: `http://${target.address}:${lbs.port(target.id)}/healthz` } })),
      })),
    });
    const data = join(dir.path, 'data');
    const paths = ['--config', configPath, '--data', data];
    const ns = await isolatedNamespace();
    namespace = ns;
    // "a" has the smallest id, so the cut-off checker is also the one that writes the decided health.
    children.push(spawnProcess('ip', ['netns', 'exec', ns.name, process.execPath, cliPath, 'checker', '--id', 'a', ...paths]));
    for (const id of ['b', 'c']) children.push(spawnCli(['checker', '--id', id, ...paths]));
    children.push(spawnCli(['planner', ...paths]));
    // Opening creates the file and its schema if the roles have not yet (SQLite's busy timeout orders the writers).
    store = new SqliteStore(join(data, 'state.db'));
    const db = store;
    const view = async (id: string) => (await db.listCheckerViews()).find((candidate) => candidate.id === id);
    const served = async () => {
      const view = await db.readPlan(await db.latestGeneration());
      return view === null ? null : Object.fromEntries(view.entries.map((entry) => [entry.name, (entry.records ?? []).map((record) => record.target).sort().join(',')]));
    };
    /** Health as decided; fails the test at once if any target but `allowedDown` is ever down. */
    const check = async (allowedDown: readonly string[]) => {
      const states = await healthStates(db);
      const wrong = Object.entries(states).filter(([target, state]) => state === 'down' && !allowedDown.includes(target));
      assert.deepEqual(wrong, [], 'a target was withdrawn on the cut-off checker\'s view');
      return states;
    };

    // The cut-off checker sees all six down; b and c see them up.
    const cutOff = await pollUntil(async () => {
      await check([]);
      const seen = await view('a');
      return seen !== undefined && seen.down.length === 6 ? seen : null;
    }, `the cut-off checker to see every target down (stderr: ${children[0]!.stderr().slice(-400)})`, 30_000);
    assert.equal(cutOff.suspect, false, 'it votes (self-doubt is off here)');
    // Let "a" aggregate several rounds with its all-down view counted: nothing may go down.
    await pollUntil(async () => {
      await check([]);
      const [a, b, c] = [await view('a'), await view('b'), await view('c')];
      return a !== undefined && b !== undefined && c !== undefined && b.down.length === 0 && c.down.length === 0 && a.heartbeatAtMs > cutOff.heartbeatAtMs + 1000;
    }, 'three more rounds of the cut-off checker', 30_000);
    assert.deepEqual(Object.values(await check([])).filter((state) => state === 'up').length, 6, 'every target decided up');
    assert.deepEqual(await pollUntil(served, 'a plan'), { 'svc0.dnsplane.test': 't0-1,t0-2,t0-3', 'svc1.dnsplane.test': 't1-1,t1-2,t1-3' });

    // t0-2 really fails: b and c see it down, and with a's view that is a majority.
    await lbs.close(['t0-2']);
    await pollUntil(async () => (await check(['t0-2']))['t0-2'] === 'down', 't0-2 to be withdrawn', 30_000);
    await pollUntil(async () => (await served())?.['svc0.dnsplane.test'] === 't0-1,t0-3', 'the plan to drop t0-2', 30_000);
    assert.equal((await served())!['svc1.dnsplane.test'], 't1-1,t1-2,t1-3', 'svc1 untouched');
  } finally {
    for (const child of children) await child.stop();
    await namespace?.remove();
    await fleet?.stop();
    await store?.close();
    dir.cleanup();
  }
});

test('mixed http, https and tcp checks: bad certificate, body and status go down, a dead tcp target is withdrawn, the healthy stay up', async () => {
  const dir = tempDir('dnsplane-mixed-checks-');
  const serverName = 'lb.dnsplane.test';
  const servers: (HttpsServer | TcpServer)[] = [];
  let fleet: Fleet | null = null;
  let checker: Child | null = null;
  let store: SqliteStore | null = null;
  const listenOn = async (server: HttpsServer | TcpServer): Promise<number> => {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return (server.address() as { port: number }).port;
  };
  try {
    const certificates = await makeCertificates(dir.path, serverName);
    const good = await listenOn(createHttpsServer(certificates.good, (request, response) => {
      if (request.url === '/ok') return void response.writeHead(200).end('status: OK');
      if (request.url === '/fail') return void response.writeHead(503).end('status: OK');
      return void response.writeHead(200).end('status: degraded');
    }));
    const impostor = await listenOn(createHttpsServer(certificates.impostor, (_request, response) => response.writeHead(200).end('status: OK')));
    const tcpAlive = await listenOn(createTcpServer((socket) => socket.destroy()));
    const tcpDead = await freeTcpPort();
    const lbs = await Fleet.start([{ id: 'plain', address: '127.79.0.1' }]);
    fleet = lbs;
    const https = (port: number, path: string) => ({ https: `https://127.0.0.1:${port}${path}`, host: serverName, ca: certificates.caPath, match: 'OK' });
    const checks: Record<string, Record<string, unknown>> = {
      'https-good': https(good, '/ok'),
      'https-impostor': https(impostor, '/ok'),
      'https-body': https(good, '/degraded'),
      'https-status': https(good, '/fail'),
      'http-good': { http: `http://127.79.0.1:${lbs.port('plain')}/healthz`, expectStatus: '200-299' },
      'tcp-good': { tcp: `127.0.0.1:${tcpAlive}` },
      'tcp-dead': { tcp: `127.0.0.1:${tcpDead}` },
    };
    const configPath = writeConfig(dir.path, {
      zone: 'dnsplane.test.',
      health: { interval: '300ms', timeout: '250ms', rise: 2, fall: 2, selfDoubtMinTargets: 100 },
      endpoints: [{ name: 'mixed', targets: Object.entries(checks).map(([id, check], index) => ({ id, address: `192.0.2.${index + 1}`, capacity: 100, check })) }],
    });
    const data = join(dir.path, 'data');
    checker = spawnCli(['checker', '--id', 'solo', '--config', configPath, '--data', data]);
    const running = checker;
    // Opening creates the file and its schema if the roles have not yet (SQLite's busy timeout orders the writers).
    store = new SqliteStore(join(data, 'state.db'));
    const db = store;
    const want = { 'https-good': 'up', 'https-impostor': 'down', 'https-body': 'down', 'https-status': 'down', 'http-good': 'up', 'tcp-good': 'up', 'tcp-dead': 'down' };
    await pollUntil(async () => JSON.stringify(await healthStates(db)) === JSON.stringify(Object.fromEntries(Object.keys(want).sort().map((key) => [key, want[key as keyof typeof want]]))),
      `health as each check says (stderr: ${running.stderr().slice(-400)})`, 30_000);
    const view = (await db.listCheckerViews())[0]!;
    assert.deepEqual(view.down, ['https-body', 'https-impostor', 'https-status', 'tcp-dead']);
    assert.doesNotMatch(running.stderr(), /health round failed|TypeError|stack/, 'no round failed');
  } finally {
    await checker?.stop();
    for (const server of servers) server.close();
    await fleet?.stop();
    await store?.close();
    dir.cleanup();
  }
});
