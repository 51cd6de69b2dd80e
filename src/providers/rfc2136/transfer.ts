import { splitHostPort } from '../../domain/probe-spec.js';
import { assert } from '../../util/assert.js';
import { rfc2136Error, type ErrorContext } from './errors.js';
import { TcpTransport } from './transport.js';
import { TransferVerifier, readTsig, signMessage, type TsigKey } from './tsig.js';
import { tsigRejection } from './update.js';
import {
  decodeResponse, encodeIxfrQuery, encodeQuery, rcode, rcodeName, serialNewer, type DecodedRecord, type SoaData,
} from './wire.js';

/** One IXFR step: from the serial `fromSerial` to `to`, records deleted, then records added. */
export interface ChangeStep {
  fromSerial: number;
  to: SoaData;
  deleted: DecodedRecord[];
  added: DecodedRecord[];
}

/**
 * The zone transfers of dnsplane: the whole zone (AXFR, RFC 5936) for the RFC 2136 provider's bulk reads and listing
 * and for `dnsplane import` (`transferZone`), and the changes since a serial (IXFR, RFC 1995) that keep the provider's
 * zone image current (`transferChanges`). Signed with TSIG when a key is given, and then every message must verify
 * and the last must be signed (RFC 8945 §5.3.1); a refusal is an `Rfc2136Error` naming the server, the zone and the
 * rcode.
 */

/** The first and the closing SOA of a zone transfer. */
const transferSoasMax = 2;
/** Records one transfer may hold. */
export const transferRecordsMax = 10_000_000;

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * One transfer on a connection of its own from `transport`: sends `query(id)`, signed with `key` (null: unsigned,
 * answers taken as they come), checks every message of the answer and hands its records in order to `take` until it
 * returns true. A record after that is an error: nothing may follow the end of a transfer.
 */
async function runTransfer(
  transport: TcpTransport, key: TsigKey | null, context: ErrorContext, kind: 'AXFR' | 'IXFR',
  query: (id: number) => Buffer, take: (record: DecodedRecord) => boolean,
): Promise<void> {
  let verifier: TransferVerifier | null = null;
  let done = false;
  let records = 0;
  await transport.transfer((id) => {
    if (key === null) return query(id);
    const { signed, mac } = signMessage(query(id), key, nowSeconds());
    verifier = new TransferVerifier(key, mac);
    return signed;
  }, (message) => {
    for (const record of checkTransferMessage(message, key, verifier, context, kind)) {
      if (done) throw rfc2136Error(context, 'bad-response', `zone transfer (${kind}) has records after its end`);
      records += 1;
      if (records > transferRecordsMax) {
        throw rfc2136Error(context, 'too-large', `zone transfer (${kind}) of more than ${transferRecordsMax} records`);
      }
      done = take(record);
    }
    return done;
  });
  assert(done, 'internal', `a zone transfer (${kind}) ended before its end`);
  // RFC 8945 §5.3.1: unsigned messages may come between signed ones, never last — records after the last MAC could
  // have been added by anyone on the path.
  const signedTransfer = verifier as TransferVerifier | null;
  if (signedTransfer !== null && !signedTransfer.complete) {
    const problem = `zone transfer (${kind}) did not end on a signed message (RFC 8945 §5.3.1)`;
    throw rfc2136Error(context, 'bad-response', problem);
  }
}

/**
 * Every record of `zone` (lower case, no trailing dot) in transfer order, the closing SOA included, on a connection
 * of its own from `transport`. `key` null: an unsigned request, answers taken as they come (what a server allowing
 * transfers by address sends).
 */
export async function transferZone(
  transport: TcpTransport, zone: string, key: TsigKey | null, context: ErrorContext,
): Promise<DecodedRecord[]> {
  assert(zone === zone.toLowerCase() && !zone.endsWith('.'), 'internal', `zone "${zone}" is not normalised`);
  const records: DecodedRecord[] = [];
  let soas = 0;
  await runTransfer(transport, key, context, 'AXFR', (id) => encodeQuery(id, zone, 'AXFR'), (record) => {
    if (record.type === 'SOA') soas += 1;
    if (soas === 0) throw rfc2136Error(context, 'bad-response', 'zone transfer does not start with the SOA');
    records.push(record);
    return soas >= transferSoasMax;
  });
  return records;
}

/**
 * What an IXFR brought: the server's SOA alone, its serial not newer than the one asked from (`current`: the same
 * serial, or an older one when the server's history changed); the whole zone instead (`full`, as an AXFR would,
 * RFC 1995 §4); or the steps from the serial asked to `soa` (`incremental`).
 */
export type ZoneChanges =
  | { kind: 'current'; soa: SoaData }
  | { kind: 'full'; records: DecodedRecord[] }
  | { kind: 'incremental'; soa: SoaData; steps: ChangeStep[] };

/**
 * The changes of `zone` since the version `since` (an IXFR, signed with `key`, every message verified). The steps
 * are as the server sent them: whether they fit the caller's copy of the zone is the caller's to check
 * (ZoneImage.applySteps).
 */
export async function transferChanges(
  transport: TcpTransport, zone: string, key: TsigKey, context: ErrorContext, since: SoaData,
): Promise<ZoneChanges> {
  assert(zone === zone.toLowerCase() && !zone.endsWith('.'), 'internal', `zone "${zone}" is not normalised`);
  const reader = new IxfrReader(since.serial, context);
  const query = (id: number) => encodeIxfrQuery(id, zone, since);
  await runTransfer(transport, key, context, 'IXFR', query, (record) => reader.take(record));
  return reader.result();
}

/**
 * The answer to an IXFR, record by record (RFC 1995 §4): the server's SOA; then either nothing (the client is
 * current), the rest of the zone and the SOA again (a full transfer), or steps — the old SOA, the records deleted,
 * the new SOA, the records added — until the server's SOA comes where a step would start.
 */
