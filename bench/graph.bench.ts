/**
 * Dependency graph benchmark (issue 19) on 10,000 names × 4 targets and 1,000 services, stored as one inventory
 * version, fully enacted, with 1% of the targets reported down and a few alarms:
 * - the dashboard's graph view in Debian's Chromium (playwright-core): from navigation until the graph panel shows
 *   the drawing with its capped columns, a fresh page each time (median of 5 and the slowest); then, on one page,
 *   from "Show impact" for a target never asked before until the drawing and the report show it;
 * - GET /api/graph and GET /api/graph.svg (the default overview; its first request builds the graph), their size;
 * - GET /api/graph.svg focused or with a whole AZ's impact, and GET /api/impact?of=… for a target, a name, a service
 *   and an AZ (each computed once, then answered from the API's cache), and for targets never asked before.
 * The API runs in a child process of this file (`--api`); this process only measures over loopback HTTP.
 */
import { ZoneSet } from '../src/domain/zones.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { buildApp } from '../src/api/app.js';
import { parseConfig } from '../src/config/load.js';
import { criticalities, type EndpointSpec, type ServiceSpec } from '../src/domain/types.js';
import { Enactor } from '../src/enactor/enactor.js';
import { seedInventory } from '../src/inventory/apply.js';
import { Planner } from '../src/planner/planner.js';
import { BuiltinSqliteProvider } from '../src/providers/builtin/sqlite.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { seededRng, systemClock } from '../src/util/clock.js';
import { silentLogger } from '../src/util/log.js';
import {
  agent, nowMs, percentile, safetyOff, timedGet, verdict, waitFor, writeSection, type ResultRow,
} from './common.js';
import { largeInventory } from '../test/helpers/graph-inventory.js';
import { buildGraph } from '../src/graph/graph.js';
import { impact } from '../src/graph/impact.js';

const namesCount = 10_000;
const targetsPerName = 4;
const servicesCount = 1_000;
/** Names each service resolves, and services it calls (always ones with a higher number: no cycle). */
const namesPerService = 12;
const callsPerService = 2;
const downFraction = 0.01;
const alarmsCount = 20;
const renderRuns = 5;
const renderTargetMs = 2000;
const requestRuns = 30;
const browserArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function endpoints(): EndpointSpec[] {
  return Array.from({ length: namesCount }, (_, n) => ({
    name: `svc${n}.dnsplane.test`,
    targets: Array.from({ length: targetsPerName }, (_, t) => ({
      id: `t${n}-${t}`, address: `10.${n >> 16}.${(n >> 8) & 255}.${((n & 255) ^ t) & 255}`, az: `az${t % 3}`,
      capacity: 100,
    })),
  }));
}

function services(): ServiceSpec[] {
  const rng = seededRng(19);
  const anyName = () => `svc${Math.floor(rng.next() * namesCount)}.dnsplane.test`;
  return Array.from({ length: servicesCount }, (_, s) => ({
    id: `app-${s}`,
    criticality: criticalities[s % criticalities.length]!,
    names: [...new Set(Array.from({ length: namesPerService }, anyName))],
    services: s + 1 >= servicesCount ? [] : [...new Set(Array.from({ length: callsPerService },
      () => `app-${s + 1 + Math.floor(rng.next() * (servicesCount - s - 1))}`))],
  }));
}

