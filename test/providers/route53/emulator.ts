import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIPv4, isIPv6, type AddressInfo } from 'node:net';
import { child, children, element, MalformedXmlError, parseXml, type XmlElement } from './xml.js';

/**
 * An emulator of the Amazon Route 53 REST API (version 2013-04-01, XML), for
 * testing the Route 53 provider through the official SDK without an AWS
 * account. Written from the API reference (ChangeResourceRecordSets,
 * ListResourceRecordSets, GetChange, GetHostedZone), the quotas page and the
 * error texts AWS returns; what it does not know it refuses rather than guesses.
 *
 * What it does as the reference documents it:
 * - ChangeResourceRecordSets is all-or-nothing: the changes are applied in
 *   order to a working copy of the zone, each failing change adds its message,
 *   and the batch is committed only when none failed; otherwise the answer is
 *   HTTP 400 `InvalidChangeBatch` whose message lists every failure in
 *   brackets ("[m1, m2]", the form AWS has used since 2024). CREATE fails when
 *   the set (name, type, SetIdentifier) exists; DELETE must match name, type,
 *   SetIdentifier, Weight, TTL and the values (in any order) exactly; UPSERT
 *   creates or replaces. Weighted sets carry SetIdentifier and Weight 0-255;
 *   weighted and non-weighted sets of one name and type do not mix; a CNAME
 *   shares its name with no set of another type ("RRSet of type A with DNS
 *   name ... is not permitted because a conflicting RRSet of type  CNAME ...",
 *   "RRSet of type CNAME ... is not permitted as it conflicts with other
 *   records ...", AWS's texts).
 * - Limits: 1,000 ResourceRecord elements and 32,000 characters of Value per
 *   request, UPSERT counting twice ("Number of records limit of 1000
 *   exceeded.", "RDATA character limit of 32000 exceeded."); record sets per
 *   zone (`recordSetsMax`, AWS's default quota 10,000).
 * - ListResourceRecordSets sorts by DNS name with the labels reversed and a
 *   trailing dot ("com.example.www."), compared in ASCII, then by type; pages
 *   of at most 300 (MaxItems) with IsTruncated and NextRecordName /
 *   NextRecordType / NextRecordIdentifier; a type without a name is
 *   `InvalidInput`. Each page is a consistent snapshot.
 * - GetChange: a change is PENDING until `insyncAfterMs` after it was
 *   submitted, then INSYNC; an unknown id is `NoSuchChange` (404).
 * - Throttling: more than `requestsPerSecond` requests (all operations, a token
 *   bucket holding one second's worth, at least one) are answered HTTP 400 `Throttling`,
 *   "Rate exceeded"; a ChangeResourceRecordSets arriving within `zoneBusyMs`
 *   of the zone's previous change is `PriorRequestNotComplete`.
 * - An unknown hosted zone id is `NoSuchHostedZone` (404), "No hosted zone
 *   found with ID: <id>"; a request without a SigV4 Authorization header is
 *   refused (403), though signatures are not verified.
 *
 * Choices where the reference is silent (the README of the provider lists
 * them): sets of one name and type are ordered by SetIdentifier (ASCII, the
 * non-weighted set first); MaxItems above 300 returns 300 and says 300;
 * malformed values (an IPv4 address that is not one, a TXT string over 255
 * characters) are `InvalidChangeBatch` with a message in AWS's style but not
 * known to be its exact text; a HealthCheckId is kept and compared but never
 * evaluated; alias, failover, latency and geolocation fields are refused as
 * unsupported (`InvalidInput`).
 *
 * Faults are injected by wrapping the request handler (`wrap`), never by a
 * switch inside; `onCommit` lets a test act right after a batch is committed.
 */

const namespace = 'https://route53.amazonaws.com/doc/2013-04-01/';
const recordTypes = ['SOA', 'A', 'TXT', 'NS', 'CNAME', 'MX', 'NAPTR', 'PTR', 'SRV', 'SPF', 'AAAA', 'CAA', 'DS'];
const pageItemsMax = 300;
const batchRecordsMax = 1000;
const batchValueCharsMax = 32_000;
const weightMax = 255;
const ttlMax = 2_147_483_647;
const setIdentifierLengthMax = 128;
const txtStringLengthMax = 255;
/** Change ids kept for GetChange. */
const changesKeptMax = 100_000;

