import { createHash, randomBytes } from 'node:crypto';
import { sortRecords, type Generation, type RecordEntry } from '../domain/types.js';
import { validateRecordSet } from '../domain/validate.js';
import { decodeRecords, encodeRecords } from '../domain/codec.js';
import { assert } from '../util/assert.js';
import { ownerIdPattern } from '../domain/owner.js';
import { isInZone } from '../domain/names.js';
import type { OwnerIdentity } from '../store/types.js';
import type { Held, ServedState } from './types.js';
import dnsPacket from 'dns-packet';

/**
 * The `_dnsplane.<name>` TXT marker of the providers that write plain DNS
 * (RFC 2136, Route 53): what the compare-and-swap compares, and what plain
 * DNS cannot hold — the weights and target ids of the set.
 *
 * Content: one TXT record of character-strings
 *   "generation=<g>" "version=<token>" "owner=<id>" "records=<part>" ["records=<part>" ...]
 * where the parts, concatenated, are the applied set in the compact
 * "address/weight/target,..." form (src/store/sqlite/codec.ts), cut into
 * strings of at most 255 bytes. The version is a random token written with
 * every update, so two writes never leave the same marker (no ABA). The owner
 * is the writing installation's owner id (src/domain/owner.ts): a name whose
 * marker carries another installation's id is that installation's, and is
 * never written here (`Held`). A marker without "owner=" was written before
 * owner ids existed, by the one installation there was: it reads as this
 * installation's, and gets an owner when next written.
 *
 * Weights: plain DNS has none. The name's A/AAAA records are the addresses
 * of positive weight, and when there are more than `dns.maxAnswers` of them,
 * the `maxAnswers` of highest weight (ties: lower address first). Resolvers
 * then share traffic about equally between the addresses written; weight 0
 * (a drained target) is never written. The marker keeps the whole set, so
 * `read` returns exactly the RecordEntry[] that was applied — as long as the
 * A/AAAA records are the ones that set maps to. When they are not (someone
 * edited the zone by hand), `read` returns the addresses really served, each
 * with its weight and target from the marker, or weight 0 and target
 * `unmanagedTarget` for an address the marker does not know: the reconciler
 * sees a set unlike the plan's, and repairs it (L2).
 */

const markerLabel = '_dnsplane';
const removedKey = 'removed=';
export const unmanagedTarget = 'unmanaged';

/** `dns-packet`'s AAAA RDATA codec, which its type declarations leave out. */
const aaaaCodec = (dnsPacket as unknown as {
  aaaa: { encode(address: string): Buffer; decode(rdata: Buffer): string };
}).aaaa;

/**
 * The text form `dns-packet` gives an address read from DNS: the same address always compares equal (IPv6 "::"
 * forms), whichever provider read it.
 */
export function canonicalAddress(address: string): string {
  return address.includes(':') ? aaaaCodec.decode(aaaaCodec.encode(address)) : address;
}
/** A TXT character-string holds at most 255 bytes (RFC 1035 §3.3). */
const stringBytesMax = 255;
const recordsKey = 'records=';
const ownerKey = 'owner=';
const versionTokenBytes = 12;

export function markerName(name: string): string {
  return `${markerLabel}.${name}`;
}

/** The name a marker owner belongs to, or null when `owner` is not a marker. */
export function nameOfMarker(owner: string): string | null {
  return owner.startsWith(`${markerLabel}.`) ? owner.slice(markerLabel.length + 1) : null;
}

/**
 * Where a removal's tombstone lives: under the zone's reserved subtree `_removed._dnsplane.<zone>`, at the name's
 * labels relative to the zone ("svc0.dnsplane.test" → "svc0._removed._dnsplane.dnsplane.test"), so that it does not
 * create the removed name: the name answers NXDOMAIN, not NODATA (a TXT at `_dnsplane.<name>` would make `<name>` an
 * empty non-terminal). A name whose tombstone name would pass 253 characters gets a digest label instead
 * ("_sha256-<26 base-32 characters>"), which no inventory name can collide with (names start with no "_sha256-").
 * Tombstones written before this (at `_dnsplane.<name>`, in the marker's place) are still read and honoured.
 */
const removedSubtree = `_removed.${markerLabel}`;
const tombstoneNameMax = 253;

export function tombstoneName(name: string, zone: string): string {
  assert(isInZone(name, zone), 'internal', () => `${name} is not in zone ${zone}`);
  const relative = name === zone ? '' : name.slice(0, -(zone.length + 1));
  const readable = `${relative === '' ? '' : `${relative}.`}${removedSubtree}.${zone}`;
  if (readable.length <= tombstoneNameMax) return readable;
  const digest = createHash('sha256').update(name).digest();
  let label = '_sha256-';
  for (let index = 0; index < 26; index += 1) label += 'abcdefghijklmnopqrstuvwxyz234567'[digest[index]! & 31];
  return `${label}.${removedSubtree}.${zone}`;
}

