import type { RecordEntry } from '../domain/types.js';
import type { TsigKeyConfig } from '../providers/rfc2136/tsig.js';
import { assert } from '../util/assert.js';
import type { Rng } from '../util/clock.js';
import type { RcodeName } from './counters.js';
import { sampleIndexes, type SampleScratch } from './sampling.js';
import type { ServedName, ServedSnapshot } from './snapshot.js';
import {
  addressBytes, classIn, flagAuthoritative, flagCheckingDisabled, flagRecursionDesired, flagResponse, flagTruncated,
  headerBytes, optBytes, typeA, typeAaaa, typeAny, typeNs, typeSoa, typeTxt, WireWriter, writeOpt,
} from './wire.js';

/**
 * Answers prepared in wire format, and their rendering for one query.
 *
 * A prepared answer holds the sections that follow the question, encoded
 * with name compression: owner names point at the question (0xC00C), the
 * zone in SOA and NS data points into the question's suffix. They depend on
 * the question only through its length, which is the same whatever the
 * case of its letters, so one prepared answer serves every query for a
 * (name, type); per query only the header (id, flags, counts), the question
 * as asked (0x20 case kept), the SOA serial, the OPT record and, for a
 * weighted set, the sampled addresses are written.
 */

export interface AnswerOptions {
  /** Normalized zone apex, e.g. "dnsplane.test". */
  zone: string;
  ttl: number;
  maxAnswers: number;
  /** Largest UDP response, whatever the client advertises. */
  udpSizeMax: number;
  /** The in-zone name of this server (SOA MNAME, NS target) and its addresses for glue. */
  nameServer: { name: string; v4: readonly string[]; v6: readonly string[] };
  /**
   * Who gets the `_dnsplane` TXT markers (dns.markers): every query (`public`, also when absent), or only queries
   * signed with one of `tsig`; to any other query every name at or under a `_dnsplane` label does not exist.
   */
  markers?: MarkerVisibility;
  /** The keys signed queries are verified with and their answers signed with (dns.tsig); none when absent. */
  tsig?: readonly TsigKeyConfig[];
}

export type MarkerVisibility = 'public' | 'tsig-only';

export const rcodeValues: Record<RcodeName, number> = {
  NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, NOTAUTH: 9, BADVERS: 16,
};

/** Where a weighted answer's sampled addresses go: `count` records of one type, `stride` bytes apart. */
export interface WeightedSlots {
  weights: Float64Array;
  /** The addresses of every record of the set, `rdataBytes` each, in the order of `weights`. */
  rdata: Buffer;
  rdataBytes: number;
  /** Offset of the first answer record's address within the sections. */
  first: number;
  stride: number;
  count: number;
}

export interface Prepared {
  /** The question end the sections were encoded after (their pointers point into it); null when they hold none. */
  questionEnd: number | null;
  /** Answer, authority and additional records (no OPT), compressed. */
  sections: Buffer;
  /** Where the answer records end within `sections`. */
  answersEnd: number;
  answerCount: number;
  authorityCount: number;
  additionalCount: number;
  rcode: RcodeName;
  authoritative: boolean;
  /** Offsets within `sections` of SOA serials, written per query from the snapshot's version. */
  serialOffsets: readonly number[];
  weighted: WeightedSlots | null;
  /** The lower-case name answered ("" when the answer is for any name). */
  name: string;
  /** The served name the answer was prepared from (undefined for none), to check it is still the one served (S3). */
  served: ServedName | undefined;
}

const markerLabel = '_dnsplane';
const markerPrefix = `${markerLabel}.`;
const tcpSizeMax = 65_535;
const udpSizeClassic = 512;

/** An answer without records (REFUSED, BADVERS): the same for every question. */
export function emptyAnswer(rcode: RcodeName): Prepared {
  return {
    questionEnd: null, sections: Buffer.alloc(0), answersEnd: 0, answerCount: 0, authorityCount: 0,
    additionalCount: 0, rcode, authoritative: false, serialOffsets: [], weighted: null, name: '', served: undefined,
  };
}