export interface StoredSet {
  /** Lower case, fully qualified with the trailing dot, unescaped. */
  name: string;
  type: string;
  setIdentifier?: string;
  weight?: number;
  ttl: number;
  values: string[];
  /** Kept and compared (a DELETE must name it), never evaluated. */
  healthCheckId?: string;
}

export interface EmulatorRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface EmulatorResponse {
  status: number;
  body: string;
}

export type Handler = (request: EmulatorRequest) => Promise<EmulatorResponse>;

export interface EmulatorOptions {
  /** Zone names (default one zone, dnsplane.test.). */
  zones?: readonly string[];
  /** How long a change stays PENDING (default 0: INSYNC at the first GetChange). */
  insyncAfterMs?: number;
  /** Requests per second over all operations; default unlimited. */
  requestsPerSecond?: number;
  /** A change occupies its zone this long; a change within it is PriorRequestNotComplete (default 0). */
  zoneBusyMs?: number;
  /** Record sets per zone (default 10,000, AWS's default quota). */
  recordSetsMax?: number;
}

export interface CommittedChange {
  id: string;
  zoneId: string;
  /** The names of the record sets the batch touched. */
  names: string[];
}

interface Zone {
  id: string;
  name: string;
  sets: Map<string, StoredSet>;
  /** Sort keys of the sets of each name and type, by `nameTypeOf`. */
  byNameType: Map<string, Set<string>>;
  sorted: string[] | null;
  busyUntilMs: number;
}

interface ChangeInfo {
  id: string;
  submittedAtMs: number;
  insyncAtMs: number;
  comment: string | undefined;
}

class RequestError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** The name ListResourceRecordSets sorts by: labels reversed, trailing dot ("com.example.www."). */
export function reversedName(name: string): string {
  const labels = name.replace(/\.$/, '').split('.');
  return `${labels.reverse().join('.')}.`;
}

/** The sort key of a set: reversed name, type, SetIdentifier (a NUL sorts below every character). */
function sortKey(name: string, type: string, setIdentifier: string | undefined): string {
  return `${reversedName(name)}\0${type}\0${setIdentifier ?? ''}`;
}

/** The part of a sort key shared by the sets of one name and type ("reversed\0type\0"). */
function nameTypeOf(key: string): string {
  return key.slice(0, key.lastIndexOf('\0') + 1);
}

/** A name as Route 53 stores it: \ddd escapes decoded, lower case, trailing dot. */
function normalizeName(raw: string): string {
  const unescape = (_: string, octal: string) => String.fromCharCode(parseInt(octal, 8));
  const decoded = raw.replace(/\\(\d{3})/g, unescape).toLowerCase();
  return decoded.endsWith('.') ? decoded : `${decoded}.`;
}

