import dnsPacket, { type Answer, type DecodedPacket, type OptAnswer, type Packet, type Question } from 'dns-packet';
import type { RecordEntry } from '../domain/types.js';
import { assert } from '../util/assert.js';
import type { Rng } from '../util/clock.js';
import type { DropReason, RcodeName } from './counters.js';
import { sampleByWeight } from './sampling.js';
import type { ServedName, ServedSnapshot } from './snapshot.js';

/**
 * The authoritative answer logic: one request buffer in, one response
 * buffer (or nothing) out. Pure apart from the random numbers for weighted
 * sampling; sockets, limits and counters live in the listeners.
 *
 * Wire format by dns-packet. The only bytes read by hand are header words:
 * id and flags, to answer a packet dns-packet cannot decode, and the four
 * section counts, to reject absurd ones before the decoder sees them.
 */

export type Transport = 'udp' | 'tcp';

export interface AnswerOptions {
  /** Normalized zone apex, e.g. "dnsplane.test". */
  zone: string;
  ttl: number;
  maxAnswers: number;
  /** Largest UDP response, whatever the client advertises. */
  udpSizeMax: number;
  /** The in-zone name of this server (SOA MNAME, NS target) and its addresses for glue. */
  nameServer: { name: string; v4: readonly string[]; v6: readonly string[] };
}

/**
 * A response that can be sent again for the same request bytes (only the
 * id differs) as long as the snapshot is unchanged: a fixed template, plus,
 * for a weighted answer, where each sampled address goes, so that every
 * reuse draws its own sample (see cache.ts).
 */
export interface ReusableAnswer {
  template: Buffer;
  rcode: RcodeName;
  qtype: string;
  truncated: boolean;
  sample: { entries: readonly { weight: number; rdata: Buffer }[]; count: number; offsets: readonly number[] } | null;
}

export interface AnswerResult {
  response: Buffer | null;
  /** Set for well-formed queries answered from the zone (not for junk, which is not worth remembering). */
  reusable: ReusableAnswer | null;
  /** Null when nothing was sent back. */
  rcode: RcodeName | null;
  /** The query type, when the question could be read. */
  qtype: string | null;
  truncated: boolean;
  drop: DropReason | null;
  /** Why a query got FORMERR, for logs and tests (the wire only says FORMERR). */
  problem: string | null;
}

const headerBytes = 12;
const flagResponse = 0x8000;
const flagAuthoritative = 0x0400;
const flagTruncated = 0x0200;
const flagRecursionDesired = 0x0100;
const flagCheckingDisabled = 0x0010;
const udpSizeClassic = 512;
const tcpSizeMax = 65_535;
const markerPrefix = '_dnsplane.';
/** Additional records a query may carry (OPT, TSIG, and room for one more); beyond that it is malformed. */
const additionalsMax = 3;
const rcodeValues: Record<RcodeName, number> = {
  NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16,
};

/** The EDNS(0) state of a query: absent, or present with the version the client spoke. */
type Edns = { present: false } | { present: true; version: number; udpSize: number };

export function answerQuery(
  request: Buffer,
  transport: Transport,
  snapshot: ServedSnapshot,
  options: AnswerOptions,
  rng: Rng,
): AnswerResult {
  if (request.length < headerBytes) return dropped('short');
  const id = request.readUInt16BE(0);
  const flags = request.readUInt16BE(2);
  // Never answer a response: two servers answering each other's answers would loop forever.
  if ((flags & flagResponse) !== 0) return dropped('response-bit');
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return bare(id, flags, 'NOTIMP', `opcode ${opcode}`);
  // A cheap gate before the decoder, which allocates arrays as long as the header's counts: a packet claiming
  // 65,535 records of each kind would cost a hundred times more to reject than a real query costs to answer.
  if (!plausibleCounts(request)) {
    return bare(id, flags, 'FORMERR', 'section counts of no query (one question, no answers)');
  }
  let query: DecodedPacket;
  try {
    query = dnsPacket.decode(request);
  } catch (error) {
    return bare(id, flags, 'FORMERR', `undecodable: ${(error as Error).message}`);
  }
  const problem = malformation(query, request);
  if (problem !== null) return bare(id, flags, 'FORMERR', problem);
  const question = query.questions![0]!;
  const edns = ednsOf(query);
  const limit = transport === 'tcp'
    ? tcpSizeMax
    : edns.present ? Math.min(Math.max(edns.udpSize, udpSizeClassic), options.udpSizeMax) : udpSizeClassic;
  const reply = (rcode: RcodeName, sections: Sections, authoritative: boolean, sample: Sample | null = null) =>
    encodeFitted({ id, flags, question, edns, rcode, sections, sample, authoritative, limit, options });
  if (edns.present && edns.version !== 0) return reply('BADVERS', emptySections(), false);
  const questionClass = question.class ?? 'IN';
  if (questionClass !== 'IN' && questionClass !== 'ANY') {
    // dns-packet cannot re-encode a class it has no name for, so such a question is not echoed.
    return questionClass.startsWith('UNKNOWN_')
      ? bare(id, flags, 'REFUSED', `class ${questionClass}`)
      : reply('REFUSED', emptySections(), false);
  }
  const name = question.name.toLowerCase();
  // Outside the zone: refuse rather than recurse or guess, so this is never an open resolver.
  if (name !== options.zone && !name.endsWith(`.${options.zone}`)) return reply('REFUSED', emptySections(), false);
  // Zone transfers are not offered: the store, not AXFR, is how replicas get the data.
  if (question.type === 'AXFR' || question.type === 'IXFR') return reply('REFUSED', emptySections(), false);
  const found = resolveInZone(name, question, snapshot, options, rng);
  return reply(found.rcode, found.sections, true, found.sample);
}

