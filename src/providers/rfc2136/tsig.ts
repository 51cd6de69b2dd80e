import { createHmac, timingSafeEqual } from 'node:crypto';
import { normalizeName } from '../../domain/names.js';
import { assert } from '../../util/assert.js';
import { canonicalNameWire, dnsClass, dnsType, lastAdditionalOffset, readHeader, readName } from './wire.js';

/**
 * TSIG (RFC 8945): an HMAC over the message and the TSIG variables, carried
 * as the last additional record. Both directions share one MAC computation
 * (`macOf`) and one record writer (`appendTsig`): the RFC 2136 provider signs
 * requests and verifies responses with the request's MAC folded in (§4.3.3,
 * §5.3), and the messages of a zone transfer with the previous MAC and the
 * timers only (§5.3.1); the built-in DNS server (src/dns) verifies requests
 * against its keys (§5.2: BADKEY, BADSIG, BADTIME, BADTRUNC) and signs its
 * responses over the request's MAC (§5.3).
 */

export type TsigAlgorithm = 'hmac-sha256' | 'hmac-sha512' | 'hmac-sha1';

export interface TsigKey {
  /** Key name as the server knows it (lower case, no trailing dot). */
  name: string;
  algorithm: TsigAlgorithm;
  secret: Buffer;
}

/** A key as configs write it: the name, the algorithm and the secret in base64 (config/schema.ts `rfc2136Tsig`). */
export interface TsigKeyConfig {
  name: string;
  algorithm: TsigAlgorithm;
  secret: string;
}

/** The key a config describes: its name lower case without the trailing dot, its secret decoded. */
export function tsigKeyOf(config: TsigKeyConfig): TsigKey {
  const secret = Buffer.from(config.secret, 'base64');
  assert(secret.length > 0, 'internal', `empty TSIG secret of key "${config.name}"`);
  return { name: normalizeName(config.name), algorithm: config.algorithm, secret };
}

const hashOf: Record<TsigAlgorithm, { hash: string; macBytes: number }> = {
  'hmac-sha256': { hash: 'sha256', macBytes: 32 },
  'hmac-sha512': { hash: 'sha512', macBytes: 64 },
  'hmac-sha1': { hash: 'sha1', macBytes: 20 },
};

/** Seconds of clock difference the server may accept (RFC 8945 §10 recommends 300). */
export const fudgeSeconds = 300;

/** TSIG error codes carried in the record (RFC 8945 §3). */
export const tsigError = { BADSIG: 16, BADKEY: 17, BADTIME: 18, BADTRUNC: 22 } as const;

export function tsigErrorName(code: number): string {
  const entry = Object.entries(tsigError).find(([, value]) => value === code);
  return entry?.[0] ?? `error ${code}`;
}

/** Bytes a TSIG record adds to a message signed with `key` (and `otherBytes` of Other Data: 6 with BADTIME). */
export function tsigRecordBytes(key: TsigKey, otherBytes = 0): number {
  return canonicalNameWire(key.name).length + 10 + canonicalNameWire(`${key.algorithm}.`).length + 16
    + hashOf[key.algorithm].macBytes + otherBytes;
}

function u16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeUInt16BE(value);
  return buffer;
}

function u48(value: number): Buffer {
  assert(Number.isInteger(value) && value >= 0 && value < 2 ** 48, 'internal', `time ${value} does not fit 48 bits`);
  const buffer = Buffer.alloc(6);
  buffer.writeUIntBE(value, 0, 6);
  return buffer;
}

/** The TSIG variables of RFC 8945 §4.3.3: what the MAC covers besides the message. */
interface TsigVariables {
  keyName: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  error: number;
  other: Buffer;
}

function variablesWire(variables: TsigVariables): Buffer {
  return Buffer.concat([
    canonicalNameWire(variables.keyName), u16(dnsClass.ANY), Buffer.alloc(4), canonicalNameWire(variables.algorithm),
    u48(variables.timeSigned), u16(variables.fudge), u16(variables.error), u16(variables.other.length), variables.other,
  ]);
}

/**
 * The one MAC computation of both directions (RFC 8945 §4.3): the prior MAC (a response's request MAC, a transfer's
 * previous message) with its length, then the message without its TSIG, then the TSIG variables.
 */
