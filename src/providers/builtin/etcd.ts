import type { IRequestOp, ITxnResponse, IWatchResponse, Watcher } from 'etcd3';
import { assert, UserError } from '../../util/assert.js';
import { decodeRecords, encodeRecords } from '../../domain/codec.js';
import {
  compare, EtcdConnection, forEachConcurrently, prefixEnd, revisionOf, writeConcurrency, type EtcdConnectionOptions,
  type KeyValue,
} from '../../store/etcd/client.js';
import { keys, pad } from '../../store/etcd/keys.js';
import {
  GuardedProvider, firstWriteRefusedAt, guardedCompaction, removalOf, type FoundMarker, type GuardedChange,
  type SwapOutcome,
} from '../guard.js';
import type { RemovalCompaction, ServedState } from '../types.js';

/**
 * The built-in provider on etcd: what dnsplane's own DNS servers answer,
 * kept in etcd so that any number of `dnsplane serve` processes on any
 * hosts follow it. Per name one key, P served/<name> = "<generation>|<records>"
 * (generation zero-padded to 12 digits, records in the compact codec), so
 * records and marker change together; the marker's version is the key's
 * mod revision. `apply` is a compare-and-swap per name (DESIGN.md §3):
 * nested transactions inside one etcd transaction, each comparing the
 * name's mod revision (and that the generation does not go back); the
 * guard (guard.ts) checks what it reports.
 */

/** Names written per etcd transaction (one nested transaction each, below etcd's 128 ops). */
const applyNamesPerTxn = 100;
/** Removal tombstones read per page while compacting. */
const compactionPageKeys = 1000;

function encodeServed(generation: number, records: ServedState['records']): string {
  return `${pad(generation)}|${encodeRecords(records)}`;
}

/**
 * A served key as a state. A value that is not in dnsplane's format (a hand edit) reads as generation 0 with no
 * records: drift the reconciler repairs.
 */
export function decodeServed(name: string, kv: KeyValue): ServedState {
  const text = kv.value.toString();
  const bar = text.indexOf('|');
  const generation = bar === 12 ? Number(text.slice(0, bar)) : Number.NaN;
  if (!Number.isSafeInteger(generation)) return { name, generation: 0, version: kv.mod_revision, records: [] };
  let records: ServedState['records'];
  try {
    records = decodeRecords(text.slice(bar + 1));
  } catch {
    records = [];
  }
  return { name, generation, version: String(revisionOf(kv.mod_revision)), records };
}

export class BuiltinEtcdProvider extends GuardedProvider {
  readonly kind = 'builtin';
  readonly etcd: EtcdConnection;

  constructor(options: EtcdConnectionOptions) {
    super();
    this.etcd = new EtcdConnection(options);
  }

  private nameOf(kv: KeyValue): string {
    return this.etcd.path(kv.key).slice(keys.servedPrefix.length);
  }

  async read(names: readonly string[]): Promise<Map<string, ServedState>> {
    const { responses } = await this.etcd.readMany(names.map((name) => ({ key: this.etcd.key(keys.served(name)) })));
    const states = new Map<string, ServedState>();
    for (const response of responses) {
      const kv = response.kvs[0];
      if (kv !== undefined) states.set(this.nameOf(kv), decodeServed(this.nameOf(kv), kv));
    }
    return states;
  }

  /** For each absent name: the higher of its tombstone and the removal floor, when above 0 (one revision). */
  async readRemovals(names: readonly string[]): Promise<Map<string, number>> {
    const ranges = names.flatMap((name) => [
      { key: this.etcd.key(keys.served(name)) },
      { key: this.etcd.key(keys.removed(name)) },
    ]);
    const { responses } = await this.etcd.readMany([{ key: this.etcd.key(keys.removalsFloor) }, ...ranges]);
    const floor = generationOf(responses[0]!.kvs[0]) ?? 0;
    const removals = new Map<string, number>();
    names.forEach((name, index) => {
      if (responses[1 + 2 * index]!.kvs[0] !== undefined) return;
      const generation = removalOf(generationOf(responses[2 + 2 * index]!.kvs[0]), floor);
      if (generation !== undefined) removals.set(name, generation);
    });
    return removals;
  }

  async list(afterName: string | null, limit: number): Promise<ServedState[]> {
    const prefix = this.etcd.key(keys.servedPrefix);
    const start = afterName === null
      ? prefix
      : Buffer.concat([this.etcd.key(keys.served(afterName)), Buffer.from([0])]);
    const kvs = await this.etcd.rangeUpTo({ key: start, range_end: prefixEnd(prefix) }, limit);
    return kvs.map((kv) => decodeServed(this.nameOf(kv), kv));
  }

