import { readFileSync } from 'node:fs';
import {
  Etcd3, type IOptions, type ICompare, type IKeyValue, type IRangeRequest, type IRangeResponse, type IRequestOp,
  type IResponseOp, type ITxnRequest, type ITxnResponse,
} from 'etcd3';
import { assert, UserError } from '../../util/assert.js';

/**
 * A thin layer over the `etcd3` client: keys under the installation's
 * prefix, revision-pinned paged scans, writes split into transactions that
 * respect etcd's limits, and one-shot lease keep-alives. Everything else in
 * src/store/etcd and the etcd provider talks to etcd through this class.
 */

/** etcd's default --max-txn-ops is 128; every transaction built here stays below it (room for a few extra ops). */
export const txnOpsMax = 120;
/** etcd's default --max-request-bytes is 1.5 MiB; a transaction built here carries at most this much key+value data. */
export const txnBytesMax = 1024 * 1024;
/** Keys asked for per page of a range scan. */
export const scanPageKeys = 2000;
/** Deadline of every unary call: a member cut off by a partition must not hang a caller forever. */
export const callTimeoutMs = 5000;
/** Largest response accepted (a page of plan chunks); gRPC's default of 4 MiB is too small for some pages. */
const receiveBytesMax = 64 * 1024 * 1024;
/**
 * gRPC keepalive, so a connection to a member behind a partition is noticed; etcd refuses pings more often than every
 * 5 s.
 */
const keepaliveTimeMs = 5000;
const keepaliveTimeoutMs = 3000;
/** Writes in flight at once when a large change is split into many transactions. */
export const writeConcurrency = 8;

export interface EtcdConnectionOptions {
  endpoints: readonly string[];
  prefix: string;
  /** PEM files for https:// endpoints: the members' CA, and a client certificate and key if they require one. */
  tls?: { ca: string; cert?: string; key?: string };
  /** etcd user and the file holding its password. */
  auth?: { username: string; passwordFile: string };
}

/** Reads a file named in the config; a problem is the operator's, said with the config key and the path. */
function readConfigured(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new UserError(`${what}: cannot read ${file}: ${(error as Error).message}`);
  }
}

/** The etcd3 client's TLS and auth options from the connection options (files read now). */
function securityOf(options: EtcdConnectionOptions): Pick<IOptions, 'credentials' | 'auth'> {
  const security: Pick<IOptions, 'credentials' | 'auth'> = {};
  if (options.tls !== undefined) {
    security.credentials = {
      rootCertificate: readConfigured(options.tls.ca, 'store.tls.ca'),
      ...(options.tls.cert === undefined ? {} : { certChain: readConfigured(options.tls.cert, 'store.tls.cert') }),
      ...(options.tls.key === undefined ? {} : { privateKey: readConfigured(options.tls.key, 'store.tls.key') }),
    };
  }
  if (options.auth !== undefined) {
    const password = readConfigured(options.auth.passwordFile, 'store.auth.passwordFile')
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (password.length === 0) throw new UserError(`store.auth.passwordFile: ${options.auth.passwordFile} is empty`);
    security.auth = {
      username: options.auth.username,
      password,
      callOptions: () => ({ deadline: Date.now() + callTimeoutMs }),
    };
  }
  return security;
}

export type KeyValue = IKeyValue;

/** A revision as etcd3 returns it (int64 as a string), checked to be exact as a JS number. */
export function revisionOf(value: string | number): number {
  const revision = Number(value);
  assert(Number.isSafeInteger(revision) && revision >= 0, 'internal', `etcd revision ${value} is not a safe integer`);
  return revision;
}