/** The largest response a query may get: 64 KiB over TCP; over UDP what EDNS advertises (512 without), capped. */
export function responseLimit(tcp: boolean, edns: boolean, udpSize: number, options: AnswerOptions): number {
  if (tcp) return tcpSizeMax;
  return edns ? Math.min(Math.max(udpSize, udpSizeClassic), options.udpSizeMax) : udpSizeClassic;
}

/** What exists at a name of the zone: a served name, the apex, a generation marker, this server's own name. */
interface ZoneNode {
  served: ServedName | undefined;
  apex: boolean;
  markerOf: ServedName | undefined;
  nameServer: boolean;
}

function findNode(name: string, snapshot: ServedSnapshot, options: AnswerOptions): ZoneNode | null {
  // Markers hidden: no served name has a `_dnsplane` label (config/schema.ts endpointNameProblem), so without its
  // marker such a name does not exist, and nothing under it either.
  if (options.markers === 'tsig-only' && underMarkerLabel(name, options.zone)) return null;
  const served = snapshot.get(name);
  const apex = name === options.zone;
  const markerOf = name.startsWith(markerPrefix) ? snapshot.get(name.slice(markerPrefix.length)) : undefined;
  const nameServer = name === options.nameServer.name;
  // An empty non-terminal (an ancestor of a served name) exists too: NODATA, not NXDOMAIN (RFC 8020).
  if (served === undefined && !apex && markerOf === undefined && !nameServer && !snapshot.hasDescendants(name)) {
    return null;
  }
  return { served, apex, markerOf, nameServer };
}

/** True when a label of `name` below the zone apex is `_dnsplane`: a marker, or a name under one. */
function underMarkerLabel(name: string, zone: string): boolean {
  if (name.length <= zone.length) return false;
  return name.slice(0, name.length - zone.length - 1).split('.').includes(markerLabel);
}

/**
 * Prepares the answer to `qtype` at `name`, a lower-case name inside the zone, after a question whose name is
 * `questionWire` (lower-case wire bytes). Follows RFC 2308 (SOA with negative answers), 8020 (empty
 * non-terminals), 8482 (ANY gets one RRset). With `options.markers` tsig-only the answer is the one the zone would
 * give without its markers: the answerer prepares with it for every query not signed with a key of the server.
 */
export function prepareAnswer(
  name: string,
  questionWire: Buffer,
  qtype: number,
  snapshot: ServedSnapshot,
  options: AnswerOptions,
): Prepared {
  assert(snapshot.zone === options.zone, 'internal', 'the snapshot is of another zone', snapshot.zone);
  const writer = new WireWriter();
  for (let index = 0; index < headerBytes; index += 1) writer.u8(0);
  writer.rawName(questionWire);
  writer.u16(qtype);
  writer.u16(classIn);
  const questionEnd = writer.length;
  const node = findNode(name, snapshot, options);
  const serials: number[] = [];
  let weighted: WeightedSlots | null = null;
  let answerCount = 0;
  let additionalCount = 0;
  if (node !== null) {
    const types = qtype === typeAny ? [typeA, typeAaaa, typeTxt, typeSoa, typeNs] : [qtype];
    for (const type of types) {
      const written = writeRRset(writer, node, type, name, options, serials);
      answerCount = written.count;
      weighted = written.weighted;
      if (answerCount > 0) break;
    }
  }
  const answersEnd = writer.length;
  let authorityCount = 0;
  if (answerCount === 0) {
    // NXDOMAIN or NODATA: the SOA lets resolvers cache that (RFC 2308).
    writeSoa(writer, options.zone, options, serials);
    authorityCount = 1;
  } else if (qtype === typeNs) {
    additionalCount = writeGlue(writer, options);
  }
  const whole = writer.finish();
  const shift = (offset: number) => offset - questionEnd;
  return {
    questionEnd,
    sections: whole.subarray(questionEnd),
    answersEnd: shift(answersEnd),
    answerCount, authorityCount, additionalCount,
    rcode: node === null ? 'NXDOMAIN' : 'NOERROR',
    authoritative: true,
    serialOffsets: serials.map(shift),
    weighted: weighted === null ? null : { ...weighted, first: shift(weighted.first) },
    name,
    served: node?.served,
  };
}