/** One question, no answer or authority records, a few additional ones (OPT, perhaps TSIG): what a query holds. */
function plausibleCounts(request: Buffer): boolean {
  const questions = request.readUInt16BE(4);
  const answers = request.readUInt16BE(6);
  const authorities = request.readUInt16BE(8);
  const additionals = request.readUInt16BE(10);
  return questions === 1 && answers === 0 && authorities === 0 && additionals <= additionalsMax;
}

function dropped(reason: DropReason): AnswerResult {
  return { response: null, reusable: null, rcode: null, qtype: null, truncated: false, drop: reason, problem: null };
}

/**
 * What makes a decodable packet still not a query this server answers: not
 * exactly one question, records in the answer or authority section, more
 * than one OPT or an OPT not at the root, trailing bytes, or a question
 * name that does not re-encode to the bytes it arrived as (a label holding
 * a dot or invalid UTF-8, a compression pointer in the question).
 */
function malformation(query: DecodedPacket, request: Buffer): string | null {
  if (query.questions?.length !== 1) return `${query.questions?.length ?? 0} questions`;
  if ((query.answers?.length ?? 0) > 0 || (query.authorities?.length ?? 0) > 0) {
    return 'records in the answer or authority section';
  }
  const opts = (query.additionals ?? []).filter((record) => record.type === 'OPT');
  if (opts.length > 1) return 'more than one OPT record';
  if (opts.length === 1 && opts[0]!.name !== '.') return 'OPT record not owned by the root';
  if (dnsPacket.decode.bytes !== request.length) return 'trailing bytes after the last record';
  const question = query.questions[0]!;
  if (question.type === 'OPT') return 'OPT as the query type';
  // The class is left out of the comparison: an unknown class is refused, not malformed.
  const echo = dnsPacket.encode({ questions: [question] });
  if (!echo.subarray(headerBytes, echo.length - 2).equals(request.subarray(headerBytes, echo.length - 2))) {
    return 'question name or type does not round-trip';
  }
  return null;
}

function ednsOf(query: DecodedPacket): Edns {
  const opt = (query.additionals ?? []).find((record): record is OptAnswer => record.type === 'OPT');
  if (opt === undefined) return { present: false };
  return { present: true, version: opt.ednsVersion, udpSize: opt.udpPayloadSize };
}

/** A header-only response, for queries whose question cannot be echoed (FORMERR, NOTIMP, an unknown class). */
function bare(
  id: number,
  requestFlags: number,
  rcode: 'FORMERR' | 'NOTIMP' | 'REFUSED',
  problem: string,
): AnswerResult {
  const opcodeBits = requestFlags & 0x7800;
  const flags = opcodeBits | (requestFlags & flagRecursionDesired) | rcodeValues[rcode];
  const response = dnsPacket.encode({ id, type: 'response', flags });
  assert(response.length === headerBytes, 'internal', `a bare response is ${response.length} bytes`);
  return { response, reusable: null, rcode, qtype: null, truncated: false, drop: null, problem };
}

