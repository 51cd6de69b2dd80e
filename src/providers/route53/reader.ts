import type { ResourceRecordSet } from '@aws-sdk/client-route-53';
import { assert } from '../../util/assert.js';
import type { ListPage, ListStart } from './api.js';
import { isInZone } from '../../domain/names.js';
import { inTombstoneSubtree, tombstoneName } from '../marker.js';
import { fromAwsName, listingKey, markerPrefix, setKey, type NameSets } from './sets.js';

/**
 * Reads the sets of many names with as few ListResourceRecordSets requests as
 * the zone allows. Each name is two points of the listing order (its own
 * name, and `_dnsplane.<name>`, which follows it closely: labels reversed,
 * "com.example.www." before "com.example.www._dnsplane."), and a third when its
 * slot is read too (`tombstoneName(name, zone)`, in the zone's reserved subtree
 * `_removed._dnsplane.<zone>`, where the slots of all names lie together).
 * The points are sorted and walked: every request starts at the first point
 * not yet covered — continuing the previous page when that point lies in it,
 * else jumping to the point — and a page covers every point below the first
 * set it did not return. Names close together in the zone share pages; a lone
 * name costs one request (two with its slot). Each page is a consistent
 * snapshot (AWS documents this), so a name whose own two points fell in one
 * page was read at one moment. A slot read at another moment is safe: every
 * write DELETEs or CREATEs it exactly, so one that moved fails the batch.
 */

/** Route 53 returns at most 300 sets a page. */
export const pageItemsMax = 300;

export type ListPageFn = (start: ListStart | null, maxItems: number) => Promise<ListPage>;

export interface ScannedName {
  sets: NameSets;
  /** Its name and marker points covered by one page: a snapshot of one moment. */
  onePage: boolean;
}

/** Where a listed set stands for a name read: at the name, at its marker, or in its slot. */
type Place = 'name' | 'marker' | 'slot';

interface Point {
  key: string;
  name: string;
  place: Place;
  /** The owner (with the trailing dot) to start a listing at. */
  start: string;
}

/** Thrown when a scan needs more requests than allowed; the caller turns it into its error. */
export class ScanBudgetExceeded extends Error {}

function overBudget(requestsMax: number): string {
  return `needs more than ${requestsMax} ListResourceRecordSets requests`;
}

/** Thrown when a page breaks the documented order; the caller turns it into its error. */
export class ScanOutOfOrder extends Error {}

export function emptySets(slot: ResourceRecordSet[] | null): NameSets {
  return { marker: [], addresses: [], cname: [], slot };
}

/** Where a set of `type` at `place` goes among a name's sets; null when it is none of them (a TXT at the name). */
function roleOf(place: Place, type: string | undefined): keyof NameSets | null {
  if (place === 'name') return type === 'A' || type === 'AAAA' ? 'addresses' : type === 'CNAME' ? 'cname' : null;
  if (type !== 'TXT') return null;
  return place === 'marker' ? 'marker' : 'slot';
}

export type ListedRole = 'marker' | 'addresses' | 'cname';

/**
 * The name a set of the zone's listing belongs to and its role, or null when it is no name's answers or marker:
 * another type, outside the zone, or in the tombstone subtree (slots belong to names through `tombstoneName`).
 */
export function ownerOf(set: ResourceRecordSet, zone: string): { name: string; role: ListedRole } | null {
  const owner = fromAwsName(set.Name ?? '');
  if (!isInZone(owner, zone) || !/^[a-z0-9_.-]+$/.test(owner) || inTombstoneSubtree(owner, zone)) return null;
  if (set.Type === 'A' || set.Type === 'AAAA') return { name: owner, role: 'addresses' };
  if (set.Type === 'CNAME') return { name: owner, role: 'cname' };
  if (set.Type !== 'TXT' || !owner.startsWith(markerPrefix)) return null;
  return { name: owner.slice(markerPrefix.length), role: 'marker' };
}

/** Notes that `page` contributed to what is known of `name`. */
function touch(pages: Map<string, Set<number>>, name: string, page: number): void {
  const seen = pages.get(name) ?? new Set<number>();
  seen.add(page);
  pages.set(name, seen);
}

