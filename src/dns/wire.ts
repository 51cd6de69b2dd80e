import { isIPv4 } from 'node:net';
import { assert } from '../util/assert.js';
import { ipv6Bytes } from './ratelimit.js';

/**
 * The DNS wire format as the answer path needs it, by hand: reading the
 * question of an ordinary query straight from the request bytes (no
 * decoder, no allocation), and writing records with name compression
 * (RFC 1035 §4.1.4) when an answer is prepared. Anything the reader does not
 * recognise as ordinary goes to the validating decoder in answer.ts.
 */

export const headerBytes = 12;
export const flagResponse = 0x8000;
export const flagAuthoritative = 0x0400;
export const flagTruncated = 0x0200;
export const flagRecursionDesired = 0x0100;
export const flagCheckingDisabled = 0x0010;
export const opcodeMask = 0x7800;
export const typeA = 1;
export const typeNs = 2;
export const typeSoa = 6;
export const typeTxt = 16;
export const typeAaaa = 28;
export const typeOpt = 41;
export const typeIxfr = 251;
export const typeAxfr = 252;
export const typeAny = 255;
export const classIn = 1;
/** An OPT record without options: root, type, class (payload size), TTL (extended rcode, version, flags), rdlength. */
export const optBytes = 11;
/** A name on the wire, length bytes and the root's zero included (RFC 1035 §3.1). */
export const nameBytesMax = 255;
const labelBytesMax = 63;
const pointerMask = 0xc0;
/** Compression pointers hold 14 bits: names written further into a message cannot be pointed at. */
const pointerOffsetMax = 0x3fff;
const fnvOffset = 0x811c9dc5;
const fnvPrime = 0x01000193;

/** Names of the query types the counters and logs know; any other type is "TYPEn" (RFC 3597). */
const typeNames = new Map<number, string>([
  [1, 'A'], [2, 'NS'], [5, 'CNAME'], [6, 'SOA'], [12, 'PTR'], [15, 'MX'], [16, 'TXT'], [28, 'AAAA'], [33, 'SRV'],
  [41, 'OPT'], [43, 'DS'], [48, 'DNSKEY'], [64, 'SVCB'], [65, 'HTTPS'], [251, 'IXFR'], [252, 'AXFR'], [255, 'ANY'],
  [257, 'CAA'],
]);

export function typeName(code: number): string {
  return typeNames.get(code) ?? `TYPE${code}`;
}

/**
 * The question of an ordinary query, as read by `readOrdinaryQuery`. One object is reused for every query, so
 * reading allocates nothing; its fields are valid until the next read.
 */
export interface OrdinaryQuery {
  /** Offset just past the question (name, type and class). */
  questionEnd: number;
  /** FNV-1a of the lower-cased question name's wire bytes. */
  nameHash: number;
  qtype: number;
  edns: boolean;
  /** The client's advertised UDP payload size; 0 without EDNS. */
  udpSize: number;
}

export function emptyOrdinaryQuery(): OrdinaryQuery {
  return { questionEnd: 0, nameHash: 0, qtype: 0, edns: false, udpSize: 0 };
}

/** ASCII letters, digits, "-" and "_": the label bytes that decode and re-encode unchanged and need no escaping. */
function plainLabelByte(byte: number): boolean {
  return (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39)
    || byte === 0x2d || byte === 0x5f;
}

/**
 * True when `request` is an ordinary query: header of a QUERY with one question and at most one additional
 * record, a question name of plain labels without compression, class IN, a type other than OPT and IXFR, and
 * either nothing after the question or exactly one well-formed EDNS(0) OPT record. Fills `into`. False means
 * "not ordinary", not "malformed": the caller then validates the packet in full.
 */
