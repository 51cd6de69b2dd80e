import type { Generation } from '../../domain/types.js';
import { checkDnsName, isInZone, normalizeName } from '../../domain/names.js';
import { assert } from '../../util/assert.js';
import { systemClock, systemRng, type Clock, type Rng } from '../../util/clock.js';
import { GuardedProvider, type FoundMarker, type GuardedChange, type SwapOutcome } from '../guard.js';
import type { ServedState } from '../types.js';
import { inTombstoneSubtree, newVersion, tombstoneName } from '../marker.js';
import type { OwnerIdentity } from '../../store/types.js';
import { ChangeBatchRefused, Route53Api, type ApiSettings, type ListPage, type ListStart } from './api.js';
import { Route53Error, type Route53Reason } from './errors.js';
import {
  emptySets, ownerOf, ScanBudgetExceeded, scanNames, ScanOutOfOrder, scanZone, type ListPageFn,
} from './reader.js';
import { fromAwsName, interpretSets, type MarkerView, type NameSets } from './sets.js';
import {
  conflictingNames, packWrites, prepareWrite, type BatchLimits, type PreparedWrite, type WriteKind,
} from './writes.js';

/**
 * The Route 53 provider: enacts plans into a public or private hosted zone
 * through the official AWS SDK, with the compare-and-swap of DESIGN.md §3 in
 * Route 53's own terms. A name's write is, in one change batch, the DELETE of
 * the exact `_dnsplane.<name>` marker TXT that was read and the CREATE of the
 * new one, with the weighted record sets that change (writes.ts). A batch is
 * all-or-nothing and a DELETE must match exactly, so if the marker moved the
 * whole batch fails with InvalidChangeBatch naming the record; that name is a
 * `conflict` and the batch is sent again without it — never written blind.
 * A name another installation's marker claims, or holding address sets or a
 * CNAME and no marker (unmanaged), is held (sets.ts): never written, except an
 * unmanaged one adopted by a write expecting its version, one batch that
 * DELETEs exactly the sets read. A removal leaves its tombstone in the name's
 * slot under `_removed._dnsplane.<zone>`, so the removed name answers NXDOMAIN.
 * Several names share a batch, within AWS's limits (1,000 records, 32,000
 * characters of values); a generation counts as applied only once GetChange
 * says INSYNC. Reads walk ListResourceRecordSets pages (reader.ts) within a
 * request budget; how names map to record sets: sets.ts; limits, pacing and
 * retries: api.ts.
 */

export interface Route53Settings extends ApiSettings {
  /** The zone every name lies in (dnsplane's `zone`); the hosted zone must have this name. */
  zone: string;
  /** TTL of the written sets (dns.ttl). */
  ttl: number;
  /** How long to wait for a change to be INSYNC before the apply fails with `not-in-sync`. */
  syncTimeoutMs: number;
  /** Pause before each GetChange. */
  syncPollMs: number;
  /** ListResourceRecordSets requests one read (or one listing) may take. */
  readRequestsMax: number;
  /**
   * Who this installation is (marker.ts: owners). Null for a reader that writes nothing (the read-only commands): it
   * judges no ownership, and a write through it is an internal error.
   */
  owner: OwnerIdentity | null;
  /** Records per change batch (AWS: 1,000). */
  batchRecordsMax?: number;
  /** Characters of values per change batch (AWS: 32,000). */
  batchCharactersMax?: number;
  clock?: Clock;
  rng?: Rng;
}

/** A write decided: its kind (writes.ts), the sets it replaces, and the generation it replaces (null: none). */
interface Write {
  kind: WriteKind;
  current: NameSets;
  replaced: Generation | null;
}

export const route53Limits = { batchRecordsMax: 1000, batchCharactersMax: 32_000 };
/** Sets remembered between a read and an apply, per name (a miss costs a read, never correctness). */
const seenNamesMax = 200_000;
/** A listing is reused for the following pages of one pass for at most this long. */
const listingReuseMs = 30_000;

export class Route53Provider extends GuardedProvider {
  readonly kind = 'route53';
  /** The API client, with its request counts. */
  readonly api: Route53Api;
  private readonly zone: string;
  private readonly clock: Clock;
  private readonly limits: BatchLimits;
  /** The exact sets last read or written per name: what the next write DELETEs. */
  private readonly seen = new Map<string, NameSets>();
  private zoneChecked: Promise<void> | null = null;
  private listing: { takenAtMs: number; states: ServedState[] } | null = null;