function macOf(key: TsigKey, prior: Buffer | null, message: Buffer, variables: TsigVariables): Buffer {
  const tail = [message, variablesWire(variables)];
  return hmac(key, prior === null ? tail : [priorMacWire(prior), ...tail]);
}

function hmac(key: TsigKey, parts: readonly Buffer[]): Buffer {
  const mac = createHmac(hashOf[key.algorithm].hash, key.secret);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

function priorMacWire(mac: Buffer): Buffer {
  return Buffer.concat([u16(mac.length), mac]);
}

/** `message` with a TSIG record of `variables` and `mac` appended as its last additional record (ARCOUNT raised). */
function appendTsig(message: Buffer, variables: TsigVariables, mac: Buffer): Buffer {
  const header = readHeader(message);
  const rdata = Buffer.concat([
    canonicalNameWire(variables.algorithm), u48(variables.timeSigned), u16(variables.fudge), u16(mac.length), mac,
    u16(header.id), u16(variables.error), u16(variables.other.length), variables.other,
  ]);
  const record = Buffer.concat([
    canonicalNameWire(variables.keyName), u16(dnsType.TSIG), u16(dnsClass.ANY), Buffer.alloc(4), u16(rdata.length),
    rdata,
  ]);
  const signed = Buffer.concat([message, record]);
  signed.writeUInt16BE(header.counts[3] + 1, 10);
  return signed;
}

function variablesOf(key: TsigKey, timeSigned: number, error: number, other: Buffer): TsigVariables {
  return { keyName: key.name, algorithm: `${key.algorithm}.`, timeSigned, fudge: fudgeSeconds, error, other };
}

/**
 * Signs an unsigned message (no TSIG yet): returns the message with the TSIG
 * record appended and ARCOUNT raised, and the MAC that the response's
 * signature will include.
 */
export function signMessage(message: Buffer, key: TsigKey, timeSigned: number): { signed: Buffer; mac: Buffer } {
  assert(!readHeader(message).response, 'internal', 'signing a response');
  const variables = variablesOf(key, timeSigned, 0, Buffer.alloc(0));
  const mac = macOf(key, null, message, variables);
  assert(mac.length === hashOf[key.algorithm].macBytes, 'internal', `MAC of ${mac.length} bytes`);
  return { signed: appendTsig(message, variables, mac), mac };
}

/** A parsed TSIG record and the message as it was before the record was added. */
export interface TsigRecord {
  keyName: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  other: Buffer;
  /** The message without its TSIG record, with ARCOUNT lowered and the original ID restored. */
  unsigned: Buffer;
}

/** Finds and parses the TSIG record of a message; null when the message is not signed. Malformed records throw. */
export function readTsig(message: Buffer): TsigRecord | null {
  const offset = lastAdditionalOffset(message);
  if (offset === null) return null;
  const owner = readName(message, offset);
  let at = owner.next;
  if (message.readUInt16BE(at) !== dnsType.TSIG) return null;
  if (message.readUInt16BE(at + 2) !== dnsClass.ANY) throw new Error('TSIG record of a class other than ANY');
  // The MAC covers a TTL of 0 (RFC 8945 §4.2), so any other value is an altered record.
  if (message.readUInt32BE(at + 4) !== 0) throw new Error('TSIG record with a TTL other than 0');
  const rdataLength = message.readUInt16BE(at + 8);
  at += 10;
  const end = at + rdataLength;
  if (end !== message.length) throw new Error('TSIG record is not the end of the message');
  const algorithm = readName(message, at);
  at = algorithm.next;
  const timeSigned = message.readUIntBE(at, 6);
  const fudge = message.readUInt16BE(at + 6);
  const macLength = message.readUInt16BE(at + 8);
  at += 10;
  const mac = message.subarray(at, at + macLength);
  at += macLength;
  const originalId = message.readUInt16BE(at);
  const error = message.readUInt16BE(at + 2);
  const otherLength = message.readUInt16BE(at + 4);
  const other = message.subarray(at + 6, at + 6 + otherLength);
  if (at + 6 + otherLength !== end) throw new Error('TSIG RDATA length does not add up');
  const unsigned = Buffer.from(message.subarray(0, offset));
  unsigned.writeUInt16BE(originalId, 0);
  unsigned.writeUInt16BE(readHeader(message).counts[3] - 1, 10);
  return {
    keyName: owner.name,
    algorithm: algorithm.name,
    timeSigned,
    fudge,
    mac: Buffer.from(mac),
    originalId,
    error,
    other: Buffer.from(other),
    unsigned,
  };
}

export type TsigCheck =
  | { ok: true; record: TsigRecord }
  | { ok: false; problem: string; record: TsigRecord | null };

/** Checks the key, the algorithm, the MAC (full length, constant time) and the time window of a parsed record. */
function checkRecord(record: TsigRecord, key: TsigKey, expectedMac: Buffer, nowSeconds: number): TsigCheck {
  if (record.keyName !== key.name.toLowerCase()) {
    return { ok: false, problem: `signed with key "${record.keyName}", expected "${key.name}"`, record };
  }
  if (record.algorithm !== key.algorithm) {
    return { ok: false, problem: `signed with ${record.algorithm}, expected ${key.algorithm}`, record };
  }
  if (record.mac.length !== expectedMac.length || !timingSafeEqual(record.mac, expectedMac)) {
    return { ok: false, problem: 'the MAC does not verify', record };
  }
  if (Math.abs(nowSeconds - record.timeSigned) > record.fudge) {
    return {
      ok: false,
      problem: `signed at ${record.timeSigned}, ${nowSeconds - record.timeSigned} s from now (fudge ${record.fudge} s)`,
      record,
    };
  }
  return { ok: true, record };
}

/**
 * Verifies a signed message: a request (`requestMac` null) or the response
 * to a request whose MAC was `requestMac`.
 */
export function verifyMessage(message: Buffer, key: TsigKey, requestMac: Buffer | null, nowSeconds: number): TsigCheck {
  const record = readTsig(message);
  if (record === null) return { ok: false, problem: 'the message is not signed', record: null };
  return checkRecord(record, key, macOf(key, requestMac, record.unsigned, variablesOfRecord(record)), nowSeconds);
}

/** The TSIG variables a parsed record carries, as its MAC covers them. */
function variablesOfRecord(record: TsigRecord): TsigVariables {
  return {
    keyName: record.keyName,
    algorithm: `${record.algorithm}.`,
    timeSigned: record.timeSigned,
    fudge: record.fudge,
    error: record.error,
    other: record.other,
  };
}

/** What a server makes of a request's TSIG (RFC 8945 §5.2), checked in the RFC's order: key, MAC, time, length. */
export type RequestTsig =
  | { kind: 'unsigned' }
  /** A TSIG no request may carry (unreadable; a MAC longer than the hash or shorter than §5.2.2.1 allows): FORMERR. */
  | { kind: 'malformed'; problem: string }
  | { kind: 'verified'; key: TsigKey; record: TsigRecord }
  /**
   * NOTAUTH with a TSIG error: BADKEY and BADSIG are answered unsigned (`signWith` null, §5.3.2), BADTIME and
   * BADTRUNC signed with the request's key.
   */
  | { kind: 'rejected'; error: number; signWith: TsigKey | null; record: TsigRecord; problem: string };

/** A key or algorithm name a response may repeat: labels of 1-63 printable ASCII characters other than ".". */
const echoableName = /^[!-\-\/-~]{1,63}(\.[!-\-\/-~]{1,63})*$/;

/** Checks a request's TSIG against the server's keys (by lower-case name without the trailing dot). */
export function verifyRequest(message: Buffer, keys: ReadonlyMap<string, TsigKey>, nowSeconds: number): RequestTsig {
  let record: TsigRecord | null;
  try {
    record = readTsig(message);
  } catch (error) {
    return { kind: 'malformed', problem: `TSIG record: ${(error as Error).message}` };
  }
  if (record === null) return { kind: 'unsigned' };
  // The BADKEY answer repeats both names: one that could not be written back is refused as malformed instead.
  if (!echoableName.test(record.keyName) || !echoableName.test(record.algorithm)) {
    return { kind: 'malformed', problem: 'TSIG key or algorithm name of other than printable ASCII labels' };
  }
  const key = keys.get(record.keyName);
  if (key === undefined || key.algorithm !== record.algorithm) {
    const problem = `signed with key "${record.keyName}" (${record.algorithm}), which this server does not have`;
    return { kind: 'rejected', error: tsigError.BADKEY, signWith: null, record, problem };
  }
  const macBytes = hashOf[key.algorithm].macBytes;
  const macBytesMin = Math.max(10, macBytes / 2);
  if (record.mac.length > macBytes || record.mac.length < macBytesMin) {
    return { kind: 'malformed', problem: `a ${key.algorithm} MAC of ${record.mac.length} bytes` };
  }
  // A truncated MAC (§5.2.2.1) is compared over its length, then refused below as shorter than this server allows.
  const expected = macOf(key, null, record.unsigned, variablesOfRecord(record)).subarray(0, record.mac.length);
  if (!timingSafeEqual(record.mac, expected)) {
    return { kind: 'rejected', error: tsigError.BADSIG, signWith: null, record, problem: 'the MAC does not verify' };
  }
  if (Math.abs(nowSeconds - record.timeSigned) > record.fudge) {
    const skew = nowSeconds - record.timeSigned;
    const problem = `signed at ${record.timeSigned}, ${skew} s from now (fudge ${record.fudge} s)`;
    return { kind: 'rejected', error: tsigError.BADTIME, signWith: key, record, problem };
  }
  if (record.mac.length < macBytes) {
    const problem = `a MAC truncated to ${record.mac.length} bytes (this server wants all ${macBytes})`;
    return { kind: 'rejected', error: tsigError.BADTRUNC, signWith: key, record, problem };
  }
  return { kind: 'verified', key, record };
}

/**
 * Appends a server's TSIG to its response to the signed request `request` (RFC 8945 §5.3): with `signWith`, a MAC
 * over the request's MAC, the response and the variables; without it (BADKEY, BADSIG: §5.3.2 forbids a signed
 * answer) an empty MAC under the request's key and algorithm names. A BADTIME answer carries the server's time in
 * Other Data (§5.2.3).
 */
export function tsigResponse(
  response: Buffer,
  request: TsigRecord,
  signWith: TsigKey | null,
  error: number,
  nowSeconds: number,
): Buffer {
  assert(readHeader(response).response, 'internal', 'a response TSIG appended to a request');
  const other = error === tsigError.BADTIME ? u48(nowSeconds) : Buffer.alloc(0);
  if (signWith === null) {
    assert(error === tsigError.BADKEY || error === tsigError.BADSIG, 'internal', `an unsigned TSIG error ${error}`);
    const variables: TsigVariables = {
      keyName: request.keyName, algorithm: `${request.algorithm}.`, timeSigned: nowSeconds, fudge: fudgeSeconds, error,
      other,
    };
    return appendTsig(response, variables, Buffer.alloc(0));
  }
  assert(signWith.name === request.keyName, 'internal', 'a response signed with another key than its request');
  const variables = variablesOf(signWith, nowSeconds, error, other);
  return appendTsig(response, variables, macOf(signWith, request.mac, response, variables));
}

/** Unsigned messages a zone transfer may send between two signed ones (RFC 8945 §5.3.1: at most 99). */
export const unsignedTransferMessagesMax = 99;

/**
 * Verifies the messages of a zone transfer in order: the first as a response
 * to the request, each later signed one over the previous MAC, the unsigned
 * messages since, and its own timers (RFC 8945 §5.3.1).
 */
export class TransferVerifier {
  private priorMac: Buffer;
  private first = true;
  private unsigned: Buffer[] = [];

  constructor(private readonly key: TsigKey, requestMac: Buffer) {
    this.priorMac = requestMac;
  }

  /** Returns a problem, or null when the message verifies (or is an allowed unsigned one). */
  accept(message: Buffer, nowSeconds: number): string | null {
    const record = readTsig(message);
    if (record === null) {
      if (this.first) return 'the first message of the transfer is not signed';
      this.unsigned.push(message);
      return this.unsigned.length > unsignedTransferMessagesMax
        ? `more than ${unsignedTransferMessagesMax} unsigned messages in a row`
        : null;
    }
    const check = this.first
      ? verifyMessage(message, this.key, this.priorMac, nowSeconds)
      : checkRecord(record, this.key, hmac(this.key, [
        priorMacWire(this.priorMac), ...this.unsigned, record.unsigned, u48(record.timeSigned), u16(record.fudge),
      ]), nowSeconds);
    if (!check.ok) return check.problem;
    this.first = false;
    this.unsigned = [];
    this.priorMac = record.mac;
    return null;
  }

  /** A transfer must end on a signed message. */
  get complete(): boolean {
    return !this.first && this.unsigned.length === 0;
  }
}
