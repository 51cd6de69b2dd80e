import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

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
