import { createHash } from 'node:crypto';
import { Document, parse as parseYaml, type YAMLMap } from 'yaml';
import { inventoryOf, parseConfig } from '../config/load.js';
import { endpointNameProblem, idPattern, maxAnswersDefault, maxAnswersMax } from '../config/schema.js';
import { checkDnsName, isInZone, normalizeName } from '../domain/names.js';
import { ZoneSet } from '../domain/zones.js';
import { canonicalAddress, nameOfMarker } from '../providers/marker.js';
import { assert, UserError } from '../util/assert.js';

/**
 * `dnsplane import` as a pure function: the records of a zone (as a zone transfer gives them) → an inventory
 * skeleton, YAML text that `validate`, `diff` and `apply` accept. Each name with A/AAAA records becomes an endpoint
 * whose targets are its current addresses, all of equal capacity, so the plans dnsplane then writes serve exactly
 * the addresses the zone serves now (plain DNS has no weights). Everything else is left out and listed in a comment
 * at the end: names with other record types only, a CNAME beside addresses, the zone's own name-server hosts, glue
 * below a delegation, dnsplane's `_dnsplane` markers, names the schema refuses.
 *
 * The same records always give the same text, byte for byte (no time, no order taken from the transfer): target ids
 * come from the name and the address, endpoints are sorted by name and targets by address.
 */

/** A record as a zone transfer decodes it (`dns-packet`): owner, type, TTL and data (an address for A/AAAA). */
export interface ZoneRecord {
  name: string;
  type: string;
  ttl?: number;
  data?: unknown;
}

export interface ImportOptions {
  /** The zone, with or without the trailing dot. */
  zone: string;
  /** Where the records came from, for the header ("AXFR from 192.0.2.53:53"). */
  source: string;
  /** The capacity of every target (the same for all: equal weights). */
  capacity: number;
}

export interface ImportedTarget {
  id: string;
  address: string;
}

export interface ImportedEndpoint {
  /** Fully qualified, lower case, no trailing dot. */
  name: string;
  /** As written in the file: relative to the zone, or fully qualified with a dot (the apex). */
  written: string;
  targets: ImportedTarget[];
  /** Other record types at the name, which dnsplane leaves as they are. */
  otherTypes: string[];
  /** The name has a `_dnsplane` marker: an installation manages it already. */
  marked: boolean;
}

export interface SkippedName {
  name: string;
  reason: string;
}

export interface ImportResult {
  zone: string;
  endpoints: ImportedEndpoint[];
  skipped: SkippedName[];
  /** `_dnsplane` records (markers, tombstones) left out. */
  markerRecords: number;
  /** Distinct TTLs of the A/AAAA records imported, ascending. */
  ttls: number[];
}

/** The availability-zone placeholder every target gets; the user sets the real one. */
export const azPlaceholder = 'unassigned';
/** Names listed one per line in a comment; the rest are counted. */
const listedNamesMax = 1000;
const hashHexChars = 12;

interface NameRecords {
  addresses: Set<string>;
  types: Set<string>;
}

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The records grouped by owner (lower case, no trailing dot). */
function groupByName(records: readonly ZoneRecord[]): { names: Map<string, NameRecords>; ttls: Set<number> } {
  const names = new Map<string, NameRecords>();
  const ttls = new Set<number>();
  for (const record of records) {
    const owner = normalizeName(record.name);
    const entry = names.get(owner) ?? { addresses: new Set<string>(), types: new Set<string>() };
    names.set(owner, entry);
    if (record.type === 'A' || record.type === 'AAAA') {
      assert(typeof record.data === 'string', 'internal', `${record.type} record without an address`, owner);
      entry.addresses.add(canonicalAddress(record.data));
      if (record.ttl !== undefined) ttls.add(record.ttl);
    }
    entry.types.add(record.type);
  }
  return { names, ttls };
}

/** Names the zone delegates (NS below the apex), and the in-zone hosts its own NS records name. */
function zoneStructure(records: readonly ZoneRecord[], zone: string): { cuts: Set<string>; servers: Set<string> } {
  const cuts = new Set<string>();
  const servers = new Set<string>();
  for (const record of records) {
    if (record.type !== 'NS') continue;
    const owner = normalizeName(record.name);
    if (owner !== zone) cuts.add(owner);
    else if (typeof record.data === 'string') servers.add(normalizeName(record.data));
  }
  return { cuts, servers };
}

