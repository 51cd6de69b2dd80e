import type { ResourceRecordSet } from '@aws-sdk/client-route-53';
import { sortRecords, type Generation, type RecordEntry } from '../../domain/types.js';
import { assert } from '../../util/assert.js';
import type { OwnerIdentity } from '../../store/types.js';
import { ownerIdPattern } from '../../domain/owner.js';
import type { ServedState } from '../types.js';
import {
  canonicalAddress, claimedOwner, decodeMarker, decodeTombstone, foreignOwner, foreignState, unmanagedState,
  unmanagedTarget, unparsedVersion, type Tombstone,
} from '../marker.js';

/**
 * How one name lives in a Route 53 hosted zone, and how it is read back.
 *
 * - The name's answers are weighted record sets (routing policy "weighted"):
 *   one per target of positive weight, SetIdentifier = the target id, Weight
 *   = its weight (1-255), one value = its address, type A or AAAA. Route 53
 *   answers each query with one set drawn by weight. A drained target (weight
 *   0) is not written: Route 53 answers weight-0 sets when every set of the
 *   name and type has weight 0, which would serve a drained IPv6 target to
 *   AAAA queries while only IPv4 targets carry traffic.
 * - The marker is one TXT set at `_dnsplane.<name>` in the format of marker.ts:
 *   "generation=<g>" "version=<token>" "owner=<id>" "records=<the whole set,
 *   weight-0 targets included>". A marker of another installation's owner id
 *   makes the name that installation's: held, never written here.
 * - The name's *slot* is one TXT set at `tombstoneName(name, zone)`, under the
 *   zone's reserved subtree `_removed._dnsplane.<zone>`: after a removal, its
 *   tombstone ("removed=<g>" "version=<token>" "owner=<id>"), which does not
 *   create the removed name, so Route 53 answers NXDOMAIN for it; while the
 *   name is served, the *claim* its first write left ("created=<g>"
 *   "version=<token>" "owner=<id>"). The claim is what lets a first write
 *   require that no tombstone appeared since it read the name: a change batch
 *   can only require a set's absence by CREATing it (and a set created cannot
 *   be deleted again in the same batch), so every first write CREATEs the
 *   claim — or DELETEs exactly the tombstone or claim it read and CREATEs its
 *   own — and a removal DELETEs it exactly and CREATEs the tombstone. A stale
 *   first write after a removal therefore fails (S2). Tombstones written by
 *   earlier versions at `_dnsplane.<name>`, in the marker's place, are still
 *   read and honoured, and replaced by the next first write.
 * - A name with A/AAAA sets (simple or weighted, any SetIdentifier) or a CNAME
 *   and no marker is *unmanaged* (made by hand or by another tool): held, at a
 *   version that digests exactly those records (marker.ts, unmanagedState).
 *
 * `read` returns the marker's set when the weighted sets are exactly what it
 * maps to; otherwise the sets really there (target = SetIdentifier, or
 * `unmanaged` for a set without one, weight = Weight or 0), which the
 * reconciler sees as drift and repairs (L2).
 */

export const markerPrefix = '_dnsplane.';

/** The exact record sets of one name as listed: what a compare-and-swap must DELETE to replace them. */
export interface NameSets {
  /** TXT sets at `_dnsplane.<name>`: its marker (one, unless edited by hand), or a tombstone of an earlier version. */
  marker: ResourceRecordSet[];
  /** A and AAAA sets at `<name>`. */
  addresses: ResourceRecordSet[];
  /** CNAME sets at `<name>` (made by hand: Route 53 serves no address beside one). */
  cname: ResourceRecordSet[];
  /** TXT sets at the name's slot, `tombstoneName(name, zone)`; null when not read (reads of served names skip it). */
  slot: ResourceRecordSet[] | null;
}

/**
 * What a name's sets say:
 * - absent: no marker (never written, removed, or deleted by hand) and nothing a write would replace;
 * - served: this installation's marker, with its set when the weighted sets are what it maps to (`consistent`);
 * - held: another installation's marker, or unmanaged records (providers/types.ts, Held).
 * `removedAt`: the generation of this installation's newest removal tombstone (slot or legacy place), when one was
 * read.
 */
