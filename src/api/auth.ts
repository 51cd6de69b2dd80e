import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import { ApiError } from './errors.js';
import type { Access } from './schema.js';
import { UserError } from '../util/assert.js';

/**
 * Bearer tokens. `token` may mutate (drain, freeze, re-enact, force);
 * `readToken` is for clients that must never mutate (a bot, a wallboard):
 * it gets 403 on every mutation. Reads are open — the API listens on
 * loopback by default and shows nothing secret. Tokens are compared as
 * SHA-256 digests with `timingSafeEqual`: equal lengths whatever the input,
 * and no early exit that would time how much of a token matched.
 */

export interface ApiTokens {
  token?: string;
  readToken?: string;
}

export interface Actor {
  /** Recorded in history as the actor: the token's role and a short fingerprint, never the token. */
  id: string;
  role: 'admin' | 'read';
}

const tokenLengthMin = 16;
const tokenLengthMax = 512;

/** The environment wins over the config file, so a secret need not be written into it. */
export function resolveTokens(api: Config['api'], env: NodeJS.ProcessEnv = process.env): ApiTokens {
  const token = env.DNSPLANE_API_TOKEN || api.token;
  const readToken = env.DNSPLANE_API_READ_TOKEN || api.readToken;
  for (const [name, value] of [['DNSPLANE_API_TOKEN', token], ['DNSPLANE_API_READ_TOKEN', readToken]] as const) {
    if (value !== undefined && (value.length < tokenLengthMin || value.length > tokenLengthMax)) {
      throw new UserError(`${name} / api.${name === 'DNSPLANE_API_TOKEN' ? 'token' : 'readToken'} must be ${tokenLengthMin}-${tokenLengthMax} characters`);
    }
  }
  if (token !== undefined && token === readToken) throw new UserError('the API token and the read-only token must differ');
  return { token, readToken };
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

  constructor(tokens: ApiTokens) {
    this.adminDigest = tokens.token === undefined ? null : digest(tokens.token);
    this.readDigest = tokens.readToken === undefined ? null : digest(tokens.readToken);
    this.adminActor = tokens.token === undefined ? null : { id: `api-token:${fingerprint(tokens.token)}`, role: 'admin' };
  }

  get mutationsEnabled(): boolean {
    return this.adminDigest !== null;
  }

  /** The caller of a route with `access`, or an ApiError (401/403). Read routes are open and return null. */
  authorize(request: FastifyRequest, access: Access): Actor | null {
    if (access === 'read') return null;
    if (this.adminDigest === null || this.adminActor === null) {
      throw new ApiError(403, 'forbidden', 'mutations are disabled: no API token is configured (set api.token in the config or DNSPLANE_API_TOKEN)');
    }
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (match === null) throw new ApiError(401, 'unauthorized', 'this action needs a bearer token: send "Authorization: Bearer TOKEN"');
    const presented = digest(match[1]!);
    // Both comparisons always run, so the time taken does not tell which token (if any) was close.
    const isAdmin = timingSafeEqual(presented, this.adminDigest);
    const isRead = this.readDigest !== null && timingSafeEqual(presented, this.readDigest);
    if (isAdmin) return this.adminActor;
    if (isRead) throw new ApiError(403, 'forbidden', 'the read-only token may not change anything; use the API token (api.token) for actions');
    throw new ApiError(401, 'unauthorized', 'the bearer token is not valid');
  }
}
