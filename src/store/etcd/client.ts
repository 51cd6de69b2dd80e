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
/** Large packed transactions (packGrouped) in flight at once: a few keep every member busy without queueing. */
export const packedConcurrency = 4;
/**
 * etcd's default --max-txn-ops. etcd checks it level by level (checkTxnRequest in etcd's v3rpc): a transaction's
 * compare, success and failure lists each hold at most this many operations, and a nested transaction's lists at
 * most what its parent leaves (this less the parent's longest list). Every transaction sent is checked the same way
 * here (txnOpsFit), so one etcd would refuse fails loudly before it leaves.
 */
export const etcdTxnOpsDefault = 128;
/** Operations per nested group of a packed transaction (packGrouped). */
export const groupOpsMax = 50;
/**
 * Groups per packed transaction. With groupOpsMax, etcd's limit leaves each grouped operation's own nested lists
 * 128 - (20 + a few extra top-level ops) - 50 >= 50 operations: every guarded write here has at most 3 per list.
 */
export const txnGroupsMax = 20;
/** Room kept at the top level of a packed transaction for a caller's own operations (a marker put, compares). */
const packedExtraOpsMax = 4;
/** What each level leaves the operations inside a group: every guarded write here has at most 3 per list. */
const groupedOpListsMin = 8;
assert(etcdTxnOpsDefault - (txnGroupsMax + packedExtraOpsMax) - groupOpsMax >= groupedOpListsMin, 'internal',
  'packed transactions would exceed etcd\'s default --max-txn-ops');

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
  assert(Number.isSafeInteger(revision) && revision >= 0, 'internal',
    () => `etcd revision ${value} is not a safe integer`);
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

/**
 * Whether `request` passes etcd's --max-txn-ops check at `opsMax` (etcd's checkTxnRequest): each list of each level
 * within what the level above leaves.
 */
export function txnOpsFit(request: ITxnRequest, opsMax = etcdTxnOpsDefault): boolean {
  const success = request.success ?? [];
  const failure = request.failure ?? [];
  const count = Math.max(request.compare?.length ?? 0, success.length, failure.length);
  if (count > opsMax) return false;
  for (const list of [success, failure]) {
    for (const op of list) if (op.request_txn !== undefined && !txnOpsFit(op.request_txn, opsMax - count)) return false;
  }
  return true;
}

/** One packed transaction: operations [start, end) of the list packed, as nested groups (its top-level ops). */
export interface PackedTxn {
  start: number;
  end: number;
  groups: IRequestOp[];
  /** Operations in each group, in order. */
  groupSizes: number[];
}

/**
 * Packs independent operations (each name's own nested compare-and-swap, or plain puts) into as few transactions as
 * etcd's defaults allow, in order: groups of up to groupOpsMax operations, each group a nested transaction, at most
 * txnGroupsMax groups, `perTxnMax` operations and txnBytesMax bytes per transaction. One transaction is one Raft
 * entry and one fsync per member, so a thousand names in one cost far less than a hundred each in ten (measured:
 * several times less etcd CPU per history entry); etcd bounds the size by --max-request-bytes (1.5 MiB by default),
 * which txnBytesMax stays under.
 *
 * A group runs its operations only if its compares hold (`guards[i]`, shared by consecutive operations that are to
 * share a group: a new group starts where the guard changes); without a guard it always runs them. Each operation
 * keeps its own compares besides.
 */
export function packGrouped(
  ops: readonly IRequestOp[],
  perTxnMax = groupOpsMax * txnGroupsMax,
  guards?: readonly (readonly ICompare[] | null)[],
): PackedTxn[] {
  assert(perTxnMax >= 1 && perTxnMax <= groupOpsMax * txnGroupsMax, 'internal', `${perTxnMax} operations a txn`);
  assert(guards === undefined || guards.length === ops.length, 'internal', 'one guard (or null) per operation');
  const packed: PackedTxn[] = [];
  let current: PackedTxn = { start: 0, end: 0, groups: [], groupSizes: [] };
  let groupStart = 0;
  let bytes = 0;
  const closeGroup = (end: number) => {
    if (end === groupStart) return;
    const guard = guards?.[groupStart] ?? null;
    const success = ops.slice(groupStart, end);
    current.groups.push({ request_txn: { compare: guard === null ? [] : [...guard], success, failure: [] } });
    current.groupSizes.push(end - groupStart);
    groupStart = end;
  };
  const closeTxn = (end: number) => {
    closeGroup(end);
    current.end = end;
    if (end > current.start) packed.push(current);
    current = { start: end, end, groups: [], groupSizes: [] };
    bytes = 0;
  };
  for (let index = 0; index < ops.length; index += 1) {
    const size = opBytes(ops[index]!);
    assert(size <= txnBytesMax, 'internal', () => `one etcd operation of ${size} bytes exceeds the request limit`);
    if (index - current.start >= perTxnMax || bytes + size > txnBytesMax) closeTxn(index);
    const guardChanged = index > groupStart && (guards?.[index] ?? null) !== (guards?.[groupStart] ?? null);
    if (index - groupStart >= groupOpsMax || guardChanged) {
      if (current.groups.length + 1 >= txnGroupsMax) closeTxn(index);
      else closeGroup(index);
    }
    bytes += size;
  }
  closeTxn(ops.length);
  assert(packed.every((txn) => txn.groups.length <= txnGroupsMax), 'internal', 'a packed txn with too many groups');
  return packed;
}