  /**
   * One nested transaction: compare this name's marker, write or delete; on
   * failure read it (for the guard's S2 check). A removal also writes the
   * name's removal tombstone; a first write must find the name absent and
   * either no tombstone or one below its generation, and the removal floor
   * below it too (the floor key always exists: ensureFloor). etcd compares
   * are all-of, so that "either" is a second transaction nested in the
   * failure branch of the first: [absent, no tombstone, floor < generation]
   * else [absent, tombstone < generation, floor < generation].
   */
  private conditionalWrite(change: GuardedChange): IRequestOp {
    const key = this.etcd.key(keys.served(change.name));
    const removedKey = this.etcd.key(keys.removed(change.name));
    // A write over a served name (an update or a removal): the version read, and no lower generation. The value
    // starts with the zero-padded generation, so "value < pad(g + 1)" means "generation <= g". The previous
    // value comes back with the write: the generation it replaced, for the guard.
    const overServed = (expectedVersion: string, success: IRequestOp[]): IRequestOp => ({
      request_txn: {
        compare: [compare.modified(key, Number(expectedVersion)), compare.valueLess(key, pad(change.generation + 1))],
        success,
        failure: [{ request_range: { key } }],
      },
    });
    if (change.records === null) {
      const removal: IRequestOp[] = [
        { request_delete_range: { key, prev_kv: true } },
        { request_put: { key: removedKey, value: Buffer.from(pad(change.generation)) } },
      ];
      return overServed(change.expectedVersion, removal);
    }
    const value = Buffer.from(encodeServed(change.generation, change.records));
    if (change.expectedVersion !== null) {
      return overServed(change.expectedVersion, [{ request_put: { key, value, prev_kv: true } }]);
    }
    const put: IRequestOp = { request_put: { key, value } };
    const floorKey = this.etcd.key(keys.removalsFloor);
    // A floor of 0 refuses nothing, a first write at 0 included.
    const aboveFloor = change.generation === 0
      ? compare.valueEquals(floorKey, pad(0))
      : compare.valueLess(floorKey, pad(change.generation));
    const belowTombstone: IRequestOp = {
      request_txn: {
        compare: [compare.absent(key), compare.valueLess(removedKey, pad(change.generation)), aboveFloor],
        success: [put, { request_delete_range: { key: removedKey } }],
        failure: [key, removedKey, floorKey].map((read): IRequestOp => ({ request_range: { key: read } })),
      },
    };
    return {
      request_txn: {
        compare: [compare.absent(key), compare.absent(removedKey), aboveFloor],
        success: [put],
        failure: [belowTombstone],
      },
    };
  }

  /** The marker a refused compare found, from the key's value read in its failure branch. */
  private found(name: string, kv: KeyValue | undefined): FoundMarker | null {
    if (kv === undefined) return null;
    return { generation: decodeServed(name, kv).generation, version: String(revisionOf(kv.mod_revision)) };
  }

  /** The generation a successful update or removal replaced (a first write replaces nothing). */
  private replaced(change: GuardedChange, result: ITxnResponse): number | null {
    if (change.expectedVersion === null) return null;
    const response = result.responses[0];
    const previous = change.records === null
      ? response?.response_delete_range.prev_kvs[0]
      : response?.response_put.prev_kv;
    return previous === undefined || previous === null ? null : decodeServed(change.name, previous).generation;
  }

  /** What a refused nested transaction answered: the name's key, and for a first write the tombstone (if any). */
  private refusal(change: GuardedChange, result: ITxnResponse, version: string): SwapOutcome {
    if (change.expectedVersion !== null || change.records === null) {
      const current = result.responses[0]?.response_range.kvs[0];
      return { name: change.name, outcome: 'conflict', found: this.found(change.name, current) };
    }
    const inner = result.responses[0]!.response_txn;
    if (inner.succeeded) return { name: change.name, outcome: 'applied', version, replaced: null };
    const current = inner.responses[0]?.response_range.kvs[0];
    const floorKv = inner.responses[2]?.response_range.kvs[0];
    // Without the floor key a first write of an absent name fails its compare: made loud, not retried as a conflict.
    if (floorKv === undefined && current === undefined) {
      throw new UserError(`etcd key ${keys.removalsFloor} (the removal floor) is missing: was it deleted by hand? `
        + 'Every first write is refused until it is back');
    }
    const tombstone = generationOf(inner.responses[1]?.response_range.kvs[0]);
    const refusedAt = firstWriteRefusedAt(tombstone, generationOf(floorKv) ?? 0, change.generation);
    if (current === undefined && refusedAt !== null) {
      return { name: change.name, outcome: 'superseded', generation: refusedAt };
    }
    return { name: change.name, outcome: 'conflict', found: this.found(change.name, current) };
  }

