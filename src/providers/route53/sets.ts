import type { ResourceRecordSet } from '@aws-sdk/client-route-53';
import { sortRecords, type Generation, type RecordEntry } from '../../domain/types.js';
import { assert } from '../../util/assert.js';
import type { ServedState } from '../types.js';
import { decodeMarker, decodeTombstone, unmanagedTarget, unparsedVersion } from '../marker.js';
import { canonicalAddress } from '../marker.js';

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
 * - The marker is one TXT set at `_dnsplane.<name>` in the format of the RFC
 *   2136 provider (src/providers/rfc2136/marker.ts): "generation=<g>"
 *   "version=<token>" "records=<the whole set, weight-0 targets included>",
 *   or after a removal the tombstone "removed=<g>" "version=<token>".
 *
 * `read` returns the marker's set when the weighted sets are exactly what it
 * maps to; otherwise the sets really there (target = SetIdentifier, or
 * `unmanaged` for a set without one, weight = Weight or 0), which the
 * reconciler sees as drift and repairs (L2).
 */

export const markerPrefix = '_dnsplane.';

/** The exact record sets of one name as listed: what a compare-and-swap must DELETE to replace them. */
export interface NameSets {
  /** TXT sets at `_dnsplane.<name>` (one, unless edited by hand). */
  marker: ResourceRecordSet[];
  /** A and AAAA sets at `<name>`. */
  addresses: ResourceRecordSet[];
}

export type MarkerView =
  | { kind: 'absent' }
  | { kind: 'tombstone'; generation: Generation; version: string }
  | { kind: 'served'; state: ServedState; consistent: boolean };

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

/**
 * What a name's sets say: absent (no marker: never written, or deleted by
 * hand), removed (a tombstone), or served — with the marker's set when the
 * weighted sets are what it maps to (`consistent`), else the sets really there.
 * A marker that does not parse claims generation 0, so any plan may overwrite
 * it (L3); its version is a digest of its values, so the same garbage keeps it.
 */
export function interpretSets(name: string, sets: NameSets): MarkerView {
  if (sets.marker.length === 0) return { kind: 'absent' };
  const values = sets.marker.flatMap((set) => (set.ResourceRecords ?? []).map((record) => record.Value ?? ''));
  const strings = sets.marker.length === 1 && values.length === 1 ? txtStrings(values[0]!) : null;
  const tombstone = strings === null ? null : decodeTombstone(strings);
  if (tombstone !== null) return { kind: 'tombstone', generation: tombstone.generation, version: tombstone.version };
  const marker = strings === null ? null : decodeMarker(strings);
  const version = marker?.version ?? unparsedVersion(values.map((value) => Buffer.from(value, 'latin1')));
  if (marker !== null && sameSets(weightedSets(name, marker.records, 0), sets.addresses)) {
    const state = { name, generation: marker.generation, version, records: sortRecords(marker.records) };
    return { kind: 'served', state, consistent: true };
  }
  const state = { name, generation: marker?.generation ?? 0, version, records: servedRecords(sets.addresses) };
  return { kind: 'served', state, consistent: false };
}
