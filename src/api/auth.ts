import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import { ApiError } from './errors.js';
import { UserError } from '../util/assert.js';

/**
 * Bearer tokens. `token` may mutate (drain, freeze, re-enact, force);
 * `readToken` is for clients that must never mutate (a bot, a wallboard):
 * it gets 403 on every mutation. Reads are open on loopback (the default
 * `api.listen`). An API that listens beyond loopback (`0.0.0.0:8080`, a LAN
 * address) requires a token for reads as well — the read token or the API
 * token — unless `api.publicReads: true` opens them on purpose: names,
 * targets and plans are a map of the service. Tokens are compared as
 * SHA-256 digests with `timingSafeEqual`: equal lengths whatever the input,
 * and no early exit that would time how much of a token matched.
 */

export interface ApiTokens {
  token?: string;
  readToken?: string;
  /** Reads need a token too (the API listens beyond loopback without api.publicReads); absent: reads are open. */
  readsNeedToken?: boolean;
}

/** What a route needs of its caller: to read, or to change something. */
export type Access = 'read' | 'write';

export interface Actor {
  /** Recorded in history as the actor: the token's role and a short fingerprint, never the token. */
  id: string;
  role: 'admin' | 'read';
}

const tokenLengthMin = 16;
const tokenLengthMax = 512;

/** The host of a "host:port" or "[v6]:port" listen address. */
export function listenHost(listen: string): string {
  return listen.slice(0, listen.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
}

/** Whether only this machine can reach `host`: 127.0.0.0/8, ::1 or localhost. 0.0.0.0 and :: are every interface. */
export function isLoopbackHost(host: string): boolean {
  const lower = host.toLowerCase();
  return lower === 'localhost' || lower === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(lower)
    || /^::ffff:127\./.test(lower);
}

/** The environment wins over the config file, so a secret need not be written into it. */
export function resolveTokens(api: Config['api'], env: Readonly<Record<string, string | undefined>>): ApiTokens {
  const token = env.DNSPLANE_API_TOKEN || api.token;
  const readToken = env.DNSPLANE_API_READ_TOKEN || api.readToken;
  for (const [name, value] of [['DNSPLANE_API_TOKEN', token], ['DNSPLANE_API_READ_TOKEN', readToken]] as const) {
    if (value !== undefined && (value.length < tokenLengthMin || value.length > tokenLengthMax)) {
      throw new UserError(
        `${name} / api.${name === 'DNSPLANE_API_TOKEN' ? 'token' : 'readToken'} `
          + `must be ${tokenLengthMin}-${tokenLengthMax} characters`,
      );
    }
  }
  if (token !== undefined && token === readToken) {
    throw new UserError('the API token and the read-only token must differ');
  }
  const readsNeedToken = !isLoopbackHost(listenHost(api.listen)) && !api.publicReads;
  if (readsNeedToken && token === undefined && readToken === undefined) {
    throw new UserError(
      `api.listen ${api.listen} is beyond loopback, where reads need a token, but none is set: `
        + 'set api.readToken (or DNSPLANE_API_READ_TOKEN), or api.publicReads: true to let anyone who reaches it read',
    );
  }
  return { token, readToken, readsNeedToken };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function fingerprint(value: string): string {
  return digest(value).toString('hex').slice(0, 8);
}

export class Authenticator {
  private readonly adminDigest: Buffer | null;
  private readonly readDigest: Buffer | null;
  private readonly adminActor: Actor | null;
  private readonly readActor: Actor | null;
  readonly readsNeedToken: boolean;

  constructor(tokens: ApiTokens) {
    this.adminDigest = tokens.token === undefined ? null : digest(tokens.token);
    this.readDigest = tokens.readToken === undefined ? null : digest(tokens.readToken);
    this.adminActor = tokens.token === undefined
      ? null
      : { id: `api-token:${fingerprint(tokens.token)}`, role: 'admin' };
    this.readActor = tokens.readToken === undefined
      ? null
      : { id: `read-token:${fingerprint(tokens.readToken)}`, role: 'read' };
    this.readsNeedToken = tokens.readsNeedToken ?? false;
  }

  get mutationsEnabled(): boolean {
    return this.adminDigest !== null;
  }

  /**
   * The caller of a route with `access`, or an ApiError (401/403). Reads return null when they are open, else the
   * token's actor (the API token may read too).
   */
  authorize(request: FastifyRequest, access: Access): Actor | null {
    if (access === 'read') return this.readsNeedToken ? this.authorizeRead(request) : null;
    if (this.adminDigest === null || this.adminActor === null) {
      throw new ApiError(
        403,
        'forbidden',
        'mutations are disabled: no API token is configured (set api.token in the config or DNSPLANE_API_TOKEN)',
      );
    }
    const match = this.presented(request, 'this action needs a bearer token: send "Authorization: Bearer TOKEN"');
    const { isAdmin, isRead } = this.compare(match);
    if (isAdmin) return this.adminActor;
    if (isRead) {
      throw new ApiError(
        403,
        'forbidden',
        'the read-only token may not change anything; use the API token (api.token) for actions',
      );
    }
    throw new ApiError(401, 'unauthorized', 'the bearer token is not valid');
  }

  private authorizeRead(request: FastifyRequest): Actor {
    const presented = this.presented(
      request,
      'this API listens beyond loopback: reads need a bearer token (the read token or the API token); '
        + 'send "Authorization: Bearer TOKEN"',
    );
    const { isAdmin, isRead } = this.compare(presented);
    if (isAdmin && this.adminActor !== null) return this.adminActor;
    if (isRead && this.readActor !== null) return this.readActor;
    throw new ApiError(401, 'unauthorized', 'the bearer token is not valid');
  }

  /** The digest of the bearer token of `request`, or a 401 with `missing` as its message. */
  private presented(request: FastifyRequest, missing: string): Buffer {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (match === null) throw new ApiError(401, 'unauthorized', missing);
    return digest(match[1]!);
  }

  /** Both comparisons always run, so the time taken does not tell which token (if any) was close. */
  private compare(presented: Buffer): { isAdmin: boolean; isRead: boolean } {
    const isAdmin = this.adminDigest !== null && timingSafeEqual(presented, this.adminDigest);
    const isRead = this.readDigest !== null && timingSafeEqual(presented, this.readDigest);
    return { isAdmin, isRead };
  }
}
