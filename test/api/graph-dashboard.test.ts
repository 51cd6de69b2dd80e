// Goal: the dashboard's dependency graph, in a real browser against the real demo, shows the demo's services, names
// and targets, marks a target down once the health checker sees it fail (the demo's real failure: its load balancer
// answers 503), follows the event stream without a reload, and in "impact of X" mode highlights what failing X
// loses and lists it: a target (one of dynamodb.us-east-1's three) degrades the name and the 2025 chain of services
// behind it; the name itself loses that chain and, through the NLB health checks, s3.us-east-1. Method: `dnsplane up`
// with no config (the demo, every role as its child process) on its own data directory and free ports;
// `dnsplane demo fail|recover lb-1` as a user runs them; Debian's Chromium driven by playwright-core (never a
// downloaded browser) with a fresh profile; assertions on the SVG's DOM classes and the report's text, each polled
// with a generous deadline; a screenshot saved to test-artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import {
  freeDualPort, freeTcpPort, pollUntil, repoRoot, runCli, spawnCli, tempDir, type Child,
} from '../helpers/env.js';

const artifacts = join(repoRoot, 'test-artifacts');
const browserArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const deadlineMs = 30_000;
const dynamodb = 'name:dynamodb.us-east-1.dnsplane.test';
const s3 = 'name:s3.us-east-1.dnsplane.test';
const chain = ['service:dwfm', 'service:ec2-launch', 'service:nlb-health'];

/** The classes of a node of the drawing (null while it is not drawn). */
async function classesOf(page: Page, id: string): Promise<string[] | null> {
  return page.evaluate((nodeId) => {
    const nodes = [...document.querySelectorAll('#graph svg g.node[data-id]')];
    const node = nodes.find((candidate) => candidate.getAttribute('data-id') === nodeId);
    return node === undefined ? null : (node.getAttribute('class') ?? '').split(' ');
  }, id);
}

/** Waits until the node is drawn with every class of `present` and none of `absent`. */
async function waitForClasses(page: Page, id: string, present: string[], absent: string[] = []): Promise<void> {
  await pollUntil(async () => {
    const classes = await classesOf(page, id);
    if (classes === null) return false;
    return present.every((name) => classes.includes(name)) && absent.every((name) => !classes.includes(name));
  }, `${id} drawn with [${present.join(' ')}] and without [${absent.join(' ')}]`, deadlineMs, 100);
}

async function showImpact(page: Page, subject: string): Promise<void> {
  await page.fill('#graph-subject', subject);
  await page.click('#graph-impact');
  await page.waitForSelector(`#graph[data-subject="${subject}"]`, { timeout: deadlineMs });
}