class IxfrReader {
  private first: DecodedRecord | null = null;
  private mode: 'undecided' | 'current' | 'full' | 'incremental' = 'undecided';
  private readonly records: DecodedRecord[] = [];
  private readonly steps: ChangeStep[] = [];
  private phase: 'deleting' | 'adding' = 'deleting';

  constructor(private readonly sinceSerial: number, private readonly context: ErrorContext) {}

  private soa(record: DecodedRecord): SoaData {
    const data = record.data as SoaData | undefined;
    if (data === undefined || !Number.isInteger(data.serial)) {
      throw rfc2136Error(this.context, 'bad-response', 'zone transfer (IXFR) holds an SOA without a serial');
    }
    return data;
  }

  /** Takes the next record; true when it ends the transfer. */
  take(record: DecodedRecord): boolean {
    if (this.first === null) {
      if (record.type !== 'SOA') {
        throw rfc2136Error(this.context, 'bad-response', 'zone transfer (IXFR) does not start with the SOA');
      }
      this.first = record;
      // RFC 1995 §2: a client at the server's version or newer gets the server's SOA alone.
      if (serialNewer(this.soa(record).serial, this.sinceSerial)) return false;
      this.mode = 'current';
      return true;
    }
    if (this.mode === 'undecided') {
      const incremental = record.type === 'SOA' && this.soa(record).serial === this.sinceSerial;
      this.mode = incremental ? 'incremental' : 'full';
      if (!incremental) this.records.push(this.first);
    }
    if (this.mode === 'full') {
      this.records.push(record);
      return record.type === 'SOA';
    }
    return this.takeStepRecord(record);
  }

  private takeStepRecord(record: DecodedRecord): boolean {
    const step = this.steps[this.steps.length - 1];
    if (record.type !== 'SOA') {
      if (step === undefined) {
        throw rfc2136Error(this.context, 'bad-response', 'zone transfer (IXFR) step without an SOA');
      }
      (this.phase === 'deleting' ? step.deleted : step.added).push(record);
      return false;
    }
    const soa = this.soa(record);
    if (step !== undefined && this.phase === 'deleting') {
      step.to = soa;
      this.phase = 'adding';
      return false;
    }
    // An SOA where a step starts: the server's own ends the transfer, any other starts the next step.
    if (step !== undefined && soa.serial === this.soa(this.first!).serial) return true;
    this.steps.push({ fromSerial: soa.serial, to: soa, deleted: [], added: [] });
    this.phase = 'deleting';
    return false;
  }

  result(): ZoneChanges {
    const first = this.soa(this.first!);
    if (this.mode === 'current') return { kind: 'current', soa: first };
    if (this.mode === 'full') return { kind: 'full', records: this.records };
    assert(this.mode === 'incremental' && this.phase === 'adding', 'internal', 'an IXFR ended inside a step');
    return { kind: 'incremental', soa: first, steps: this.steps };
  }
}

/**
 * One message of a transfer — no TSIG error, NOERROR, and (signed) verifying over the previous one — and its answer
 * records.
 */
function checkTransferMessage(
  message: Buffer, key: TsigKey | null, verifier: TransferVerifier | null, context: ErrorContext,
  kind: 'AXFR' | 'IXFR',
): DecodedRecord[] {
  let record;
  let decoded;
  try {
    record = readTsig(message);
    decoded = decodeResponse(message);
  } catch (error) {
    throw rfc2136Error(context, 'bad-response', `malformed zone transfer message: ${(error as Error).message}`);
  }
  if (key !== null && record !== null && record.error !== 0) {
    throw rfc2136Error(context, 'tsig-rejected', `zone transfer: ${tsigRejection(key, record.error)}`);
  }
  if (decoded.header.rcode !== rcode.NOERROR) {
    throw rfc2136Error(context, 'refused', `zone transfer (${kind}) answered ${rcodeName(decoded.header.rcode)}: ${
      refusalCause(key, record !== null)}`);
  }
  if (key === null) return decoded.answers;
  assert(verifier !== null, 'internal', 'a signed transfer without its verifier');
  const problem = verifier.accept(message, nowSeconds());
  if (problem !== null) {
    throw rfc2136Error(context, 'bad-response', `zone transfer message does not verify: ${problem}`);
  }
  return decoded.answers;
}

function refusalCause(key: TsigKey | null, signed: boolean): string {
  if (key === null) {
    return 'the server does not serve the zone, or allows transfers only to a TSIG key (give --tsig-name and '
      + '--tsig-secret)';
  }
  // PowerDNS answers every refused transfer unsigned, a key it does not accept included: the cause is either.
  const unsigned = signed ? '' : ' or a key the server does not accept (the refusal is unsigned)';
  return `the server must serve the zone and allow transfers to key "${key.name}"${unsigned}`;
}

/** Where `readZone` transfers from. */
export interface ZoneSource {
  /** host:port. */
  server: string;
  /** Lower case, no trailing dot. */
  zone: string;
  /** Longest wait for each message. */
  timeoutMs: number;
  key: TsigKey | null;
}

/** `transferZone` on a transport of its own, closed afterwards (`dnsplane import`). */
export async function readZone(source: ZoneSource): Promise<DecodedRecord[]> {
  const context = { server: source.server, zone: source.zone };
  const { host, port } = splitHostPort(source.server);
  const transport = new TcpTransport({
    ...context, host, port, timeoutMs: source.timeoutMs, connectionsMax: 1, inflightPerConnectionMax: 1,
  });
  try {
    return await transferZone(transport, source.zone, source.key, context);
  } finally {
    await transport.close();
  }
}
