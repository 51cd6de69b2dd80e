import dnsPacket, { type DecodedPacket, type OptAnswer } from 'dns-packet';
import {
  tsigKeyOf, tsigRecordBytes, tsigResponse, verifyRequest, type TsigKey, type TsigRecord,
} from '../providers/rfc2136/tsig.js';
import { assert } from '../util/assert.js';
import { systemClock, type Clock, type Rng } from '../util/clock.js';
import { AnswerTable, preparedKind } from './cache.js';
import type { DropReason, RcodeName } from './counters.js';
import {
  emptyAnswer, prepareAnswer, rcodeValues, renderAnswer, responseLimit, type AnswerOptions, type Prepared,
  type RenderRequest,
} from './prepare.js';
import { SampleScratch } from './sampling.js';
import type { ServedSnapshot } from './snapshot.js';
import {
  emptyOrdinaryQuery, flagRecursionDesired, flagResponse, flagTruncated, headerBytes, lowerCaseWire, nameEnd,
  nameOfWire, opcodeMask, readOrdinaryQuery, typeAxfr, typeIxfr, typeName, type OrdinaryQuery,
} from './wire.js';

export type { AnswerOptions } from './prepare.js';

/**
 * The authoritative answer logic: one request buffer in, one response
 * buffer (or nothing) out. Sockets, limits and counters live in the
 * listeners.
 *
 * Two paths. An ordinary query (wire.ts: one question of plain labels,
 * class IN, perhaps a plain EDNS OPT) is read straight from its bytes and
 * answered from the prepared answer of its (name, type) — the same bytes
 * every time but for id, flags, question case, serial and sample (prepare.ts,
 * cache.ts). Anything else is decoded and validated in full by dns-packet
 * first: it is then refused, rejected (FORMERR, NOTIMP, BADVERS) or answered
 * like an ordinary query, from an answer prepared for it alone.
 *
 * A query signed with TSIG (RFC 8945) is never ordinary: the validated path
 * checks its signature against the server's keys (dns.tsig), answers NOTAUTH
 * with the TSIG error when it does not verify, and signs the answer when it
 * does. With dns.markers tsig-only, the `_dnsplane` markers exist only for
 * such verified queries: every other answer, prepared ones included, is
 * prepared as if the zone had no markers.
 */

export type Transport = 'udp' | 'tcp';

/** What became of the last query an Answerer saw (valid until its next query). */
export interface AnswerOutcome {
  /** Null when nothing was sent back. */
  rcode: RcodeName | null;
  /** The query type, when the question could be read. */
  qtype: string | null;
  truncated: boolean;
  drop: DropReason | null;
  /** Why a query got FORMERR, for logs and tests (the wire only says FORMERR). */
  problem: string | null;
}

export interface AnswerResult extends AnswerOutcome {
  response: Buffer | null;
}

const udpSizeClassic = 512;
/** Additional records a query may carry (OPT, TSIG, and room for one more); beyond that it is malformed. */
const additionalsMax = 3;
/** Prepared answers kept at most (see cache.ts). */
export const preparedAnswersMax = 10_000;

/** The EDNS(0) state of a query: absent, or present with the version the client spoke. */
type Edns = { present: false } | { present: true; version: number; udpSize: number };

/** A query that passed validation: its bytes, where its question ends, its name and class, EDNS and size limit. */
interface ValidQuery {
  request: Buffer;
  questionEnd: number;
  name: string;
  questionClass: string;
  edns: Edns;
  limit: number;
}

const refused = emptyAnswer('REFUSED');
const badVersion = emptyAnswer('BADVERS');
const notAuth = emptyAnswer('NOTAUTH');
/** The Other Data a BADTIME answer's TSIG carries: the server's time (RFC 8945 §5.2.3). */
const badTimeOtherBytes = 6;

/**
 * Answers queries against the snapshot it is given, keeping prepared answers
 * between queries. One per listener: it reuses its working memory, so an
 * ordinary query already answered once allocates only its response.
 */
export class Answerer {
  /** What became of the last query. */
  readonly outcome: AnswerOutcome = { rcode: null, qtype: null, truncated: false, drop: null, problem: null };
  private readonly table: AnswerTable;
  private readonly ordinary: OrdinaryQuery = emptyOrdinaryQuery();
  private readonly scratch = new SampleScratch();
  private readonly render: RenderRequest = { request: Buffer.alloc(0), questionEnd: 0, edns: false, limit: 0 };
  /** The server's TSIG keys by lower-case name. */
  private readonly keys = new Map<string, TsigKey>();
  /** The options answers to verified signed queries are prepared with: every marker shown. */
  private readonly signedOptions: AnswerOptions;

