import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

/** A TCP port that was free a moment ago (bound to port 0 and released). */
export async function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
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
