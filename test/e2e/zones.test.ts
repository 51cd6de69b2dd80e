// Goal: one installation, two zones, two providers (issue 13): `zones:` with a built-in zone and an RFC 2136 zone
// on a real Knot DNS, one `dnsplane up` (one planner, one set of enactors, one reconciler) serving both. Both
// converge; then Knot is stopped (SIGSTOP: its sockets stay open and every request to it hangs until the provider's
// timeout, the worst a server can do) and a health change in each zone must still reach the built-in zone's answer,
// while the API and the dashboard (Chromium) show the Knot zone unreachable and behind and the built-in zone in sync.
// Once Knot runs again (SIGCONT) its zone catches up by itself. Method: real processes (knotd, `up` and its roles,
// Chromium), answers read with dig from each zone's own server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chromium, type BrowserContext } from 'playwright-core';
import { providerSection, startDnsServer } from '../helpers/dns-servers.js';
import { freeDualPort, freeTcpPort, pollUntil, runCli, spawnCli, tempDir, writeConfig, type Child } from '../helpers/env.js';

const run = promisify(execFile);
const browserArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface ZoneView {
  zone: string;
  provider: string;
  names: { total: number; converged: number };
  reachable: boolean;
  error?: string;
}

interface StatusView {
  generation: { latest: number };
  zones: ZoneView[];
  enactors: { id: string; enactedGeneration: number; alive: boolean }[];
  alarms: { kind: string; name: string }[];
}

async function digShort(port: number, name: string): Promise<string[]> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), name, 'A', '+short', '+time=1', '+tries=1']);
  return stdout.split('\n').filter((line) => line.length > 0).sort();
}