/**
 * The responses of the operations of a packed transaction (its first responses are the groups'), in order: null for
 * each operation of a group whose guard failed (it ran none of them).
 */
export function ungroup(responses: readonly IResponseOp[], txn: PackedTxn): (IResponseOp | null)[] {
  assert(responses.length >= txn.groups.length, 'internal',
    () => `${responses.length} responses for ${txn.groups.length} groups`);
  const flat: (IResponseOp | null)[] = [];
  txn.groupSizes.forEach((size, index) => {
    const group = responses[index]!.response_txn;
    assert(group !== undefined && group !== null, 'internal', 'etcd answered a group with another response');
    if (!group.succeeded) {
      for (let count = 0; count < size; count += 1) flat.push(null);
      return;
    }
    assert(group.responses.length === size, 'internal', () => `${group.responses.length} answers for ${size} ops`);
    flat.push(...group.responses);
  });
  assert(flat.length === txn.end - txn.start, 'internal', 'one response per packed operation');
  return flat;
}

/** Splits operations into transactions under txnOpsMax operations and txnBytesMax bytes each. */
export function batchOps(ops: readonly IRequestOp[], opsMax = txnOpsMax): IRequestOp[][] {
  assert(opsMax > 0 && opsMax <= txnOpsMax, 'internal', `batch of ${opsMax} operations`);
  const batches: IRequestOp[][] = [];
  let current: IRequestOp[] = [];
  let bytes = 0;
  for (const op of ops) {
    const size = opBytes(op);
    assert(size <= txnBytesMax, 'internal', () => `one etcd operation of ${size} bytes exceeds the request limit`);
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

/** An upper estimate of an operation's encoded size: keys, values and compares, with room for the framing. */
function opBytes(op: IRequestOp): number {
  const put = op.request_put;
  if (put !== undefined) return (put.key?.length ?? 0) + (put.value?.length ?? 0) + 16;
  const txn = op.request_txn;
  if (txn !== undefined) {
    let sum = 64;
    for (const check of txn.compare ?? []) sum += (check.key?.length ?? 0) + (check.value?.length ?? 0) + 24;
    for (const inner of txn.success ?? []) sum += opBytes(inner);
    for (const inner of txn.failure ?? []) sum += opBytes(inner);
    return sum;
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
    assert(text.startsWith(this.prefix), 'internal', () => `key ${text} outside prefix ${this.prefix}`);
    return text.slice(this.prefix.length);
  }

  async txn(request: ITxnRequest): Promise<ITxnResponse> {
    assert(txnOpsFit(request), 'internal', 'an etcd transaction over etcd\'s default --max-txn-ops at some level');
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
   * Applies `ops` in packed transactions (packGrouped), each guarded by
   * `compares` (the fencing checks), `concurrency` at a time. Returns false
   * as soon as one guard fails: the caller lost its right to write, and
   * what was written before is unpublished staging data.
   */
  async writeGuarded(
    ops: readonly IRequestOp[],
    compares: readonly ICompare[],
    concurrency = packedConcurrency,
  ): Promise<boolean> {
    assert(compares.length <= packedExtraOpsMax, 'internal', () => `${compares.length} fencing compares`);
    let fenced = false;
    await forEachConcurrently(packGrouped(ops), concurrency, async (txn) => {
      if (fenced) return;
      const response = await this.txn({ compare: [...compares], success: txn.groups });
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
  valueEquals(key: Buffer, value: string | Buffer): ICompare {
    return { key, target: 'Value', result: 'Equal', value: typeof value === 'string' ? Buffer.from(value) : value };
  },
  valueLess(key: Buffer, value: string | Buffer): ICompare {
    return { key, target: 'Value', result: 'Less', value: typeof value === 'string' ? Buffer.from(value) : value };
  },
};
