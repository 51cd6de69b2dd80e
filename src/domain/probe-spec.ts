import { isIP } from 'node:net';
import type { StatusRange } from './types.js';
import { checkDnsName } from './names.js';
import { assert } from '../util/assert.js';

/** How a health check is written: the parsers the config validates with and the probe runs by. */

/** Route 53's rule: the match string must appear within this many bytes of the body; the rest is never read. */
export const probeBodyBytesMax = 5120;
/** Route 53's limit on the length of the match string. */
export const probeMatchLengthMax = 255;
/** Without expectStatus any 2xx or 3xx passes, as in Route 53. */
export const statusDefault: StatusRange = { min: 200, max: 399 };
const statusMin = 100;
const statusMax = 599;

export type ProbeScheme = 'http' | 'https';


/**
 * Splits "host:port" or "[v6]:port" that the config schema has already checked (listen addresses, servers; see
 * parseHostPort for the checks): anything else here is a bug.
 */
export function splitHostPort(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(value.slice(colon + 1));
  assert(colon > 0, 'internal', `"${value}" has no host:port colon`);
  assert(Number.isInteger(port) && port >= 0 && port <= 65_535, 'internal', `"${value}" has no port 0-65535`);
  return { host, port };
}

/** A check's "host:port" or "[v6]:port": a DNS name or an IP address, and a port 1-65535; otherwise the problem. */
export function parseHostPort(value: string): { host: string; port: number } | string {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value);
  if (match === null) return `"${value}" is not host:port (IPv6 as [addr]:port)`;
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (match[1] !== undefined && isIP(host) !== 6) return `"${value}": "${host}" is not an IPv6 address`;
  if (match[2] !== undefined && isIP(host) === 0 && checkDnsName(host) !== null) {
    return `"${value}": "${host}" is neither an IP address nor a DNS name`;
  }
  if (port < 1 || port > 65_535) return `"${value}": port ${port} is not 1-65535`;
  return { host, port };
}

/** A check's URL of `scheme` (only http: and https: are spoken); otherwise the problem. */
export function parseProbeUrl(value: string, scheme: ProbeScheme): URL | string {
  const hint = scheme === 'http' ? 'use https: for TLS' : 'use http: for plain HTTP';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a URL (${scheme}://host[:port]/path)`;
  }
  if (url.protocol !== `${scheme}:`) return `"${value}" is not an ${scheme}:// URL (${hint})`;
  if (url.hostname === '') return `"${value}" has no host`;
  if (url.username !== '' || url.password !== '') return `"${value}": credentials in a check URL are not supported`;
  return url;
}

/** The Host header / SNI name of an HTTP(S) check: a DNS name or an IP address; otherwise the problem. */
export function probeHostProblem(value: string): string | null {
  if (isIP(value) !== 0) return null;
  const problem = checkDnsName(value);
  return problem === null ? null : `"${value}" is neither an IP address nor a DNS name (it ${problem})`;
}

/** A status (200) or an inclusive range ("200-299" or { min, max }), each 100-599; otherwise the problem. */
export function parseStatusRange(value: number | string | StatusRange): StatusRange | string {
  const problem = `${JSON.stringify(value)} is not a status ${statusMin}-${statusMax} or a range like "200-299"`;
  let min: number;
  let max: number;
  if (typeof value === 'string') {
    const match = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(value);
    if (match === null) return problem;
    min = Number(match[1]);
    max = Number(match[2] ?? match[1]);
  } else {
    ({ min, max } = typeof value === 'number' ? { min: value, max: value } : value);
  }
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < statusMin || max > statusMax) return problem;
  if (min > max) return `${JSON.stringify(value)}: the range runs from ${min} down to ${max}`;
  return { min, max };
}
