import { assert } from '../util/assert.js';
import type { Prepared } from './prepare.js';
import type { ServedSnapshot } from './snapshot.js';
import { sameNameIgnoringCase, typeA, typeAaaa, typeAny, typeNs, typeSoa, typeTxt } from './wire.js';

/**
 * Prepared answers (prepare.ts) by question name and type, so a query for a
 * name asked before is answered by copying bytes, without resolving or
 * encoding anything. Found by the question's wire bytes, whatever their
 * case, through a hash computed while the question is read: no string is
 * made for a name already here.
 *
 * An answer is kept until its name changes in the snapshot: the table
 * follows the snapshot's numbered changes and forgets, for every changed
 * name, the name itself, its generation marker and its ancestors (whose
 * existence as empty non-terminals may have changed). Another snapshot
 * object (a store reloaded) empties it. So it never answers from an older
 * state than the snapshot (S2, S3). When full it is emptied as a whole: a
 * flood of distinct names costs a recomputation, not memory.
 */

interface NameEntry {
  name: string;
  /** The lower-case wire bytes of the name. */
  wire: Buffer;
  hash: number;
  /** The next name of the same hash. */
  next: NameEntry | null;
  byType: Map<number, Prepared>;
}

const markerPrefix = '_dnsplane.';

/**
 * The key of a query type in the table. The types answered differently each have their own; every other type gets
 * the same NODATA or NXDOMAIN, so they share one entry and a flood of odd types cannot grow the table.
 */
export function preparedKind(qtype: number): number {
  return qtype === typeA || qtype === typeAaaa || qtype === typeTxt || qtype === typeSoa || qtype === typeNs
    || qtype === typeAny
    ? qtype
    : 0;
}

export class AnswerTable {
  private readonly buckets = new Map<number, NameEntry>();
  private readonly byName = new Map<string, NameEntry>();
  private snapshot: ServedSnapshot | null = null;
  private changesSeen = 0;
  private prepared = 0;

  constructor(private readonly preparedMax: number) {
    assert(preparedMax >= 1, 'internal', 'preparedMax must be at least 1');
  }

  /** Prepared answers held. */
  get size(): number {
    return this.prepared;
  }

  /** Brings the table in step with `snapshot`, before any lookup: what changed since it last looked is forgotten. */
  follow(snapshot: ServedSnapshot): void {
    if (snapshot !== this.snapshot) {
      this.clear();
      this.snapshot = snapshot;
      this.changesSeen = snapshot.changes;
      return;
    }
    if (snapshot.changes === this.changesSeen) return;
    const changed = snapshot.changedSince(this.changesSeen);
    if (changed === null) this.clear();
    else for (const name of changed) this.forgetAround(name, snapshot.zone);
    this.changesSeen = snapshot.changes;
  }

  /** The prepared answer for the question name at `start` (`length` wire bytes, any case) and `kind`. */
  lookup(message: Buffer, start: number, length: number, hash: number, kind: number): Prepared | undefined {
    // Bounded by the names of one hash, a handful at most for 32-bit FNV-1a.
    for (let entry = this.buckets.get(hash) ?? null; entry !== null; entry = entry.next) {
      if (entry.wire.length === length && sameNameIgnoringCase(message, start, entry.wire)) {
        return entry.byType.get(kind);
      }
    }
    return undefined;
  }

  remember(name: string, wire: Buffer, hash: number, kind: number, prepared: Prepared, snapshot: ServedSnapshot): void {
    assert(snapshot === this.snapshot && snapshot.changes === this.changesSeen, 'S3', 'remembering for another state');
    assert(snapshot.get(name) === prepared.served, 'S3', 'an answer prepared from another record set', name);
    if (this.prepared >= this.preparedMax) this.clear();
    let entry = this.byName.get(name);
    if (entry === undefined) {
      const first = this.buckets.get(hash) ?? null;
      entry = { name, wire, hash, next: first, byType: new Map() };
      this.buckets.set(hash, entry);
      this.byName.set(name, entry);
    }
    if (!entry.byType.has(kind)) this.prepared += 1;
    entry.byType.set(kind, prepared);
    assert(this.prepared <= this.preparedMax, 'internal', 'answer table exceeds preparedMax');
  }

  private clear(): void {
    this.buckets.clear();
    this.byName.clear();
    this.prepared = 0;
  }

  /** Forgets `name`, its marker and its ancestors up to the zone apex. */
  private forgetAround(name: string, zone: string): void {
    this.forget(name);
    this.forget(`${markerPrefix}${name}`);
    let ancestor = name;
    // Bounded by the labels of the name.
    while (ancestor !== zone && ancestor.includes('.')) {
      ancestor = ancestor.slice(ancestor.indexOf('.') + 1);
      this.forget(ancestor);
    }
  }

  private forget(name: string): void {
    const entry = this.byName.get(name);
    if (entry === undefined) return;
    this.byName.delete(name);
    this.prepared -= entry.byType.size;
    const first = this.buckets.get(entry.hash)!;
    if (first === entry) {
      if (entry.next === null) this.buckets.delete(entry.hash);
      else this.buckets.set(entry.hash, entry.next);
      return;
    }
    let before = first;
    // Bounded by the names of one hash.
    while (before.next !== entry) before = before.next!;
    before.next = entry.next;
  }
}
