// Goal: the health checker against real probe targets on loopback — HTTP
// status and TCP connect probes, timeouts, rise/fall, self-doubt (everything
// failing at once changes nothing published), a slowly spreading failure
// withdrawing targets one by one, the velocity limit, and operator
// overrides that win over probes until cleared. Method: real HTTP servers
// and TCP listeners whose behaviour the test switches, the real Checker
// driven round by round, health read back from a real SQLite store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { Checker, type CheckerOptions } from '../../src/health/checker.js';
import { probeHttp, probeTcp } from '../../src/health/probe.js';
import { silentLogger } from '../../src/util/log.js';
import { seededRng, systemClock } from '../../src/util/clock.js';
import type { EndpointSpec } from '../../src/domain/types.js';
import { openInstallation, type Installation } from '../helpers/fixtures.js';

type Mode = 'ok' | 'fail' | 'hang';

/** One HTTP server on 127.0.0.1 whose /healthz for each target id answers per `modes`. */
async function startTargets(modes: Map<string, Mode>): Promise<{ port: number; server: Server }> {
  const server = createHttpServer((request, response) => {
    const id = request.url!.split('/')[2]!;
    const mode = modes.get(id) ?? 'ok';
    if (mode === 'hang') return; // never answers: the probe must time out
    response.writeHead(mode === 'ok' ? 200 : 503, { connection: 'close' }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { port: typeof address === 'object' && address !== null ? address.port : 0, server };
}

function inventory(port: number, ids: string[][]): EndpointSpec[] {
  return ids.map((group, n) => ({
    name: `svc${n}.dnsplane.test`,
    targets: group.map((id, t) => ({ id, address: `127.0.${n}.${t + 1}`, az: 'az', capacity: 100, check: { http: `http://127.0.0.1:${port}/healthz/${id}` } })),
  }));
}

const options: CheckerOptions = {
  id: 'checker', viewTtlMs: 60_000, intervalMs: 50, timeoutMs: 200, rise: 2, fall: 2, concurrency: 4, jitterFraction: 0,
  selfDoubt: { fraction: 0.5, minTargets: 4 }, maxWithdrawFraction: 1,
};

async function withChecker(ids: string[][], overrides: Partial<CheckerOptions>, body: (c: { checker: Checker; modes: Map<string, Mode>; install: Installation; state: () => Promise<Record<string, string>> }) => Promise<void>) {
  const install = openInstallation();
  const modes = new Map<string, Mode>();
  const { port, server } = await startTargets(modes);
  try {
    const checker = new Checker({ ...options, ...overrides }, { store: install.store, clock: systemClock, rng: seededRng(1), log: silentLogger, inventory: () => inventory(port, ids) });
    const state = async () => Object.fromEntries((await install.store.readHealth()).map((r) => [r.target, r.state]));
    await body({ checker, modes, install, state });
  } finally {
    server.closeAllConnections();
    server.close();
    await install.close();
  }
}

test('probes: HTTP status, connection refused, timeout; TCP connect and refused', async () => {
  const modes = new Map<string, Mode>([['bad', 'fail'], ['slow', 'hang']]);
  const { port, server } = await startTargets(modes);
  const tcp: TcpServer = createTcpServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  const tcpPort = (tcp.address() as { port: number }).port;
  try {
    assert.equal((await probeHttp(`http://127.0.0.1:${port}/healthz/good`, 500)).ok, true);
    const bad = await probeHttp(`http://127.0.0.1:${port}/healthz/bad`, 500);
    assert.deepEqual([bad.ok, bad.error], [false, 'HTTP 503']);
    assert.equal((await probeHttp(`http://127.0.0.1:${port}/healthz/bad`, 500, 'GET', 503)).ok, true, 'an expected status passes');
    const slow = await probeHttp(`http://127.0.0.1:${port}/healthz/slow`, 150);
    assert.deepEqual([slow.ok, slow.error], [false, 'timeout after 150 ms']);
    assert.ok(slow.latencyMs >= 140 && slow.latencyMs < 1000, `timed out after ${slow.latencyMs} ms`);
    assert.equal((await probeTcp(`127.0.0.1:${tcpPort}`, 500)).ok, true);
    tcp.close();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal((await probeTcp(`127.0.0.1:${tcpPort}`, 500)).ok, false, 'refused after the listener closed');
  } finally {
    server.closeAllConnections();
    server.close();
    tcp.close();
  }
});

test('rise/fall: a target goes down after `fall` failed rounds (timeouts count) and back after `rise` good ones', async () => {
  await withChecker([['a', 'b', 'c'], ['d', 'e', 'f']], {}, async ({ checker, modes, state }) => {
    await checker.round();
    assert.deepEqual(await state(), { a: 'up', b: 'up', c: 'up', d: 'up', e: 'up', f: 'up' });
    modes.set('b', 'hang');
    await checker.round();
    assert.equal((await state()).b, 'up', 'one failure is not enough');
    await checker.round();
    assert.equal((await state()).b, 'down');
    modes.set('b', 'ok');
    await checker.round();
    assert.equal((await state()).b, 'down', 'one pass is not enough');
    await checker.round();
    assert.equal((await state()).b, 'up');
  });
});

test('self-doubt: all probes failing at once changes nothing published and raises an alarm; a slow spread still withdraws one by one', async () => {
  await withChecker([['a', 'b', 'c', 'd'], ['e', 'f', 'g', 'h']], {}, async ({ checker, modes, state, install }) => {
    await checker.round();
    for (const id of 'abcdefgh') modes.set(id, 'fail');
    for (let round = 0; round < 4; round += 1) assert.equal((await checker.round()).suspect, true);
    assert.ok(Object.values(await state()).every((s) => s === 'up'), 'the fleet is still up');
    assert.deepEqual((await install.store.listAlarms(true)).map((a) => a.kind), ['checker-self-doubt']);
    for (const id of 'abcdefgh') modes.set(id, 'ok');
    await checker.round();
    assert.deepEqual(await install.store.listAlarms(true), [], 'the alarm clears when the probes agree again');
    // Now a failure that spreads one target per two rounds.
    for (const id of 'abcde') {
      modes.set(id, 'fail');
      await checker.round();
      await checker.round();
      assert.equal((await state())[id], 'down', `${id} withdrawn`);
    }
  });
});

test('velocity: at most the allowed share of a name\'s capacity is withdrawn per interval', async () => {
  await withChecker([['a', 'b', 'c', 'd']], { maxWithdrawFraction: 0.25, selfDoubt: { fraction: 1, minTargets: 100 } }, async ({ checker, modes, state }) => {
    await checker.round();
    modes.set('a', 'fail');
    modes.set('b', 'fail');
    await checker.round();
    const second = await checker.round();
    assert.deepEqual(second.changed.map((c) => c.target), ['a']);
    assert.deepEqual(second.deferred, ['b']);
    assert.deepEqual(await state(), { a: 'down', b: 'up', c: 'up', d: 'up' });
    await checker.round();
    assert.equal((await state()).b, 'down', 'withdrawn in the next interval');
  });
});

test('operator override wins over probes until cleared', async () => {
  await withChecker([['a', 'b', 'c']], {}, async ({ checker, modes, state, install }) => {
    await checker.round();
    await install.store.setHealth('a', 'down', 'operator');
    await checker.round();
    await checker.round();
    assert.equal((await state()).a, 'down', 'the probe says up, the operator says down: operator wins');
    modes.set('b', 'fail');
    await install.store.setHealth('b', 'up', 'operator');
    await checker.round();
    await checker.round();
    assert.equal((await state()).b, 'up');
    await install.store.clearHealth('a');
    await install.store.clearHealth('b');
    await checker.round();
    assert.deepEqual([(await state()).a, (await state()).b], ['up', 'down'], 'after clearing, probes decide again');
  });
});
