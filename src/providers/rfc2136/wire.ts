import dnsPacket from 'dns-packet';
import { assert } from '../../util/assert.js';

/**
 * DNS wire format for the RFC 2136 provider. Queries are encoded and every
 * response is decoded by `dns-packet`; UPDATE messages are written here
 * because they need what `dns-packet` cannot express — the classes NONE and
 * ANY with empty RDATA in the prerequisite and update sections (RFC 2136
 * §2.4, §2.5) — and name compression, which keeps many names within one
 * message. RDATA of A, AAAA and TXT still comes from `dns-packet`'s encoders.
 */

export const dnsType = {
  A: 1, CNAME: 5, SOA: 6, TXT: 16, AAAA: 28, TSIG: 250, IXFR: 251, AXFR: 252, ANY: 255,
} as const;
export const dnsClass = { IN: 1, NONE: 254, ANY: 255 } as const;
export const opcodeUpdate = 5;
export const rcode = {
  NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5,
  YXDOMAIN: 6, YXRRSET: 7, NXRRSET: 8, NOTAUTH: 9, NOTZONE: 10,
} as const;
const rcodeNames = Object.fromEntries(
  Object.entries(rcode).map(([name, code]) => [code, name]),
) as Record<number, string>;

export function rcodeName(code: number): string {
  return rcodeNames[code] ?? `RCODE${code}`;
}

/** The largest DNS message over TCP (a two-byte length prefix, RFC 1035 §4.2.2). */
export const tcpMessageBytesMax = 65_535;
const headerBytes = 12;
/** Compression pointers hold a 14-bit offset. */
const pointerOffsetMax = 0x3fff;

/** The parts of `dns-packet` its type declarations leave out: the RDATA codecs (each writes RDLENGTH first). */
interface RdataCodec<T> {
  encode(data: T): Buffer;
  decode(buffer: Buffer, offset?: number): T;
}
interface NameCodec {
  decode(buffer: Buffer, offset?: number): string;
}
const codecs = dnsPacket as unknown as {
  a: RdataCodec<string>;
  aaaa: RdataCodec<string>;
  txt: RdataCodec<Buffer[]>;
  name: NameCodec & { decode: { bytes: number } };
};

/** RDATA with its RDLENGTH prefix, ready to follow TYPE, CLASS and TTL. */
export function addressRdata(address: string): Buffer {
  return address.includes(':') ? codecs.aaaa.encode(address) : codecs.a.encode(address);
}

export function txtRdata(strings: readonly Buffer[]): Buffer {
  for (const string of strings) {
    assert(string.length <= 255, 'internal', `TXT string of ${string.length} bytes (at most 255)`);
  }
  return codecs.txt.encode([...strings]);
}

export const emptyRdata = Buffer.from([0, 0]);