/** Whether `owner` lies in the zone's tombstone subtree (a record there is a tombstone, never a name's own). */
export function inTombstoneSubtree(owner: string, zone: string): boolean {
  const root = `${removedSubtree}.${zone}`;
  return owner === root || owner.endsWith(`.${root}`);
}

export interface Marker {
  generation: Generation;
  version: string;
  /** The owner id of the installation that wrote it; absent in a marker written before owner ids. */
  owner?: string;
  records: RecordEntry[];
}

function ownerString(owner: string | undefined): string[] {
  if (owner === undefined) return [];
  assert(ownerIdPattern.test(owner), 'internal', () => `marker owner "${owner}"`);
  return [`${ownerKey}${owner}`];
}

/** The owner in `text` when it is an "owner=" string; undefined when it is not one; null when it is one, invalid. */
function parseOwner(text: string | undefined): string | undefined | null {
  if (text === undefined || !text.startsWith(ownerKey)) return undefined;
  const owner = text.slice(ownerKey.length);
  return ownerIdPattern.test(owner) ? owner : null;
}

/**
 * The owner a marker-place TXT that does not parse still names: an `owner=` string anywhere in it (another
 * installation's marker of a newer format, or another tool's that says whose it is), as written; undefined when none.
 * Such a record is never taken for this installation's (which any plan may overwrite) when it names another owner.
 */
export function claimedOwner(strings: readonly Buffer[]): string | undefined {
  for (const string of strings) {
    const text = string.toString('latin1');
    // Each string alone ("owner=x"), or several written as one ("... \"owner=x\" ...", Route 53's values).
    const found = /(?:^|[\s"])owner=([^\s"]{1,253})/.exec(text);
    if (found !== null) return found[1]!;
  }
  return undefined;
}

/**
 * Whose a marker or tombstone is, seen by the installation `identity` (null: a reader that judges no ownership, such
 * as a read-only command): null when it is this installation's — its own id, a former one, or none (written before
 * owner ids) — or the other installation's id.
 */
export function foreignOwner(owner: string | undefined, identity: OwnerIdentity | null): string | null {
  if (owner === undefined || identity === null || owner === identity.owner) return null;
  return identity.former.includes(owner) ? null : owner;
}

/** A name held by another installation's marker, as a read returns it: no records, nothing to compare but `version`. */
export function foreignState(name: string, version: string, owner: string): ServedState {
  const held: Held = { kind: 'foreign', owner };
  return { name, generation: 0, version, records: [], held };
}

/** Random bytes drawn ahead for version tokens: one system call per 1,024 tokens, not one per name written. */
const versionPoolTokens = 1024;
let versionPool = Buffer.alloc(0);
let versionPoolOffset = 0;

/** A fresh version token: 96 random bits, so a version is never written twice. */
export function newVersion(): string {
  if (versionPoolOffset + versionTokenBytes > versionPool.length) {
    versionPool = randomBytes(versionTokenBytes * versionPoolTokens);
    versionPoolOffset = 0;
  }
  const token = versionPool.toString('base64url', versionPoolOffset, versionPoolOffset + versionTokenBytes);
  versionPoolOffset += versionTokenBytes;
  assert(token.length === 16, 'internal', 'a version token is 16 characters', token);
  return token;
}

export function encodeMarker(marker: Marker): Buffer[] {
  assert(
    Number.isInteger(marker.generation) && marker.generation > 0,
    'internal',
    `marker generation ${marker.generation}`,
  );
  assert(/^[A-Za-z0-9_-]+$/.test(marker.version), 'internal', `marker version "${marker.version}"`);
  const strings = [`generation=${marker.generation}`, `version=${marker.version}`, ...ownerString(marker.owner)];
  const encoded = encodeRecords(sortRecords(marker.records));
  const partBytes = stringBytesMax - recordsKey.length;
  for (let start = 0; start < encoded.length; start += partBytes) {
    strings.push(`${recordsKey}${encoded.slice(start, start + partBytes)}`);
  }
  return strings.map((text) => Buffer.from(text, 'ascii'));
}

/**
 * The tombstone a removal leaves at `tombstoneName(name, zone)` (earlier
 * versions: in place of the marker): "removed=<g>" "version=<token>"
 * "owner=<id>". It holds the generation that removed the name, so a stale
 * first write at or below it is refused (S2); the name itself no longer
 * exists (NXDOMAIN).
 */
export interface Tombstone {
  generation: Generation;
  version: string;
  /** As a marker's: the installation whose removal it is. */
  owner?: string;
}

export function encodeTombstone(tombstone: Tombstone): Buffer[] {
  assert(
    Number.isInteger(tombstone.generation) && tombstone.generation > 0,
    'internal',
    `tombstone generation ${tombstone.generation}`,
  );
  assert(/^[A-Za-z0-9_-]+$/.test(tombstone.version), 'internal', `tombstone version "${tombstone.version}"`);
  return [`${removedKey}${tombstone.generation}`, `version=${tombstone.version}`, ...ownerString(tombstone.owner)]
    .map((text) => Buffer.from(text, 'ascii'));
}