/** The delegation `name` lies at or below, or null. */
function delegationOf(name: string, zone: string, cuts: ReadonlySet<string>): string | null {
  for (let at = name; at !== zone && at.includes('.'); at = at.slice(at.indexOf('.') + 1)) {
    if (cuts.has(at)) return at;
  }
  return null;
}

/**
 * The name as the file writes it: relative to the zone, or fully qualified with a trailing dot when the relative
 * form would be read as another name (the apex; a relative part that itself ends in the zone).
 */
export function writtenName(name: string, zone: string): string {
  if (name === zone) return `${zone}.`;
  const relative = name.slice(0, -(zone.length + 1));
  return isInZone(relative, zone) ? `${name}.` : relative;
}

function hashed(name: string, address: string): string {
  return createHash('sha256').update(`${name} ${address}`).digest('hex').slice(0, hashHexChars);
}

/** A target id from the name and the address, readable when it fits the id rules ("www-192.0.2.1"). */
function readableId(written: string, address: string): string | null {
  const id = `${written.replace(/\.$/, '')}-${address.replace(/:/g, '-')}`;
  return idPattern.test(id) ? id : null;
}

/** The id when the readable one does not fit, or two readable ids collide: a prefix of it and a hash. */
function hashedId(written: string, address: string): string {
  const prefix = `${written.replace(/\.$/, '')}-${address.replace(/:/g, '-')}`.replace(/[^A-Za-z0-9_.-]/g, '_');
  const kept = prefix.slice(0, 63 - hashHexChars - 1).replace(/^[^A-Za-z0-9]+/, '');
  const id = kept.length === 0 ? `t-${hashed(written, address)}` : `${kept}-${hashed(written, address)}`;
  assert(idPattern.test(id), 'internal', `hashed target id "${id}" does not fit the id rules`);
  return id;
}

/** Target ids for every (name, address): readable ones, hashed where one does not fit or two would collide. */
function assignIds(endpoints: ImportedEndpoint[]): void {
  const owners = new Map<string, number>();
  for (const endpoint of endpoints) {
    for (const target of endpoint.targets) owners.set(target.id, (owners.get(target.id) ?? 0) + 1);
  }
  const ids = new Set<string>();
  for (const endpoint of endpoints) {
    for (const target of endpoint.targets) {
      if (target.id === '' || owners.get(target.id)! > 1) target.id = hashedId(endpoint.written, target.address);
      assert(!ids.has(target.id), 'internal', `target id ${target.id} given twice`);
      ids.add(target.id);
    }
  }
}

function describeTypes(types: ReadonlySet<string>): string {
  return [...types].sort(byText).join(', ');
}

/** Why a name with addresses is not imported, or null when it is an endpoint. */
function addressNameProblem(name: string, zone: string, entry: NameRecords): string | null {
  if (entry.types.has('CNAME')) {
    return `A/AAAA beside a CNAME, which DNS forbids (${describeTypes(entry.types)}): fix the zone first`;
  }
  const invalid = checkDnsName(name);
  if (invalid !== null) return `not a name dnsplane manages: it ${invalid}`;
  return endpointNameProblem(writtenName(name, zone), new ZoneSet([zone]));
}

/** Why `name` is not imported, or null when it is an endpoint. */
function skipReason(
  name: string, zone: string, entry: NameRecords, structure: { cuts: Set<string>; servers: Set<string> },
): string | null {
  if (!isInZone(name, zone)) return 'outside the zone';
  const delegation = delegationOf(name, zone, structure.cuts);
  if (delegation !== null) return `delegated (NS at ${delegation}): not this zone's data`;
  if (entry.addresses.size === 0) return `no A/AAAA: ${describeTypes(entry.types)}`;
  if (structure.servers.has(name)) {
    return 'a name-server host of the zone (its NS records name it): resolvers need it to reach the zone';
  }
  return addressNameProblem(name, zone, entry);
}

