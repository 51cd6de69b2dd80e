/**
 * API benchmark (issue: HTTP API, dashboard and metrics) on 100,000 managed
 * names while generations advance:
 * - `GET /api/status` latency (p50, p99, max) over a steady stream of
 *   back-to-back requests for BENCH_SECONDS, while a churn process changes
 *   the health of 1% of the names, publishes a plan and enacts it, again and
 *   again (the roles run in their own process, as in production);
 * - the same with a dashboard connected (its event stream rebuilds the
 *   compact status every 100 ms in the API process);
 * - a names page deep in the list, a prefix search, a /metrics scrape;
 * - dashboard first render: Debian's Chromium (playwright-core) loading the
 *   page until the first page of names and the 100,000 total are shown,
 *   a fresh page each time.
 * The API runs in a child process of this file (`--api`), the churn in
 * another (`--churn`); this process only measures over loopback HTTP.
 * BENCH_SECONDS sets the length of the status run; API_BENCH_DEBUG=1 makes
 * the API child log every request slower than 30 ms and every GC pause
 * longer than 30 ms, to explain a tail.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Planner } from '../src/planner/planner.js';
import { Enactor } from '../src/enactor/enactor.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { BuiltinSqliteProvider } from '../src/providers/builtin/sqlite.js';
import { silentLogger } from '../src/util/log.js';
import { seededRng, systemClock } from '../src/util/clock.js';
import type { EndpointSpec } from '../src/domain/types.js';
import {
  agent, buildBenchApi, nowMs, percentile, safetyOff, startChild, timedGet, verdict, waitFor, writeSection,
} from './common.js';

const namesCount = 100_000;
const targetsPerName = 4;
const churnFraction = 0.01;
const benchSeconds = Number(process.env.BENCH_SECONDS ?? 15);
const renderRuns = 5;
const statusP99TargetMs = 50;
const renderTargetMs = 2000;
const browserArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function inventory(): EndpointSpec[] {
  return Array.from({ length: namesCount }, (_, n) => ({
    name: `svc${n}.dnsplane.test`,
    targets: Array.from({ length: targetsPerName }, (_, t) => ({ id: `t${n}-${t}`, address: `10.${n >> 16}.${(n >> 8) & 255}.${((n & 255) ^ t) & 255}`, az: `az${t % 3}`, capacity: 100 })),
  }));
}

function planner(store: SqliteStore, endpoints: EndpointSpec[]): Planner {
  return new Planner(
    { id: 'bench-planner', zone: 'dnsplane.test', intervalMs: 1, leaseTtlMs: 600_000, safety: safetyOff },
    { store, clock: systemClock, log: silentLogger, inventory: () => endpoints },
  );
}

function enactor(store: SqliteStore, provider: BuiltinSqliteProvider): Enactor {
  return new Enactor(
    { id: 'az1', pollIntervalMs: 10, batchNamesMax: 5000, retriesMax: 10, backoffBaseMs: 1, backoffMaxMs: 50, heartbeatIntervalMs: 200, heartbeatTtlMs: 10_000 },
    { store, provider, clock: systemClock, rng: seededRng(1), log: silentLogger },
  );
}

/** Child mode: flip the health of 1% of the names, publish, enact — until killed. */
async function churnChild(dbPath: string): Promise<void> {
  const endpoints = inventory();
  const store = new SqliteStore(dbPath);
  const provider = new BuiltinSqliteProvider(dbPath);
  const roles = { planner: planner(store, endpoints), enactor: enactor(store, provider) };
  const setHealth = store.db.prepare("INSERT OR REPLACE INTO health (target, state, source, updated_at_ms) VALUES (?, ?, 'bench', ?)");
  const rng = seededRng(7);
  const changed = Math.floor(namesCount * churnFraction);
  for (let round = 0; ; round += 1) {
    const start = Math.floor(rng.next() * (namesCount - changed));
    store.db.transaction(() => {
      for (let n = start; n < start + changed; n += 1) setHealth.run(`t${n}-0`, round % 2 === 0 ? 'down' : 'up', Date.now());
    }).immediate();
    await roles.planner.tick();
    await roles.enactor.step();
    process.stdout.write(`round ${round}\n`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Child mode: the API over the 100,000-name inventory, printing its port when ready. */
async function apiChild(dbPath: string): Promise<void> {
  const app = await buildBenchApi(dbPath, inventory());
  if (process.env.API_BENCH_DEBUG) {
    app.addHook('onResponse', async (req, reply) => {
      if (reply.elapsedTime > 30) process.stderr.write(`slow ${req.url} ${reply.elapsedTime.toFixed(0)} ms at ${Date.now() % 100000}\n`);
    });
    const { PerformanceObserver } = await import('node:perf_hooks');
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (entry.duration > 30) process.stderr.write(`gc ${entry.duration.toFixed(0)} ms at ${Date.now() % 100000}\n`);
    }).observe({ entryTypes: ['gc'] });
  }
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`ready ${address}\n`);
}