test('dashboard graph: the demo drawn, a failed target marked down, impact of a target and a name shown', async (t) => {
  const dir = tempDir('dnsplane-graph-dashboard-');
  const data = join(dir.path, 'data');
  const [httpPort, dnsPort] = [await freeTcpPort(), await freeDualPort()];
  let up: Child | null = null;
  let browser: BrowserContext | null = null;
  try {
    up = spawnCli(['up', '--data', data, '--dns-port', String(dnsPort), '--http-port', String(httpPort)]);
    const running = up;
    const starting = () => `the demo to start (stderr: ${running.stderr().slice(-500)})`;
    await pollUntil(() => running.stdout().includes('dnsplane is up'), starting(), 60_000);
    const base = `http://127.0.0.1:${httpPort}`;
    assert.ok(running.stdout().includes(`Dashboard  ${base}/`), running.stdout());
    // Every demo target reported up by the checkers first, so that "down" later is the failure's doing.
    await pollUntil(async () => {
      const health = await (await fetch(`${base}/api/health?state=up&limit=100`)).json() as { total: number };
      return health.total === 7;
    }, 'the checkers to report the 7 demo targets up', 60_000);

    const profile = tempDir('dnsplane-graph-chromium-');
    t.after(profile.cleanup);
    browser = await chromium.launchPersistentContext(profile.path, {
      executablePath: '/usr/bin/chromium', headless: true, args: browserArgs, viewport: { width: 1400, height: 1100 },
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(`${base}/`);
    await page.waitForSelector('#graph svg.graph', { timeout: deadlineMs });
    // The demo's whole graph fits: its three services, three names and seven targets in three AZs, nothing "more".
    const drawn = async (kind: string) =>
      page.$$eval(`#graph svg g.node.${kind}[data-id]`, (nodes) => nodes.map((node) => node.getAttribute('data-id')));
    await pollUntil(async () => (await drawn('target')).length === 7, 'the seven demo targets drawn', deadlineMs, 100);
    assert.deepEqual((await drawn('service')).sort(), [...chain].sort());
    assert.deepEqual((await drawn('name')).sort(), ['name:api.eu-west-1.dnsplane.test', dynamodb, s3]);
    const azs = await page.$$eval('#graph svg .az-title', (titles) => titles.map((title) => title.textContent));
    assert.deepEqual(azs, ['az1', 'az2', 'az3']);
    assert.equal(await page.locator('#graph svg g.node.more').count(), 0);
    await waitForClasses(page, 'target:lb-1', ['up'], ['down']);
    const dwfmEdge = `#graph svg path.edge.resolves[data-from="service:dwfm"][data-to="${dynamodb}"]`;
    const dwfmEdges = await page.locator(dwfmEdge).count();
    assert.equal(dwfmEdges, 1, 'dwfm → dynamodb drawn');

    // The demo's real failure: lb-1's /healthz answers 503, the checkers see it, the page follows the event stream.
    const failed = await runCli(['demo', 'fail', 'lb-1', '--data', data]);
    assert.equal(failed.code, 0, failed.stderr);
    await waitForClasses(page, 'target:lb-1', ['down'], ['up']);
    // Current health: what lb-1 being down loses — one of dynamodb's three targets: the name and its chain degrade.
    await waitForClasses(page, dynamodb, ['impacted', 'degraded']);
    for (const service of chain) await waitForClasses(page, service, ['impacted', 'degraded']);
    assert.equal(await page.getAttribute('#graph', 'data-mode'), 'current');

    // "Impact of lb-1", by clicking the node: lb-1 is where it starts, the same chain is degraded, s3 is untouched.
    await page.click('#graph svg g.node[data-id="target:lb-1"]');
    await page.waitForSelector('#graph[data-subject="target:lb-1"]', { timeout: deadlineMs });
    await waitForClasses(page, 'target:lb-1', ['failed', 'subject']);
    await waitForClasses(page, dynamodb, ['impacted', 'degraded']);
    for (const service of chain) await waitForClasses(page, service, ['impacted', 'degraded']);
    await waitForClasses(page, s3, [], ['impacted']);
    await page.waitForSelector('#impact-summary[data-subject="target:lb-1"]', { timeout: deadlineMs });
    const summary = /Impact of target:lb-1: 0 names lost, 1 degraded, 1 target, 3 services/;
    assert.match(await page.textContent('#impact-summary') ?? '', summary);
    const degraded = await page.textContent(`#impact li[data-impact-name-degraded="${dynamodb}"]`);
    assert.match(degraded ?? '', /33% of capacity lost/);
    const nlbHealth = await page.textContent('#impact li[data-impact-service="service:nlb-health"]') ?? '';
    assert.match(nlbHealth, /^nlb-health degraded · high/);
    assert.ok(nlbHealth.endsWith(['target:lb-1', dynamodb, ...chain].join(' → ')), `the path: ${nlbHealth}`);

    // "Impact of dynamodb.us-east-1", typed: the name emptied loses the whole chain and, through the NLB health checks
    // of s3's load balancers, s3.us-east-1 itself; api.eu-west-1 has nothing to do with it.
    await showImpact(page, 'dynamodb.us-east-1');
    await waitForClasses(page, dynamodb, ['failed']);
    for (const service of chain) await waitForClasses(page, service, ['impacted', 'lost']);
    for (const target of ['target:lb-4', 'target:lb-5']) await waitForClasses(page, target, ['impacted', 'lost']);
    await waitForClasses(page, s3, ['impacted', 'lost']);
    await waitForClasses(page, 'name:api.eu-west-1.dnsplane.test', [], ['impacted', 'failed']);
    await waitForClasses(page, 'target:lb-6', [], ['impacted', 'failed']);
    await page.waitForSelector(`#impact-summary[data-subject="${dynamodb}"]`, { timeout: deadlineMs });
    // The name itself counts among the names lost (emptied), with s3.
    assert.match(await page.textContent('#impact-summary') ?? '', /: 2 names lost, 0 degraded, 2 targets, 3 services/);
    const namesLost = await page.$$eval('#impact li[data-impact-name-lost]',
      (items) => items.map((item) => item.getAttribute('data-impact-name-lost')));
    assert.deepEqual(namesLost.sort(), [dynamodb, s3]);
    assert.equal(await page.locator('#impact li[data-impact-service]').count(), 3);
    const s3Path = await page.textContent(`#impact li[data-impact-name-lost="${s3}"]`);
    assert.match(s3Path ?? '', /service:nlb-health → target:lb-\d → name:s3/);
    mkdirSync(artifacts, { recursive: true });
    await page.locator('#graph-panel').screenshot({ path: join(artifacts, 'dashboard-graph-impact.png') });

    // An unknown subject is refused with its name, and the drawing stays.
    await page.fill('#graph-subject', 'lb-99');
    await page.click('#graph-impact');
    const refused = () => /unknown subject "lb-99"/.test(document.getElementById('graph-error')!.textContent!);
    await page.waitForFunction(refused, undefined, { timeout: deadlineMs });
    assert.match(await page.textContent('#impact-error') ?? '', /unknown subject "lb-99"/);

    // Back to the current health; recovering lb-1 takes the marks away again, live.
    await page.click('#graph-clear');
    await page.waitForSelector('#graph[data-mode="current"]', { timeout: deadlineMs });
    await waitForClasses(page, 'target:lb-1', ['down']);
    const recovered = await runCli(['demo', 'recover', 'lb-1', '--data', data]);
    assert.equal(recovered.code, 0, recovered.stderr);
    await waitForClasses(page, 'target:lb-1', ['up'], ['down', 'failed']);
    await waitForClasses(page, dynamodb, [], ['impacted']);
    for (const service of chain) await waitForClasses(page, service, [], ['impacted']);
    await page.locator('#graph-panel').screenshot({ path: join(artifacts, 'dashboard-graph.png') });

    assert.equal(await running.stop(10_000), 0, `up exit code (stderr: ${running.stderr().slice(-500)})`);
  } finally {
    await browser?.close();
    await up?.stop();
    dir.cleanup();
  }
});