  constructor(private readonly settings: Route53Settings) {
    super();
    this.zone = normalizeName(settings.zone);
    assert(checkDnsName(this.zone) === null, 'internal', `zone "${settings.zone}" is not a DNS name`);
    assert(settings.syncPollMs > 0, 'internal', `syncPollMs ${settings.syncPollMs}`);
    assert(settings.syncTimeoutMs >= settings.syncPollMs, 'internal', `syncTimeoutMs ${settings.syncTimeoutMs}`);
    assert(settings.readRequestsMax >= 1, 'internal', `readRequestsMax ${settings.readRequestsMax}`);
    this.clock = settings.clock ?? systemClock;
    this.limits = {
      recordsMax: settings.batchRecordsMax ?? route53Limits.batchRecordsMax,
      charactersMax: settings.batchCharactersMax ?? route53Limits.batchCharactersMax,
    };
    const { recordsMax, charactersMax } = this.limits;
    assert(recordsMax <= route53Limits.batchRecordsMax, 'internal', `batchRecordsMax ${recordsMax}`);
    assert(charactersMax <= route53Limits.batchCharactersMax, 'internal', `batchCharactersMax ${charactersMax}`);
    this.api = new Route53Api(settings, this.clock, settings.rng ?? systemRng);
  }

  private error(reason: Route53Reason, cause: string): Route53Error {
    return new Route53Error(reason, this.settings.hostedZoneId, cause);
  }

  private checkName(name: string): void {
    assert(name === name.toLowerCase() && !name.endsWith('.'), 'internal', `name "${name}" is not normalised`);
    if (!isInZone(name, this.zone) || !/^[a-z0-9_.-]+$/.test(name)) {
      throw this.error('not-in-zone', `name ${name} is not in the zone ${this.zone} (or needs escaping)`);
    }
    if (inTombstoneSubtree(name, this.zone)) {
      throw this.error('not-in-zone', `name ${name} lies in the subtree of removal tombstones, _removed._dnsplane.`
        + `${this.zone}, which no served name may`);
    }
  }

  /** Once: the hosted zone exists and is the configured zone (a wrong id must not write into another zone). */
  private async ensureZone(): Promise<void> {
    this.zoneChecked ??= this.api.zoneName().then((name) => {
      const actual = fromAwsName(name);
      if (actual === this.zone) return;
      throw this.error('wrong-zone', `the hosted zone is ${actual}, not the configured zone ${this.zone}`);
    });
    try {
      await this.zoneChecked;
    } catch (error) {
      this.zoneChecked = null;
      throw error;
    }
  }

  private remember(name: string, sets: NameSets | null): void {
    this.seen.delete(name);
    if (sets === null) return;
    if (this.seen.size >= seenNamesMax) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(name, sets);
  }

  /** A ListResourceRecordSets page function that counts against `requestsMax`. */
  private budgeted(requestsMax: number): ListPageFn {
    let left = requestsMax;
    return (start: ListStart | null, maxItems: number): Promise<ListPage> => {
      if (left <= 0) throw new ScanBudgetExceeded(`more than ${requestsMax} ListResourceRecordSets requests`);
      left -= 1;
      return this.api.listPage(start, maxItems);
    };
  }