/** A name in canonical wire form: lower case, uncompressed (RFC 4034 §6.2), as TSIG digests need it. */
export function canonicalNameWire(name: string): Buffer {
  const labels = splitName(name);
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label.toLowerCase(), 'ascii');
    assert(bytes.length >= 1 && bytes.length <= 63, 'internal', `label "${label}" of ${name} is not 1-63 bytes`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function splitName(name: string): string[] {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  return trimmed.length === 0 ? [] : trimmed.split('.');
}

/** One resource record of an UPDATE message; `rdata` includes its RDLENGTH prefix. */
export interface WireRecord {
  owner: string;
  type: number;
  klass: number;
  ttl: number;
  rdata: Buffer;
}

/** Bytes of `name` in uncompressed wire form: a length byte per label and the root label (ASCII names). */
function nameWireBytes(name: string): number {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  return trimmed.length === 0 ? 1 : trimmed.length + 2;
}

/** An upper bound of the bytes a record takes in a message, whatever compression finds. */
export function recordBytesMax(record: WireRecord): number {
  return nameWireBytes(record.owner) + 8 + record.rdata.length;
}

/**
 * Writes a message into a fixed buffer, compressing owner names against every
 * name already written (RFC 1035 §4.1.4). Writing past `capacity` is a bug of
 * the caller, who sized the message with `recordBytesMax`.
 */
export class MessageWriter {
  private readonly buffer: Buffer;
  private offset = 0;
  private readonly suffixes = new Map<string, number>();

  constructor(private readonly capacity: number) {
    assert(capacity >= headerBytes && capacity <= tcpMessageBytesMax, 'internal', `message capacity ${capacity}`);
    this.buffer = Buffer.alloc(capacity);
  }

  private room(bytes: number): void {
    assert(this.offset + bytes <= this.capacity, 'internal', `message overflows its ${this.capacity} bytes`);
  }

  u16(value: number): void {
    this.room(2);
    this.buffer.writeUInt16BE(value, this.offset);
    this.offset += 2;
  }

  u32(value: number): void {
    this.room(4);
    this.buffer.writeUInt32BE(value, this.offset);
    this.offset += 4;
  }

  bytes(data: Buffer): void {
    this.room(data.length);
    data.copy(this.buffer, this.offset);
    this.offset += data.length;
  }

  /** Writes `name`, ending in a pointer to the longest suffix written before. */
  name(name: string): void {
    const lower = name.toLowerCase();
    // Most owners of an UPDATE repeat (a name's deletions, additions and prerequisite): one lookup, one pointer.
    const whole = this.suffixes.get(lower.endsWith('.') ? lower.slice(0, -1) : lower);
    if (whole !== undefined) return this.u16(0xc000 | whole);
    const labels = splitName(lower);
    for (let index = 0; index < labels.length; index += 1) {
      const suffix = labels.slice(index).join('.');
      const earlier = this.suffixes.get(suffix);
      if (earlier !== undefined) {
        this.u16(0xc000 | earlier);
        return;
      }
      if (this.offset <= pointerOffsetMax) this.suffixes.set(suffix, this.offset);
      const label = Buffer.from(labels[index]!, 'ascii');
      assert(
        label.length >= 1 && label.length <= 63,
        'internal',
        `label "${labels[index]}" of ${name} is not 1-63 bytes`,
      );
      this.room(1 + label.length);
      this.buffer[this.offset] = label.length;
      label.copy(this.buffer, this.offset + 1);
      this.offset += 1 + label.length;
    }
    this.room(1);
    this.buffer[this.offset] = 0;
    this.offset += 1;
  }

  record(record: WireRecord): void {
    this.name(record.owner);
    this.u16(record.type);
    this.u16(record.klass);
    this.u32(record.ttl);
    this.bytes(record.rdata);
  }

  get length(): number {
    return this.offset;
  }

  finish(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.offset));
  }
}

export interface UpdateMessage {
  id: number;
  zone: string;
  prerequisites: readonly WireRecord[];
  updates: readonly WireRecord[];
}

/** Bytes an UPDATE header and zone section take, before any record. */
export function updateOverheadBytes(zone: string): number {
  return headerBytes + canonicalNameWire(zone).length + 4;
}

/**
 * Encodes an unsigned UPDATE (RFC 2136 §2): header, zone (SOA IN), prerequisites, updates, no additional records yet.
 */
export function encodeUpdate(message: UpdateMessage, capacity: number): Buffer {
  assert(
    Number.isInteger(message.id) && message.id >= 0 && message.id <= 0xffff,
    'internal',
    `message id ${message.id}`,
  );
  const writer = new MessageWriter(capacity);
  writer.u16(message.id);
  writer.u16(opcodeUpdate << 11);
  writer.u16(1);
  writer.u16(message.prerequisites.length);
  writer.u16(message.updates.length);
  writer.u16(0);
  writer.name(message.zone);
  writer.u16(dnsType.SOA);
  writer.u16(dnsClass.IN);
  for (const record of message.prerequisites) writer.record(record);
  for (const record of message.updates) writer.record(record);
  return writer.finish();
}

/** Encodes a plain query (no recursion desired) with `dns-packet`. */
export function encodeQuery(id: number, name: string, type: 'A' | 'AAAA' | 'TXT' | 'SOA' | 'AXFR'): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: 0, questions: [{ type, name, class: 'IN' }] });
}