/** The smallest key after every key that starts with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let index = end.length - 1; index >= 0; index -= 1) {
    if (end[index]! < 0xff) {
      end[index] = end[index]! + 1;
      return end.subarray(0, index + 1);
    }
  }
  return Buffer.from([0]);
}

/** Splits operations into transactions under txnOpsMax operations and txnBytesMax bytes each. */
export function batchOps(ops: readonly IRequestOp[], opsMax = txnOpsMax): IRequestOp[][] {
  assert(opsMax > 0 && opsMax <= txnOpsMax, 'internal', `batch of ${opsMax} operations`);
  const batches: IRequestOp[][] = [];
  let current: IRequestOp[] = [];
  let bytes = 0;
  for (const op of ops) {
    const size = opBytes(op);
    assert(size <= txnBytesMax, 'internal', `one etcd operation of ${size} bytes exceeds the request limit`);
    if (current.length >= opsMax || bytes + size > txnBytesMax) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(op);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

function opBytes(op: IRequestOp): number {
  const put = op.request_put;
  if (put !== undefined) return (put.key?.length ?? 0) + (put.value?.length ?? 0) + 16;
  if (op.request_txn !== undefined) {
    return (op.request_txn.success ?? [])
      .concat(op.request_txn.failure ?? [])
      .reduce((sum, inner) => sum + opBytes(inner), 64);
  }
  return 64 + (op.request_range?.key?.length ?? op.request_delete_range?.key?.length ?? 0) * 2;
}

/** Runs `work` over `items` with at most `concurrency` in flight; the first failure rejects. */
export async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  assert(concurrency > 0, 'internal', 'concurrency must be positive');
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

export class EtcdConnection {
  readonly client: Etcd3;
  readonly prefix: string;
  private closed = false;

  constructor(options: EtcdConnectionOptions) {
    assert(options.endpoints.length > 0, 'internal', 'etcd needs at least one endpoint');
    assert(
      options.prefix.length > 0,
      'internal',
      'etcd prefix must not be empty (the installation would own the whole keyspace)',
    );
    this.prefix = options.prefix;
    this.client = new Etcd3({
      ...securityOf(options),
      hosts: [...options.endpoints],
      dialTimeout: callTimeoutMs,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
      grpcOptions: {
        'grpc.max_receive_message_length': receiveBytesMax,
        'grpc.keepalive_time_ms': keepaliveTimeMs,
        'grpc.keepalive_timeout_ms': keepaliveTimeoutMs,
        'grpc.keepalive_permit_without_calls': 1,
      },
    });
  }

  /** The full key of `path` under the prefix. */
  key(path: string): Buffer {
    return Buffer.from(this.prefix + path);
  }

  /** `key` without the prefix, as text. */
  path(key: Buffer): string {
    const text = key.toString();
    assert(text.startsWith(this.prefix), 'internal', `key ${text} outside prefix ${this.prefix}`);
    return text.slice(this.prefix.length);
  }

  async txn(request: ITxnRequest): Promise<ITxnResponse> {
    return this.client.kv.txn(request);
  }

  async range(request: IRangeRequest): Promise<IRangeResponse> {
    return this.client.kv.range(request);
  }

  /**
   * The keys of a range, at most `limit` of them — a caller's page size. A limit of 0 reads none, as SQL's LIMIT 0
   * and the simulator's stores do: etcd itself reads a range limit of 0 as no limit at all (every key).
   */
  async rangeUpTo(request: Omit<IRangeRequest, 'limit'>, limit: number): Promise<KeyValue[]> {
    assert(Number.isInteger(limit) && limit >= 0, 'internal', `range limit ${limit} is not a whole number`);
    if (limit === 0) return [];
    return (await this.range({ ...request, limit })).kvs;
  }

  /** One key, or null; at `revision` when given. */
  async get(path: string, revision?: number): Promise<KeyValue | null> {
    const response = await this.range({ key: this.key(path), ...(revision === undefined ? {} : { revision }) });
    return response.kvs[0] ?? null;
  }

  /**
   * Reads with many range operations in as few transactions as etcd allows,
   * all at one revision (the first transaction's, unless given), so the
   * answers form one consistent snapshot. Returns each op's range response
   * in order, and the revision read.
   */
  async readMany(
    ranges: readonly IRangeRequest[],
    revision?: number,
  ): Promise<{ responses: IRangeResponse[]; revision: number }> {
    const slices: IRangeRequest[][] = [];
    for (let start = 0; start < ranges.length; start += txnOpsMax) slices.push(ranges.slice(start, start + txnOpsMax));
    const answers: IRangeResponse[][] = new Array(slices.length);
    let pinned = revision;
    const read = async (slice: IRangeRequest[], index: number) => {
      const response = await this.txn({
        success: slice.map((range) => ({
          request_range: pinned === undefined ? range : { ...range, revision: pinned },
        })),
      });
      pinned ??= revisionOf(response.header.revision);
      answers[index] = response.responses.map(rangeResponse);
    };
    // The first transaction fixes the revision (unless given); the rest read at it, several at a time.
    if (pinned === undefined && slices.length > 0) await read(slices[0]!, 0);
    const rest = slices.map((slice, index) => ({ slice, index })).filter(({ index }) => answers[index] === undefined);
    await forEachConcurrently(rest, writeConcurrency, ({ slice, index }) => read(slice, index));
    return { responses: answers.flat(), revision: pinned ?? 0 };
  }

  /**
   * Every key in [start, end) at `revision` (pinned, so pages read in
   * separate calls are one snapshot), a page at a time.
   */
  async *scan(
    start: Buffer,
    end: Buffer,
    revision: number,
    options: { keysOnly?: boolean; pageKeys?: number } = {},
  ): AsyncGenerator<KeyValue[]> {
    const pageKeys = options.pageKeys ?? scanPageKeys;
    let from = start;
    // Bounded: each page advances past its last key, and etcd holds finitely many keys at a revision.
    for (;;) {
      const response = await this.range({
        key: from,
        range_end: end,
        revision,
        limit: pageKeys,
        keys_only: options.keysOnly ?? false,
      });
      if (response.kvs.length > 0) yield response.kvs;
      if (!response.more || response.kvs.length === 0) return;
      from = Buffer.concat([response.kvs[response.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }

  /** The current revision of the whole keyspace (a linearizable read). */
  async currentRevision(): Promise<number> {
    const response = await this.range({ key: this.key('plan/latest'), count_only: true });
    return revisionOf(response.header.revision);
  }

  /**
   * Applies `ops` in transactions of bounded size, each guarded by
   * `compares` (the fencing checks), `concurrency` at a time. Returns false
   * as soon as one guard fails: the caller lost its right to write, and
   * what was written before is unpublished staging data.
   */
  async writeGuarded(
    ops: readonly IRequestOp[],
    compares: readonly ICompare[],
    concurrency = writeConcurrency,
  ): Promise<boolean> {
    const batches = batchOps(ops);
    let fenced = false;
    await forEachConcurrently(batches, concurrency, async (batch) => {
      if (fenced) return;
      const response = await this.txn({ compare: [...compares], success: batch });
      if (!response.succeeded) fenced = true;
    });
    return !fenced;
  }

  async grantLease(ttlMs: number): Promise<string> {
    // etcd leases have whole seconds (and a server minimum); rounding up never shortens the lease.
    const ttlSeconds = Math.max(1, Math.ceil(ttlMs / 1000));
    const response = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds });
    assert(response.ID !== '0', 'internal', 'etcd granted lease 0');
    return response.ID;
  }

  /** One keep-alive; returns the lease's remaining TTL in seconds, or 0 when it no longer exists. */
  async keepAliveOnce(leaseId: string): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive({ deadline: Date.now() + callTimeoutMs });
    try {
      const response = await new Promise<{ TTL: string }>((resolve, reject) => {
        stream.on('data', resolve);
        stream.on('error', reject);
        stream.on('end', () => reject(new Error('lease keep-alive stream ended without an answer')));
        stream.write({ ID: leaseId });
      });
      return Math.max(0, Number(response.TTL));
    } finally {
      stream.end();
    }
  }

  async revokeLease(leaseId: string): Promise<void> {
    try {
      await this.client.leaseClient.leaseRevoke({ ID: leaseId });
    } catch (error) {
      // A lease that already expired cannot be revoked; that is the outcome wanted.
      if (!/lease not found/i.test((error as Error).message)) throw error;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}

export function rangeResponse(op: IResponseOp): IRangeResponse {
  assert(
    op.response_range !== undefined && op.response_range !== null,
    'internal',
    'etcd answered a range with another response',
  );
  return op.response_range;
}

/** Compare helpers for transactions. */
export const compare = {
  /** The key exists and was created at `revision` (a fencing token, or a staging record). */
  created(key: Buffer, revision: number): ICompare {
    return { key, target: 'Create', result: 'Equal', create_revision: revision };
  },
  /** The key does not exist. */
  absent(key: Buffer): ICompare {
    return { key, target: 'Create', result: 'Equal', create_revision: 0 };
  },
  modified(key: Buffer, revision: number): ICompare {
    return { key, target: 'Mod', result: 'Equal', mod_revision: revision };
  },
  valueEquals(key: Buffer, value: string): ICompare {
    return { key, target: 'Value', result: 'Equal', value: Buffer.from(value) };
  },
  valueLess(key: Buffer, value: string): ICompare {
    return { key, target: 'Value', result: 'Less', value: Buffer.from(value) };
  },
};