export type MarkerView =
  | { kind: 'absent'; removedAt: Generation | null }
  | { kind: 'served'; state: ServedState; consistent: boolean }
  | { kind: 'held'; state: ServedState; removedAt: Generation | null };

/** A name as Route 53 writes it: fully qualified with the trailing dot. Our names need no escaping. */
export function awsName(name: string): string {
  assert(/^[a-z0-9_.-]+$/.test(name) && !name.endsWith('.'), 'internal', `name "${name}" is not normalised`);
  return `${name}.`;
}

/** A name as Route 53 returns it (\ddd escapes, trailing dot) in dnsplane's form: lower case, no trailing dot. */
export function fromAwsName(name: string): string {
  const unescape = (_: string, octal: string) => String.fromCharCode(parseInt(octal, 8));
  return name.replace(/\\(\d{3})/g, unescape).toLowerCase().replace(/\.$/, '');
}

/**
 * The position of a name in ListResourceRecordSets order, as the API
 * reference documents it: labels reversed, with the trailing dot
 * ("com.example.www."), compared in ASCII.
 */
export function listingKey(name: string): string {
  return `${name.split('.').reverse().join('.')}.`;
}

/** A set's position in the listing: name, then type, then SetIdentifier (NUL sorts below every character). */
export function setKey(set: ResourceRecordSet): string {
  return `${listingKey(fromAwsName(set.Name ?? ''))}\0${set.Type ?? ''}\0${set.SetIdentifier ?? ''}`;
}

/** TXT character-strings in Route 53's presentation form: each quoted, `"` and `\` escaped, space-separated. */
export function txtValue(strings: readonly Buffer[]): string {
  return strings.map((string) => `"${string.toString('latin1').replace(/["\\]/g, '\\$&')}"`).join(' ');
}

/** The character-strings of a TXT value as Route 53 returns it (quoted, \" \\ and \ddd escapes); null if malformed. */
export function txtStrings(value: string): Buffer[] | null {
  const strings: Buffer[] = [];
  const token = /\s*"((?:[^"\\]|\\.)*)"/y;
  let position = 0;
  while (position < value.length && !/^\s*$/.test(value.slice(position))) {
    token.lastIndex = position;
    const match = token.exec(value);
    if (match === null) return null;
    const text = match[1]!.replace(/\\(\d{3}|.)/g, (_, escaped: string) =>
      escaped.length === 3 ? String.fromCharCode(parseInt(escaped, 8)) : escaped);
    strings.push(Buffer.from(text, 'latin1'));
    position = token.lastIndex;
  }
  return strings.length > 0 ? strings : null;
}

/** The weighted sets a record set maps to: one per target of positive weight. */
export function weightedSets(name: string, records: readonly RecordEntry[], ttl: number): ResourceRecordSet[] {
  const sets = records.filter((record) => record.weight > 0).map((record): ResourceRecordSet => ({
    Name: awsName(name), Type: record.address.includes(':') ? 'AAAA' : 'A', SetIdentifier: record.target,
    Weight: record.weight, TTL: ttl, ResourceRecords: [{ Value: record.address }],
  }));
  // S1 at the place that serves DNS: a valid set has a positive weight, so it maps to at least one answer.
  assert(records.length === 0 || sets.length > 0, 'S1', `${name}: a set with records maps to no weighted set`);
  return sets;
}

function addressesOf(set: ResourceRecordSet): string[] {
  return (set.ResourceRecords ?? []).map((record) => canonicalAddress(record.Value ?? ''));
}

/** Whether two sets hold the same answer: type, SetIdentifier, Weight and address (TTL aside). */
export function sameAnswer(a: ResourceRecordSet, b: ResourceRecordSet): boolean {
  const [left, right] = [addressesOf(a), addressesOf(b)];
  return a.Type === b.Type && a.SetIdentifier === b.SetIdentifier && a.Weight === b.Weight
    && left.length === 1 && right.length === 1 && left[0] === right[0];
}

/** The records really served by a name's sets, when they are not what its marker maps to. */
function servedRecords(addresses: readonly ResourceRecordSet[]): RecordEntry[] {
  return sortRecords(addresses.flatMap((set) => addressesOf(set).map((address) => ({
    target: set.SetIdentifier ?? unmanagedTarget, address, weight: set.Weight ?? 0,
  }))));
}