  constructor(
    private readonly options: AnswerOptions,
    preparedMax = preparedAnswersMax,
    private readonly clock: Pick<Clock, 'nowMs'> = systemClock,
  ) {
    this.table = new AnswerTable(preparedMax);
    for (const config of options.tsig ?? []) {
      const key = tsigKeyOf(config);
      assert(!this.keys.has(key.name), 'internal', `two TSIG keys named "${key.name}"`);
      this.keys.set(key.name, key);
    }
    assert(
      options.markers !== 'tsig-only' || this.keys.size > 0,
      'internal',
      'markers shown only to signed queries, but no TSIG key to sign them with',
    );
    this.signedOptions = { ...options, markers: 'public' };
  }

  /** The response to `request`, or null when nothing is to be sent back; see `outcome` for what happened. */
  answer(request: Buffer, transport: Transport, snapshot: ServedSnapshot, rng: Rng): Buffer | null {
    const outcome = this.outcome;
    outcome.rcode = null;
    outcome.qtype = null;
    outcome.truncated = false;
    outcome.drop = null;
    outcome.problem = null;
    this.table.follow(snapshot);
    if (readOrdinaryQuery(request, this.ordinary)) return this.answerOrdinary(request, transport, snapshot, rng);
    return this.answerValidated(request, transport, snapshot, rng);
  }

  /**
   * The truncated, empty answer sent instead of a rate-limited one ("slip"): header and question only, so never
   * larger than the query, yet a real client sees TC and retries over TCP. Null when the query is not one this
   * server would answer at all (then it is simply dropped). Sets `outcome` as for an answer.
   */
  slip(request: Buffer): Buffer | null {
    const outcome = this.outcome;
    outcome.drop = null;
    outcome.problem = null;
    let questionEnd: number;
    if (readOrdinaryQuery(request, this.ordinary)) {
      questionEnd = this.ordinary.questionEnd;
      outcome.qtype = typeName(this.ordinary.qtype);
    } else {
      const query = validQuery(request);
      if (query === null) {
        outcome.rcode = null;
        outcome.qtype = null;
        outcome.truncated = false;
        return null;
      }
      questionEnd = nameEnd(request, headerBytes) + 4;
      outcome.qtype = query.questions![0]!.type;
    }
    const response = Buffer.allocUnsafe(questionEnd);
    request.copy(response, 0, 0, questionEnd);
    response.writeUInt16BE(flagResponse | flagTruncated | (request.readUInt16BE(2) & flagRecursionDesired), 2);
    response.writeUInt16BE(1, 4);
    response.fill(0, 6, headerBytes);
    assert(response.length <= request.length, 'internal', 'a slip response is larger than its query');
    outcome.rcode = 'NOERROR';
    outcome.truncated = true;
    return response;
  }

  private answerOrdinary(request: Buffer, transport: Transport, snapshot: ServedSnapshot, rng: Rng): Buffer {
    const query = this.ordinary;
    const nameLength = query.questionEnd - 4 - headerBytes;
    const kind = preparedKind(query.qtype);
    let prepared = this.table.lookup(request, headerBytes, nameLength, query.nameHash, kind);
    if (prepared === undefined) {
      const wire = lowerCaseWire(request, headerBytes, query.questionEnd - 4);
      const name = nameOfWire(wire);
      if (!this.inZone(name) || query.qtype === typeAxfr) {
        prepared = refused;
      } else {
        prepared = prepareAnswer(name, wire, kind === 0 ? query.qtype : kind, snapshot, this.options);
        this.table.remember(name, wire, query.nameHash, kind, prepared, snapshot);
      }
    } else {
      // Cheap, and the one thing a stale answer would get wrong: it must come from the record set served now.
      assert(snapshot.get(prepared.name) === prepared.served, 'S3', 'a prepared answer outlived its record set');
    }
    const limit = responseLimit(transport === 'tcp', query.edns, query.udpSize, this.options);
    this.outcome.qtype = typeName(query.qtype);
    return this.respond(prepared, request, query.questionEnd, query.edns, limit, snapshot, rng);
  }

  private respond(
    prepared: Prepared,
    request: Buffer,
    questionEnd: number,
    edns: boolean,
    limit: number,
    snapshot: ServedSnapshot,
    rng: Rng,
  ): Buffer {
    const render = this.render;
    render.request = request;
    render.questionEnd = questionEnd;
    render.edns = edns;
    render.limit = limit;
    const response = renderAnswer(prepared, render, snapshot.version % 2 ** 32, this.options, rng, this.scratch);
    render.request = emptyRequest;
    this.outcome.rcode = prepared.rcode;
    this.outcome.truncated = (response[2]! & (flagTruncated >> 8)) !== 0;
    return response;
  }