export function readOrdinaryQuery(request: Buffer, into: OrdinaryQuery): boolean {
  const length = request.length;
  if (length < headerBytes + 5) return false;
  if ((request[2]! & 0xf8) !== 0) return false;
  if (request.readUInt32BE(4) !== 0x00010000 || request[8] !== 0 || request[9] !== 0 || request[10] !== 0) {
    return false;
  }
  const additionals = request[11]!;
  if (additionals > 1) return false;
  let offset = headerBytes;
  let hash = fnvOffset;
  // Bounded by nameBytesMax: each pass consumes at least two bytes of the name.
  for (;;) {
    const labelLength = request[offset];
    if (labelLength === undefined || labelLength > labelBytesMax) return false;
    hash = Math.imul(hash ^ labelLength, fnvPrime);
    offset += 1;
    if (labelLength === 0) break;
    const labelEnd = offset + labelLength;
    if (labelEnd - headerBytes >= nameBytesMax || labelEnd > length) return false;
    for (; offset < labelEnd; offset += 1) {
      const byte = request[offset]!;
      if (!plainLabelByte(byte)) return false;
      hash = Math.imul(hash ^ (byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte), fnvPrime);
    }
  }
  if (offset + 4 > length) return false;
  const qtype = request.readUInt16BE(offset);
  if (qtype === typeOpt || qtype === typeIxfr || request.readUInt16BE(offset + 2) !== classIn) return false;
  into.questionEnd = offset + 4;
  into.nameHash = hash >>> 0;
  into.qtype = qtype;
  into.edns = additionals === 1;
  into.udpSize = 0;
  if (additionals === 0) return into.questionEnd === length;
  return readPlainOpt(request, into.questionEnd, into);
}

/** An OPT record at `offset` that ends the message: root owner, EDNS version 0, options well framed. */
function readPlainOpt(request: Buffer, offset: number, into: OrdinaryQuery): boolean {
  if (offset + optBytes > request.length || request[offset] !== 0) return false;
  if (request.readUInt16BE(offset + 1) !== typeOpt || request[offset + 6] !== 0) return false;
  const dataLength = request.readUInt16BE(offset + 9);
  const end = offset + optBytes + dataLength;
  if (end !== request.length) return false;
  // Bounded by dataLength: each option consumes at least its four header bytes.
  for (let option = offset + optBytes; option < end;) {
    if (option + 4 > end) return false;
    option += 4 + request.readUInt16BE(option + 2);
    if (option > end) return false;
  }
  into.udpSize = request.readUInt16BE(offset + 3);
  return true;
}

/** True when the name at `start` in `message` equals `wire` (lower-case wire bytes), ignoring ASCII case. */
export function sameNameIgnoringCase(message: Buffer, start: number, wire: Buffer): boolean {
  for (let index = 0; index < wire.length; index += 1) {
    const byte = message[start + index];
    if (byte === undefined) return false;
    if ((byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte) !== wire[index]) return false;
  }
  return true;
}

/** The FNV-1a hash `readOrdinaryQuery` computes, of lower-case wire bytes. */
export function nameHashOf(wire: Buffer): number {
  let hash = fnvOffset;
  for (const byte of wire) hash = Math.imul(hash ^ byte, fnvPrime);
  return hash >>> 0;
}

/** A copy of the uncompressed name at [start, end) with ASCII letters lower-cased. */
export function lowerCaseWire(message: Buffer, start: number, end: number): Buffer {
  const wire = Buffer.from(message.subarray(start, end));
  for (let index = 0; index < wire.length; index += 1) {
    const byte = wire[index]!;
    if (byte >= 0x41 && byte <= 0x5a) wire[index] = byte | 0x20;
  }
  return wire;
}

/** The dotted text of uncompressed lower-case wire bytes of plain labels ("" for the root). */
export function nameOfWire(wire: Buffer): string {
  const labels: string[] = [];
  // Bounded by the wire's length: each pass consumes the label's length byte.
  for (let offset = 0; offset < wire.length && wire[offset] !== 0;) {
    const labelLength = wire[offset]!;
    labels.push(wire.toString('latin1', offset + 1, offset + 1 + labelLength));
    offset += 1 + labelLength;
  }
  return labels.join('.');
}

