import { request as requestHttp, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as requestHttps } from 'node:https';
import { connect, isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate, type SecureContext } from 'node:tls';
import type { ProbeSpec, StatusRange } from '../domain/types.js';
import {
  parseHostPort, parseProbeUrl, parseStatusRange, probeBodyBytesMax, statusDefault, type ProbeScheme,
} from '../domain/probe-spec.js';
import { caSecureContext } from '../util/ca-file.js';
import { assert } from '../util/assert.js';

export type { ProbeSpec, StatusRange };

/** A result's error is one line of at most this many characters, whatever a server or TLS library says. */
const errorLengthMax = 200;

export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
}

/** One line, bounded, with TLS verification failures marked as such. */
function describeError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const prefix = typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code)
    ? 'certificate: '
    : '';
  return `${prefix}${message}`;
}

function resultOf(startedMs: number, error?: string): ProbeResult {
  const latencyMs = performance.now() - startedMs;
  if (error === undefined) return { ok: true, latencyMs };
  const line = error.replace(/\s+/g, ' ').trim();
  return {
    ok: false,
    latencyMs,
    error: line.length > errorLengthMax ? `${line.slice(0, errorLengthMax - 3)}...` : line,
  };
}

/**
 * Runs one check. Never throws and never rejects: a malformed spec, an
 * unreadable CA file or any network or TLS error is a failed probe
 * (`ok: false` with a one-line `error`), so one bad target cannot stop the
 * round of the others. The whole probe, connect to verdict, is bounded by the
 * check's own `timeout` when it has one, else by `timeoutMs`.
 */
export function probe(spec: ProbeSpec, timeoutMs: number): Promise<ProbeResult> {
  const startedMs = performance.now();
  try {
    return probeUnguarded(spec, spec.timeout ?? timeoutMs, startedMs)
      .catch((error: unknown) => resultOf(startedMs, describeError(error)));
  } catch (error) {
    return Promise.resolve(resultOf(startedMs, describeError(error)));
  }
}

function probeUnguarded(spec: ProbeSpec, budgetMs: number, startedMs: number): Promise<ProbeResult> {
  if (!(Number.isFinite(budgetMs) && budgetMs > 0)) {
    return Promise.resolve(resultOf(startedMs, `timeout must be a positive number of ms, not ${budgetMs}`));
  }
  const kinds = [spec.http, spec.https, spec.tcp].filter((kind) => kind !== undefined).length;
  if (kinds !== 1) return Promise.resolve(resultOf(startedMs, 'a check needs exactly one of http, https or tcp'));
  if (spec.tcp !== undefined) return probeTcpSpec(spec.tcp, spec.port, budgetMs, startedMs);
  const plan = planHttp(spec, spec.https !== undefined ? 'https' : 'http', budgetMs);
  if (typeof plan === 'string') return Promise.resolve(resultOf(startedMs, plan));
  return exchangeHttp(plan, startedMs);
}

interface HttpPlan {
  scheme: ProbeScheme;
  options: RequestOptions & {
    servername?: string;
    secureContext?: SecureContext;
    rejectUnauthorized?: boolean;
    checkServerIdentity?: typeof checkServerIdentity;
  };
  expect: StatusRange;
  match: Buffer | undefined;
  budgetMs: number;
}

/** Everything an HTTP(S) exchange needs, or why the spec cannot be probed. */
function planHttp(spec: ProbeSpec, scheme: ProbeScheme, budgetMs: number): HttpPlan | string {
  const url = parseProbeUrl(scheme === 'https' ? spec.https! : spec.http!, scheme);
  if (typeof url === 'string') return url;
  const expect = spec.expectStatus === undefined ? statusDefault : parseStatusRange(spec.expectStatus);
  if (typeof expect === 'string') return `expectStatus: ${expect}`;
  const urlHost = url.hostname.replace(/^\[|\]$/g, '');
  const headers: Record<string, string> = { 'user-agent': 'dnsplane-checker', connection: 'close' };
  if (spec.host !== undefined) headers['host'] = isIP(spec.host) === 6 ? `[${spec.host}]` : spec.host;
  const options: HttpPlan['options'] = {
    hostname: urlHost,
    port: spec.port ?? (url.port === '' ? (scheme === 'https' ? 443 : 80) : Number(url.port)),
    path: `${url.pathname}${url.search}`,
    method: spec.method ?? 'GET',
    headers,
    // A fresh connection per probe: a kept-alive socket would test yesterday's handshake, not the target's health now.
    agent: false,
  };
  if (scheme === 'https') {
    const tls = planTls(spec, spec.host ?? urlHost);
    if (typeof tls === 'string') return tls;
    Object.assign(options, tls);
  }
  return {
    scheme,
    options,
    expect,
    match: spec.match === undefined ? undefined : Buffer.from(spec.match, 'utf8'),
    budgetMs,
  };
}

