import type { ICompare, IRequestOp, ITxnResponse, IWatchResponse, Watcher } from 'etcd3';
import { assert, UserError } from '../../util/assert.js';
import { decodeRecords, encodeRecords } from '../../domain/codec.js';
import {
  compare, EtcdConnection, forEachConcurrently, groupOpsMax, packedConcurrency, packGrouped, prefixEnd, revisionOf,
  txnGroupsMax, ungroup,
  type EtcdConnectionOptions, type KeyValue, type PackedTxn,
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

/** Names written per etcd transaction (packed: client.ts, packGrouped). */
const applyNamesPerTxn = groupOpsMax * txnGroupsMax;
/** From this many names a read looks whether one range scan serves them better than point reads (read). */
const denseReadNamesMin = 500;
/** A range scan reads at most this many served keys per name asked (the rest are names not asked). */
const denseReadSpreadMax = 2;
/** Served keys per page of that scan. */
const denseReadPageKeys = 5000;
/** Removal tombstones read per page while compacting. */
const compactionPageKeys = 1000;

/** Which of the two compare sets of a first write a transaction carries (conditionalWrite). */
type FirstWriteBranch = 'untombstoned' | 'tombstoned';
/** A first write that found a tombstone below its generation: sent again by the tombstoned branch. */
interface Tombstoned {
  name: string;
  outcome: 'tombstoned';
}
/** A generation zero-padded, the next one (the bound of "generation <= g"), and its first writes' floor compare. */
interface PaddedValues {
  padded: Buffer;
  above: Buffer;
  floorGuard: ICompare[];
}

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
  private readonly floorKey: Buffer;

  constructor(options: EtcdConnectionOptions) {
    super();
    this.etcd = new EtcdConnection(options);
    this.floorKey = this.etcd.key(keys.removalsFloor);
  }

  private nameOf(kv: KeyValue): string {
    return this.etcd.path(kv.key).slice(keys.servedPrefix.length);
  }

  /**
   * The served state of each name, all at one revision. Few names: point reads (txnOpsMax to a transaction). Many
   * (an enactor's page of a plan, in name order): the served keys between the first and the last name are counted,
   * and when they are not many more than the names asked (a full plan, or a dense page of one), read by one range
   * scan at that revision instead of a point read each; otherwise (a sparse delta) by point reads at it.
   */
  async read(names: readonly string[]): Promise<Map<string, ServedState>> {
    const states = new Map<string, ServedState>();
    let revision: number | undefined;
    if (names.length >= denseReadNamesMin) {
      let [first, last] = [names[0]!, names[0]!];
      for (const name of names) {
        if (name < first) first = name;
        if (name > last) last = name;
      }
      const start = this.etcd.key(keys.served(first));
      const end = Buffer.concat([this.etcd.key(keys.served(last)), Buffer.from([0])]);
      const counted = await this.etcd.range({ key: start, range_end: end, count_only: true });
      revision = revisionOf(counted.header.revision);
      if (Number(counted.count) <= names.length * denseReadSpreadMax) {
        const wanted = new Set(names);
        for await (const page of this.etcd.scan(start, end, revision, { pageKeys: denseReadPageKeys })) {
          for (const kv of page) {
            const name = this.nameOf(kv);
            if (wanted.has(name)) states.set(name, decodeServed(name, kv));
          }
        }
        return states;
      }
    }
    const ranges = names.map((name) => ({ key: this.etcd.key(keys.served(name)) }));
    for (const response of (await this.etcd.readMany(ranges, revision)).responses) {
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
   * One name's nested transaction: compare its marker, write or delete.
   * - Over a served name (an update or a removal): the version read, and no lower generation; on failure the key is
   *   read in the same transaction (the marker found, for the guard's S2 check). A removal also writes the name's
   *   removal tombstone.
   * - A first write: the name absent, and either no tombstone or one below its generation, and the removal floor
   *   below the generation (the floor key always exists: ensureFloor). The floor is compared by the group the write
   *   is packed in (applyPacked), in the same etcd transaction, so the write happens only if all of them hold at
   *   once. etcd compares are all-of, so that "either" is two transactions, each a complete compare-and-swap on its
   *   own: branch 'untombstoned' compares [absent, no tombstone]; a write that finds a tombstone below its generation
   *   instead is sent again (compareAndSwap) as 'tombstoned': [absent, tombstone < generation], deleting the
   *   tombstone with the write. What refused a first write is read after the transaction (classifyFirstWrites).
   * Why first writes are this lean: a full plan is all first writes, and etcd's CPU per name, measured on three local
   *   members, fell from ~135 µs to ~55 µs without the second branch nested in the first (every record set sent
   *   twice), the reads in the failure branch and a floor compare per name.
   */
  private conditionalWrite(change: GuardedChange, branch: FirstWriteBranch, values: PaddedValues): IRequestOp {
    const key = this.etcd.key(keys.served(change.name));
    const removedKey = this.etcd.key(keys.removed(change.name));
    // A write over a served name (an update or a removal): the version read, and no lower generation. The value
    // starts with the zero-padded generation, so "value < pad(g + 1)" means "generation <= g". The previous
    // value comes back with the write: the generation it replaced, for the guard.
    const overServed = (expectedVersion: string, success: IRequestOp[]): IRequestOp => ({
      request_txn: {
        compare: [compare.modified(key, Number(expectedVersion)), compare.valueLess(key, values.above)],
        success,
        failure: [{ request_range: { key } }],
      },
    });
    if (change.records === null) {
      const removal: IRequestOp[] = [
        { request_delete_range: { key, prev_kv: true } },
        { request_put: { key: removedKey, value: values.padded } },
      ];
      return overServed(change.expectedVersion, removal);
    }
    const value = Buffer.from(encodeServed(change.generation, change.records));
    if (change.expectedVersion !== null) {
      return overServed(change.expectedVersion, [{ request_put: { key, value, prev_kv: true } }]);
    }
    if (branch === 'untombstoned') {
      const compares = [compare.absent(key), compare.absent(removedKey)];
      return { request_txn: { compare: compares, success: [{ request_put: { key, value } }], failure: [] } };
    }
    return {
      request_txn: {
        compare: [compare.absent(key), compare.valueLess(removedKey, values.padded)],
        success: [{ request_put: { key, value } }, { request_delete_range: { key: removedKey } }],
        failure: [],
      },
    };
  }

  /** The compare values of one generation, encoded once per apply; `floorGuard`: its first writes' group compare. */
  private paddedValues(generation: number): PaddedValues {
    const padded = Buffer.from(pad(generation));
    // A floor of 0 refuses nothing, a first write at 0 included.
    const aboveFloor = generation === 0
      ? compare.valueEquals(this.floorKey, padded)
      : compare.valueLess(this.floorKey, padded);
    return { padded, above: Buffer.from(pad(generation + 1)), floorGuard: [aboveFloor] };
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

  /**
   * What refused a first write, from its name's key, tombstone and the floor as read after the refusal: a removal at
   * or above it (superseded: they only ever rise, so what is read later still refuses it), a tombstone below it on
   * the 'untombstoned' branch ('tombstoned': sent again by the other branch), or else a conflict (the caller reads
   * the name again and decides again).
   */
  private refusal(
    change: GuardedChange, branch: FirstWriteBranch,
    current: KeyValue | undefined, tombstoneKv: KeyValue | undefined, floorKv: KeyValue | undefined,
  ): SwapOutcome | Tombstoned {
    assert(change.expectedVersion === null && change.records !== null, 'internal', 'only first writes are classified');
    // Without the floor key a first write of an absent name fails its compare: made loud, not retried as a conflict.
    if (floorKv === undefined && current === undefined) {
      throw new UserError(`etcd key ${keys.removalsFloor} (the removal floor) is missing: was it deleted by hand? `
        + 'Every first write is refused until it is back');
    }
    const tombstone = generationOf(tombstoneKv);
    const refusedAt = firstWriteRefusedAt(tombstone, generationOf(floorKv) ?? 0, change.generation);
    if (current === undefined && refusedAt !== null) {
      return { name: change.name, outcome: 'superseded', generation: refusedAt };
    }
    if (current === undefined && tombstone !== undefined && branch === 'untombstoned') {
      assert(tombstone < change.generation, 'S2', () => `${change.name}: tombstone ${tombstone} not refusing`);
      return { name: change.name, outcome: 'tombstoned' };
    }
    return { name: change.name, outcome: 'conflict', found: this.found(change.name, current) };
  }

  /** Reads each refused first write's key and tombstone, and the floor, at one revision, and classifies them. */
  private async classifyFirstWrites(
    changes: readonly GuardedChange[], branch: FirstWriteBranch,
  ): Promise<(SwapOutcome | Tombstoned)[]> {
    const ranges = changes.flatMap((change) => [
      { key: this.etcd.key(keys.served(change.name)) },
      { key: this.etcd.key(keys.removed(change.name)) },
    ]);
    const { responses } = await this.etcd.readMany([{ key: this.floorKey }, ...ranges]);
    const floorKv = responses[0]!.kvs[0];
    return changes.map((change, index) => this.refusal(
      change, branch, responses[1 + 2 * index]!.kvs[0], responses[2 + 2 * index]!.kvs[0], floorKv,
    ));
  }

  /**
   * Every change in as few etcd transactions as etcd's defaults allow (packGrouped: up to 1,000 names each, each name
   * its own nested compare-and-swap), a few in flight. First writes whose name holds a tombstone below their
   * generation go again once, by the tombstoned branch (conditionalWrite); one that still finds a tombstone then is
   * a conflict, re-read and decided again by the caller.
   */
  protected async compareAndSwap(changes: readonly GuardedChange[]): Promise<SwapOutcome[]> {
    if (changes.some((change) => change.expectedVersion === null)) await this.ensureFloor();
    const outcomes = await this.applyPacked(changes, 'untombstoned');
    const again: number[] = [];
    outcomes.forEach((outcome, index) => {
      if (outcome.outcome === 'tombstoned') again.push(index);
    });
    if (again.length > 0) {
      const second = await this.applyPacked(again.map((index) => changes[index]!), 'tombstoned');
      second.forEach((outcome, index) => {
        assert(outcome.outcome !== 'tombstoned', 'internal', () => `${outcome.name}: tombstoned twice`);
        outcomes[again[index]!] = outcome;
      });
    }
    return outcomes as SwapOutcome[];
  }

  /**
   * The changes packed (packGrouped), updates and removals first, then first writes by generation, so that each
   * group of first writes shares its generation's floor compare. Returns an outcome per change, in the order given.
   */
  private async applyPacked(
    changes: readonly GuardedChange[], branch: FirstWriteBranch,
  ): Promise<(SwapOutcome | Tombstoned)[]> {
    const values = new Map<number, PaddedValues>();
    const valuesOf = (generation: number): PaddedValues => {
      let found = values.get(generation);
      if (found === undefined) {
        found = this.paddedValues(generation);
        values.set(generation, found);
      }
      return found;
    };
    const rank = (change: GuardedChange) => (change.expectedVersion === null ? change.generation : -1);
    const order = changes.map((_, index) => index);
    order.sort((a, b) => rank(changes[a]!) - rank(changes[b]!) || a - b);
    const outcomes: (SwapOutcome | Tombstoned)[] = new Array(changes.length);
    const refused: number[] = [];
    const sort = (index: number, result: ITxnResponse | null, version: string) => {
      const change = changes[index]!;
      if (result !== null && result.succeeded) {
        outcomes[index] = { name: change.name, outcome: 'applied', version, replaced: this.replaced(change, result) };
      } else if (change.expectedVersion === null) {
        refused.push(index);
      } else {
        assert(result !== null, 'internal', () => `${change.name}: an update in a guarded group`);
        const current = result.responses[0]?.response_range.kvs[0];
        outcomes[index] = { name: change.name, outcome: 'conflict', found: this.found(change.name, current) };
      }
    };
    // A transaction's worth of names at a time, each built when it is sent (so the first goes out while the rest
    // are built, and only the writes in flight are held). Distinct names (the guard sees to it), so the transactions
    // are independent writes: several go at once.
    const slices: number[][] = [];
    for (let start = 0; start < order.length; start += applyNamesPerTxn) {
      slices.push(order.slice(start, start + applyNamesPerTxn));
    }
    await forEachConcurrently(slices, packedConcurrency, async (slice) => {
      const ops = slice.map((index) => {
        const change = changes[index]!;
        return this.conditionalWrite(change, branch, valuesOf(change.generation));
      });
      const guards = slice.map((index) => {
        const change = changes[index]!;
        return change.expectedVersion === null ? valuesOf(change.generation).floorGuard : null;
      });
      // One transaction, unless the slice's record sets exceed txnBytesMax.
      for (const txn of packGrouped(ops, applyNamesPerTxn, guards)) {
        const { version, results } = await this.applyTxn(txn);
        results.forEach((result, offset) => sort(slice[txn.start + offset]!, result, version));
      }
    });
    if (refused.length > 0) {
      const classified = await this.classifyFirstWrites(refused.map((index) => changes[index]!), branch);
      refused.forEach((index, position) => {
        outcomes[index] = classified[position]!;
      });
    }
    const missing = changes.findIndex((_, index) => outcomes[index] === undefined);
    assert(missing < 0, 'internal', () => `${changes[missing]?.name}: no outcome`);
    return outcomes;
  }

  /** One etcd transaction: the packed groups of writes, and the served-meta touch. */
  private async applyTxn(txn: PackedTxn): Promise<{ version: string; results: (ITxnResponse | null)[] }> {
    // Touching served-meta in the same transaction lets a follower tell by one read that it missed a write.
    const ops = [...txn.groups, { request_put: { key: this.etcd.key(keys.servedMeta), value: Buffer.alloc(0) } }];
    const response = await this.etcd.txn({ success: ops });
    const results = ungroup(response.responses, txn).map((answer) => (answer === null ? null : answer.response_txn));
    return { version: String(revisionOf(response.header.revision)), results };
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
    const deletes = stale.map((kv): IRequestOp => ({
      request_txn: {
        compare: [compare.modified(kv.key, revisionOf(kv.mod_revision))],
        success: [{ request_delete_range: { key: kv.key } }],
        failure: [],
      },
    }));
    await forEachConcurrently(packGrouped(deletes), packedConcurrency, async (txn) => {
      const response = await this.etcd.txn({ success: txn.groups });
      const answers = ungroup(response.responses, txn);
      deleted += answers.filter((answer) => answer?.response_txn.succeeded === true).length;
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