/** Parses a tombstone's strings; null when they are not one. */
export function decodeTombstone(strings: readonly Buffer[]): Tombstone | null {
  if (strings.length !== 2 && strings.length !== 3) return null;
  const generationText = /^removed=(\d{1,15})$/.exec(strings[0]!.toString('latin1'));
  const versionText = /^version=([A-Za-z0-9_-]{1,64})$/.exec(strings[1]!.toString('latin1'));
  if (generationText === null || versionText === null || Number(generationText[1]) < 1) return null;
  const owner = parseOwner(strings[2]?.toString('latin1'));
  if (owner === null || (strings.length === 3 && owner === undefined)) return null;
  const tombstone: Tombstone = { generation: Number(generationText[1]), version: versionText[1]! };
  if (owner !== undefined) tombstone.owner = owner;
  return tombstone;
}

/** Parses a marker's strings; null when they are not a valid marker (edited by hand, or another writer's). */
export function decodeMarker(strings: readonly Buffer[]): Marker | null {
  const texts = strings.map((string) => string.toString('latin1'));
  const generationText = /^generation=(\d{1,15})$/.exec(texts[0] ?? '');
  const versionText = /^version=([A-Za-z0-9_-]{1,64})$/.exec(texts[1] ?? '');
  if (generationText === null || versionText === null) return null;
  const owner = parseOwner(texts[2]);
  if (owner === null) return null;
  const parts = texts.slice(owner === undefined ? 2 : 3);
  if (parts.length === 0 || !parts.every((part) => part.startsWith(recordsKey))) return null;
  const records = decodeRecords(parts.map((part) => part.slice(recordsKey.length)).join(''));
  const generation = Number(generationText[1]);
  if (generation < 1 || validateRecordSet('marker', records).length > 0) return null;
  const marker: Marker = { generation, version: versionText[1]!, records };
  if (owner !== undefined) marker.owner = owner;
  return marker;
}

/** The records written to DNS for a set: positive weights, the `maxAnswers` highest (ties by address). */
export function servedSubset(records: readonly RecordEntry[], maxAnswers: number): RecordEntry[] {
  assert(Number.isInteger(maxAnswers) && maxAnswers >= 1, 'internal', `maxAnswers ${maxAnswers}`);
  const positive = records.filter((record) => record.weight > 0);
  const ranked = [...positive].sort((a, b) =>
    b.weight - a.weight || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const chosen = sortRecords(ranked.slice(0, maxAnswers));
  // S1 at the place that serves DNS: a valid set always has a positive weight, so something is written.
  assert(records.length === 0 || chosen.length > 0, 'S1', 'a set with records maps to no address');
  return chosen;
}

/**
 * A name that holds records a write would replace and no marker of this installation: what a read returns for it
 * (`Held`, unmanaged), and its version — a digest of exactly those records, so that the same records read by a query
 * or from a zone transfer give the same version, and any change to them another.
 */
export function unmanagedState(
  name: string, addresses: readonly string[], others: readonly string[],
): { state: ServedState; version: string } {
  const records = [
    ...[...addresses].sort().map((address) => `${address.includes(':') ? 'AAAA' : 'A'} ${address}`),
    ...others,
  ];
  const version = `unmanaged-${createHash('sha256').update(records.join('\n')).digest('base64url').slice(0, 16)}`;
  const held: Held = { kind: 'unmanaged', records };
  return { state: { name, generation: 0, version, records: [], held }, version };
}

/** The marker as the version of an unparseable TXT RRset: a digest, so the same garbage keeps the same version. */
export function unparsedVersion(rdatas: readonly Buffer[]): string {
  const digest = createHash('sha256');
  for (const rdata of rdatas) digest.update(rdata);
  return `unparsed-${digest.digest('base64url').slice(0, 16)}`;
}

function sameAddresses(expected: readonly RecordEntry[], served: readonly string[]): boolean {
  if (expected.length !== served.length) return false;
  const set = new Set(served);
  return expected.every((record) => set.has(canonicalAddress(record.address)));
}

/**
 * The served state of a name from its marker and the addresses its A/AAAA
 * records hold (canonical form). `consistent` is false when the addresses are
 * not what the marker's set maps to: a hand edit, or a read that straddled a
 * write (the caller tells them apart by reading again).
 */
export function interpret(
  name: string,
  marker: Marker | null,
  version: string,
  served: readonly string[],
  maxAnswers: number,
): { state: ServedState; consistent: boolean } {
  if (marker !== null && sameAddresses(servedSubset(marker.records, maxAnswers), served)) {
    return {
      state: { name, generation: marker.generation, version, records: sortRecords(marker.records) },
      consistent: true,
    };
  }
  const known = new Map((marker?.records ?? []).map((record) => [canonicalAddress(record.address), record]));
  const records = served.map((address) => known.get(address) ?? { target: unmanagedTarget, address, weight: 0 });
  // A marker that does not parse claims no generation: 0 lets any plan overwrite it (L3: no dead end).
  return {
    state: { name, generation: marker?.generation ?? 0, version, records: sortRecords(records) },
    consistent: false,
  };
}