/** The records of a zone → the endpoints to import and what is left out, in a deterministic order. */
export function importZone(records: readonly ZoneRecord[], options: ImportOptions): ImportResult {
  const zone = normalizeName(options.zone);
  assert(checkDnsName(zone) === null, 'internal', `zone "${options.zone}" is not a DNS name`);
  const { names, ttls } = groupByName(records);
  const structure = zoneStructure(records, zone);
  const marked = new Set<string>();
  let markerRecords = 0;
  const result: ImportResult = { zone, endpoints: [], skipped: [], markerRecords: 0, ttls: [] };
  for (const name of [...names.keys()].sort(byText)) {
    const entry = names.get(name)!;
    const markerOf = nameOfMarker(name);
    if (markerOf !== null || name.split('.').includes('_dnsplane')) {
      markerRecords += entry.types.size;
      if (markerOf !== null) marked.add(markerOf);
      continue;
    }
    const reason = skipReason(name, zone, entry, structure);
    if (reason !== null) {
      result.skipped.push({ name, reason });
      continue;
    }
    const written = writtenName(name, zone);
    const addresses = [...entry.addresses].sort(byText);
    result.endpoints.push({
      name, written, marked: false,
      targets: addresses.map((address) => ({ id: readableId(written, address) ?? '', address })),
      otherTypes: [...entry.types].filter((type) => type !== 'A' && type !== 'AAAA').sort(byText),
    });
  }
  for (const endpoint of result.endpoints) endpoint.marked = marked.has(endpoint.name);
  assignIds(result.endpoints);
  result.markerRecords = markerRecords;
  result.ttls = [...ttls].sort((a, b) => a - b);
  return result;
}

/** A list of names as comment lines, at most `listedNamesMax`, the rest counted. */
function listed(zone: string, entries: readonly { name: string; text: string }[]): string[] {
  const lines = entries.slice(0, listedNamesMax).map((entry) => `  ${writtenName(entry.name, zone)}: ${entry.text}`);
  if (entries.length > listedNamesMax) lines.push(`  ... and ${entries.length - listedNamesMax} more`);
  return lines;
}

/** The largest number of addresses one endpoint has. */
export function answersMax(result: ImportResult): number {
  return result.endpoints.reduce((largest, endpoint) => Math.max(largest, endpoint.targets.length), 0);
}

/** Settings the installation needs so that the first write serves what the zone serves now (comment lines). */
export function answerWarnings(result: ImportResult): string[] {
  const warnings: string[] = [];
  const largest = answersMax(result);
  if (largest > maxAnswersMax) {
    const names = result.endpoints.filter((endpoint) => endpoint.targets.length > maxAnswersMax)
      .map((endpoint) => endpoint.written);
    warnings.push(`${names.length} name(s) have more than ${maxAnswersMax} addresses, the most dns.maxAnswers can `
      + `serve: their first write will serve ${maxAnswersMax} of them (${names.slice(0, 5).join(', ')})`);
  } else if (largest > maxAnswersDefault) {
    warnings.push(`a name has ${largest} addresses: set dns.maxAnswers: ${largest} in the installation's config `
      + `(default ${maxAnswersDefault}), or its first write serves only the ${maxAnswersDefault} lowest`);
  }
  return warnings;
}

function headerComment(result: ImportResult, options: ImportOptions): string {
  const targets = result.endpoints.reduce((sum, endpoint) => sum + endpoint.targets.length, 0);
  const ttls = result.ttls.length === 0 ? 'none' : result.ttls.slice(0, 5).join(', ');
  const lines = [
    ` dnsplane inventory imported from zone ${result.zone} (${options.source}):`,
    ` ${result.endpoints.length} names with A/AAAA records, ${targets} targets (their current addresses).`,
    ' Check it with `dnsplane validate -f FILE`, then `dnsplane diff -f FILE` and `dnsplane apply -f FILE`.',
    ' To edit before applying it:',
    `  - az: "${azPlaceholder}" is a placeholder: set each target's availability zone (the health guard and`,
    '    `dnsplane impact az:AZ` group targets by it).',
    '  - health checks: none yet; add check: { http: "http://ADDRESS:PORT/healthz" } or check: { tcp: "ADDRESS:PORT" }',
    '    to each target. Until then every target counts as up, and only `dnsplane health set TARGET down` takes one',
    '    out of the answers.',
    `  - capacity: ${options.capacity} for every target: every address keeps an equal share, as now.`,
    ' adopt: true lets dnsplane take each name over at its first write, in one update that requires exactly the',
    ' records it read (a hand edit meanwhile makes it fail, not vanish); without it such a name is left alone.',
    ` Addresses served now: the A/AAAA TTLs are ${ttls}; dnsplane writes dns.ttl (default 5) instead.`,
    ...answerWarnings(result).map((warning) => ` WARNING: ${warning}.`),
  ];
  return lines.join('\n');
}