/** The installation: the inventory stored as version 1, one plan enacted, 1% of the targets down, a few alarms. */
async function prepare(dbPath: string): Promise<number> {
  const started = nowMs();
  const store = new SqliteStore(dbPath);
  const provider = new BuiltinSqliteProvider(dbPath);
  try {
    const stored = await seedInventory(store, { endpoints: endpoints(), services: services() }, 'bench');
    const planner = new Planner(
      { id: 'bench-planner', zone: 'dnsplane.test', intervalMs: 1, leaseTtlMs: 600_000, safety: safetyOff },
      { store, clock: systemClock, log: silentLogger, inventory: () => stored.endpoints },
    );
    const enactor = new Enactor({
      id: 'az1', pollIntervalMs: 10, batchNamesMax: 5000, retriesMax: 10, backoffBaseMs: 1, backoffMaxMs: 50,
      heartbeatIntervalMs: 200, heartbeatTtlMs: 10_000,
    }, { store, provider, clock: systemClock, rng: seededRng(1), log: silentLogger });
    await planner.tick();
    await enactor.step();
    const rng = seededRng(7);
    for (let i = 0; i < namesCount * targetsPerName * downFraction; i += 1) {
      await store.setHealth(`t${Math.floor(rng.next() * namesCount)}-${i % targetsPerName}`, 'down', 'bench');
    }
    for (let i = 0; i < alarmsCount; i += 1) {
      await store.raiseAlarm('drift', `svc${i * 97}.dnsplane.test`, 'bench alarm');
    }
  } finally {
    await provider.close();
    await store.close();
  }
  return nowMs() - started;
}

/** Child mode: the API over the stored inventory, as `dnsplane api` follows it, printing its address when ready. */
async function apiChild(dbPath: string): Promise<void> {
  const store = new SqliteStore(dbPath);
  const provider = new BuiltinSqliteProvider(dbPath);
  const stored = await store.readInventory();
  if (stored === null) throw new Error('no inventory stored');
  // The config only gives the zone and defaults: the inventory is the stored version, as the API follows it.
  const placeholder = { name: 'svc0', targets: [{ id: 't0-0', address: '10.0.0.0' }] };
  const config = parseConfig({ zone: 'dnsplane.test.', endpoints: [placeholder] });
  const { endpoints: inventory, services: serviceSpecs, version: inventoryVersion } = stored;
  const zone = 'dnsplane.test';
  const app = buildApp({ config, zone, zones: new ZoneSet([zone]), inventory, services: serviceSpecs, inventoryVersion, store, provider }, {});
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`ready ${address}\n`);
}

async function sample(base: string, path: string, count: number): Promise<{ latencies: number[]; bytes: number }> {
  const latencies: number[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i += 1) {
    const result = await timedGet(base, path);
    latencies.push(result.ms);
    bytes = result.bytes;
  }
  return { latencies, bytes };
}

/** Rendered: the drawing is in the page, with far more than a handful of nodes and its names column's "+K more". */
function graphDrawn(): boolean {
  const svg = document.querySelector('#graph svg.graph');
  if (svg === null) return false;
  const nodes = svg.querySelectorAll('g.node[data-id]').length;
  return nodes > 100 && svg.querySelector('g.node.more[data-more="names"]') !== null;
}

async function firstRenders(browser: BrowserContext, base: string): Promise<{ times: number[]; shown: string }> {
  const times: number[] = [];
  let shown = '';
  for (let run = 0; run < renderRuns; run += 1) {
    const page = await browser.newPage();
    const started = nowMs();
    await page.goto(`${base}/`, { waitUntil: 'commit' });
    await page.waitForFunction(graphDrawn, undefined, { timeout: 60_000, polling: 'raf' });
    times.push(nowMs() - started);
    shown = await page.$eval('#graph svg.graph', (svg) => {
      const more = svg.querySelector('g.node.more[data-more="names"]')!.textContent;
      const nodes = svg.querySelectorAll('g.node[data-id]').length;
      return `${nodes} nodes and ${svg.querySelectorAll('path.edge').length} edges, "${more}"`;
    });
    await page.close();
  }
  return { times, shown };
}

/** On one page: "Show impact" of a target never asked before, until the drawing and the report show it. */
async function impactRenders(browser: BrowserContext, base: string): Promise<number[]> {
  const page = await browser.newPage();
  const times: number[] = [];
  try {
    await page.goto(`${base}/`);
    await page.waitForFunction(graphDrawn, undefined, { timeout: 60_000 });
    for (let run = 0; run < renderRuns; run += 1) {
      const subject = `t${7000 + run * 13}-1`;
      await page.fill('#graph-subject', subject);
      const started = nowMs();
      await page.click('#graph-impact');
      const drawn = `#graph[data-subject="${subject}"] g.node.failed[data-id="target:${subject}"]`;
      await page.waitForSelector(drawn, { timeout: 60_000 });
      await page.waitForSelector(`#impact-summary[data-subject="target:${subject}"]`, { timeout: 60_000 });
      times.push(nowMs() - started);
    }
  } finally {
    await page.close();
  }
  return times;
}