test('two zones, two providers, one up: both converge; a stopped Knot stalls only its own zone, which catches up once it runs', async (t) => {
  const knot = await startDnsServer('knot');
  const dir = tempDir('dnsplane-zones-');
  let up: Child | null = null;
  let browser: BrowserContext | null = null;
  const knotPid = knot.child.process.pid!;
  let knotStopped = false;
  try {
    const target = (id: string, address: string) => ({ id, address, az: id.endsWith('1') ? 'az1' : 'az2' });
    const configPath = writeConfig(dir.path, {
      zones: [
        { name: 'builtin.test.', provider: { kind: 'builtin' } },
        { name: `${knot.zone}.`, provider: providerSection(knot) },
      ],
      planner: { interval: '100ms' },
      enactor: { pollInterval: '20ms' },
      reconciler: { interval: '200ms' },
      endpoints: [
        // Relative: in the first zone.
        { name: 'web', targets: [target('web-1', '127.3.0.1'), target('web-2', '127.3.0.2')] },
        { name: `api.${knot.zone}.`, targets: [target('api-1', '127.4.0.1'), target('api-2', '127.4.0.2')] },
      ],
    });
    const data = `${dir.path}/data`;
    const paths = ['--config', configPath, '--data', data];
    const [dnsPort, httpPort] = [await freeDualPort(), await freeTcpPort()];
    up = spawnCli(['up', ...paths, '--dns-port', String(dnsPort), '--http-port', String(httpPort)]);
    const running = up;
    const alive = () => {
      if (running.process.exitCode !== null) throw new Error(`up exited: ${running.stderr().slice(-1500)}`);
    };
    await pollUntil(() => {
      alive();
      return running.stdout().includes('dnsplane API');
    }, 'the API to listen', 60_000);
    assert.match(running.stdout(), /zone builtin\.test\b/);
    assert.match(running.stdout(), new RegExp(`${knot.server} \\(RFC 2136.*zone ${knot.zone}`));
    const base = `http://127.0.0.1:${httpPort}`;
    const status = async () => (await (await fetch(`${base}/api/status`)).json()) as StatusView;

    // Both converge: each zone's answers from its own server, and the API's per-zone status.
    const both = ['127.3.0.1', '127.3.0.2'];
    await pollUntil(async () => {
      alive();
      return (await digShort(dnsPort, 'web.builtin.test')).join(',') === both.join(',');
    }, 'the built-in server to answer web.builtin.test', 60_000, 100);
    await pollUntil(async () => {
      alive();
      return (await digShort(knot.port, `api.${knot.zone}`)).join(',') === '127.4.0.1,127.4.0.2';
    }, 'Knot to answer api', 60_000, 100);
    const converged = await pollUntil(async () => {
      const view = await status();
      return view.zones.every((zone) => zone.reachable && zone.names.converged === 1) ? view : null;
    }, 'both zones converged in the API', 30_000, 100);
    assert.deepEqual(converged.zones.map(({ zone, provider, names }) => ({ zone, provider, names })), [
      { zone: 'builtin.test', provider: 'builtin', names: { total: 1, converged: 1 } },
      { zone: knot.zone, provider: 'rfc2136', names: { total: 1, converged: 1 } },
    ]);
    // One enactor loop per zone in each enactor process.
    const enactorIds = converged.enactors.map((enactor) => enactor.id).sort();
    assert.ok(enactorIds.some((id) => id.endsWith('@builtin.test')) && enactorIds.some((id) => id.endsWith(`@${knot.zone}`)),
      enactorIds.join(', '));
    // The built-in server is authoritative for its zone only: the Knot zone's names are not its to answer.
    const refused = await run('dig', ['@127.0.0.1', '-p', String(dnsPort), `api.${knot.zone}`, 'A', '+time=1', '+tries=1']);
    assert.match(refused.stdout, /status: REFUSED/);

    // Knot stops answering. A health change in each zone: the built-in zone's must still reach its answer.
    process.kill(knotPid, 'SIGSTOP');
    knotStopped = true;
    for (const targetId of ['web-1', 'api-1']) {
      const set = await runCli(['health', 'set', targetId, 'down', ...paths]);
      assert.equal(set.code, 0, set.stderr);
    }
    const changedAt = Date.now();
    await pollUntil(async () => {
      alive();
      return (await digShort(dnsPort, 'web.builtin.test')).join(',') === '127.3.0.2';
    }, 'the built-in zone to follow its health change while Knot is stopped', 60_000, 100);
    t.diagnostic(`built-in zone answer changed ${Date.now() - changedAt} ms after the health change, Knot stopped`);
    const stalled = await pollUntil(async () => {
      const view = await status();
      const knotZone = view.zones.find((zone) => zone.zone === knot.zone);
      return knotZone !== undefined && !knotZone.reachable ? view : null;
    }, 'the API to report the Knot zone unreachable', 60_000, 200);
    const [builtinZone, knotZone] = stalled.zones;
    assert.equal(builtinZone!.reachable, true);
    assert.deepEqual(builtinZone!.names, { total: 1, converged: 1 });
    assert.deepEqual(knotZone!.names, { total: 1, converged: 0 }, 'the Knot zone is behind the newest plan');
    assert.ok((knotZone!.error ?? '').length > 0, 'the unreachable zone says why');
    // The built-in zone's enactor loops are at the newest plan; the Knot zone's are not.
    const latest = stalled.generation.latest;
    const builtinLoops = stalled.enactors.filter((enactor) => enactor.id.endsWith('@builtin.test') && enactor.alive);
    const knotLoops = stalled.enactors.filter((enactor) => enactor.id.endsWith(`@${knot.zone}`) && enactor.alive);
    assert.ok(builtinLoops.length > 0 && builtinLoops.every((enactor) => enactor.enactedGeneration === latest),
      JSON.stringify(stalled.enactors));
    assert.ok(knotLoops.length > 0 && knotLoops.every((enactor) => enactor.enactedGeneration < latest),
      JSON.stringify(stalled.enactors));
    await pollUntil(async () => (await status()).alarms.some((alarm) => alarm.kind === 'zone-unreachable'
      && alarm.name === knot.zone), 'the reconciler to alarm on the Knot zone', 60_000, 200);

    // The names view shows what it can: the built-in zone's name as served, the Knot zone's as unreachable.
    const names = await (await fetch(`${base}/api/names`)).json() as { items: { name: string; status: string }[] };
    assert.deepEqual(names.items.map((item) => [item.name, item.status]),
      [[`api.${knot.zone}`, 'unreachable'], ['web.builtin.test', 'converged']]);
    // `records NAME` reads that name's zone only; `records` lists what it can and says which zone failed (exit 1).
    const one = await runCli(['records', 'web', ...paths]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^web\.builtin\.test {2}gen \d+ {2}/);
    const all = await runCli(['records', ...paths]);
    assert.equal(all.code, 1);
    assert.match(all.stdout, /web\.builtin\.test/);
    assert.match(all.stderr, new RegExp(`error: zone ${knot.zone.replace('.', '\\.')}: `));

    // So does `dnsplane status`, with its own read of each zone.
    const cli = await runCli(['status', ...paths]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /zone builtin\.test \(builtin\): 1\/1\n/);
    assert.match(cli.stdout, new RegExp(`zone ${knot.zone.replace('.', '\\.')} \\(rfc2136\\): 0/1, UNREACHABLE: .+`));

    // The dashboard shows the same, zone by zone.
    const profile = tempDir('dnsplane-chromium-');
    t.after(profile.cleanup);
    browser = await chromium.launchPersistentContext(profile.path, {
      executablePath: '/usr/bin/chromium', headless: true, args: browserArgs,
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(`${base}/`);
    await page.waitForSelector(`#zones .card[data-zone="${knot.zone}"][data-reachable="false"]`, { timeout: 60_000 });
    await page.waitForSelector('#zones .card[data-zone="builtin.test"][data-reachable="true"]', { timeout: 60_000 });
    assert.match(await page.textContent(`#zones .card[data-zone="${knot.zone}"]`) ?? '', /0 \/ 1 names.*rfc2136.*unreachable/);
    assert.match(await page.textContent('#zones .card[data-zone="builtin.test"]') ?? '', /1 \/ 1 names.*builtin/);

    // Knot runs again: its zone catches up by itself, and the page and the API say so.
    process.kill(knotPid, 'SIGCONT');
    knotStopped = false;
    await pollUntil(async () => {
      alive();
      return (await digShort(knot.port, `api.${knot.zone}`)).join(',') === '127.4.0.2';
    }, 'the Knot zone to catch up once Knot runs', 60_000, 200);
    await pollUntil(async () => (await status()).zones.every((zone) => zone.reachable && zone.names.converged === 1),
      'both zones converged again in the API', 60_000, 200);
    await page.waitForSelector(`#zones .card[data-zone="${knot.zone}"][data-reachable="true"]`, { timeout: 60_000 });
    await pollUntil(async () => !(await status()).alarms.some((alarm) => alarm.kind === 'zone-unreachable'),
      'the zone-unreachable alarm to clear', 60_000, 200);
    await browser.close();
    browser = null;
    assert.equal(await running.stop(15_000), 0, running.stderr().slice(-800));
  } finally {
    if (knotStopped) process.kill(knotPid, 'SIGCONT');
    await browser?.close();
    await up?.stop();
    dir.cleanup();
    await knot.stop();
  }
});
