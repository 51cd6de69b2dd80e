import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';

/** Shared test plumbing: temporary directories, free ports, child processes that are always stopped, polling with a deadline. */

export const repoRoot = resolve(import.meta.dirname, '..', '..');
export const cliPath = join(repoRoot, 'bin', 'dnsplane.mjs');

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'dnsplane-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Where test ports come from: below the kernel's ephemeral range (net.ipv4.ip_local_port_range), never in it. A port
 * the kernel picks for bind(0) comes from that range, and so does the source port of every outgoing connection made
 * by any process (etcd clients, fetches, dig over TCP): between the check and the bind of the child it is for, such a
 * port was taken as a source port in a CI run (`up` lost its API port, EADDRINUSE). Below the range only another
 * test's choice can take it, so each test process keeps to its own slice (by pid) and walks it from a random start.
 */
const testPortsLow = 10_000;
const portSlices = 64;

function ephemeralPortsLow(): number {
  try {
    const low = Number.parseInt(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]!, 10);
    return Number.isInteger(low) && low > testPortsLow + portSlices * 16 ? low : 32_768;
  } catch {
    return 32_768; // not Linux: the IANA dynamic range starts at 49152, so below 32768 is below it too
  }
}

const sliceSize = Math.floor((ephemeralPortsLow() - testPortsLow) / portSlices);
const sliceStart = testPortsLow + (process.pid % portSlices) * sliceSize;
let portCursor = Math.floor(Math.random() * sliceSize);

/** Whether a TCP listener can bind `port` on `host` right now. */
function tcpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once('error', () => resolveFree(false));
    server.listen(port, host, () => server.close(() => resolveFree(true)));
  });
}

/** A TCP port that was free a moment ago, below the ephemeral range (see above). */
export async function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < sliceSize; attempt += 1) {
    const port = sliceStart + (portCursor % sliceSize);
    portCursor += 1;
    if (await tcpFree(port, host)) return port;
  }
  throw new Error(`no free TCP port in ${sliceStart}-${sliceStart + sliceSize - 1}`);
}

/** A port free for both UDP and TCP (DNS needs both). */
export async function freeDualPort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = await freeTcpPort(host);
    const free = await new Promise<boolean>((resolveFree) => {
      const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      socket.once('error', () => resolveFree(false));
      socket.bind(port, host, () => socket.close(() => resolveFree(true)));
    });
    if (free) return port;
  }
  throw new Error('no free UDP+TCP port found');
}

/** Polls `probe` until it returns a truthy value or the deadline passes (no fixed sleeps as synchronisation). */
export async function pollUntil<T>(probe: () => T | Promise<T>, what: string, timeoutMs = 15_000, intervalMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface Child {
  process: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop: (graceMs?: number) => Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) if (child.exitCode === null && child.pid !== undefined) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

/** Starts `dnsplane ARGS` as a child process; every child is killed by pid when the test process exits. */
export function spawnCli(args: string[], env: Record<string, string> = {}, cwd = repoRoot): Child {
  return spawnProcess(process.execPath, [cliPath, ...args], env, cwd);
}

export function spawnProcess(command: string, args: string[], env: Record<string, string> = {}, cwd = repoRoot): Child {
  const child = spawn(command, args, { cwd, env: { ...process.env, DNSPLANE_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => { out += chunk.toString(); });
  child.stderr!.on('data', (chunk: Buffer) => { err += chunk.toString(); });
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolveExit(code ?? (signal === null ? null : -1));
    });
  });
  return {
    process: child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Runs `dnsplane ARGS` to completion. */
export async function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(args, env);
  const timer = setTimeout(() => child.process.kill('SIGKILL'), timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

/** Writes a YAML config into `dir` and returns its path. */
export function writeConfig(dir: string, config: unknown, name = 'config.yaml'): string {
  const path = join(dir, name);
  writeFileSync(path, stringify(config));
  return path;
}

/** A config with `names` endpoints of `targetsPerName` targets each, for tests. */
export function sampleConfig(names: number, targetsPerName = 3, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const endpoints = [];
  for (let n = 0; n < names; n += 1) {
    const targets = [];
    for (let t = 0; t < targetsPerName; t += 1) {
      targets.push({ id: `t${n}-${t}`, address: `127.${1 + Math.floor(n / 250)}.${n % 250}.${t + 1}`, az: `az${t + 1}`, capacity: 100 });
    }
    endpoints.push({ name: `svc${n}`, targets });
  }
  return { zone: 'dnsplane.test.', ...extra, endpoints };
}

/** The test-only enactor process (test/helpers/test-enactor.ts): the production role with a fault wrapped around its provider. */
export function spawnTestEnactor(
  id: string, paths: { configPath: string; data: string }, fault: { delayMs?: number; hangInApply?: number }, wrap: readonly string[] = [],
): Child {
  const script = join(repoRoot, 'test', 'helpers', 'test-enactor.ts');
  const args = ['--import', 'tsx', script, '--id', id, '--config', paths.configPath, '--data', paths.data];
  if (fault.delayMs !== undefined) args.push('--delay-ms', String(fault.delayMs));
  if (fault.hangInApply !== undefined) args.push('--hang-in-apply', String(fault.hangInApply));
  // Under a command prefix (ip netns exec NS): the prefix runs node.
  return wrap.length === 0 ? spawnProcess(process.execPath, args) : spawnProcess(wrap[0]!, [...wrap.slice(1), process.execPath, ...args]);
}