async function statusLatencies(base: string, seconds: number): Promise<{ latencies: number[]; generations: [number, number] }> {
  const latencies: number[] = [];
  const until = Date.now() + seconds * 1000;
  let first = -1;
  let last = -1;
  // Bounded by time and by count, whichever comes first.
  for (let i = 0; i < 1_000_000 && Date.now() < until; i += 1) {
    const { ms, body } = await timedGet(base, '/api/status');
    latencies.push(ms);
    last = (JSON.parse(body) as { generation: { latest: number } }).generation.latest;
    if (first < 0) first = last;
  }
  return { latencies, generations: [first, last] };
}

async function sample(base: string, path: () => string, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i += 1) latencies.push((await timedGet(base, path())).ms);
  return latencies;
}

async function dashboardRenders(base: string, profileDir: string): Promise<number[]> {
  const browser = await chromium.launchPersistentContext(profileDir, { executablePath: '/usr/bin/chromium', headless: true, args: browserArgs });
  const times: number[] = [];
  try {
    for (let run = 0; run < renderRuns; run += 1) {
      const page = await browser.newPage();
      const started = nowMs();
      await page.goto(`${base}/`, { waitUntil: 'commit' });
      await page.waitForFunction(() => document.querySelectorAll('#names tbody tr[data-name]').length === 50
        && document.getElementById('names-range')!.textContent!.endsWith('of 100,000')
        && document.getElementById('converged')!.textContent!.includes('100,000'), undefined, { timeout: 30_000, polling: 'raf' });
      times.push(nowMs() - started);
      await page.close();
    }
  } finally {
    await browser.close();
  }
  return times;
}