/** Asserts the page is in the documented order, after the previous page; returns the last key. */
function checkOrder(sets: readonly ResourceRecordSet[], previousKey: string): string {
  let last = previousKey;
  for (const set of sets) {
    const key = setKey(set);
    if (key <= last) {
      const previous = last.replace(/\0/g, ' ');
      throw new ScanOutOfOrder(`${set.Name} ${set.Type} ${set.SetIdentifier ?? ''} listed after ${previous}`);
    }
    last = key;
  }
  return last;
}

function point(name: string, owner: string, place: Place): Point {
  return { key: listingKey(owner), name, place, start: `${owner}.` };
}

/**
 * Reads `names` (normalised, in `zone`) with at most `requestsMax` requests: their own sets and markers, and their
 * slots too when `slots` (else `slot` is null).
 */
export async function scanNames(
  names: readonly string[], zone: string, slots: boolean, listPage: ListPageFn, requestsMax: number,
): Promise<Map<string, ScannedName>> {
  const unique = [...new Set(names)];
  const found = new Map(unique.map((name) => [name, emptySets(slots ? [] : null)]));
  const points: Point[] = unique.flatMap((name) => [
    point(name, name, 'name'), point(name, `${markerPrefix}${name}`, 'marker'),
    ...(slots ? [point(name, tombstoneName(name, zone), 'slot')] : []),
  ]).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  // Which point each listed owner is: one owner may be a point of several names (a name's marker, another's name).
  const placesOf = new Map<string, Point[]>();
  for (const at of points) placesOf.set(at.key, [...(placesOf.get(at.key) ?? []), at]);
  // The pages that returned a name's own sets or covered its name and marker points: one page, one moment.
  const pagesOf = new Map<string, Set<number>>();
  let covered = 0;
  let index = 0;
  let cursor: ListStart | null = null;
  let lastKey = '';
  for (let request = 0; index < points.length; request += 1) {
    if (request >= requestsMax) {
      throw new ScanBudgetExceeded(`reading ${names.length} names ${overBudget(requestsMax)}`);
    }
    const next = points[index]!;
    const continuing = cursor !== null && listingKey(fromAwsName(cursor.name)) === next.key;
    const page = await listPage(continuing ? cursor : { name: next.start }, pageItemsMax);
    lastKey = checkOrder(page.sets, continuing ? lastKey : '');
    for (const set of page.sets) {
      for (const at of placesOf.get(listingKey(fromAwsName(set.Name ?? ''))) ?? []) {
        const role = roleOf(at.place, set.Type);
        if (role === null) continue;
        found.get(at.name)![role]!.push(set);
        if (at.place !== 'slot') touch(pagesOf, at.name, request);
      }
    }
    const nextKey = page.next === null ? null : listingKey(fromAwsName(page.next.name));
    for (; index < points.length && (nextKey === null || points[index]!.key < nextKey); index += 1) {
      if (points[index]!.place !== 'slot') touch(pagesOf, points[index]!.name, request);
      covered += 1;
    }
    cursor = page.next;
  }
  assert(covered === points.length, 'internal', `${covered} of ${points.length} points covered`);
  const scanned = new Map<string, ScannedName>();
  for (const [name, sets] of found) scanned.set(name, { sets, onePage: pagesOf.get(name)?.size === 1 });
  return scanned;
}

/** Reads every set of the zone, in listing order, with at most `requestsMax` requests. */
export async function scanZone(
  listPage: ListPageFn, requestsMax: number,
): Promise<{ sets: ResourceRecordSet[]; pageOf: number[] }> {
  const sets: ResourceRecordSet[] = [];
  const pageOf: number[] = [];
  let start: ListStart | null = null;
  let lastKey = '';
  for (let request = 0; ; request += 1) {
    if (request >= requestsMax) throw new ScanBudgetExceeded(`listing the zone ${overBudget(requestsMax)}`);
    const page = await listPage(start, pageItemsMax);
    lastKey = checkOrder(page.sets, lastKey);
    for (const set of page.sets) {
      sets.push(set);
      pageOf.push(request);
    }
    if (page.next === null) return { sets, pageOf };
    start = page.next;
  }
}
