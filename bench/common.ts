import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { EndpointSpec } from '../src/domain/types.js';

/** Helpers shared by the benchmarks: timing, percentiles and writing a result section. */

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function machineLine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node.js ${process.version}`;
}

export interface ResultRow {
  metric: string;
  value: string;
  target?: string;
  verdict?: string;
}

/** Writes bench/results/<name>.md; bench/run.ts assembles BENCHMARKS.md from these. */
export function writeSection(name: string, title: string, command: string, rows: readonly ResultRow[], notes: readonly string[] = []): void {
  const dir = resolve(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const lines = [
    `## ${title}`,
    '',
    `Run ${new Date().toISOString()} with \`${command}\` on ${machineLine()}.`,
    '',
    '| metric | value | target | verdict |',
    '| --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row.metric} | ${row.value} | ${row.target ?? ''} | ${row.verdict ?? ''} |`),
    '',
    ...notes,
  ];
  writeFileSync(join(dir, `${name}.md`), `${lines.join('\n').trim()}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function verdict(ok: boolean): string {
  return ok ? 'met' : 'NOT met';
}

/** A benchmark's planner publishes whatever it computes: no name threshold, no capacity guard. */
export const safetyOff = { maxChangedFraction: 1, minNamesForThreshold: 10, maxWithdrawnCapacityFraction: 1 };

/** Polls `probe` every 50 ms until it returns a value, or fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(probe: () => T | null, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The one kept-alive connection of an API benchmark's requests (`agent.destroy()` when done). */
export const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** One GET over the kept-alive connection: latency in ms, the body and its size in bytes; a non-200 rejects. */
export function timedGet(base: string, path: string): Promise<{ ms: number; body: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const started = nowMs();
    const req = request(`${base}${path}`, { agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const ms = nowMs() - started;
        const data = Buffer.concat(chunks);
        if (response.statusCode === 200) resolve({ ms, body: data.toString('utf8'), bytes: data.length });
        else reject(new Error(`${path}: ${response.statusCode} ${data.toString('utf8')}`));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** A benchmark's child process, and everything it has written to stdout so far. */
export interface BenchChild {
  child: ChildProcess;
  output: () => string;
}

/**
 * Runs the benchmark file `file` (TypeScript, through tsx) in a child Node process with `args`: stdout is collected,
 * stderr shared with this process. `stdin: 'pipe'` leaves a pipe to send the child commands on. The caller kills the
 * child when done.
 */
export function startChild(file: string, args: readonly string[], stdin: 'ignore' | 'pipe' = 'ignore'): BenchChild {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { stdio: [stdin, 'pipe', 'inherit'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  return { child, output: () => output };
}

/**
 * The API of a benchmark installation over the SQLite file `dbPath` and the inventory `endpoints`, as `dnsplane api`
 * builds it (not listening yet: the caller listens). Fastify and the API are loaded here, not by every benchmark
 * that imports this file.
 */
export async function buildBenchApi(dbPath: string, endpoints: EndpointSpec[]): Promise<FastifyInstance> {
  const [{ buildApp }, { parseConfig }, { ZoneSet }, { SqliteStore }, { BuiltinSqliteProvider }] = await Promise.all([
    import('../src/api/app.js'), import('../src/config/load.js'), import('../src/domain/zones.js'),
    import('../src/store/sqlite/store.js'), import('../src/providers/builtin/sqlite.js'),
  ]);
  const store = new SqliteStore(dbPath);
  const provider = new BuiltinSqliteProvider(dbPath);
  const config = parseConfig({
    zone: 'dnsplane.test.', endpoints: [{ name: 'svc0', targets: [{ id: 't0-0', address: '10.0.0.0' }] }],
  });
  return buildApp({
    config, zone: 'dnsplane.test', zones: new ZoneSet(['dnsplane.test']), inventory: endpoints, services: [],
    inventoryVersion: 0, store, provider,
  }, {});
}
