import { splitHostPort } from '../../domain/probe-spec.js';
import { assert } from '../../util/assert.js';
import { rfc2136Error, type ErrorContext } from './errors.js';
import { TcpTransport } from './transport.js';
import { TransferVerifier, readTsig, signMessage, type TsigKey } from './tsig.js';
import { tsigRejection } from './update.js';
import { decodeResponse, encodeQuery, rcode, rcodeName, type DecodedRecord } from './wire.js';

/**
 * The one zone transfer (AXFR, RFC 5936) of dnsplane: the RFC 2136 provider's listing (`list`, which the reconciler
 * pages through) and `dnsplane import` both read a zone through `transferZone`. Signed with TSIG when a key is
 * given, and then every message must verify (RFC 8945 §5.3.1); a refusal is an `Rfc2136Error` naming the server,
 * the zone and the rcode.
 */

/** The first and the closing SOA of a zone transfer. */
const transferSoasMax = 2;

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
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
  let verifier: TransferVerifier | null = null;
  let soas = 0;
  await transport.transfer((id) => {
    const query = encodeQuery(id, zone, 'AXFR');
    if (key === null) return query;
    const { signed, mac } = signMessage(query, key, nowSeconds());
    verifier = new TransferVerifier(key, mac);
    return signed;
  }, (message) => {
    checkTransferMessage(message, key, verifier, context);
    for (const record of decodeResponse(message).answers) {
      if (record.type === 'SOA') soas += 1;
      if (soas === 0) throw rfc2136Error(context, 'bad-response', 'zone transfer does not start with the SOA');
      records.push(record);
    }
    return soas >= transferSoasMax;
  });
  assert(soas >= transferSoasMax, 'internal', `a zone transfer ended after ${soas} SOA records`);
  // RFC 8945 §5.3.1: unsigned messages may come between signed ones, never last — records after the last MAC could
  // have been added by anyone on the path.
  const signedTransfer = verifier as TransferVerifier | null;
  if (signedTransfer !== null && !signedTransfer.complete) {
    throw rfc2136Error(context, 'bad-response', 'zone transfer did not end on a signed message (RFC 8945 §5.3.1)');
  }
  return records;
}

/** One message of a transfer: no TSIG error, NOERROR, and (signed) verifying over the previous one. */
function checkTransferMessage(
  message: Buffer, key: TsigKey | null, verifier: TransferVerifier | null, context: ErrorContext,
): void {
  let record;
  let header;
  try {
    record = readTsig(message);
    header = decodeResponse(message).header;
  } catch (error) {
    throw rfc2136Error(context, 'bad-response', `malformed zone transfer message: ${(error as Error).message}`);
  }
  if (key !== null && record !== null && record.error !== 0) {
    throw rfc2136Error(context, 'tsig-rejected', `zone transfer: ${tsigRejection(key, record.error)}`);
  }
  if (header.rcode !== rcode.NOERROR) {
    throw rfc2136Error(context, 'refused', `zone transfer (AXFR) answered ${rcodeName(header.rcode)}: ${
      refusalCause(key, record !== null)}`);
  }
  if (key === null) return;
  assert(verifier !== null, 'internal', 'a signed transfer without its verifier');
  const problem = verifier.accept(message, nowSeconds());
  if (problem !== null) {
    throw rfc2136Error(context, 'bad-response', `zone transfer message does not verify: ${problem}`);
  }
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
