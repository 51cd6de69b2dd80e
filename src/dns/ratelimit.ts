import { isIPv4, isIPv6 } from 'node:net';
import { assert } from '../util/assert.js';

export interface RateLimitOptions {
  enabled: boolean;
  responsesPerSecond: number;
  burst: number;
  /** Every slip-th limited response is sent truncated instead of dropped; 0 drops them all. */
  slip: number;
  ipv4PrefixLength: number;
  ipv6PrefixLength: number;
  /** Buckets kept at most; the oldest is forgotten first when a new prefix arrives at the limit. */
  prefixesMax: number;
}

export type RateDecision = 'allow' | 'slip' | 'drop';

interface Bucket {
  tokens: number;
  refilledAtMs: number;
  limited: number;
}

/**
 * Response rate limiting for UDP (in the spirit of BIND's RRL): a token
 * bucket per client prefix (/24, /56 by default), because a spoofed flood
 * comes from many addresses of one victim network. Over the limit, answers
 * are dropped, except every slip-th one, which goes out truncated and
 * empty: no larger than the query, so it amplifies nothing, yet a real
 * client behind the prefix learns to retry over TCP, which cannot be spoofed.
 */
export class ResponseRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly options: RateLimitOptions, private readonly nowMs: () => number) {
    assert(options.responsesPerSecond > 0, 'internal', 'responsesPerSecond must be positive');
    assert(options.burst >= 1, 'internal', 'burst must be at least 1');
    assert(options.prefixesMax >= 1, 'internal', 'prefixesMax must be at least 1');
  }

  get prefixes(): number {
    return this.buckets.size;
  }

  decide(address: string): RateDecision {
    if (!this.options.enabled) return 'allow';
    const key = prefixKey(address, this.options.ipv4PrefixLength, this.options.ipv6PrefixLength);
    const now = this.nowMs();
    const bucket = this.bucketFor(key, now);
    const elapsedMs = Math.max(0, now - bucket.refilledAtMs);
    bucket.tokens = Math.min(this.options.burst, bucket.tokens + (elapsedMs * this.options.responsesPerSecond) / 1000);
    bucket.refilledAtMs = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 'allow';
    }
    bucket.limited += 1;
    return this.options.slip > 0 && bucket.limited % this.options.slip === 0 ? 'slip' : 'drop';
  }

  private bucketFor(key: string, now: number): Bucket {
    const existing = this.buckets.get(key);
    if (existing !== undefined) return existing;
    if (this.buckets.size >= this.options.prefixesMax) {
      // Forget the prefix seen first. A flood of spoofed prefixes can thereby refill a victim's bucket early, but
      // the table stays bounded, and every new bucket still holds only `burst` responses.
      const oldest = this.buckets.keys().next().value as string;
      this.buckets.delete(oldest);
    }
    const bucket: Bucket = { tokens: this.options.burst, refilledAtMs: now, limited: 0 };
    this.buckets.set(key, bucket);
    assert(this.buckets.size <= this.options.prefixesMax, 'internal', 'rate-limit table exceeds prefixesMax');
    return bucket;
  }
}

/** The network prefix of `address` as a string key, e.g. "4:127.0.0.0/24"; IPv4-mapped IPv6 counts as IPv4. */
export function prefixKey(address: string, ipv4PrefixLength: number, ipv6PrefixLength: number): string {
  const mapped = address.toLowerCase().startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  if (isIPv4(mapped)) {
    // On every UDP query: integer arithmetic, no arrays of bytes.
    const parts = mapped.split('.');
    const value = ((Number(parts[0]) << 24) | (Number(parts[1]) << 16) | (Number(parts[2]) << 8) | Number(parts[3]))
      >>> 0;
    const mask = ipv4PrefixLength === 0 ? 0 : (0xffffffff << (32 - ipv4PrefixLength)) >>> 0;
    return `4:${(value & mask) >>> 0}/${ipv4PrefixLength}`;
  }
  const bytes = isIPv6(mapped) ? ipv6Bytes(mapped) : null;
  // Not an address at all (cannot happen for a socket's peer): one shared bucket, so it is still limited.
  if (bytes === null) return 'unknown';
  const masked = maskBytes(bytes, ipv6PrefixLength);
  return `6:${masked.map((byte) => byte.toString(16).padStart(2, '0')).join('')}/${ipv6PrefixLength}`;
}

function maskBytes(bytes: readonly number[], prefixLength: number): number[] {
  assert(
    prefixLength >= 0 && prefixLength <= bytes.length * 8,
    'internal',
    `prefix length ${prefixLength} for ${bytes.length} bytes`,
  );
  return bytes.map((byte, index) => {
    const bits = Math.min(8, Math.max(0, prefixLength - index * 8));
    return byte & ((0xff << (8 - bits)) & 0xff);
  });
}

/** The 16 bytes of a valid IPv6 address (as accepted by net.isIPv6), zone index ignored. */
export function ipv6Bytes(address: string): number[] | null {
  const withoutZone = address.split('%')[0]!;
  const [head, tail] = withoutZone.includes('::') ? withoutZone.split('::') as [string, string] : [withoutZone, null];
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const words: number[] = [];
    for (const group of part.split(':')) {
      if (group.includes('.')) {
        if (!isIPv4(group)) return null;
        const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
        words.push((a << 8) | b, (c << 8) | d);
      } else {
        words.push(Number.parseInt(group, 16));
      }
    }
    return words.every((word) => Number.isInteger(word) && word >= 0 && word <= 0xffff) ? words : null;
  };
  const first = parse(head);
  const last = tail === null ? [] : parse(tail);
  if (first === null || last === null) return null;
  const zeros = 8 - first.length - last.length;
  if (zeros < 0 || (tail === null && zeros !== 0)) return null;
  const words = [...first, ...new Array<number>(zeros).fill(0), ...last];
  return words.flatMap((word) => [word >> 8, word & 0xff]);
}