/** SNI, trust and the name the certificate must carry: the Host name when set, else the URL's host. */
function planTls(spec: ProbeSpec, name: string): Partial<HttpPlan['options']> | string {
  if (spec.ca !== undefined && spec.insecure === true) return 'ca and insecure exclude each other';
  const tls: Partial<HttpPlan['options']> = {
    // An IP literal is not a server name (RFC 6066 §3): no SNI then.
    servername: isIP(name) === 0 ? name : '',
    rejectUnauthorized: spec.insecure !== true,
    checkServerIdentity: (_hostname: string, certificate: PeerCertificate) => checkServerIdentity(name, certificate),
  };
  if (spec.ca !== undefined) {
    const context = caSecureContext(spec.ca);
    if (typeof context === 'string') return context;
    tls.secureContext = context;
  }
  return tls;
}

/** One request on a fresh connection; reads at most probeBodyBytesMax of the body, and only to match it. */
function exchangeHttp(plan: HttpPlan, startedMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let request: ClientRequest | undefined;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request?.destroy();
      resolve(resultOf(startedMs, error));
    };
    const timer = setTimeout(() => finish(`timeout after ${plan.budgetMs} ms`), plan.budgetMs);
    const send = plan.scheme === 'https' ? requestHttps : requestHttp;
    try {
      request = send(plan.options, (response) => onResponse(plan, response, finish));
    } catch (error) {
      // node:http throws synchronously on some bad input (a control character in the Host header): still a failed
      // probe.
      return finish(describeError(error));
    }
    request.on('error', (error) => finish(describeError(error)));
    request.end();
  });
}

/** Judges the status, then (only for a match) the start of the body. */
function onResponse(plan: HttpPlan, response: IncomingMessage, finish: (error?: string) => void): void {
  response.on('error', (error) => finish(describeError(error)));
  const status = response.statusCode ?? 0;
  if (status < plan.expect.min || status > plan.expect.max) return finish(`HTTP ${status}`);
  const match = plan.match;
  if (match === undefined) return finish();
  readBodyPrefix(response, (body) => finish(
    body.includes(match) ? undefined : `body does not contain ${JSON.stringify(match.toString('utf8'))}`,
  ));
}

/** Calls `done` once with the first probeBodyBytesMax bytes, or the whole body when shorter. */
function readBodyPrefix(response: IncomingMessage, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let called = false;
  const finish = () => {
    if (called) return;
    called = true;
    const body = Buffer.concat(chunks, Math.min(bytes, probeBodyBytesMax));
    assert(body.length <= probeBodyBytesMax, 'internal', 'the body read for a match is bounded');
    done(body);
  };
  response.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    bytes += chunk.length;
    if (bytes >= probeBodyBytesMax) finish();
  });
  response.on('end', finish);
}

/** A TCP-connect probe: success when the handshake completes within the budget. */
function probeTcpSpec(
  target: string,
  portOverride: number | undefined,
  budgetMs: number,
  startedMs: number,
): Promise<ProbeResult> {
  const parsed = parseHostPort(target);
  if (typeof parsed === 'string') return Promise.resolve(resultOf(startedMs, parsed));
  return new Promise((resolve) => {
    let settled = false;
    const socket = connect({ host: parsed.host, port: portOverride ?? parsed.port });
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(resultOf(startedMs, error));
    };
    const timer = setTimeout(() => finish(`timeout after ${budgetMs} ms`), budgetMs);
    socket.once('connect', () => finish());
    socket.once('error', (error) => finish(describeError(error)));
  });
}

/** An HTTP(S) probe of `url` (the scheme picks plain or TLS), as `probe` runs it. */
export function probeHttp(
  url: string,
  timeoutMs: number,
  method: 'GET' | 'HEAD' = 'GET',
  expectStatus?: number,
): Promise<ProbeResult> {
  const target = url.startsWith('https:') ? { https: url } : { http: url };
  return probe({ ...target, method, ...(expectStatus === undefined ? {} : { expectStatus }) }, timeoutMs);
}

/** A TCP-connect probe of "host:port", as `probe` runs it. */
export function probeTcp(target: string, timeoutMs: number): Promise<ProbeResult> {
  return probe({ tcp: target }, timeoutMs);
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