  private inZone(name: string): boolean {
    const zone = this.options.zone;
    return name === zone || (name.endsWith(zone) && name.charCodeAt(name.length - zone.length - 1) === 0x2e);
  }

  /** The path for everything not ordinary: full validation by dns-packet, then an answer prepared for it alone. */
  private answerValidated(request: Buffer, transport: Transport, snapshot: ServedSnapshot, rng: Rng): Buffer | null {
    if (request.length < headerBytes) return this.dropped('short');
    const flags = request.readUInt16BE(2);
    // Never answer a response: two servers answering each other's answers would loop forever.
    if ((flags & flagResponse) !== 0) return this.dropped('response-bit');
    const opcode = (flags >> 11) & 0xf;
    if (opcode !== 0) return this.bare(request, 'NOTIMP', `opcode ${opcode}`);
    // A cheap gate before the decoder, which allocates arrays as long as the header's counts: a packet claiming
    // 65,535 records of each kind would cost a hundred times more to reject than a real query costs to answer.
    if (!plausibleCounts(request)) {
      return this.bare(request, 'FORMERR', 'section counts of no query (one question, no answers)');
    }
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(request);
    } catch (error) {
      return this.bare(request, 'FORMERR', `undecodable: ${(error as Error).message}`);
    }
    const problem = malformation(query, request);
    if (problem !== null) return this.bare(request, 'FORMERR', problem);
    const question = query.questions![0]!;
    // Validated: the question's bytes are exactly its re-encoding, so they can be copied as they are.
    const questionEnd = nameEnd(request, headerBytes) + 4;
    const edns = ednsOf(query);
    const limit = responseLimit(transport === 'tcp', edns.present, edns.present ? edns.udpSize : 0, this.options);
    const questionClass = question.class ?? 'IN';
    const valid: ValidQuery = { request, questionEnd, name: question.name, questionClass, edns, limit };
    this.outcome.qtype = question.type;
    const signed = (query.additionals ?? []).some((record) => record.type === 'TSIG');
    if (signed) return this.answerSigned(valid, snapshot, rng);
    const reply = (prepared: Prepared) =>
      this.respond(prepared, request, questionEnd, edns.present, limit, snapshot, rng);
    return this.answerQuestion(valid, snapshot, this.options, reply);
  }

  /**
   * A query signed with TSIG (RFC 8945 §5.2): NOTAUTH with BADKEY or BADSIG (unsigned) or BADTIME or BADTRUNC (signed)
   * when it does not verify; else answered with every marker shown, and signed over the request's MAC (§5.3).
   */
  private answerSigned(valid: ValidQuery, snapshot: ServedSnapshot, rng: Rng): Buffer {
    const { request, questionEnd, edns, limit } = valid;
    const nowSeconds = Math.floor(this.clock.nowMs() / 1000);
    const check = verifyRequest(request, this.keys, nowSeconds);
    // Not reachable after `malformation` (the TSIG is the last record), but a query must never stop the server.
    if (check.kind === 'unsigned') return this.bare(request, 'FORMERR', 'a TSIG record not read as the last one');
    if (check.kind === 'malformed') return this.bare(request, 'FORMERR', check.problem);
    const sign = (prepared: Prepared, record: TsigRecord, key: TsigKey | null, error: number) => {
      // Room for the TSIG: an answer that no longer fits is truncated (TC) and signed, so the client retries over TCP.
      const reserve = key === null ? 0 : tsigRecordBytes(key, badTimeOtherBytes);
      const response = this.respond(prepared, request, questionEnd, edns.present, limit - reserve, snapshot, rng);
      return tsigResponse(response, record, key, error, nowSeconds);
    };
    if (check.kind === 'rejected') {
      this.outcome.problem = `TSIG: ${check.problem}`;
      return sign(notAuth, check.record, check.signWith, check.error);
    }
    const reply = (prepared: Prepared) => sign(prepared, check.record, check.key, 0);
    return this.answerQuestion(valid, snapshot, this.signedOptions, reply);
  }

  /** The answer to a validated question, prepared with `options` and sent back through `reply`. */
  private answerQuestion(
    valid: ValidQuery,
    snapshot: ServedSnapshot,
    options: AnswerOptions,
    reply: (prepared: Prepared) => Buffer,
  ): Buffer {
    const { request, questionEnd, edns } = valid;
    if (edns.present && edns.version !== 0) return reply(badVersion);
    if (valid.questionClass !== 'IN' && valid.questionClass !== 'ANY') return reply(refused);
    const name = valid.name.toLowerCase();
    // Outside the zone: refuse rather than recurse or guess, so this is never an open resolver.
    if (!this.inZone(name)) return reply(refused);
    const qtype = request.readUInt16BE(questionEnd - 4);
    // Zone transfers are not offered: the store, not AXFR, is how replicas get the data.
    if (qtype === typeAxfr || qtype === typeIxfr) return reply(refused);
    const wire = lowerCaseWire(request, headerBytes, questionEnd - 4);
    return reply(prepareAnswer(name, wire, qtype, snapshot, options));
  }

  private dropped(reason: DropReason): null {
    this.outcome.drop = reason;
    return null;
  }

  /**
   * A header-only response, for queries whose question is not echoed (FORMERR, NOTIMP). RD is echoed only for
   * QUERY: it means nothing in other opcodes (RFC 1035 §4.1.1), and other servers leave it clear there.
   */
  private bare(request: Buffer, rcode: 'FORMERR' | 'NOTIMP', problem: string): Buffer {
    const requestFlags = request.readUInt16BE(2);
    const opcodeBits = requestFlags & opcodeMask;
    const recursion = opcodeBits === 0 ? requestFlags & flagRecursionDesired : 0;
    const response = Buffer.alloc(headerBytes);
    request.copy(response, 0, 0, 2);
    response.writeUInt16BE(flagResponse | opcodeBits | recursion | rcodeValues[rcode], 2);
    this.outcome.rcode = rcode;
    this.outcome.problem = problem;
    return response;
  }
}

