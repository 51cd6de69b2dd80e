import type { ResourceRecordSet } from '@aws-sdk/client-route-53';
import { assert } from '../../util/assert.js';
import type { ListPage, ListStart } from './api.js';
import { fromAwsName, listingKey, markerPrefix, setKey, type NameSets } from './sets.js';

/**
 * Reads the sets of many names with as few ListResourceRecordSets requests as
 * the zone allows. Each name is two points of the listing order (its own
 * name, and `_dnsplane.<name>`, which follows it closely: labels reversed,
 * "com.example.www." before "com.example.www._dnsplane."). The points are
 * sorted and walked: every request starts at the first point not yet
 * covered — continuing the previous page when that point lies in it, else
 * jumping to the point — and a page covers every point below the first set
 * it did not return. Names close together in the zone share pages; a lone
 * name costs one request. Each page is a consistent snapshot (AWS documents
 * this), so a name whose two points fell in one page was read at one moment.
 */

/** Route 53 returns at most 300 sets a page. */
export const pageItemsMax = 300;

export type ListPageFn = (start: ListStart | null, maxItems: number) => Promise<ListPage>;

export interface ScannedName {
  sets: NameSets;
  /** Both points covered by one page: a snapshot of one moment. */
  onePage: boolean;
}

interface Point {
  key: string;
  name: string;
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

function emptySets(): NameSets {
  return { marker: [], addresses: [] };
}

/** The name a listed set belongs to and its role, or null when it is neither a name's answer nor its marker. */
export function ownerOf(set: ResourceRecordSet): { name: string; role: keyof NameSets } | null {
  const owner = fromAwsName(set.Name ?? '');
  if (set.Type === 'A' || set.Type === 'AAAA') return { name: owner, role: 'addresses' };
  if (set.Type !== 'TXT' || !owner.startsWith(markerPrefix)) return null;
  return { name: owner.slice(markerPrefix.length), role: 'marker' };
  return null;
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

/** Reads `names` (normalised, in the zone) with at most `requestsMax` requests. */
export async function scanNames(
  names: readonly string[], listPage: ListPageFn, requestsMax: number,
): Promise<Map<string, ScannedName>> {
  const unique = [...new Set(names)];
  const found = new Map(unique.map((name) => [name, emptySets()]));
  const points: Point[] = unique.flatMap((name) => [
    { key: listingKey(name), name, start: `${name}.` },
    { key: listingKey(`${markerPrefix}${name}`), name, start: `${markerPrefix}${name}.` },
  ]).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  // The pages that returned a name's sets or covered its points: one page, one moment.
  const pagesOf = new Map<string, Set<number>>();
  let covered = 0;
  let index = 0;
  let cursor: ListStart | null = null;
  let lastKey = '';
  for (let request = 0; index < points.length; request += 1) {
    if (request >= requestsMax) {
      throw new ScanBudgetExceeded(`reading ${names.length} names ${overBudget(requestsMax)}`);
    }
    const point = points[index]!;
    const continuing = cursor !== null && listingKey(fromAwsName(cursor.name)) === point.key;
    const page = await listPage(continuing ? cursor : { name: point.start }, pageItemsMax);
    lastKey = checkOrder(page.sets, continuing ? lastKey : '');
    for (const set of page.sets) {
      const owner = ownerOf(set);
      const sets = owner === null ? undefined : found.get(owner.name);
      if (owner === null || sets === undefined) continue;
      sets[owner.role].push(set);
      touch(pagesOf, owner.name, request);
    }
    const nextKey = page.next === null ? null : listingKey(fromAwsName(page.next.name));
    for (; index < points.length && (nextKey === null || points[index]!.key < nextKey); index += 1) {
      touch(pagesOf, points[index]!.name, request);
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