/** An event-stream client that reads and discards what the API pushes. */
async function openEventStream(base: string): Promise<{ close(): void; messages(): number }> {
  let messages = 0;
  const streamAgent = new Agent({ keepAlive: false });
  const req = request(`${base}/api/events`, { agent: streamAgent });
  await new Promise<void>((resolve, reject) => {
    req.on('response', (response) => {
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { messages += chunk.split('event: status').length - 1; });
      resolve();
    });
    req.on('error', reject);
    req.end();
  });
  return { close: () => { req.destroy(); streamAgent.destroy(); }, messages: () => messages };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dnsplane-api-bench-'));
  const children: ChildProcess[] = [];
  try {
    const dbPath = join(dir, 'state.db');
    const store = new SqliteStore(dbPath);
    const provider = new BuiltinSqliteProvider(dbPath);
    let started = nowMs();
    await planner(store, inventory()).tick();
    await enactor(store, provider).step();
    const setupMs = nowMs() - started;
    await provider.close();
    await store.close();

    const api = startChild(import.meta.filename, ['--api', dbPath]);
    children.push(api.child);
    started = nowMs();
    const base = await waitFor(() => /ready (\S+)/.exec(api.output())?.[1] ?? null, 'the API child', 120_000);
    const apiStartMs = nowMs() - started;
    const churn = startChild(import.meta.filename, ['--churn', dbPath]);
    children.push(churn.child);
    await waitFor(() => (churn.output().includes('round 1') ? true : null), 'the churn child', 120_000);

    const quiet = await statusLatencies(base, benchSeconds);
    const deep = await sample(base, () => '/api/names?offset=99950&limit=50', 200);
    const prefix = await sample(base, () => `/api/names?q=svc9999&limit=50`, 200);
    const metrics = await sample(base, () => '/metrics', 20);

    const profileDir = mkdtempSync(join(tmpdir(), 'dnsplane-bench-chromium-'));
    let renders: number[];
    let watched: { latencies: number[]; generations: [number, number] };
    try {
      renders = await dashboardRenders(base, profileDir);
      // Status again while a dashboard holds an event stream open (the API rebuilds the compact status every 100 ms).
      const browser = await chromium.launchPersistentContext(profileDir, { executablePath: '/usr/bin/chromium', headless: true, args: browserArgs });
      try {
        const page = await browser.newPage();
        await page.goto(`${base}/`);
        watched = await statusLatencies(base, Math.max(5, Math.floor(benchSeconds / 2)));
      } finally {
        await browser.close();
      }
    } finally {
      rmSync(profileDir, { recursive: true, force: true });
    }
    // The same with a plain event-stream reader instead of a browser: the API's own cost of a connected dashboard,
    // without Chromium competing for this machine's cores.
    const stream = await openEventStream(base);
    let streamed: { latencies: number[]; generations: [number, number] };
    try {
      streamed = await statusLatencies(base, Math.max(5, Math.floor(benchSeconds / 2)));
    } finally {
      stream.close();
    }
    const rounds = Number(/round (\d+)\n(?![\s\S]*round)/.exec(churn.output())?.[1] ?? 0);

    const p99 = percentile(quiet.latencies, 99);
    const p99Watched = percentile(watched.latencies, 99);
    const renderMedian = percentile(renders, 50);
    const renderMax = Math.max(...renders);
    const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
    writeSection('api', 'API: status, names, metrics and dashboard with 100,000 names', 'npm run bench -- api', [
      { metric: `GET /api/status p99 while generations advance (${quiet.latencies.length} requests, generations ${quiet.generations[0]} → ${quiet.generations[1]})`, value: fmt(p99), target: `<= ${statusP99TargetMs} ms`, verdict: verdict(p99 <= statusP99TargetMs) },
      { metric: 'GET /api/status p50 / max', value: `${fmt(percentile(quiet.latencies, 50))} / ${fmt(Math.max(...quiet.latencies))}` },
      { metric: `GET /api/status p99 with a Chromium dashboard open on the same 2 cores (${watched.latencies.length} requests, generations ${watched.generations[0]} → ${watched.generations[1]})`, value: fmt(p99Watched), target: `<= ${statusP99TargetMs} ms`, verdict: verdict(p99Watched <= statusP99TargetMs) },
      { metric: `GET /api/status p99 with an event-stream client connected (${streamed.latencies.length} requests, generations ${streamed.generations[0]} → ${streamed.generations[1]})`, value: fmt(percentile(streamed.latencies, 99)), target: `<= ${statusP99TargetMs} ms`, verdict: verdict(percentile(streamed.latencies, 99) <= statusP99TargetMs) },
      { metric: `dashboard first render, 100,000 names (median of ${renderRuns}; page, first 50 names and totals shown)`, value: fmt(renderMedian), target: `<= ${renderTargetMs} ms`, verdict: verdict(renderMedian <= renderTargetMs) },
      { metric: 'dashboard first render, slowest run', value: fmt(renderMax), target: `<= ${renderTargetMs} ms`, verdict: verdict(renderMax <= renderTargetMs) },
      { metric: 'GET /api/names page at offset 99,950 (p50 / p99)', value: `${fmt(percentile(deep, 50))} / ${fmt(percentile(deep, 99))}` },
      { metric: 'GET /api/names?q=svc9999 prefix search (p50 / p99)', value: `${fmt(percentile(prefix, 50))} / ${fmt(percentile(prefix, 99))}` },
      { metric: 'GET /metrics scrape, 1,000 per-name series (p50 / max)', value: `${fmt(percentile(metrics, 50))} / ${fmt(Math.max(...metrics))}` },
      { metric: 'API start until listening (reads the whole plan and every served name once)', value: fmt(apiStartMs) },
    ], [
      `${namesCount.toLocaleString('en-US')} names × ${targetsPerName} targets, fully enacted before the run (${(setupMs / 1000).toFixed(1)} s). During the run a churn process flipped the health of ${(churnFraction * 100).toFixed(0)}% of the names, published and enacted a generation, ${rounds + 1} times; the API ran in its own process and requests were sent back to back over one kept-alive connection.`,
      `Load average at the end of the run: ${loadavg().map((load) => load.toFixed(1)).join(' / ')} (1 / 5 / 15 min) — the machine is shared with other test runs, so tails are pessimistic.`,
      'Status stays cheap because the API keeps a convergence view (src/status/report.ts ConvergenceTracker) that a new generation updates with the versions it introduced, and a served change with the rows whose version moved — never a full read of the plan or of DNS after start-up.',
    ]);
  } finally {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const [mode, dbPath] = process.argv.slice(2);
if (mode === '--churn') await churnChild(dbPath!);
else if (mode === '--api') await apiChild(dbPath!);
else {
  await main();
  agent.destroy();
}