/** A name as Route 53 returns it: characters other than a-z, 0-9, "-", "_" and "." as \ddd octal escapes. */
function escapeName(name: string): string {
  return name.replace(/[^a-z0-9_.-]/g, (char) => `\\${char.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

function nameProblem(name: string): string | null {
  if (name.length > 255) return 'is longer than 255 characters';
  const labels = name.slice(0, -1).split('.');
  const badLabel = labels.some((label) => label.length === 0 || label.length > 63);
  return badLabel ? 'has an empty label or one over 63 characters' : null;
  return null;
}

function inZone(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

function describe(set: { name: string; type: string; setIdentifier?: string }): string {
  const identifier = set.setIdentifier === undefined ? '' : `, set-identifier='${set.setIdentifier}'`;
  return `[name='${escapeName(set.name)}', type='${set.type}'${identifier}]`;
}

function sameSet(a: StoredSet, b: StoredSet): boolean {
  if (a.ttl !== b.ttl || a.weight !== b.weight || a.healthCheckId !== b.healthCheckId) return false;
  if (a.values.length !== b.values.length) return false;
  const values = [...a.values].sort();
  return [...b.values].sort().every((value, index) => value === values[index]);
}

/** The character-strings of a TXT value ("a" "b" or unquoted words); null when the quoting is broken. */
function txtStrings(value: string): string[] | null {
  const strings: string[] = [];
  const token = /\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))/y;
  let position = 0;
  while (position < value.length) {
    if (/^\s*$/.test(value.slice(position))) break;
    token.lastIndex = position;
    const match = token.exec(value);
    if (match === null) return null;
    strings.push((match[1] ?? match[2]!).replace(/\\(.)/g, '$1'));
    position = token.lastIndex;
  }
  return strings;
}

function valueProblem(type: string, value: string): string | null {
  const fatal = (code: string, what: string) =>
    `Invalid Resource Record: 'FATAL problem: ${code} (${what}) encountered with '${value}''`;
  if (type === 'A' && !isIPv4(value)) return fatal('ARRDATAIllegalIPv4Address', 'Value is not a valid IPv4 address');
  if (type === 'AAAA' && !isIPv6(value)) {
    return fatal('AAAARRDATAIllegalIPv6Address', 'Value is not a valid IPv6 address');
  }
  if (type === 'TXT') {
    const strings = txtStrings(value);
    if (strings === null || strings.length === 0) {
      return fatal('InvalidCharacterString', 'Value should be enclosed in quotation marks');
    }
    const tooLong = strings.some((string) => string.length > txtStringLengthMax);
    if (tooLong) return fatal('TXTRDATATooLong', 'Value is too long');
  }
  return null;
}

function validationError(index: number, field: string, value: string, constraint: string): RequestError {
  const where = `changeBatch.changes.${index + 1}.member.resourceRecordSet.${field}`;
  return constraintError(value, where, constraint);
}

/** AWS's wording for a request that breaks a constraint of the API's model. */
function constraintError(value: string, where: string, constraint: string): RequestError {
  const detected = `1 validation error detected: Value '${value}' at '${where}'`;
  return invalidInput(`${detected} failed to satisfy constraint: ${constraint}`);
}

function invalidInput(message: string): RequestError {
  return new RequestError(400, 'InvalidInput', message);
}

interface ParsedChange {
  action: 'CREATE' | 'DELETE' | 'UPSERT';
  set: StoredSet;
}

const supportedSetFields = new Set([
  'Name', 'Type', 'SetIdentifier', 'Weight', 'TTL', 'ResourceRecords', 'HealthCheckId',
]);

function parseSet(node: XmlElement, index: number, action: string): StoredSet {
  for (const field of node.children) {
    if (!supportedSetFields.has(field.name)) throw invalidInput(`emulator: ${field.name} is not supported`);
  }
  const name = child(node, 'Name')?.text;
  const type = child(node, 'Type')?.text;
  if (name === undefined || name === '') throw validationError(index, 'name', '', 'Member must not be null');
  if (type === undefined || !recordTypes.includes(type)) {
    throw validationError(index, 'type', type ?? '', `Member must satisfy enum value set: [${recordTypes.join(', ')}]`);
  }
  const setIdentifier = child(node, 'SetIdentifier')?.text;
  const weightText = child(node, 'Weight')?.text;
  const ttlText = child(node, 'TTL')?.text;
  const records = child(node, 'ResourceRecords');
  const recordNodes = records === undefined ? [] : children(records, 'ResourceRecord');
  const values = recordNodes.map((record) => child(record, 'Value')?.text ?? '');
  const where = `Change with [Action=${action}, Name=${name}, Type=${type}, SetIdentifier=${setIdentifier ?? 'null'}]`;
  if (setIdentifier !== undefined && (setIdentifier.length < 1 || setIdentifier.length > setIdentifierLengthMax)) {
    const constraint = `Member must have length less than or equal to ${setIdentifierLengthMax}`;
    throw validationError(index, 'setIdentifier', setIdentifier, constraint);
  }
  if (weightText !== undefined && !/^\d{1,10}$/.test(weightText)) {
    throw validationError(index, 'weight', weightText, 'Member must be a number');
  }
  if (weightText !== undefined && Number(weightText) > weightMax) {
    throw validationError(index, 'weight', weightText, `Member must have value less than or equal to ${weightMax}`);
  }
  if ((setIdentifier === undefined) !== (weightText === undefined)) {
    throw invalidInput(`Invalid request: a weighted record needs both SetIdentifier and Weight in ${where}`);
  }
  if (ttlText === undefined || values.length === 0) {
    const expected = 'Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], '
      + 'or TrafficPolicyInstanceId]';
    throw invalidInput(`Invalid request: ${expected}, but found none in ${where}`);
  }
  if (!/^\d{1,10}$/.test(ttlText) || Number(ttlText) > ttlMax) {
    throw validationError(index, 'TTL', ttlText, `Member must have value less than or equal to ${ttlMax}`);
  }
  const set: StoredSet = { name: normalizeName(name), type, ttl: Number(ttlText), values };
  if (setIdentifier !== undefined) set.setIdentifier = setIdentifier;
  if (weightText !== undefined) set.weight = Number(weightText);
  const healthCheckId = child(node, 'HealthCheckId')?.text;
  if (healthCheckId !== undefined) set.healthCheckId = healthCheckId;
  return set;
}

function parseChangeBatch(body: string): { changes: ParsedChange[]; comment: string | undefined } {
  let root: XmlElement;
  try {
    root = parseXml(body);
  } catch (error) {
    if (!(error instanceof MalformedXmlError)) throw error;
    throw new RequestError(400, 'MalformedInput', `Unable to parse the request body: ${error.message}`);
    throw error;
  }
  const batch = root.name === 'ChangeResourceRecordSetsRequest' ? child(root, 'ChangeBatch') : undefined;
  if (batch === undefined) {
    throw new RequestError(400, 'MalformedInput', 'ChangeBatch is not valid, expected ChangeResourceRecordSetsRequest');
  }
  const list = children(child(batch, 'Changes') ?? { name: '', children: [], text: '' }, 'Change');
  if (list.length === 0) {
    const constraint = 'Member must have length greater than or equal to 1';
    throw constraintError('[]', 'changeBatch.changes', constraint);
  }
  const changes = list.map((node, index) => {
    const action = child(node, 'Action')?.text ?? '';
    if (action !== 'CREATE' && action !== 'DELETE' && action !== 'UPSERT') {
      const where = `changeBatch.changes.${index + 1}.member.action`;
      const constraint = 'Member must satisfy enum value set: [CREATE, DELETE, UPSERT]';
      throw constraintError(action, where, constraint);
    }
    const setNode = child(node, 'ResourceRecordSet');
    if (setNode === undefined) throw validationError(index, '', 'null', 'Member must not be null');
    return { action, set: parseSet(setNode, index, action) } as ParsedChange;
  });
  return { changes, comment: child(batch, 'Comment')?.text };
}

/** The changes of one batch applied in order over a zone, each failure a message; committed only when none failed. */
class WorkingCopy {
  private readonly overlay = new Map<string, StoredSet | null>();
  readonly messages: string[] = [];
  private count: number;

  constructor(private readonly zone: Zone) {
    this.count = zone.sets.size;
  }

  private get(key: string): StoredSet | undefined {
    return this.overlay.has(key) ? this.overlay.get(key) ?? undefined : this.zone.sets.get(key);
  }

  private put(key: string, set: StoredSet | null): void {
    const existed = this.get(key) !== undefined;
    this.count += (set === null ? 0 : 1) - (existed ? 1 : 0);
    this.overlay.set(key, set);
  }

  /** The sets of one name and type as the batch has left them so far. */
  private siblings(name: string, type: string): StoredSet[] {
    const prefix = sortKey(name, type, undefined);
    const keys = new Set(this.zone.byNameType.get(prefix) ?? []);
    for (const key of this.overlay.keys()) if (key.startsWith(prefix)) keys.add(key);
    return [...keys].map((key) => this.get(key)).filter((set): set is StoredSet => set !== undefined);
  }

  private mixing(set: StoredSet): string | null {
    const others = this.siblings(set.name, set.type).filter((other) => other.setIdentifier !== set.setIdentifier);
    if (set.setIdentifier !== undefined && others.some((other) => other.setIdentifier === undefined)) {
      return `RRSet with DNS name ${escapeName(set.name)}, type ${set.type}, SetIdentifier ${set.setIdentifier}`
        + ' cannot be created as a non-weighted set exists with the same name and type.';
    }
    if (set.setIdentifier === undefined && others.length > 0) {
      return `RRSet with DNS name ${escapeName(set.name)}, type ${set.type}`
        + ' cannot be created as other RRSets exist with the same name and type.';
    }
    return null;
  }

  /** A CNAME shares its name with no other set (RFC 1034 §3.6.2): AWS's two refusals, in its words. */
  private aliasing(set: StoredSet): string | null {
    // The set's name with its trailing dot, the zone's without ("... in zone example.com.").
    const [name, zone] = [escapeName(set.name), escapeName(this.zone.name).replace(/\.$/, '')];
    if (set.type !== 'CNAME') {
      if (this.siblings(set.name, 'CNAME').length === 0) return null;
      // AWS's text has the two spaces before CNAME.
      return `RRSet of type ${set.type} with DNS name ${name} is not permitted because a conflicting RRSet of type `
        + ` CNAME with the same DNS name already exists in zone ${zone}.`;
    }
    const others = recordTypes.filter((type) => type !== 'CNAME' && this.siblings(set.name, type).length > 0);
    if (others.length === 0) return null;
    return `RRSet of type CNAME with DNS name ${name} is not permitted as it conflicts with other records with the same `
      + `DNS name in zone ${zone}.`;
  }

  apply(change: ParsedChange): void {
    const { set } = change;
    const problem = nameProblem(set.name);
    if (problem !== null) return void this.messages.push(`RRSet with DNS name ${escapeName(set.name)} ${problem}.`);
    if (!inZone(set.name, this.zone.name)) {
      const zone = escapeName(this.zone.name);
      return void this.messages.push(`RRSet with DNS name ${escapeName(set.name)} is not permitted in zone ${zone}`);
    }
    const invalid = set.values.map((value) => valueProblem(set.type, value)).find((message) => message !== null);
    if (invalid !== undefined && change.action !== 'DELETE') return void this.messages.push(invalid);
    const key = sortKey(set.name, set.type, set.setIdentifier);
    const current = this.get(key);
    if (change.action === 'DELETE') {
      const tried = `Tried to delete resource record set ${describe(set)} but`;
      if (current === undefined) return void this.messages.push(`${tried} it was not found`);
      if (!sameSet(current, set)) {
        return void this.messages.push(`${tried} the values provided do not match the current values`);
      }
      return this.put(key, null);
    }
    if (change.action === 'CREATE' && current !== undefined) {
      return void this.messages.push(`Tried to create resource record set ${describe(set)} but it already exists`);
    }
    const mixing = this.mixing(set) ?? this.aliasing(set);
    if (mixing !== null) return void this.messages.push(mixing);
    this.put(key, { ...set, values: [...set.values] });
  }

  get recordSets(): number {
    return this.count;
  }

  /** The names of the sets this batch touched. */
  touchedNames(): string[] {
    return [...new Set([...this.overlay.keys()].map((key) => key.slice(0, key.indexOf('\0'))))];
  }

  commit(): void {
    for (const [key, set] of this.overlay) {
      const index = nameTypeOf(key);
      if (set === null) {
        this.zone.sets.delete(key);
        this.zone.byNameType.get(index)?.delete(key);
      } else {
        this.zone.sets.set(key, set);
        const keys = this.zone.byNameType.get(index) ?? new Set<string>();
        keys.add(key);
        this.zone.byNameType.set(index, keys);
      }
    }
    if (this.overlay.size > 0) this.zone.sorted = null;
  }
}

function countLimits(changes: readonly ParsedChange[]): string | null {
  let records = 0;
  let characters = 0;
  for (const change of changes) {
    const factor = change.action === 'UPSERT' ? 2 : 1;
    records += factor * change.set.values.length;
    characters += factor * change.set.values.reduce((sum, value) => sum + value.length, 0);
  }
  if (records > batchRecordsMax) return `Number of records limit of ${batchRecordsMax} exceeded.`;
  if (characters > batchValueCharsMax) return `RDATA character limit of ${batchValueCharsMax} exceeded.`;
  return null;
}

function setXml(set: StoredSet): string {
  const values = set.values.map((value) => `<ResourceRecord>${element('Value', value)}</ResourceRecord>`).join('');
  return `<ResourceRecordSet>${element('Name', escapeName(set.name))}${element('Type', set.type)}`
    + `${element('SetIdentifier', set.setIdentifier)}${element('Weight', set.weight)}${element('TTL', set.ttl)}`
    + `<ResourceRecords>${values}</ResourceRecords>${element('HealthCheckId', set.healthCheckId)}</ResourceRecordSet>`;
}

function document(root: string, inner: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${namespace}">${inner}</${root}>`;
}

function errorDocument(code: string, message: string): string {
  const error = `<Error><Type>Sender</Type>${element('Code', code)}${element('Message', message)}</Error>`;
  return document('ErrorResponse', `${error}${element('RequestId', randomUUID())}`);
}

function newId(prefix: string): string {
  return `${prefix}${randomBytes(10).toString('hex').toUpperCase().slice(0, 13)}`;
}

export class Route53Emulator {
  readonly stats = {
    requests: new Map<string, number>(),
    throttled: 0,
    priorRequestNotComplete: 0,
    /** The messages of each InvalidChangeBatch answered, in order. */
    invalidChangeBatches: [] as string[][],
    committed: 0,
  };
  /** Called right after a batch is committed, before its answer is sent. */
  onCommit: ((change: CommittedChange) => void) | null = null;
  private readonly zones = new Map<string, Zone>();
  private readonly changes = new Map<string, ChangeInfo>();
  private handler: Handler;
  private server: Server | null = null;
  private requestsPerSecond: number;
  private insyncAfterMs: number;
  private tokens: number;
  private tokensAtMs = Date.now();

  constructor(private readonly options: EmulatorOptions = {}) {
    for (const zoneName of options.zones ?? ['dnsplane.test.']) this.addZone(zoneName);
    this.requestsPerSecond = options.requestsPerSecond ?? Number.POSITIVE_INFINITY;
    this.insyncAfterMs = options.insyncAfterMs ?? 0;
    this.tokens = this.bucketTokensMax;
    this.handler = (request) => this.handle(request);
  }

  private addZone(zoneName: string): void {
    const name = normalizeName(zoneName);
    const zone: Zone = { id: newId('Z'), name, sets: new Map(), byNameType: new Map(), sorted: null, busyUntilMs: 0 };
    const soa = `ns-1.awsdns-01.org. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400`;
    const copy = new WorkingCopy(zone);
    const servers = ['ns-1.awsdns-01.org.', 'ns-2.awsdns-02.net.'];
    copy.apply({ action: 'CREATE', set: { name, type: 'NS', ttl: 172_800, values: servers } });
    copy.apply({ action: 'CREATE', set: { name, type: 'SOA', ttl: 900, values: [soa] } });
    copy.commit();
    this.zones.set(zone.id, zone);
  }

  /** The hosted zone ids, in the order of `options.zones`. */
  get zoneIds(): string[] {
    return [...this.zones.keys()];
  }

  /** Every record set of a zone in ListResourceRecordSets order (copies: a consistent snapshot). */
  recordSets(zoneId: string): StoredSet[] {
    const zone = this.zone(zoneId);
    return this.sortedKeys(zone).map((key) => {
      const set = zone.sets.get(key)!;
      return { ...set, values: [...set.values] };
    });
  }

  /** Changes the throttle (requests per second over all operations; Infinity: off). */
  setRequestsPerSecond(rate: number): void {
    this.requestsPerSecond = rate;
    this.tokens = Math.min(this.tokens, this.bucketTokensMax);
  }

  /** Changes how long changes submitted from now on stay PENDING. */
  setInsyncAfterMs(delayMs: number): void {
    this.insyncAfterMs = delayMs;
  }

  /** The bucket holds one second's worth of requests, and at least one. */
  private get bucketTokensMax(): number {
    return Math.max(1, this.requestsPerSecond);
  }

  /** Wraps the request handler, e.g. to inject a fault: `wrap((next) => async (request) => ...)`. */
  wrap(wrapper: (next: Handler) => Handler): void {
    this.handler = wrapper(this.handler);
  }

  async start(): Promise<string> {
    const server = createServer((request, response) => void this.serve(request, response));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return this.endpoint;
  }

  get endpoint(): string {
    const address = this.server?.address() as AddressInfo | null;
    if (address === null || address === undefined) throw new Error('the emulator is not listening');
    return `http://127.0.0.1:${address.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? '/', 'http://emulator');
    const emulated: EmulatorRequest = {
      method: request.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: request.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    let answer: EmulatorResponse;
    try {
      answer = await this.handler(emulated);
    } catch (error) {
      answer = { status: 500, body: errorDocument('InternalFailure', (error as Error).message) };
    }
    if (response.destroyed) return;
    response.writeHead(answer.status, {
      'content-type': 'text/xml', 'x-amzn-requestid': randomUUID(), 'content-length': Buffer.byteLength(answer.body),
    });
    response.end(answer.body);
  }

  /** The request handler before any wrapping: authentication, throttling, then the operation. */
  private async handle(request: EmulatorRequest): Promise<EmulatorResponse> {
    try {
      if (!/^AWS4-HMAC-SHA256 Credential=/.test(String(request.headers.authorization ?? ''))) {
        throw new RequestError(403, 'MissingAuthenticationToken', 'Missing Authentication Token');
      }
      this.takeToken();
      return this.route(request);
    } catch (error) {
      if (!(error instanceof RequestError)) throw error;
      return { status: error.status, body: errorDocument(error.code, error.message) };
    }
  }

  private takeToken(): void {
    if (this.requestsPerSecond === Number.POSITIVE_INFINITY) return;
    const nowMs = Date.now();
    const refill = ((nowMs - this.tokensAtMs) / 1000) * this.requestsPerSecond;
    this.tokens = Math.min(this.bucketTokensMax, this.tokens + refill);
    this.tokensAtMs = nowMs;
    if (this.tokens < 1) {
      this.stats.throttled += 1;
      throw new RequestError(400, 'Throttling', 'Rate exceeded');
    }
    this.tokens -= 1;
  }

  private count(operation: string): void {
    this.stats.requests.set(operation, (this.stats.requests.get(operation) ?? 0) + 1);
  }

  private route(request: EmulatorRequest): EmulatorResponse {
    const zoneMatch = /^\/2013-04-01\/hostedzone\/([^/]+)(\/rrset\/?)?$/.exec(request.path);
    const changeMatch = /^\/2013-04-01\/change\/([^/]+)$/.exec(request.path);
    const { method } = request;
    if (zoneMatch !== null) {
      const [, zoneId, rrset] = zoneMatch;
      if (rrset === undefined && method === 'GET') return this.getHostedZone(zoneId!);
      if (rrset !== undefined && method === 'GET') return this.listSets(zoneId!, request.query);
      if (rrset !== undefined && method === 'POST') return this.changeSets(zoneId!, request.body);
    }
    if (changeMatch !== null && method === 'GET') return this.getChange(changeMatch[1]!);
    throw invalidInput(`emulator: ${method} ${request.path} is not an operation it knows`);
  }

  private zone(id: string): Zone {
    const zone = this.zones.get(decodeURIComponent(id).replace(/^\/hostedzone\//, ''));
    if (zone === undefined) throw new RequestError(404, 'NoSuchHostedZone', `No hosted zone found with ID: ${id}`);
    return zone;
  }

  private sortedKeys(zone: Zone): string[] {
    zone.sorted ??= [...zone.sets.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return zone.sorted;
  }

  private getHostedZone(id: string): EmulatorResponse {
    this.count('GetHostedZone');
    const zone = this.zone(id);
    const config = `<Config>${element('PrivateZone', false)}</Config>`;
    const hostedZone = `<HostedZone>${element('Id', `/hostedzone/${zone.id}`)}${element('Name', escapeName(zone.name))}`
      + `${element('CallerReference', zone.id)}${config}`
      + `${element('ResourceRecordSetCount', zone.sets.size)}</HostedZone>`;
    const servers = ['ns-1.awsdns-01.org', 'ns-2.awsdns-02.net'].map((server) => element('NameServer', server));
    const delegation = `<DelegationSet><NameServers>${servers.join('')}</NameServers></DelegationSet>`;
    return { status: 200, body: document('GetHostedZoneResponse', `${hostedZone}${delegation}`) };
  }

  private listSets(id: string, query: URLSearchParams): EmulatorResponse {
    this.count('ListResourceRecordSets');
    const zone = this.zone(id);
    const name = query.get('name') ?? undefined;
    const type = query.get('type') ?? undefined;
    const identifier = query.get('identifier') ?? undefined;
    const maxItemsText = query.get('maxitems') ?? String(pageItemsMax);
    const invalid = (problem: string) => invalidInput(`The input is not valid: ${problem}`);
    if (type !== undefined && name === undefined) throw invalid('a type needs a name');
    if (identifier !== undefined && type === undefined) throw invalid('an identifier needs a type');
    if (type !== undefined && !recordTypes.includes(type)) throw invalid(`unknown type ${type}`);
    if (!/^\d{1,9}$/.test(maxItemsText) || Number(maxItemsText) < 1) {
      throw invalid(`maxitems ${maxItemsText}`);
    }
    const pageItems = Math.min(pageItemsMax, Number(maxItemsText));
    const keys = this.sortedKeys(zone);
    let start = 0;
    if (name !== undefined) {
      const normalized = normalizeName(name);
      start = lowerBound(keys, type === undefined ? reversedName(normalized) : sortKey(normalized, type, identifier));
    }
    const page = keys.slice(start, start + pageItems).map((key) => zone.sets.get(key)!);
    const next = keys[start + pageItems] === undefined ? undefined : zone.sets.get(keys[start + pageItems]!)!;
    const nextXml = next === undefined ? '' : element('NextRecordName', escapeName(next.name))
      + element('NextRecordType', next.type) + element('NextRecordIdentifier', next.setIdentifier);
    const inner = `<ResourceRecordSets>${page.map(setXml).join('')}</ResourceRecordSets>`
      + `${element('IsTruncated', next !== undefined)}${nextXml}${element('MaxItems', pageItems)}`;
    return { status: 200, body: document('ListResourceRecordSetsResponse', inner) };
  }

  private changeSets(id: string, body: string): EmulatorResponse {
    this.count('ChangeResourceRecordSets');
    const zone = this.zone(id);
    const { changes, comment } = parseChangeBatch(body);
    const nowMs = Date.now();
    if (nowMs < zone.busyUntilMs) {
      this.stats.priorRequestNotComplete += 1;
      const message = 'The request was rejected because Route 53 was still processing a prior request.';
      throw new RequestError(400, 'PriorRequestNotComplete', message);
    }
    const limit = countLimits(changes);
    if (limit !== null) return this.invalidChangeBatch([limit]);
    const copy = new WorkingCopy(zone);
    for (const change of changes) copy.apply(change);
    if (copy.messages.length === 0 && copy.recordSets > (this.options.recordSetsMax ?? 10_000)) {
      copy.messages.push(`Exceeded limit MAX_RRSETS_BY_ZONE for zone: ${zone.id}`);
    }
    if (copy.messages.length > 0) return this.invalidChangeBatch(copy.messages);
    copy.commit();
    zone.busyUntilMs = nowMs + (this.options.zoneBusyMs ?? 0);
    const info: ChangeInfo = { id: newId('C'), submittedAtMs: nowMs, insyncAtMs: nowMs + this.insyncAfterMs, comment };
    if (this.changes.size >= changesKeptMax) this.changes.delete(this.changes.keys().next().value!);
    this.changes.set(info.id, info);
    this.stats.committed += 1;
    const names = copy.touchedNames().map((reversed) => `${reversed.slice(0, -1).split('.').reverse().join('.')}.`);
    this.onCommit?.({ id: info.id, zoneId: zone.id, names });
    return { status: 200, body: document('ChangeResourceRecordSetsResponse', this.changeInfoXml(info, 'PENDING')) };
  }

  private invalidChangeBatch(messages: string[]): EmulatorResponse {
    this.stats.invalidChangeBatches.push(messages);
    return { status: 400, body: errorDocument('InvalidChangeBatch', `[${messages.join(', ')}]`) };
  }

  private changeInfoXml(info: ChangeInfo, status: 'PENDING' | 'INSYNC'): string {
    return `<ChangeInfo>${element('Id', `/change/${info.id}`)}${element('Status', status)}`
      + `${element('SubmittedAt', new Date(info.submittedAtMs).toISOString())}${element('Comment', info.comment)}`
      + '</ChangeInfo>';
  }

  private getChange(id: string): EmulatorResponse {
    this.count('GetChange');
    const info = this.changes.get(decodeURIComponent(id).replace(/^\/change\//, ''));
    if (info === undefined) {
      throw new RequestError(404, 'NoSuchChange', 'A change with the specified change ID does not exist.');
    }
    const insync = Date.now() >= info.insyncAtMs;
    const body = document('GetChangeResponse', this.changeInfoXml(info, insync ? 'INSYNC' : 'PENDING'));
    return { status: 200, body };
  }
}

/** The first index whose key is >= `key`. */
function lowerBound(keys: readonly string[], key: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (keys[middle]! < key) low = middle + 1;
    else high = middle;
  }
  return low;
}