interface Sections {
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

function emptySections(): Sections {
  return { answers: [], authorities: [], additionals: [] };
}

/** The records a weighted answer was sampled from: the answer section is `count` records of this type. */
interface Sample {
  type: 'A' | 'AAAA';
  records: readonly RecordEntry[];
}

interface Found {
  rcode: 'NOERROR' | 'NXDOMAIN';
  sections: Sections;
  sample: Sample | null;
}

/** What exists at a name of the zone: a served name, the apex, a generation marker, this server's own name. */
interface ZoneNode {
  served: ServedName | undefined;
  apex: boolean;
  markerOf: ServedName | undefined;
  nameServer: boolean;
}

function findNode(name: string, snapshot: ServedSnapshot, options: AnswerOptions): ZoneNode | null {
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

function resolveInZone(
  name: string,
  question: Question,
  snapshot: ServedSnapshot,
  options: AnswerOptions,
  rng: Rng,
): Found {
  const node = findNode(name, snapshot, options);
  const sections = emptySections();
  if (node === null) {
    sections.authorities.push(soaRecord(snapshot, options));
    return { rcode: 'NXDOMAIN', sections, sample: null };
  }
  // dns-packet's RecordType has no "ANY", but decodes type 255 to it.
  const qtype: string = question.type;
  const types = qtype === 'ANY' ? ['A', 'AAAA', 'TXT', 'SOA', 'NS'] : [qtype];
  let sample: Sample | null = null;
  for (const type of types) {
    const set = rrset(node, type, question.name, snapshot, options, rng);
    sections.answers = set.answers;
    sample = set.sample;
    // RFC 8482: answer ANY with one RRset, never the whole node.
    if (sections.answers.length > 0) break;
  }
  if (sections.answers.length === 0) {
    // NODATA: the name exists, the type does not; the SOA lets resolvers cache that (RFC 2308).
    sections.authorities.push(soaRecord(snapshot, options));
  } else if (qtype === 'NS') {
    sections.additionals.push(...glue(options));
  }
  return { rcode: 'NOERROR', sections, sample };
}

function rrset(
  node: ZoneNode,
  type: string,
  owner: string,
  snapshot: ServedSnapshot,
  options: AnswerOptions,
  rng: Rng,
): { answers: Answer[]; sample: Sample | null } {
  const ttl = options.ttl;
  const fixed = (answers: Answer[]) => ({ answers, sample: null });
  switch (type) {
    case 'A':
    case 'AAAA': {
      const records = node.served !== undefined ? (type === 'A' ? node.served.v4 : node.served.v6) : [];
      if (records.length > 0) {
        const answers = sampleByWeight(records, options.maxAnswers, rng)
          .map((record): Answer => ({ name: owner, type, ttl, data: record.address }));
        return { answers, sample: records.length > 1 ? { type, records } : null };
      }
      if (!node.nameServer) return fixed([]);
      const addresses = type === 'A' ? options.nameServer.v4 : options.nameServer.v6;
      return fixed(addresses.map((address) => ({ name: owner, type, ttl, data: address })));
    }
    case 'TXT':
      if (node.markerOf === undefined) return fixed([]);
      return fixed([{
        name: owner,
        type: 'TXT',
        ttl,
        data: [`generation=${node.markerOf.generation}`, `version=${node.markerOf.version}`],
      }]);
    case 'SOA':
      return fixed(node.apex ? [{ ...soaRecord(snapshot, options), name: owner }] : []);
    case 'NS':
      return fixed(node.apex ? [{ name: owner, type: 'NS', ttl, data: options.nameServer.name }] : []);
    default:
      return fixed([]);
  }
}

function soaRecord(snapshot: ServedSnapshot, options: AnswerOptions): Answer {
  // The serial follows served_version, so it changes with every enactment; the minimum (negative-caching TTL,
  // RFC 2308) is the record TTL, so a name that appears is not hidden behind a cached NXDOMAIN for long.
  const serial = snapshot.version % 2 ** 32;
  return {
    name: options.zone, type: 'SOA', ttl: options.ttl,
    data: {
      mname: options.nameServer.name, rname: `hostmaster.${options.zone}`, serial,
      refresh: 60, retry: 30, expire: 3600, minimum: options.ttl,
    },
  };
}

function glue(options: AnswerOptions): Answer[] {
  const name = options.nameServer.name;
  return [
    ...options.nameServer.v4.map((address): Answer => ({ name, type: 'A', ttl: options.ttl, data: address })),
    ...options.nameServer.v6.map((address): Answer => ({ name, type: 'AAAA', ttl: options.ttl, data: address })),
  ];
}

interface Reply {
  id: number;
  flags: number;
  question: Question;
  edns: Edns;
  rcode: RcodeName;
  sections: Sections;
  sample: Sample | null;
  authoritative: boolean;
  limit: number;
  options: AnswerOptions;
}

/**
 * Encodes a response within `limit` bytes: first whole; then without the
 * optional authority and additional records; then with the TC bit and no
 * records at all, so the client retries over TCP (RFC 1035 §4.2.1, RFC 7766).
 */
function encodeFitted(reply: Reply): AnswerResult {
  const code = rcodeValues[reply.rcode];
  const flags = flagResponse | (reply.authoritative ? flagAuthoritative : 0)
    | (reply.flags & (flagRecursionDesired | flagCheckingDisabled)) | (code & 0xf);
  const opt: Answer[] = reply.edns.present
    ? [{
      name: '.', type: 'OPT', udpPayloadSize: reply.options.udpSizeMax, extendedRcode: code >> 4, ednsVersion: 0,
      flags: 0, flag_do: false, options: [],
    }]
    : [];
  const attempts: Sections[] = [
    { ...reply.sections, additionals: [...reply.sections.additionals, ...opt] },
    { answers: reply.sections.answers, authorities: [], additionals: opt },
  ];
  for (const sections of attempts) {
    const packet: Packet = { id: reply.id, type: 'response', flags, questions: [reply.question], ...sections };
    const response = dnsPacket.encode(packet);
    if (response.length > reply.limit) continue;
    const sample = reply.sample === null ? null : sampleSlots(packet, response, reply.sample, reply.question);
    return finished(reply, response, false, sample);
  }
  const response = dnsPacket.encode({
    id: reply.id,
    type: 'response',
    flags: flags | flagTruncated,
    questions: [reply.question],
    additionals: opt,
  });
  assert(
    response.length <= reply.limit,
    'internal',
    `a truncated response of ${response.length} bytes exceeds ${reply.limit}`,
  );
  return finished(reply, response, true, null);
}

function finished(reply: Reply, response: Buffer, truncated: boolean, sample: ReusableAnswer['sample']): AnswerResult {
  const qtype = reply.question.type;
  const reusable: ReusableAnswer = { template: response, rcode: reply.rcode, qtype, truncated, sample };
  return { response, reusable, rcode: reply.rcode, qtype, truncated, drop: null, problem: null };
}

const rdataBytes = { A: 4, AAAA: 16 } as const;

/**
 * Where the sampled addresses sit in an encoded weighted answer. The answer
 * section follows the question and holds `count` records of one owner and
 * one type, hence of one length, each ending in its address.
 */
function sampleSlots(packet: Packet, response: Buffer, sample: Sample, question: Question): ReusableAnswer['sample'] {
  const count = packet.answers!.length;
  assert(
    count > 0 && packet.answers!.every((answer) => answer.type === sample.type),
    'internal',
    'a weighted answer is not one RRset',
  );
  const answersStart = dnsPacket.encodingLength({ questions: [question] });
  const recordBytes = (response.length - dnsPacket.encodingLength({ ...packet, answers: [] })) / count;
  assert(
    Number.isInteger(recordBytes) && recordBytes > rdataBytes[sample.type],
    'internal',
    `answer records of ${recordBytes} bytes`,
  );
  const offsets = Array.from(
    { length: count },
    (_, index) => answersStart + (index + 1) * recordBytes - rdataBytes[sample.type],
  );
  const entries = sample.records.map((record) => ({
    weight: record.weight,
    rdata: rdataOf(sample.type, record.address),
  }));
  return { entries, count, offsets };
}

/** The wire form of an address, as dns-packet writes it in a record. */
function rdataOf(type: 'A' | 'AAAA', address: string): Buffer {
  const encoded = dnsPacket.encode({ answers: [{ name: '.', type, data: address }] });
  return Buffer.from(encoded.subarray(encoded.length - rdataBytes[type]));
}

/**
 * The truncated, empty answer sent instead of a rate-limited one ("slip"):
 * header and question only, so never larger than the query, yet a real
 * client sees TC and retries over TCP. Null when the query is not one this
 * server would answer at all (then it is simply dropped).
 */
export function slipResponse(request: Buffer): Buffer | null {
  if (request.length < headerBytes || (request.readUInt16BE(2) & flagResponse) !== 0) return null;
  let query: DecodedPacket;
  try {
    query = dnsPacket.decode(request);
  } catch {
    return null;
  }
  if (malformation(query, request) !== null) return null;
  const flags = flagTruncated | (request.readUInt16BE(2) & flagRecursionDesired);
  const response = dnsPacket.encode({ id: query.id, type: 'response', flags, questions: [query.questions![0]!] });
  assert(
    response.length <= request.length,
    'internal',
    `a slip response of ${response.length} bytes is larger than its query`,
  );
  return response;
}