interface Written {
  count: number;
  weighted: WeightedSlots | null;
}

const none: Written = { count: 0, weighted: null };

function writeRRset(
  writer: WireWriter,
  node: ZoneNode,
  type: number,
  owner: string,
  options: AnswerOptions,
  serials: number[],
): Written {
  const ttl = options.ttl;
  switch (type) {
    case typeA:
    case typeAaaa: {
      const records = node.served !== undefined ? (type === typeA ? node.served.v4 : node.served.v6) : [];
      if (records.length > 0) return writeAddresses(writer, owner, type, records, options);
      if (!node.nameServer) return none;
      const addresses = type === typeA ? options.nameServer.v4 : options.nameServer.v6;
      for (const address of addresses) writeAddress(writer, owner, type, ttl, addressBytes(address));
      return { count: addresses.length, weighted: null };
    }
    case typeTxt: {
      if (node.markerOf === undefined) return none;
      const rdlength = writer.startRecord(owner, typeTxt, ttl);
      for (const text of [`generation=${node.markerOf.generation}`, `version=${node.markerOf.version}`]) {
        writer.u8(text.length);
        writer.bytes(Buffer.from(text, 'latin1'));
      }
      writer.endRecord(rdlength);
      return { count: 1, weighted: null };
    }
    case typeSoa:
      if (!node.apex) return none;
      writeSoa(writer, owner, options, serials);
      return { count: 1, weighted: null };
    case typeNs: {
      if (!node.apex) return none;
      const rdlength = writer.startRecord(owner, typeNs, ttl);
      writer.name(options.nameServer.name);
      writer.endRecord(rdlength);
      return { count: 1, weighted: null };
    }
    default:
      return none;
  }
}

/**
 * Up to maxAnswers records of a served set. With more than one record the addresses written here are
 * placeholders: each query draws its own weighted sample into the slots (`renderAnswer`).
 */
function writeAddresses(
  writer: WireWriter,
  owner: string,
  type: number,
  records: readonly RecordEntry[],
  options: AnswerOptions,
): Written {
  const count = Math.min(records.length, options.maxAnswers);
  const all = records.map((record) => addressBytes(record.address));
  const rdataBytes = type === typeA ? 4 : 16;
  assert(all.every((bytes) => bytes.length === rdataBytes), 'S1', `an address of the wrong family at ${owner}`);
  const slots: number[] = [];
  for (let index = 0; index < count; index += 1) {
    slots.push(writeAddress(writer, owner, type, options.ttl, all[index]!));
  }
  if (records.length === 1) return { count, weighted: null };
  const stride = count > 1 ? slots[1]! - slots[0]! : 0;
  assert(
    slots.every((slot, index) => slot === slots[0]! + index * stride),
    'internal',
    'the records of a weighted answer are not of one length',
  );
  const weights = Float64Array.from(records, (record) => record.weight);
  return { count, weighted: { weights, rdata: Buffer.concat(all), rdataBytes, first: slots[0]!, stride, count } };
}

/** One A or AAAA record; returns the offset of its address. */
function writeAddress(writer: WireWriter, owner: string, type: number, ttl: number, address: Buffer): number {
  const rdlength = writer.startRecord(owner, type, ttl);
  const at = writer.length;
  writer.bytes(address);
  writer.endRecord(rdlength);
  return at;
}