/** The end of the uncompressed name starting at `start` in a message whose names were already validated. */
export function nameEnd(message: Buffer, start: number): number {
  let offset = start;
  // Bounded by nameBytesMax: validated names hold no pointers.
  for (let steps = 0; steps <= nameBytesMax; steps += 1) {
    const labelLength = message[offset]!;
    assert((labelLength & pointerMask) === 0, 'internal', 'a compression pointer in a validated question');
    offset += 1 + labelLength;
    if (labelLength === 0) return offset;
  }
  throw new Error('a question name longer than 255 bytes');
}

/** Writes an OPT record without options at `offset`: our payload size, the upper bits of the rcode, version 0. */
export function writeOpt(buffer: Buffer, offset: number, udpSize: number, rcodeValue: number): void {
  buffer[offset] = 0;
  buffer.writeUInt16BE(typeOpt, offset + 1);
  buffer.writeUInt16BE(udpSize, offset + 3);
  buffer[offset + 5] = rcodeValue >> 4;
  buffer[offset + 6] = 0;
  buffer.writeUInt16BE(0, offset + 7);
  buffer.writeUInt16BE(0, offset + 9);
}

/** The wire form of an IPv4 or IPv6 address: 4 or 16 bytes. */
export function addressBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  const bytes = ipv6Bytes(address);
  assert(bytes !== null, 'S1', `"${address}" is neither an IPv4 nor an IPv6 address`);
  return Buffer.from(bytes);
}

/**
 * Builds a message with name compression: every name written (and every suffix of it) is remembered by its
 * offset, and a later name ending in one of them points there (0xC000 | offset) instead of repeating it.
 */
export class WireWriter {
  private buffer = Buffer.alloc(512);
  private readonly names = new Map<string, number>();
  length = 0;

  /** The bytes written so far, in a buffer of their own. */
  finish(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.length));
  }

  u8(value: number): void {
    this.reserve(1);
    this.buffer[this.length] = value;
    this.length += 1;
  }

  u16(value: number): void {
    this.reserve(2);
    this.buffer.writeUInt16BE(value, this.length);
    this.length += 2;
  }

  u32(value: number): void {
    this.reserve(4);
    this.buffer.writeUInt32BE(value >>> 0, this.length);
    this.length += 4;
  }

  bytes(data: Buffer): void {
    this.reserve(data.length);
    data.copy(this.buffer, this.length);
    this.length += data.length;
  }

  /** Writes lower-case wire bytes as they are (the question), remembering each suffix for later pointers. */
  rawName(wire: Buffer): void {
    const start = this.length;
    this.bytes(wire);
    for (let offset = 0; offset < wire.length && wire[offset] !== 0; offset += 1 + wire[offset]!) {
      this.remember(nameOfWire(wire.subarray(offset)), start + offset);
    }
  }

  /** Writes a lower-case dotted name, compressed against the names written before. */
  name(name: string): void {
    let rest = name;
    // Bounded by the labels of the name: each pass writes one label or ends.
    while (rest !== '') {
      const known = this.names.get(rest);
      if (known !== undefined) {
        this.u16(0xc000 | known);
        return;
      }
      const dot = rest.indexOf('.');
      const label = dot < 0 ? rest : rest.slice(0, dot);
      assert(label.length > 0 && label.length <= labelBytesMax, 'internal', `label "${label}" in "${name}"`);
      this.remember(rest, this.length);
      this.u8(label.length);
      this.bytes(Buffer.from(label, 'latin1'));
      rest = dot < 0 ? '' : rest.slice(dot + 1);
    }
    this.u8(0);
  }

  /** Starts a record (owner, type, class IN, TTL) and returns where its rdlength goes, for `endRecord`. */
  startRecord(owner: string, type: number, ttl: number): number {
    this.name(owner);
    this.u16(type);
    this.u16(classIn);
    this.u32(ttl);
    const rdlength = this.length;
    this.u16(0);
    return rdlength;
  }

  endRecord(rdlength: number): void {
    const dataLength = this.length - rdlength - 2;
    assert(dataLength >= 0 && dataLength <= 0xffff, 'internal', `rdata of ${dataLength} bytes`);
    this.buffer.writeUInt16BE(dataLength, rdlength);
  }

  private remember(name: string, offset: number): void {
    if (offset <= pointerOffsetMax && !this.names.has(name)) this.names.set(name, offset);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}
