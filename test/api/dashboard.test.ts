// Goal: the dashboard, in a real browser against real processes, shows what
// DNS serves and lets an operator act: clicking "drain" on a target removes
// it from the served records and from the DNS server's answer (through the
// planner and the enactor processes), and the alarm banner appears when a
// name is emptied by hand in the database and disappears once the
// reconciler has repaired it. Method: `dnsplane up --config` (every role as
// its child process) on one temporary installation; Debian's Chromium driven by playwright-core (never a
// downloaded browser), with a fresh profile; answers checked with `dig`;
// screenshots saved to test-artifacts/. Also: `up` exits 0 on SIGTERM, and
// `dnsplane api` on a port in use is a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { freeDualPort, freeTcpPort, pollUntil, repoRoot, runCli, sampleConfig, spawnCli, tempDir, writeConfig, type Child } from '../helpers/env.js';

const run = promisify(execFile);
const token = 'dashboard-test-token-0123456789';
const artifacts = join(repoRoot, 'test-artifacts');
const browserArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function dig(port: number, name: string): Promise<string[]> {
  const { stdout } = await run('dig', [`@127.0.0.1`, '-p', String(port), name, 'A', '+short', '+time=1', '+tries=1']);
  return stdout.split('\n').filter((line) => line.length > 0).sort();
}

/** A fresh Chromium profile in its own temporary directory (Playwright passes it as --user-data-dir). */
async function launchBrowser(profileDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, { executablePath: '/usr/bin/chromium', headless: true, args: browserArgs, viewport: { width: 1400, height: 1100 } });
}

async function drainFromPage(page: Page, target: string): Promise<void> {
  await page.click(`#health button[data-action="drain"][data-target="${target}"]`);
  // The first action asks for the token (kept in sessionStorage afterwards) and a reason.
  await page.fill('#token-input', token);
  await page.fill('#reason-input', 'browser test: replace the load balancer');
  await page.click('#action-confirm');
  await page.waitForFunction(() => !(document.getElementById('action-dialog') as HTMLDialogElement).open);
}