function trailerComment(result: ImportResult): string {
  const lines: string[] = [];
  const zone = result.zone;
  const others = result.endpoints.filter((endpoint) => endpoint.otherTypes.length > 0);
  if (others.length > 0) {
    lines.push(' Imported names that hold other records too (dnsplane leaves those as they are):');
    lines.push(...listed(zone, others.map((e) => ({ name: e.name, text: e.otherTypes.join(', ') }))));
  }
  const marked = result.endpoints.filter((endpoint) => endpoint.marked);
  if (marked.length > 0) {
    lines.push(' Imported names that a dnsplane installation manages already (a _dnsplane marker):');
    lines.push(...listed(zone, marked.map((e) => ({ name: e.name, text: 'marker' }))));
  }
  if (result.markerRecords > 0) {
    lines.push(` Left out: ${result.markerRecords} dnsplane marker record set(s) (_dnsplane.*).`);
  }
  lines.push(result.skipped.length === 0
    ? ' Not imported: none.'
    : ` Not imported (${result.skipped.length} names; dnsplane manages names with A/AAAA records only):`);
  lines.push(...listed(zone, result.skipped.map((skipped) => ({ name: skipped.name, text: skipped.reason }))));
  return lines.join('\n');
}

/** The YAML text of an import: header comment, `zone:`, `endpoints:` (targets in flow style), trailer comment. */
export function formatInventory(result: ImportResult, options: ImportOptions): string {
  const document = new Document({
    zone: `${result.zone}.`,
    endpoints: result.endpoints.map((endpoint) => ({
      name: endpoint.written,
      // The names hold their records already, unmarked: taken over at the first write, requiring exactly them.
      ...(endpoint.marked ? {} : { adopt: true }),
      targets: endpoint.targets.map((target) => ({
        id: target.id, address: target.address, az: azPlaceholder, capacity: options.capacity,
      })),
    })),
  });
  document.commentBefore = headerComment(result, options);
  document.comment = trailerComment(result);
  const endpoints = document.get('endpoints') as { items: YAMLMap[] };
  for (const endpoint of endpoints.items) {
    for (const target of (endpoint.get('targets') as { items: YAMLMap[] }).items) target.flow = true;
  }
  return document.toString({ lineWidth: 0 });
}

/**
 * `importZone` and `formatInventory`, then the text read back as `validate` reads a file: it must be a valid config
 * whose endpoints are exactly the names and addresses imported (asserted: a skeleton that does not load is a bug
 * here). A zone with no name to import is bad input.
 */
export function importInventory(
  records: readonly ZoneRecord[], options: ImportOptions,
): { text: string; result: ImportResult } {
  assert(Number.isInteger(options.capacity) && options.capacity >= 1, 'internal', `capacity ${options.capacity}`);
  const result = importZone(records, options);
  if (result.endpoints.length === 0) {
    const left = result.skipped.slice(0, 10).map((skipped) => `${skipped.name} (${skipped.reason})`).join('; ');
    throw new UserError(`zone ${result.zone} has no name with A/AAAA records that dnsplane could manage, so there is `
      + `nothing to import${left.length === 0 ? '' : `; not imported: ${left}`}`);
  }
  const text = formatInventory(result, options);
  let loaded;
  try {
    loaded = inventoryOf(parseConfig(parseYaml(text, { uniqueKeys: true }), 'the imported inventory'));
  } catch (error) {
    assert(false, 'internal', `the imported inventory does not validate: ${(error as Error).message}`);
  }
  assert(loaded.length === result.endpoints.length, 'internal', 'the imported inventory lost or gained names');
  loaded.forEach((endpoint, index) => {
    const imported = result.endpoints[index]!;
    assert(endpoint.name === imported.name, 'internal', `read back as ${endpoint.name}`, imported.name);
    const addresses = endpoint.targets.map((target) => target.address).join(',');
    const expected = imported.targets.map((target) => target.address).join(',');
    assert(addresses === expected, 'internal', `read back with ${addresses}, imported ${expected}`, imported.name);
  });
  return { text, result };
}