  protected async compareAndSwap(changes: readonly GuardedChange[]): Promise<SwapOutcome[]> {
    if (changes.some((change) => change.expectedVersion === null)) await this.ensureFloor();
    const slices: GuardedChange[][] = [];
    for (let start = 0; start < changes.length; start += applyNamesPerTxn) {
      slices.push(changes.slice(start, start + applyNamesPerTxn));
    }
    // Slices hold distinct names (the guard sees to it), so they are independent writes: several go at once.
    const answers: SwapOutcome[][] = new Array(slices.length);
    await forEachConcurrently(slices, writeConcurrency, async (slice, index) => {
      answers[index] = await this.applySlice(slice);
    });
    return answers.flat();
  }

  private async applySlice(changes: readonly GuardedChange[]): Promise<SwapOutcome[]> {
    const ops = changes.map((change) => this.conditionalWrite(change));
    // Touching served-meta in the same transaction lets a follower tell by one read that it missed a write.
    ops.push({ request_put: { key: this.etcd.key(keys.servedMeta), value: Buffer.alloc(0) } });
    const response = await this.etcd.txn({ success: ops });
    const version = String(revisionOf(response.header.revision));
    return changes.map((change, index): SwapOutcome => {
      const result = response.responses[index]!.response_txn;
      if (!result.succeeded) return this.refusal(change, result, version);
      return { name: change.name, outcome: 'applied', version, replaced: this.replaced(change, result) };
    });
  }

  private floorReady: Promise<void> | null = null;

  /** Creates the removal floor key at 0 unless it exists (once per process: first writes compare against it). */
  private ensureFloor(): Promise<void> {
    const floorKey = this.etcd.key(keys.removalsFloor);
    this.floorReady ??= this.etcd.txn({
      compare: [compare.absent(floorKey)],
      success: [{ request_put: { key: floorKey, value: Buffer.from(pad(0)) } }],
    }).then(() => undefined, (error: unknown) => {
      this.floorReady = null;
      throw error;
    });
    return this.floorReady;
  }

  private readonly compaction = guardedCompaction(async (through, limit) => {
    const floorKey = this.etcd.key(keys.removalsFloor);
    const put: IRequestOp = { request_put: { key: floorKey, value: Buffer.from(pad(through)) } };
    // Raised, never lowered: put where absent, else where below.
    await this.etcd.txn({
      compare: [compare.absent(floorKey)],
      success: [put],
      failure: [{ request_txn: { compare: [compare.valueLess(floorKey, pad(through))], success: [put], failure: [] } }],
    });
    const floor = generationOf((await this.etcd.get(keys.removalsFloor)) ?? undefined) ?? 0;
    // Every tombstone at or below the floor, up to the limit; each deleted only if unchanged since read (a removal
    // above the floor may have replaced it).
    const prefix = this.etcd.key(keys.removedPrefix);
    const revision = await this.etcd.currentRevision();
    const stale: KeyValue[] = [];
    for await (const page of this.etcd.scan(prefix, prefixEnd(prefix), revision, { pageKeys: compactionPageKeys })) {
      for (const kv of page) if (stale.length < limit && (generationOf(kv) ?? 0) <= floor) stale.push(kv);
      if (stale.length >= limit) break;
    }
    let deleted = 0;
    const slices: KeyValue[][] = [];
    for (let start = 0; start < stale.length; start += applyNamesPerTxn) {
      slices.push(stale.slice(start, start + applyNamesPerTxn));
    }
    await forEachConcurrently(slices, writeConcurrency, async (slice) => {
      const response = await this.etcd.txn({
        success: slice.map((kv) => ({
          request_txn: {
            compare: [compare.modified(kv.key, revisionOf(kv.mod_revision))],
            success: [{ request_delete_range: { key: kv.key } }],
            failure: [],
          },
        })),
      });
      deleted += response.responses.filter((answer) => answer.response_txn.succeeded).length;
    });
    return { floor, deleted };
  });

  /** Tombstones at or below the removal floor (served-removals-floor) are deleted, a batch a call. */
  override removalCompaction(): RemovalCompaction {
    return this.compaction;
  }

  async close(): Promise<void> {
    this.etcd.close();
  }
}

/** The generation a zero-padded tombstone or floor value holds; undefined for none. */
function generationOf(kv: KeyValue | undefined): number | undefined {
  return kv === undefined ? undefined : Number(kv.value.toString());
}
