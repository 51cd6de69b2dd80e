import { request } from 'node:http';
import { connect } from 'node:net';

export interface ProbeSpec {
  http?: string;
  tcp?: string;
  method?: 'GET' | 'HEAD';
  /** Exact status expected; without it any 2xx or 3xx passes. */
  expectStatus?: number;
}

export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
}

/** Splits "host:port" or "[v6]:port". */
export function splitHostPort(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon).replace(/^\[|\]$/g, '');
  return { host, port: Number(value.slice(colon + 1)) };
}

/** An HTTP probe: one request, no keep-alive, bounded by `timeoutMs` from start to status line. */
export function probeHttp(url: string, timeoutMs: number, method: 'GET' | 'HEAD' = 'GET', expectStatus?: number): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (ok: boolean, error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ok, latencyMs: performance.now() - started, ...(error === undefined ? {} : { error }) });
    };
    const req = request(url, { method, agent: false, headers: { 'user-agent': 'dnsplane-checker', connection: 'close' } }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      const ok = expectStatus === undefined ? status >= 200 && status < 400 : status === expectStatus;
      finish(ok, ok ? undefined : `HTTP ${status}`);
      req.destroy();
    });
    const timer = setTimeout(() => {
      finish(false, `timeout after ${timeoutMs} ms`);
      req.destroy();
    }, timeoutMs);
    req.on('error', (error) => finish(false, error.message));
    req.end();
  });
}

/** A TCP-connect probe: success when the handshake completes within `timeoutMs`. */
export function probeTcp(target: string, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  const { host, port } = splitHostPort(target);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let settled = false;
    const finish = (ok: boolean, error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, latencyMs: performance.now() - started, ...(error === undefined ? {} : { error }) });
    };
    const timer = setTimeout(() => finish(false, `timeout after ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () => finish(true));
    socket.once('error', (error) => finish(false, error.message));
  });
}

export function probe(spec: ProbeSpec, timeoutMs: number): Promise<ProbeResult> {
  if (spec.http !== undefined) return probeHttp(spec.http, timeoutMs, spec.method ?? 'GET', spec.expectStatus);
  if (spec.tcp !== undefined) return probeTcp(spec.tcp, timeoutMs);
  return Promise.resolve({ ok: true, latencyMs: 0 });
}

/** Runs `tasks` with at most `limit` in flight, so 10,000 targets never exhaust sockets. */
export async function runBounded<T>(tasks: readonly (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next;
      next += 1;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, worker));
  return results;
}