/** The RDATA of an SOA record as `dns-packet` decodes and encodes it. */
export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

/** RFC 1982 serial number arithmetic: serial `a` is newer than serial `b`. */
export function serialNewer(a: number, b: number): boolean {
  const distance = (a - b + 2 ** 32) % 2 ** 32;
  return distance !== 0 && distance < 2 ** 31;
}

/**
 * An IXFR query (RFC 1995 §3): the zone, and in the authority section the SOA of the version the client holds, whose
 * serial the server sends the changes from.
 */
export function encodeIxfrQuery(id: number, zone: string, soa: SoaData): Buffer {
  assert(Number.isInteger(soa.serial) && soa.serial >= 0 && soa.serial < 2 ** 32, 'internal', `serial ${soa.serial}`);
  return dnsPacket.encode({
    type: 'query', id, flags: 0, questions: [{ type: 'IXFR', name: zone, class: 'IN' }],
    authorities: [{ type: 'SOA', name: zone, class: 'IN', ttl: 0, data: soa }],
  });
}

export interface Header {
  id: number;
  response: boolean;
  opcode: number;
  authoritative: boolean;
  truncated: boolean;
  rcode: number;
  counts: [number, number, number, number];
}

export function readHeader(message: Buffer): Header {
  if (message.length < headerBytes) throw new Error(`a ${message.length}-byte message is shorter than a DNS header`);
  const flags = message.readUInt16BE(2);
  return {
    id: message.readUInt16BE(0),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    rcode: flags & 0xf,
    counts: [message.readUInt16BE(4), message.readUInt16BE(6), message.readUInt16BE(8), message.readUInt16BE(10)],
  };
}

/** Offset just past the name at `offset` (labels or a pointer); throws on a malformed name. */
function skipName(message: Buffer, offset: number): number {
  for (let at = offset, labels = 0; labels <= 128; labels += 1) {
    if (at >= message.length) throw new Error('name runs past the end of the message');
    const length = message[at]!;
    if (length === 0) return at + 1;
    if ((length & 0xc0) === 0xc0) return at + 2;
    if ((length & 0xc0) !== 0) throw new Error(`bad label type at offset ${at}`);
    at += 1 + length;
  }
  throw new Error('name has more than 128 labels');
}

/** Offset of the last record of the message (where a TSIG record must be), or null when it has no additional record. */
export function lastAdditionalOffset(message: Buffer): number | null {
  const header = readHeader(message);
  const [questions, answers, authorities, additionals] = header.counts;
  if (additionals === 0) return null;
  let offset = headerBytes;
  for (let index = 0; index < questions; index += 1) offset = skipName(message, offset) + 4;
  const records = answers + authorities + additionals - 1;
  for (let index = 0; index < records; index += 1) {
    offset = skipName(message, offset) + 8;
    if (offset + 2 > message.length) throw new Error('record runs past the end of the message');
    offset += 2 + message.readUInt16BE(offset);
  }
  if (offset >= message.length) throw new Error('the last record is missing');
  return offset;
}

/** Decodes the name at `offset` (following pointers); returns it and the offset after it in place. */
export function readName(message: Buffer, offset: number): { name: string; next: number } {
  const name = codecs.name.decode(message, offset);
  return { name: name.toLowerCase(), next: offset + codecs.name.decode.bytes };
}

/** A decoded answer record, as `dns-packet` gives it. */
export interface DecodedRecord {
  name: string;
  type: string;
  class?: string;
  ttl?: number;
  data?: unknown;
}

export interface DecodedMessage {
  header: Header;
  questions: { name: string; type: string }[];
  answers: DecodedRecord[];
}

/** Decodes a response with `dns-packet`; a malformed message throws. */
export function decodeResponse(message: Buffer): DecodedMessage {
  const header = readHeader(message);
  const decoded = dnsPacket.decode(message);
  return {
    header,
    questions: (decoded.questions ?? []).map((question) => ({
      name: question.name.toLowerCase(),
      type: question.type,
    })),
    answers: (decoded.answers ?? []) as DecodedRecord[],
  };
}