const emptyRequest = Buffer.alloc(0);

/** One query answered by a fresh Answerer: for tests and one-off use (a server keeps one Answerer). */
export function answerQuery(
  request: Buffer,
  transport: Transport,
  snapshot: ServedSnapshot,
  options: AnswerOptions,
  rng: Rng,
): AnswerResult {
  const answerer = new Answerer(options);
  const response = answerer.answer(request, transport, snapshot, rng);
  return { response, ...answerer.outcome };
}

/** The slip response to `request` (see Answerer.slip), or null. */
export function slipResponse(request: Buffer, options: AnswerOptions = slipOptions): Buffer | null {
  return new Answerer(options, 1).slip(request);
}

/** A slip needs no zone data: any options do. */
const slipOptions: AnswerOptions = {
  zone: 'invalid', ttl: 0, maxAnswers: 1, udpSizeMax: udpSizeClassic,
  nameServer: { name: 'ns.invalid', v4: [], v6: [] },
};

/**
 * One question, no answer records, at most one authority record (the SOA of an IXFR query, RFC 1995 §3), a few
 * additional ones (OPT, perhaps TSIG): what a query holds.
 */
function plausibleCounts(request: Buffer): boolean {
  const questions = request.readUInt16BE(4);
  const answers = request.readUInt16BE(6);
  const authorities = request.readUInt16BE(8);
  const additionals = request.readUInt16BE(10);
  return questions === 1 && answers === 0 && authorities <= 1 && additionals <= additionalsMax;
}

/** The decoded request when it is a query this server would answer, else null. */
function validQuery(request: Buffer): DecodedPacket | null {
  if (request.length < headerBytes || (request.readUInt16BE(2) & (flagResponse | opcodeMask)) !== 0) return null;
  if (!plausibleCounts(request)) return null;
  let query: DecodedPacket;
  try {
    query = dnsPacket.decode(request);
  } catch {
    return null;
  }
  return malformation(query, request) === null ? query : null;
}

/**
 * What makes a decodable packet still not a query this server answers: not
 * exactly one question, records in the answer section, in the authority
 * section unless one SOA of an IXFR query, more than one OPT or an OPT not
 * at the root, trailing bytes, or a question name that does not re-encode to
 * the bytes it arrived as (a label holding a dot or invalid UTF-8, a
 * compression pointer in the question).
 */
function malformation(query: DecodedPacket, request: Buffer): string | null {
  if (query.questions?.length !== 1) return `${query.questions?.length ?? 0} questions`;
  const question = query.questions[0]!;
  const authorities = query.authorities ?? [];
  const ixfrSoa = question.type === 'IXFR' && authorities.length === 1 && authorities[0]!.type === 'SOA';
  if ((query.answers?.length ?? 0) > 0 || (authorities.length > 0 && !ixfrSoa)) {
    return 'records in the answer or authority section';
  }
  const additionals = query.additionals ?? [];
  // RFC 8945 §5.1: one TSIG at most, and it is the last record of the message.
  const tsigs = additionals.filter((record) => record.type === 'TSIG');
  if (tsigs.length > 1 || (tsigs.length === 1 && additionals.at(-1) !== tsigs[0])) {
    return 'a TSIG record that is not the last record';
  }
  const opts = additionals.filter((record) => record.type === 'OPT');
  if (opts.length > 1) return 'more than one OPT record';
  if (opts.length === 1 && opts[0]!.name !== '.') return 'OPT record not owned by the root';
  if (dnsPacket.decode.bytes !== request.length) return 'trailing bytes after the last record';
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