async function browserRuns(base: string): Promise<{ first: { times: number[]; shown: string }; impact: number[] }> {
  const profileDir = mkdtempSync(join(tmpdir(), 'dnsplane-graph-bench-chromium-'));
  const browser = await chromium.launchPersistentContext(profileDir, {
    executablePath: '/usr/bin/chromium', headless: true, args: browserArgs, viewport: { width: 1400, height: 1100 },
  });
  try {
    return { first: await firstRenders(browser, base), impact: await impactRenders(browser, base) };
  } finally {
    await browser.close();
    rmSync(profileDir, { recursive: true, force: true });
  }
}

function formatBytes(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
const p50p99 = (values: readonly number[]) => `${fmt(percentile(values, 50))} / ${fmt(percentile(values, 99))}`;
const withSize = (run: { latencies: number[]; bytes: number }) => `${p50p99(run.latencies)}; ${formatBytes(run.bytes)}`;

/**
 * The API's answers: the first (building the graph), the overview, impact reports (each subject's first computed,
 * then cached) and impact reports never asked before, then views focused on or marking the subjects asked.
 */
async function apiRows(base: string): Promise<{ rows: ResultRow[]; azReportBytes: number }> {
  const first = await timedGet(base, '/api/graph');
  const overview = await sample(base, '/api/graph', requestRuns);
  const svg = await sample(base, '/api/graph.svg', requestRuns);
  const rows: ResultRow[] = [
    { metric: 'GET /api/graph, first request (builds the graph and the current impact)', value: fmt(first.ms) },
    { metric: `GET /api/graph overview (p50 / p99 of ${requestRuns}) and its size`, value: withSize(overview) },
    { metric: 'GET /api/graph.svg overview (p50 / p99) and its size', value: withSize(svg) },
  ];
  let azReportBytes = 0;
  const subjects = [
    ['target', 't5000-1'], ['name', 'svc5000'], ['service', 'service:app-0'], ['AZ', 'az:az1'],
  ] as const;
  for (const [kind, subject] of subjects) {
    const path = `/api/impact?of=${encodeURIComponent(subject)}`;
    const computed = await timedGet(base, path);
    const repeated = await sample(base, path, requestRuns);
    if (kind === 'AZ') azReportBytes = repeated.bytes;
    rows.push({
      metric: `GET /api/impact?of=${subject} (${kind}): first, then p50 / p99 of ${requestRuns} repeats`,
      value: `${fmt(computed.ms)}; ${p50p99(repeated.latencies)}`,
    });
  }
  // Impact of targets never asked before: each one computed, none from the cache.
  const fresh: number[] = [];
  for (let i = 0; i < requestRuns; i += 1) {
    fresh.push((await timedGet(base, `/api/impact?of=t${(i * 331) % namesCount}-2`)).ms);
  }
  rows.push({ metric: `GET /api/impact of ${requestRuns} targets not asked before (p50 / p99)`, value: p50p99(fresh) });
  const focused = await sample(base, '/api/graph.svg?focus=service%3Aapp-0&impact=service%3Aapp-0', requestRuns);
  const azView = await sample(base, '/api/graph.svg?impact=az%3Aaz1', requestRuns);
  rows.push(
    { metric: 'GET /api/graph.svg focused on a service, with its impact (p50 / p99)', value: withSize(focused) },
    { metric: 'GET /api/graph.svg with the impact of a whole AZ (p50 / p99)', value: withSize(azView) },
  );
  return { rows, azReportBytes };
}

function notes(setupMs: number, shown: string, azReportBytes: number): string[] {
  const [names, services] = [namesCount.toLocaleString('en-US'), servicesCount.toLocaleString('en-US')];
  const load = loadavg().map((average) => average.toFixed(1)).join(' / ');
  return [
    `${names} names × ${targetsPerName} targets in 3 AZs and ${services} services (each resolving ${namesPerService}`
      + ` names and calling up to ${callsPerService} services), stored as inventory version 1 and enacted;`
      + ` ${(downFraction * 100).toFixed(0)}% of the targets reported down and ${alarmsCount} alarms active (setup`
      + ` ${(setupMs / 1000).toFixed(1)} s). The API ran in its own process; requests went back to back over one`
      + ' kept-alive connection, and the browser ran after them (the graph was built by then).',
    `What the browser drew: ${shown}. The default view caps each column (40 services, 60 names, 80 targets) and counts`
      + ' the rest. /api/impact bounds each list (100 entries by default) and counts them all: the report of a whole AZ'
      + ` (every name degraded) is ${formatBytes(azReportBytes)}.`,
    `Load average at the end of the run: ${load} (1 / 5 / 15 min) — the machine is shared with other test runs, so`
      + ' tails are pessimistic.',
  ];
}

/** Building the graph of 100,000 names x 4 targets and 1,000 services, and the impact of two AZs on it. */
function scaleRows(): ResultRow[] {
  const inventory = largeInventory(100_000, 1000);
  const builds: number[] = [];
  const impacts: number[] = [];
  for (let run = 0; run < 3; run += 1) {
    let started = nowMs();
    const graph = buildGraph(inventory);
    builds.push(nowMs() - started);
    started = nowMs();
    impact(graph, ['az:az1', 'az:az2']);
    impacts.push(nowMs() - started);
  }
  const runs = (values: number[]) => `${fmt(percentile(values, 50))} (runs ${values.map((v) => v.toFixed(0)).join(', ')} ms)`;
  return [
    { metric: 'buildGraph, 100,000 names x 4 targets + 1,000 services (median of 3; 500,000 nodes)', value: runs(builds) },
    { metric: 'impact of two AZs on that graph (median of 3; 200,000 targets lost)', value: runs(impacts) },
  ];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dnsplane-graph-bench-'));
  let api: ChildProcess | null = null;
  try {
    const dbPath = join(dir, 'state.db');
    const setupMs = await prepare(dbPath);
    const args = ['--import', 'tsx', import.meta.filename, '--api', dbPath];
    api = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    api.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const base = await waitFor(() => /ready (\S+)/.exec(output)?.[1] ?? null, 'the API child', 120_000);
    const { rows, azReportBytes } = await apiRows(base);
    const browser = await browserRuns(base);
    const renderMedian = percentile(browser.first.times, 50);
    const renderMax = Math.max(...browser.first.times);
    const impactMedian = percentile(browser.impact, 50);
    const target = `<= ${renderTargetMs} ms`;
    const title = 'Dependency graph: API and dashboard view with 10,000 names and 1,000 services';
    writeSection('graph', title, 'npm run bench -- graph', [
      {
        metric: `dashboard graph view rendered, from navigation (median of ${renderRuns}, a fresh page each)`,
        value: fmt(renderMedian), target, verdict: verdict(renderMedian <= renderTargetMs),
      },
      {
        metric: 'dashboard graph view rendered, slowest run',
        value: fmt(renderMax), target, verdict: verdict(renderMax <= renderTargetMs),
      },
      {
        metric: `dashboard "Show impact" of a new target, until drawn and listed (median of ${renderRuns})`,
        value: `${fmt(impactMedian)} (slowest ${fmt(Math.max(...browser.impact))})`,
        target, verdict: verdict(impactMedian <= renderTargetMs),
      },
      ...rows,
      ...scaleRows(),
    ], notes(setupMs, browser.first.shown, azReportBytes));
  } finally {
    api?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const [mode, dbPath] = process.argv.slice(2);
if (mode === '--api') await apiChild(dbPath!);
else {
  await main();
  agent.destroy();
}
