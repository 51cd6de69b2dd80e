import type { Generation, RecordEntry } from '../domain/types.js';

/**
 * What DNS serves for one name, with the marker that makes enactment a
 * compare-and-swap: the enacted generation and an opaque version that
 * changes on every write (DESIGN.md §3).
 */
export interface ServedState {
  name: string;
  generation: Generation;
  version: string;
  records: RecordEntry[];
  /**
   * Set when this installation must not write the name (issue #13): the state then has generation 0 and no records,
   * and `version` is what a write would have to find unchanged. Only the providers that share a zone with others
   * (RFC 2136, Route 53) ever set it.
   */
  held?: Held;
}

/**
 * Why a name is not this installation's to write:
 * - foreign: its marker (or removal tombstone) carries another installation's owner id. Never written, removed or
 *   cleaned up here.
 * - unmanaged: it holds records a write would replace (A, AAAA, CNAME) and no marker: made by hand or by another
 *   tool. Written only to adopt it, when the store holds an adoption grant for it, by a compare-and-swap whose
 *   expected version is the one read (a digest of exactly those records): a hand edit meanwhile makes it fail.
 *   `records` lists what is there, for the alarm ("A 192.0.2.1", "CNAME www.example.org").
 */
export type Held =
  | { kind: 'foreign'; owner: string }
  | { kind: 'unmanaged'; records: string[] };

/**
 * One conditional write: replace the name's records and marker together, if
 * and only if the marker's version is still `expectedVersion` (null: the name
 * must not exist yet). `records: null` removes the name (explicit operator
 * removal only).
 *
 * A removal leaves a tombstone holding the generation that removed the name.
 * A first write (`expectedVersion: null`) at or below that generation is
 * refused as `superseded`, so a stale enactor that read the name as absent
 * cannot bring a removed name back at an older generation (S2); so is an
 * adoption there (records made by hand over this installation's tombstone,
 * issue 13). A name that
 * disappeared by hand leaves no tombstone: any plan may write it again (L2).
 */
export interface ApplyChange {
  name: string;
  records: RecordEntry[] | null;
  generation: Generation;
  expectedVersion: string | null;
}

export type ApplyOutcome =
  | { name: string; outcome: 'applied'; version: string }
  /** The marker moved since it was read: re-read and decide again. */
  | { name: string; outcome: 'conflict' }
  /**
   * A first write (or an adoption) refused: the name was removed at `generation`, at or above the change's. Nothing
   * to do for this plan.
   */
  | { name: string; outcome: 'superseded'; generation: Generation };

export interface Provider {
  readonly kind: string;
  /** Current served state of each name that exists; missing names are absent from the map. */
  read(names: readonly string[]): Promise<Map<string, ServedState>>;
  /** Every managed name, in name order, a page at a time (`afterName` exclusive). */
  list(afterName: string | null, limit: number): Promise<ServedState[]>;
  /**
   * The removal tombstones of those of `names` that are absent and were
   * removed by a plan: name → removing generation. The janitor uses it to let
   * go of the old versions of removed names.
   */
  readRemovals(names: readonly string[]): Promise<Map<string, Generation>>;
  /**
   * Conditional writes, each compared and applied atomically (per name at least). Every provider's `apply`
   * goes through the guard (guard.ts: GuardedProvider), which asserts the rules common to all of them.
   */
  apply(changes: readonly ApplyChange[]): Promise<ApplyOutcome[]>;
  /** The feed of served changes, or null when this provider has none (its readers list every name). */
  servedChangeFeed(): ServedChangeFeed | null;
  /**
   * The compaction of removal tombstones (issue 16), or null where the tombstones live in storage dnsplane does not
   * own (an RFC 2136 server's zone, a Route 53 hosted zone): there they are kept.
   */
  removalCompaction(): RemovalCompaction | null;
  close(): Promise<void>;
}

/**
 * An optional capability of a Provider (the built-in ones and the simulator's have it): removal tombstones folded
 * into one floor, so that they do not pile up. A removal's tombstone refuses a first write at or below its
 * generation (S2); the floor refuses a first write at or below it for every name, so a tombstone at or below the
 * floor refuses nothing more and may go. The floor only rises. `readRemovals` reports, for an absent name, the higher
 * of its tombstone and the floor (when above 0), the generation at or below which its first write is refused.
 *
 * The floor refuses the first writes of every name, not only removed ones, so the caller (the janitor) keeps it
 * below every generation a live enactor or a retained plan may still write at (L1); S2 holds at any floor.
 */
export interface RemovalCompaction {
  /**
   * Raises the floor to `through` (a lower `through` leaves it), then deletes at most `limit` tombstones at or below
   * the floor. Returns the floor and how many went: fewer than `limit` means none at or below it is left.
   */
  compact(through: Generation, limit: number): Promise<{ floor: Generation; deleted: number }>;
}

/**
 * An optional capability of a Provider (the built-in one on SQLite has it): what changed since a served version,
 * so that a reader keeping a copy of what is served (the status read model) reads only deltas.
 */
export interface ServedChangeFeed {
  /** The high-water mark of served versions. */
  currentVersion(): number;
  /** States and removals whose version is above `afterVersion`, in version order, and the version they reach. */
  changesSince(afterVersion: number): { version: number; changes: ServedChange[] };
}

/** A change seen by the DNS server's incremental refresh: a new state, or a removal (`state: null`). */
export interface ServedChange {
  name: string;
  version: number;
  state: ServedState | null;
}