function writeSoa(writer: WireWriter, owner: string, options: AnswerOptions, serials: number[]): void {
  // The serial follows served_version (written per query), so it changes with every enactment; the minimum
  // (negative-caching TTL, RFC 2308) is the record TTL, so a name that appears is not hidden behind a cached
  // NXDOMAIN for long.
  const rdlength = writer.startRecord(owner, typeSoa, options.ttl);
  writer.name(options.nameServer.name);
  writer.name(`hostmaster.${options.zone}`);
  serials.push(writer.length);
  for (const value of [0, 60, 30, 3600, options.ttl]) writer.u32(value);
  writer.endRecord(rdlength);
}

function writeGlue(writer: WireWriter, options: AnswerOptions): number {
  const name = options.nameServer.name;
  for (const address of options.nameServer.v4) writeAddress(writer, name, typeA, options.ttl, addressBytes(address));
  for (const address of options.nameServer.v6) writeAddress(writer, name, typeAaaa, options.ttl, addressBytes(address));
  return options.nameServer.v4.length + options.nameServer.v6.length;
}

/** What a response is rendered for: the request, the end of its question, its EDNS state and size limit. */
export interface RenderRequest {
  request: Buffer;
  questionEnd: number;
  edns: boolean;
  limit: number;
}

/**
 * The response to one query from a prepared answer, within `limit` bytes: whole; else without the optional
 * authority and additional records; else header and question only, with TC, so the client retries over TCP
 * (RFC 1035 §4.2.1, RFC 7766). The question is copied as asked; the id and RD/CD come from the request.
 */
export function renderAnswer(
  prepared: Prepared,
  query: RenderRequest,
  serial: number,
  options: AnswerOptions,
  rng: Rng,
  scratch: SampleScratch,
): Buffer {
  const { request, questionEnd } = query;
  assert(
    prepared.questionEnd === null || prepared.questionEnd === questionEnd,
    'internal',
    'an answer prepared for a question of another length',
  );
  const opt = query.edns ? optBytes : 0;
  const sections = prepared.sections;
  let used = sections.length;
  if (questionEnd + used + opt > query.limit) used = prepared.answersEnd;
  const truncated = questionEnd + used + opt > query.limit;
  if (truncated) used = 0;
  const end = questionEnd + used;
  const response = Buffer.allocUnsafe(end + opt);
  request.copy(response, 0, 0, 2);
  const code = rcodeValues[prepared.rcode];
  const flags = flagResponse | (prepared.authoritative ? flagAuthoritative : 0) | (truncated ? flagTruncated : 0)
    | (request.readUInt16BE(2) & (flagRecursionDesired | flagCheckingDisabled)) | (code & 0xf);
  response.writeUInt16BE(flags, 2);
  response.writeUInt16BE(1, 4);
  response.writeUInt16BE(used > 0 ? prepared.answerCount : 0, 6);
  response.writeUInt16BE(used > prepared.answersEnd ? prepared.authorityCount : 0, 8);
  response.writeUInt16BE((used > prepared.answersEnd ? prepared.additionalCount : 0) + (opt > 0 ? 1 : 0), 10);
  request.copy(response, headerBytes, headerBytes, questionEnd);
  sections.copy(response, questionEnd, 0, used);
  for (const offset of prepared.serialOffsets) {
    if (offset < used) response.writeUInt32BE(serial, questionEnd + offset);
  }
  if (prepared.weighted !== null && used > 0) writeSample(response, questionEnd, prepared.weighted, rng, scratch);
  if (opt > 0) writeOpt(response, end, options.udpSizeMax, code);
  return response;
}

/** Draws a weighted sample (sampling.ts) into the address slots of a rendered answer. */
function writeSample(response: Buffer, base: number, slots: WeightedSlots, rng: Rng, scratch: SampleScratch): void {
  const drawn = sampleIndexes(slots.weights, slots.count, rng, scratch);
  assert(drawn === slots.count, 'S3', 'sampled fewer addresses than the answer has records', slots.count);
  const size = slots.rdataBytes;
  for (let index = 0; index < drawn; index += 1) {
    const from = scratch.order[index]! * size;
    const to = base + slots.first + index * slots.stride;
    for (let byte = 0; byte < size; byte += 1) response[to + byte] = slots.rdata[from + byte]!;
  }
}
