/**
 * Convergence latency of `dnsplane up` (demo): from a target's health flip
 * (its /healthz starts or stops failing) to the DNS answer changing as seen
 * by a real client (Node's c-ares resolver, no cache, polling every 10 ms),
 * over 60 flips (30 failures, 30 recoveries), with the demo's settings:
 * health interval 500 ms, fall 2, rise 2.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { setFailed } from '../src/demo/demo.js';
import { nowMs, percentile, verdict, writeSection } from './common.js';

const flips = 60;
const name = 'dynamodb.us-east-1.dnsplane.test';

async function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolvePort(port));
    });
  });
}

async function answer(resolver: Resolver): Promise<string> {
  try {
    return (await resolver.resolve4(name)).sort().join(',');
  } catch {
    return 'error';
  }
}

async function waitFor(resolver: Resolver, predicate: (value: string) => boolean, timeoutMs: number): Promise<number> {
  const started = nowMs();
  for (;;) {
    if (predicate(await answer(resolver))) return nowMs() - started;
    if (nowMs() - started > timeoutMs) throw new Error('no convergence');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dnsplane-conv-'));
  const data = join(dir, 'data');
  const dnsPort = await freePort();
  const httpPort = await freePort();
  const up = spawn(process.execPath, [resolve(import.meta.dirname, '..', 'bin', 'dnsplane.mjs'), 'up', '--data', data, '--dns-port', String(dnsPort), '--http-port', String(httpPort)], { stdio: 'ignore', env: { ...process.env, DNSPLANE_LOG_LEVEL: 'error' } });
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([`127.0.0.1:${dnsPort}`]);
  const all = '127.0.0.2,127.0.0.3,127.0.0.4';
  const without = '127.0.0.2,127.0.0.4';
  const down: number[] = [];
  const back: number[] = [];
  try {
    await waitFor(resolver, (value) => value === all, 60_000);
    for (let flip = 0; flip < flips / 2; flip += 1) {
      setFailed(data, 'lb-2', true);
      down.push(await waitFor(resolver, (value) => value === without, 30_000));
      setFailed(data, 'lb-2', false);
      back.push(await waitFor(resolver, (value) => value === all, 30_000));
    }
  } finally {
    up.kill('SIGTERM');
    await new Promise((r) => up.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
  const both = [...down, ...back];
  const p99 = percentile(both, 99);
  const format = (values: number[], p: number) => `${(percentile(values, p) / 1000).toFixed(2)} s`;
  writeSection('convergence', 'Convergence: health flip to DNS answer (`dnsplane up`, demo)', 'npm run bench -- convergence', [
    { metric: `all ${both.length} flips, p50`, value: format(both, 50) },
    { metric: `all ${both.length} flips, p99`, value: format(both, 99), target: '<= 2 s', verdict: verdict(p99 <= 2000) },
    { metric: `withdrawal (target fails), p50 / p99 of ${down.length}`, value: `${format(down, 50)} / ${format(down, 99)}` },
    { metric: `restoration (target recovers), p50 / p99 of ${back.length}`, value: `${format(back, 50)} / ${format(back, 99)}` },
    { metric: 'Route53 health checks, default (published)', value: '30 s interval x 3 failures = 90 s to detect, then up to 60 s to propagate' },
    { metric: 'external-dns (published default)', value: '1 min sync interval, plus the provider\'s propagation' },
  ], [
    `Settings: health interval 500 ms (jitter 10%), timeout 300 ms, fall 2, rise 2; planner interval 100 ms; enactor poll 20 ms; DNS refresh 25 ms. The floor is about fall x interval: the second failed probe.`,
    `p99 of ${(p99 / 1000).toFixed(2)} s against Route53's ~90-150 s is ${Math.round(90_000 / p99)}-${Math.round(150_000 / p99)}x faster; against external-dns's 60 s sync, ${Math.round(60_000 / p99)}x.`,
  ]);
}

await main();