  /** Runs a scan, turning its failures into the provider's errors. */
  private async scanning<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof ScanBudgetExceeded) throw this.error('read-budget', `${error.message} (readRequestsMax)`);
      if (error instanceof ScanOutOfOrder) {
        throw this.error('bad-response', `listing out of the documented order: ${error.message}`);
      }
      throw error;
    }
  }

  private view(name: string, sets: NameSets): MarkerView {
    return interpretSets(name, sets, this.settings.owner);
  }

  /**
   * The sets of `names` (their slots too when `slots`), remembered for the next write. A name that reads as drift
   * although its sets came from two pages (two moments) is read again alone, in one page: a write between two pages
   * is not a hand edit.
   */
  private async scan(names: readonly string[], slots = false): Promise<Map<string, NameSets>> {
    const listPage = this.budgeted(this.settings.readRequestsMax);
    const requestsMax = this.settings.readRequestsMax;
    const scanned = await this.scanning(() => scanNames(names, this.zone, slots, listPage, requestsMax));
    const found = new Map<string, NameSets>();
    for (const [name, { sets, onePage }] of scanned) {
      const view = this.view(name, sets);
      const straddled = !onePage && view.kind === 'served' && !view.consistent;
      const alone = () => scanNames([name], this.zone, false, listPage, requestsMax);
      const again = straddled ? await this.scanning(alone) : null;
      const current = again === null ? sets : { ...again.get(name)!.sets, slot: sets.slot };
      found.set(name, current);
      this.remember(name, current);
    }
    return found;
  }

  /** The names' views as read now (and remembered for the next write). */
  private async views(names: readonly string[], slots: boolean): Promise<[string, MarkerView][]> {
    for (const name of names) this.checkName(name);
    await this.ensureZone();
    return [...await this.scan(names, slots)].map(([name, sets]) => [name, this.view(name, sets)]);
  }

  /** Served names, and held ones (another installation's, or unmanaged); a name's slot is not needed, nor read. */
  async read(names: readonly string[]): Promise<Map<string, ServedState>> {
    const states = new Map<string, ServedState>();
    for (const [name, view] of await this.views(names, false)) if (view.kind !== 'absent') states.set(name, view.state);
    return states;
  }

  /** This installation's removals: a tombstone of its own in the slot (or at the marker's place), and no marker. */
  async readRemovals(names: readonly string[]): Promise<Map<string, Generation>> {
    const removals = new Map<string, Generation>();
    for (const [name, view] of await this.views(names, true)) {
      if (view.kind !== 'served' && view.removedAt !== null) removals.set(name, view.removedAt);
    }
    return removals;
  }

  // ---- listing -------------------------------------------------------------

  async list(afterName: string | null, limit: number): Promise<ServedState[]> {
    assert(Number.isInteger(limit) && limit > 0, 'internal', `list limit ${limit}`);
    await this.ensureZone();
    const stale = this.listing === null || this.clock.nowMs() - this.listing.takenAtMs > listingReuseMs;
    if (afterName === null || stale) this.listing = { takenAtMs: this.clock.nowMs(), states: await this.listStates() };
    const states = this.listing!.states;
    const start = afterName === null ? 0 : states.findIndex((state) => state.name > afterName);
    return start < 0 ? [] : states.slice(start, start + limit);
  }

  /**
   * Every managed name of the zone, by name, from one walk of the listing (names straddling two pages re-read): held
   * names are not this installation's, and the tombstone subtree holds no name.
   */
  private async listStates(): Promise<ServedState[]> {
    const listPage = this.budgeted(this.settings.readRequestsMax);
    const { sets, pageOf } = await this.scanning(() => scanZone(listPage, this.settings.readRequestsMax));
    const byName = new Map<string, { sets: NameSets; pages: Set<number> }>();
    const slots = new Map<string, NameSets['marker']>();
    sets.forEach((set, index) => {
      const owner = fromAwsName(set.Name ?? '');
      if (set.Type === 'TXT' && inTombstoneSubtree(owner, this.zone)) {
        slots.set(owner, [...slots.get(owner) ?? [], set]);
      }
      const role = ownerOf(set, this.zone);
      if (role === null) return;
      const entry = byName.get(role.name) ?? { sets: emptySets([]), pages: new Set<number>() };
      entry.sets[role.role].push(set);
      entry.pages.add(pageOf[index]!);
      byName.set(role.name, entry);
    });
    for (const [name, entry] of byName) entry.sets.slot = slots.get(tombstoneName(name, this.zone)) ?? [];
    const straddling = [...byName].filter(([name, entry]) => {
      const view = this.view(name, entry.sets);
      return entry.pages.size > 1 && view.kind === 'served' && !view.consistent;
    }).map(([name]) => name);
    const reread = straddling.length === 0 ? new Map<string, NameSets>() : await this.scan(straddling);
    const states: ServedState[] = [];
    for (const [name, entry] of byName) {
      const current = reread.get(name) ?? entry.sets;
      if (!reread.has(name)) this.remember(name, current);
      const view = this.view(name, current);
      if (view.kind === 'served') states.push(view.state);
    }
    return states.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  // ---- writes --------------------------------------------------------------

  /**
   * What a change will replace, from the sets last read: a write of a kind (writes.ts), or an outcome decided here.
   * A first write is for a name read as absent (or never read: then its CREATEs fail if anything is there); over
   * this installation's tombstone at or above its generation it is superseded (S2). A write with a version needs
   * that version read: a served name's marker, not of a newer generation (the guard makes the latter loud), or an
   * unmanaged name's records (an adoption). Another installation's name is never written.
   */
  private decide(change: GuardedChange): Write | SwapOutcome {
    const name = change.name;
    const sets = this.seen.get(name);
    const view: MarkerView | undefined = sets === undefined ? undefined : this.view(name, sets);
    if (change.expectedVersion === null) {
      if (view === undefined) return { kind: 'first', current: emptySets([]), replaced: null };
      if (view.kind === 'served') {
        return { name, outcome: 'conflict', found: { generation: view.state.generation, version: view.state.version } };
      }
      if (view.kind === 'held') return { name, outcome: 'conflict', found: null };
      if (view.removedAt !== null && view.removedAt >= change.generation) {
        return { name, outcome: 'superseded', generation: view.removedAt };
      }
      return { kind: 'first', current: sets!, replaced: null };
    }
    if (view?.kind === 'held') {
      const foreign = view.state.held?.kind === 'foreign';
      assert(!foreign || view.state.version !== change.expectedVersion, 'internal',
        () => `${name}: a write over the marker of another installation`);
      const adoption = !foreign && view.state.version === change.expectedVersion;
      if (!adoption) return { name, outcome: 'conflict', found: null };
      // This installation removed the name at or above the write: the adoption is a stale write's (S2), as a first
      // write over that tombstone would be.
      if (view.removedAt !== null && view.removedAt >= change.generation) {
        return { name, outcome: 'superseded', generation: view.removedAt };
      }
      return { kind: 'adoption', current: sets!, replaced: null };
    }
    if (view?.kind !== 'served') return { name, outcome: 'conflict', found: null };
    const found: FoundMarker = { generation: view.state.generation, version: view.state.version };
    if (found.version !== change.expectedVersion || found.generation > change.generation) {
      return { name, outcome: 'conflict', found };
    }
    return { kind: 'update', current: sets!, replaced: found.generation };
  }

  /** Whether a change's write rewrites the name's slot, which must then have been read. */
  private static rewritesSlot(change: GuardedChange, kind: WriteKind): boolean {
    return kind !== 'update' || change.records === null;
  }

  /**
   * Reads what the changes need and is not known: the names whose version is not the one last read, then the slots
   * of the names a first write, an adoption or a removal rewrites.
   */
  private async readForWrites(changes: readonly GuardedChange[]): Promise<void> {
    const unknown = changes.filter((change) => {
      if (change.expectedVersion === null) return false;
      const sets = this.seen.get(change.name);
      const view = sets === undefined ? undefined : this.view(change.name, sets);
      return view === undefined || view.kind === 'absent' || view.state.version !== change.expectedVersion;
    });
    if (unknown.length > 0) await this.scan(unknown.map((change) => change.name));
    const slotless = changes.filter((change) => {
      const decision = this.decide(change);
      if ('outcome' in decision || !Route53Provider.rewritesSlot(change, decision.kind)) return false;
      return this.seen.get(change.name)?.slot == null;
    }).map((change) => change.name);
    if (slotless.length === 0) return;
    const listPage = this.budgeted(this.settings.readRequestsMax);
    const requestsMax = this.settings.readRequestsMax;
    const slots = await this.scanning(() => scanNames(slotless, this.zone, true, listPage, requestsMax));
    for (const name of slotless) {
      const known = this.seen.get(name) ?? emptySets(null);
      this.remember(name, { ...known, slot: slots.get(name)!.sets.slot });
    }
  }

  protected async compareAndSwap(changes: readonly GuardedChange[]): Promise<SwapOutcome[]> {
    const owner = this.settings.owner?.owner;
    assert(owner !== undefined, 'internal', 'a write through a Route 53 provider opened without an owner id');
    for (const change of changes) this.checkName(change.name);
    await this.ensureZone();
    await this.readForWrites(changes);
    const outcomes = new Map<string, SwapOutcome>();
    const replaced = new Map<string, Generation | null>();
    const writes: PreparedWrite[] = [];
    const settings = { zone: this.zone, ttl: this.settings.ttl, owner };
    for (const change of changes) {
      const decision = this.decide(change);
      if ('outcome' in decision) {
        outcomes.set(change.name, decision);
        continue;
      }
      replaced.set(change.name, decision.replaced);
      writes.push(prepareWrite(change, decision.kind, decision.current, newVersion(), settings));
    }
    const { recordsMax, charactersMax } = this.limits;
    const oversized = writes.find((write) => write.records > recordsMax || write.characters > charactersMax);
    if (oversized !== undefined) {
      const size = `${oversized.records} records, ${oversized.characters} characters`;
      const cause = `the write of ${oversized.change.name} (${size}) does not fit in one change batch`;
      const limits = `${recordsMax} records, ${charactersMax} characters`;
      throw this.error('too-large', `${cause} (${limits}); nothing was written`);
    }
    const { applied, conflicted, changeIds } = await this.sendWrites(writes);
    for (const write of applied) {
      const name = write.change.name;
      this.remember(name, write.written);
      outcomes.set(name, { name, outcome: 'applied', version: write.version, replaced: replaced.get(name) ?? null });
    }
    for (const write of conflicted) {
      this.remember(write.change.name, null);
      outcomes.set(write.change.name, { name: write.change.name, outcome: 'conflict', found: null });
    }
    await this.waitInsync(changeIds);
    return changes.map((change) => outcomes.get(change.name)!);
  }

  /**
   * Sends the writes packed into batches, one batch at a time (Route 53
   * processes a zone's changes one by one). A batch refused because a compare
   * failed is sent again without the names its messages name; one refused for
   * a reason that names no record is split in two until the culprit is alone,
   * whose error is then raised.
   */
  private async sendWrites(writes: readonly PreparedWrite[]) {
    const applied: PreparedWrite[] = [];
    const conflicted: PreparedWrite[] = [];
    const changeIds: string[] = [];
    const queue = packWrites(writes, this.limits);
    const nameOf = new Map(writes.flatMap((write) => write.owners.map((owner) => [owner, write.change.name] as const)));
    // Each round takes out at least one name or halves a batch.
    const roundsMax = 3 * writes.length + queue.length;
    for (let rounds = 0; queue.length > 0; rounds += 1) {
      assert(rounds < roundsMax, 'internal', `more than ${roundsMax} change batches for ${writes.length} names`);
      const group = queue.shift()!;
      const generation = Math.max(...group.map((write) => write.change.generation));
      try {
        const comment = `dnsplane: ${group.length} names, generation ${generation}`;
        changeIds.push(await this.api.change(group.flatMap((write) => write.changes), comment));
        applied.push(...group);
      } catch (error) {
        if (!(error instanceof ChangeBatchRefused)) throw error;
        const named = conflictingNames(error.messages, nameOf);
        const losing = group.filter((write) => named.has(write.change.name));
        const rest = group.filter((write) => !named.has(write.change.name));
        conflicted.push(...losing);
        if (losing.length > 0 && rest.length > 0) queue.unshift(rest);
        if (losing.length > 0) continue;
        if (group.length === 1) throw this.error('rejected', `${group[0]!.change.name}: ${error.messages.join('; ')}`);
        const half = Math.ceil(group.length / 2);
        queue.unshift(group.slice(0, half), group.slice(half));
      }
    }
    return { applied, conflicted, changeIds };
  }

  /** Follows GetChange until every change is INSYNC, within syncTimeoutMs. */
  private async waitInsync(changeIds: readonly string[]): Promise<void> {
    const pending = [...changeIds];
    const deadlineMs = this.clock.nowMs() + this.settings.syncTimeoutMs;
    const pollsMax = changeIds.length + Math.ceil(this.settings.syncTimeoutMs / this.settings.syncPollMs) + 1;
    for (let polls = 0; pending.length > 0; polls += 1) {
      assert(polls < pollsMax, 'internal', `more than ${pollsMax} GetChange requests`);
      const leftMs = deadlineMs - this.clock.nowMs();
      if (leftMs <= 0) {
        const waited = `not INSYNC after ${this.settings.syncTimeoutMs} ms`;
        throw this.error('not-in-sync', `changes ${pending.join(', ')} were accepted but ${waited}`);
      }
      await this.clock.sleep(Math.min(this.settings.syncPollMs, leftMs));
      while (pending.length > 0 && (await this.api.changeInsync(pending[0]!))) pending.shift();
    }
  }

  async close(): Promise<void> {
    this.listing = null;
    this.seen.clear();
    this.api.close();
  }
}