test('dashboard: names and answers, drain through the roles to dig, alarm banner follows a hand-emptied name', async (t) => {
  const dir = tempDir('dnsplane-dashboard-');
  const data = join(dir.path, 'data');
  const configPath = writeConfig(dir.path, sampleConfig(10, 3, {
    safety: { maxChangedFraction: 1, minNamesForThreshold: 10, retainGenerations: 20 },
    planner: { interval: '100ms', leaseTtl: '5s' },
    enactor: { pollInterval: '20ms', heartbeatInterval: '200ms', heartbeatTtl: '3s' },
    // Long enough that the banner (raised on one pass, cleared on the next) is on screen for a while.
    reconciler: { interval: '2s', maxLag: '30s' },
  }));
  const [httpPort, dnsPort] = [await freeTcpPort(), await freeDualPort()];
  let up: Child | null = null;
  let browser: BrowserContext | null = null;
  let store: SqliteStore | null = null;
  let provider: BuiltinSqliteProvider | null = null;
  try {
    up = spawnCli(['up', '--config', configPath, '--data', data, '--dns-port', String(dnsPort), '--http-port', String(httpPort)], { DNSPLANE_API_TOKEN: token });
    const running = up;
    await pollUntil(() => running.stdout().includes('dnsplane API'), `the API to listen (stderr: ${running.stderr().slice(-500)})`, 60_000);
    await pollUntil(() => running.stdout().includes('dnsplane DNS serving'), 'the DNS server to listen', 60_000);
    const base = `http://127.0.0.1:${httpPort}`;
    await pollUntil(async () => {
      const status = await (await fetch(`${base}/api/status`)).json() as { names: { total: number; converged: number } };
      return status.names.total === 10 && status.names.converged === 10;
    }, 'every name enacted', 30_000);
    store = new SqliteStore(join(data, 'state.db'));
    provider = new BuiltinSqliteProvider(join(data, 'state.db'));
    assert.deepEqual(await pollUntil(async () => ((await dig(dnsPort, 'svc0.dnsplane.test')).length === 3 ? dig(dnsPort, 'svc0.dnsplane.test') : null), 'dig to answer svc0'), ['127.1.0.1', '127.1.0.2', '127.1.0.3']);

    const profile = tempDir('dnsplane-chromium-');
    t.after(profile.cleanup);
    browser = await launchBrowser(profile.path);
    const page = browser.pages()[0] ?? (await browser.newPage());
    const started = Date.now();
    await page.goto(`${base}/`);
    await page.waitForFunction(() => document.querySelectorAll('#names tbody tr[data-name]').length === 10);
    t.diagnostic(`first render of 10 names: ${Date.now() - started} ms`);
    const rowNames = await page.$$eval('#names tbody tr[data-name]', (rows) => rows.map((row) => row.getAttribute('data-name')));
    assert.deepEqual(rowNames, ['svc0', 'svc1', 'svc2', 'svc3', 'svc4', 'svc5', 'svc6', 'svc7', 'svc8', 'svc9'].map((n) => `${n}.dnsplane.test`));
    assert.match(await page.textContent('#names tr[data-name="svc0.dnsplane.test"] .answers') ?? '', /127\.1\.0\.2 · \d+ · t0-1/);
    await page.waitForSelector('#enactors .card[data-enactor="az1"]');
    // `up` runs three checkers; each view is on the page, all voting and agreeing.
    await page.waitForFunction(() => document.querySelectorAll('#checkers .card[data-voting="true"]').length === 3);
    assert.match(await page.textContent('#checker-disagreements') ?? '', /3 voting; they agree/);
    // `up --config` stored the config's endpoints as inventory version 1; the page shows it and what it added.
    await page.waitForSelector('#inventory-version[data-version="1"]');
    assert.equal(await page.locator('#inventory li[data-inventory-change]').count(), 10);
    await page.waitForFunction(() => document.getElementById('live')!.textContent === 'live');
    assert.equal(await page.isVisible('#alarm-banner'), false, 'no alarm at the start');

    // Drain from the page: only a control is written; the planner and enactor processes carry it to DNS.
    await drainFromPage(page, 't0-1');
    await pollUntil(async () => {
      const served = (await provider!.read(['svc0.dnsplane.test'])).get('svc0.dnsplane.test');
      return served !== undefined && !served.records.some((record) => record.target === 't0-1');
    }, 'the served records of svc0 to lose t0-1', 15_000);
    assert.deepEqual(await pollUntil(async () => ((await dig(dnsPort, 'svc0.dnsplane.test')).length === 2 ? dig(dnsPort, 'svc0.dnsplane.test') : null), 'dig to drop 127.1.0.2'), ['127.1.0.1', '127.1.0.3']);
    await page.waitForFunction(() => !document.querySelector('#names tr[data-name="svc0.dnsplane.test"] .answers')!.textContent!.includes('t0-1'));
    await page.waitForSelector('#health .chip.drained[data-target="t0-1"]');
    const history = await store.readHistory('svc0.dnsplane.test', 20);
    assert.ok(history.some((entry) => entry.kind === 'action' && entry.detail === 'drain t0-1: browser test: replace the load balancer'), 'the action is in history');

    // Empty a name by hand, as in the 2025 incident: the banner shows the alarm until the reconciler has repaired it.
    store.db.prepare("UPDATE served SET records = '' WHERE name = 'svc2.dnsplane.test'").run();
    await page.waitForSelector('#alarm-banner:not([hidden])', { timeout: 15_000 });
    assert.match(await page.textContent('#alarm-banner') ?? '', /\[drift\] svc2\.dnsplane\.test — empty/);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'dashboard-alarm.png'), fullPage: true });
    await page.waitForFunction(() => document.getElementById('alarm-banner')!.hidden, undefined, { timeout: 15_000 });
    assert.equal((await dig(dnsPort, 'svc2.dnsplane.test')).length, 3, 'repaired in DNS');
    await page.waitForFunction(() => document.querySelector('#names tr[data-name="svc2.dnsplane.test"]')!.getAttribute('data-status') === 'converged');
    await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });

    // `dnsplane up` stops every role with SIGTERM and must exit cleanly.
    assert.equal(await running.stop(10_000), 0, `up exit code (stderr: ${running.stderr().slice(-500)})`);
  } finally {
    await browser?.close();
    await up?.stop();
    await provider?.close();
    await store?.close();
    dir.cleanup();
  }
});

test('dnsplane api: a port in use is a clear error, and nothing keeps running', async () => {
  const dir = tempDir('dnsplane-api-port-');
  const configPath = writeConfig(dir.path, sampleConfig(2));
  const port = await freeTcpPort();
  const first = spawnCli(['api', '--config', configPath, '--data', join(dir.path, 'data'), '--http-port', String(port)]);
  try {
    await pollUntil(() => first.stdout().includes('dnsplane API'), 'the first API to listen', 30_000);
    const second = await runCli(['api', '--config', configPath, '--data', join(dir.path, 'data'), '--http-port', String(port)]);
    assert.equal(second.code, 2);
    assert.match(second.stderr, new RegExp(`error: cannot listen on 127\\.0\\.0\\.1:${port}`));
    const bad = await runCli(['api', '--config', configPath, '--data', join(dir.path, 'data'), '--http-port', 'eighty']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--http-port must be a port number/);
  } finally {
    assert.equal(await first.stop(), 0);
    dir.cleanup();
  }
});