function sameSets(expected: readonly ResourceRecordSet[], served: readonly ResourceRecordSet[]): boolean {
  return expected.length === served.length && expected.every((set) => served.some((other) => sameAnswer(set, other)));
}

/** The character-strings of a TXT value when `sets` are exactly one set of one value; else null. */
function singleStrings(sets: readonly ResourceRecordSet[]): Buffer[] | null {
  const values = sets.flatMap((set) => (set.ResourceRecords ?? []).map((record) => record.Value ?? ''));
  return sets.length === 1 && values.length === 1 ? txtStrings(values[0]!) : null;
}

/** A tombstone held by `sets` (at the slot, or at the marker's place before the slot existed); null if none. */
function tombstoneIn(sets: readonly ResourceRecordSet[] | null): Tombstone | null {
  const strings = sets === null ? null : singleStrings(sets);
  return strings === null ? null : decodeTombstone(strings);
}

/** The newest of this installation's removal tombstones among `tombstones`; another's says nothing of its plans. */
function ownRemoval(tombstones: readonly (Tombstone | null)[], identity: OwnerIdentity | null): Generation | null {
  let newest: Generation | null = null;
  for (const tombstone of tombstones) {
    if (tombstone === null || foreignOwner(tombstone.owner, identity) !== null) continue;
    newest = Math.max(newest ?? 0, tombstone.generation);
  }
  return newest;
}

/**
 * What a name's sets say, seen by the installation `identity` (null: a reader that judges no ownership). A marker
 * that does not parse claims generation 0, so any plan may overwrite it (L3); its version is a digest of its values,
 * so the same garbage keeps it.
 */
export function interpretSets(name: string, sets: NameSets, identity: OwnerIdentity | null): MarkerView {
  const strings = singleStrings(sets.marker);
  const legacy = strings === null ? null : decodeTombstone(strings);
  if (sets.marker.length > 0 && legacy === null) {
    const marker = strings === null ? null : decodeMarker(strings);
    const values = sets.marker.flatMap((set) => (set.ResourceRecords ?? []).map((record) => record.Value ?? ''));
    const version = marker?.version ?? unparsedVersion(values.map((value) => Buffer.from(value, 'latin1')));
    // A marker that does not parse is overwritten as this installation's (L3), unless it names another owner.
    const owner = marker === null ? claimedOwner(values.map((value) => Buffer.from(value, 'latin1'))) : marker.owner;
    const foreign = foreignOwner(owner, identity);
    if (foreign !== null) return { kind: 'held', state: foreignState(name, version, foreign), removedAt: null };
    const mapsTo = marker !== null && sets.cname.length === 0
      && sameSets(weightedSets(name, marker.records, 0), sets.addresses);
    if (mapsTo) {
      const state = { name, generation: marker.generation, version, records: sortRecords(marker.records) };
      return { kind: 'served', state, consistent: true };
    }
    const state = { name, generation: marker?.generation ?? 0, version, records: servedRecords(sets.addresses) };
    return { kind: 'served', state, consistent: false };
  }
  const removedAt = ownRemoval([legacy, tombstoneIn(sets.slot)], identity);
  if (sets.addresses.length === 0 && sets.cname.length === 0) return { kind: 'absent', removedAt };
  const addresses = sets.addresses.flatMap(addressesOf);
  const { state } = unmanagedState(name, addresses, sets.cname.length > 0 ? ['CNAME'] : []);
  return { kind: 'held', state, removedAt };
}

/** The claim a first write leaves in the name's slot: "created=<g>" "version=<token>" "owner=<id>". */
export function encodeClaim(generation: Generation, version: string, owner: string): Buffer[] {
  assert(Number.isSafeInteger(generation) && generation > 0, 'internal', `claim generation ${generation}`);
  assert(/^[A-Za-z0-9_-]+$/.test(version), 'internal', `claim version "${version}"`);
  assert(ownerIdPattern.test(owner), 'internal', `claim owner "${owner}"`);
  return [`created=${generation}`, `version=${version}`, `owner=${owner}`].map((text) => Buffer.from(text, 'ascii'));
}
