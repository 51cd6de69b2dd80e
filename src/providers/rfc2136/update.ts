import type { Generation } from '../../domain/types.js';
import { assert } from '../../util/assert.js';
import type { ApplyChange } from '../types.js';
import { rfc2136Error, type ErrorContext } from './errors.js';
import { encodeMarker, encodeTombstone, markerName, newVersion, servedSubset, tombstoneName } from '../marker.js';
import { readTsig, tsigErrorName, verifyMessage, type TsigKey } from './tsig.js';
import {
  addressRdata, dnsClass, dnsType, emptyRdata, opcodeUpdate, rcode, rcodeName, readHeader, recordBytesMax, txtRdata,
  type WireRecord,
} from './wire.js';

/**
 * Building the compare-and-swap of one name as UPDATE records, packing names
 * into messages, and reading what the server answered. Pure: no I/O.
 */

/** A marker as last seen: its version, its generation and its exact RDATA (what the prerequisite must repeat). */
export interface MarkerSeen {
  version: string;
  generation: Generation;
  /** The TXT RRset at `_dnsplane.<name>`: the marker, or a tombstone written there by earlier versions; empty: none. */
  rdatas: Buffer[];
  /** The TXT RRset at the name's tombstone owner (marker.ts: tombstoneName), when one was read there. */
  tombstone?: Buffer[];
  /** A removal's tombstone (at either place): the name is not served, and was removed at `generation`. */
  removed?: boolean;
  /** The marker or tombstone carries another installation's owner id (marker.ts, foreignOwner). */
  foreign?: boolean;
  /**
   * The name holds these addresses (canonical) and no marker of this installation: unmanaged, read at `version` (a
   * digest of them). `rdatas` and `tombstone` are then the tombstones found at either place, if any.
   */
  unmanaged?: { addresses: string[] };
  /** With `unmanaged`: the generation of this installation's own removal tombstone found there, if any. */
  removedAt?: Generation;
}

/** One name's part of an UPDATE: the prerequisite on its marker and the records that replace its set and marker. */
export interface PreparedWrite {
  change: ApplyChange;
  prerequisites: WireRecord[];
  updates: WireRecord[];
  /** The marker once written (a tombstone for a removal). */
  written: MarkerSeen;
  /** The version to report when applied. */
  version: string;
  bytesMax: number;
}

export interface WriteSettings {
  /** The zone: where tombstones go (marker.ts: tombstoneName). */
  zone: string;
  ttl: number;
  maxAnswers: number;
  /** The owner id every marker and tombstone written carries. */
  owner: string;
}

function deleteRrset(owner: string, type: number): WireRecord {
  return { owner, type, klass: dnsClass.ANY, ttl: 0, rdata: emptyRdata };
}

/** RRset does not exist (RFC 2136 §2.4.3). */
function absent(owner: string, type: number): WireRecord {
  return { owner, type, klass: dnsClass.NONE, ttl: 0, rdata: emptyRdata };
}

/** The RRset of `type` at `owner` is exactly these addresses (§2.4.2, value-dependent), or absent when none. */
function exactly(owner: string, type: number, addresses: readonly string[]): WireRecord[] {
  if (addresses.length === 0) return [absent(owner, type)];
  return addresses.map((address) => ({ owner, type, klass: dnsClass.IN, ttl: 0, rdata: addressRdata(address) }));
}

/** The TXT RRset at `owner` is exactly these RDATAs (value-dependent), or absent when there are none. */
function exactTexts(owner: string, rdatas: readonly Buffer[]): WireRecord[] {
  if (rdatas.length === 0) return [absent(owner, dnsType.TXT)];
  return rdatas.map((rdata) => ({ owner, type: dnsType.TXT, klass: dnsClass.IN, ttl: 0, rdata }));
}

/** Whether a write starts where no marker of this installation's stands: a first write, over a tombstone, adoption. */
function isUnmarked(expected: MarkerSeen | null): boolean {
  return expected === null || expected.removed === true || expected.unmanaged !== undefined;
}

/**
 * The prerequisites (RFC 2136 §2.4) of one name's write. Its marker RRset exactly as read (value-dependent) — a
 * tombstone of earlier versions included — or no marker RRset at all. A write where no marker of this installation's
 * stood (a first write, over a tombstone, or an adoption) requires as well the tombstone RRset read (or none: a
 * removal meanwhile makes a stale first write fail, S2) and the addresses read, exactly: none for a first write, so
 * that records made by hand or by another tool meanwhile make it fail instead of vanishing; the ones read for an
 * adoption, so that a hand edit during it does.
 */
function prerequisitesFor(name: string, expected: MarkerSeen | null, aliased: boolean, zone: string): WireRecord[] {
  const owner = markerName(name);
  const prerequisites = exactTexts(owner, expected?.rdatas ?? []);
  const unmarked = isUnmarked(expected);
  assert(unmarked || expected!.rdatas.length > 0, 'internal', () => `${owner}: an expected marker without records`);
  assert(expected?.foreign !== true || expected.removed === true, 'internal',
    () => `${name}: a write over another installation's marker`);
  if (unmarked) prerequisites.push(...exactTexts(tombstoneName(name, zone), expected?.tombstone ?? []));
  if (unmarked && !aliased) {
    const addresses = expected?.unmanaged?.addresses ?? [];
    prerequisites.push(
      ...exactly(name, dnsType.A, addresses.filter((address) => !address.includes(':'))),
      ...exactly(name, dnsType.AAAA, addresses.filter((address) => address.includes(':'))),
    );
  }
  return prerequisites;
}

/**
 * The whole write of one name: delete its A, AAAA and marker RRsets (and, where no marker stood, the tombstone
 * RRset), then add the new ones — for a removal, only the tombstone, at its own owner so that the removed name
 * answers NXDOMAIN. `aliased`: a CNAME was read at the name. Servers ignore an address added beside a CNAME (RFC 2136
 * §3.4.2.2; PowerDNS refuses the whole UPDATE instead), so none is added, and the CNAME must still exist: if it went
 * away meanwhile the prerequisite fails, and the next read finds the name free for its addresses.
 */
export function prepareWrite(
  change: ApplyChange, expected: MarkerSeen | null, settings: WriteSettings, aliased: boolean,
): PreparedWrite {
  assert(
    change.records !== null || expected !== null,
    'internal',
    `${change.name}: removing a name that is not served`,
  );
  const owner = markerName(change.name);
  const tombstoneOwner = tombstoneName(change.name, settings.zone);
  const prerequisites = prerequisitesFor(change.name, expected, aliased, settings.zone);
  // RRset exists, value-independent (RFC 2136 §2.4.1).
  const cname = { owner: change.name, type: dnsType.CNAME, klass: dnsClass.ANY, ttl: 0, rdata: emptyRdata };
  if (aliased) prerequisites.push(cname);
  // Where no marker of this installation stands and no CNAME was read, none may have been made meanwhile either (RRset
  // does not exist, §2.4.3): a server keeps a CNAME over the addresses added beside it, and the marker would then
  // claim a name taken by hand.
  else if (isUnmarked(expected)) prerequisites.push(absent(change.name, dnsType.CNAME));
  const updates = [
    deleteRrset(change.name, dnsType.A),
    deleteRrset(change.name, dnsType.AAAA),
    deleteRrset(owner, dnsType.TXT),
  ];
  // A tombstone can stand only where no marker does: its RRset goes with any write that starts there, and before a
  // removal writes its own.
  if (isUnmarked(expected) || change.records === null) updates.push(deleteRrset(tombstoneOwner, dnsType.TXT));
  const version = newVersion();
  let written: MarkerSeen;
  if (change.records === null) {
    const rdata = txtRdata(encodeTombstone({ generation: change.generation, version, owner: settings.owner }));
    updates.push({ owner: tombstoneOwner, type: dnsType.TXT, klass: dnsClass.IN, ttl: settings.ttl, rdata });
    written = { version, generation: change.generation, rdatas: [], tombstone: [rdata], removed: true };
  } else {
    const served = servedSubset(change.records, settings.maxAnswers);
    assert(served.length > 0, 'S1', `${change.name}: a write with no address`);
    for (const record of aliased ? [] : served) {
      updates.push({
        owner: change.name,
        type: record.address.includes(':') ? dnsType.AAAA : dnsType.A,
        klass: dnsClass.IN,
        ttl: settings.ttl,
        rdata: addressRdata(record.address),
      });
    }
    const rdata = txtRdata(encodeMarker({
      generation: change.generation, version, owner: settings.owner, records: change.records,
    }));
    updates.push({ owner, type: dnsType.TXT, klass: dnsClass.IN, ttl: settings.ttl, rdata });
    written = { version, generation: change.generation, rdatas: [rdata] };
  }
  const bytesMax = [...prerequisites, ...updates].reduce((sum, record) => sum + recordBytesMax(record), 0);
  return { change, prerequisites, updates, written, version, bytesMax };
}

/** Groups writes into messages of at most `namesMax` names and `bytesMax` bytes of records, in order. */
export function packWrites(writes: readonly PreparedWrite[], namesMax: number, bytesMax: number): PreparedWrite[][] {
  assert(namesMax >= 1 && bytesMax > 0, 'internal', 'packing limits must be positive');
  const groups: PreparedWrite[][] = [];
  let group: PreparedWrite[] = [];
  let bytes = 0;
  for (const write of writes) {
    assert(
      write.bytesMax <= bytesMax,
      'internal',
      `${write.change.name}: one name's write of ${write.bytesMax} bytes exceeds a message (${bytesMax})`,
    );
    if (group.length > 0 && (group.length >= namesMax || bytes + write.bytesMax > bytesMax)) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(write);
    bytes += write.bytesMax;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

export type UpdateResult = 'applied' | 'prerequisite-failed';

const prerequisiteFailures = new Set<number>([rcode.NXRRSET, rcode.YXRRSET, rcode.NXDOMAIN, rcode.YXDOMAIN]);

export function tsigRejection(key: TsigKey, error: number): string {
  const name = tsigErrorName(error);
  const why = name === 'BADKEY'
    ? 'the server does not know this key name with this algorithm '
      + '(Knot DNS also answers BADKEY when its ACL does not let this key update the zone)'
    : name === 'BADSIG' ? 'the secret does not match the server\'s'
      : name === 'BADTIME' ? 'the clocks of this host and the server differ by more than the fudge'
        : 'the server refused the signature';
  return `the server rejected TSIG key "${key.name}" (${key.algorithm}) with ${name}: ${why}; nothing was written`;
}

/**
 * A signed request answered with `code` and no TSIG record when that can only mean the key was not accepted.
 * RFC 8945 §5.2 wants BADKEY or BADSIG in a TSIG record, as Knot and BIND send; PowerDNS instead answers a
 * request whose key it does not accept (unknown name, other algorithm, other secret) unsigned: NOTAUTH to a
 * query, REFUSED to an UPDATE. Neither comes from another cause on the servers tested: their refusals by policy
 * are signed, and Knot's unsigned answers for a zone it does not serve are the other way round (REFUSED to a
 * query, NOTAUTH to an UPDATE). Null for any other answer.
 */
export function unsignedKeyRejection(key: TsigKey, request: 'query' | 'UPDATE', code: number): string | null {
  if (code !== (request === 'query' ? rcode.NOTAUTH : rcode.REFUSED)) return null;
  return `the server answered ${rcodeName(code)} without a TSIG record to a signed ${request}: it did not accept `
    + `TSIG key "${key.name}" (${key.algorithm}), whose name, algorithm or secret is not the server's `
    + '(PowerDNS answers so where Knot DNS and BIND answer BADKEY or BADSIG); nothing was written';
}

/**
 * What an UPDATE's answer means. Success must carry a TSIG that verifies
 * against the request's MAC; a failed prerequisite is the CAS saying "moved";
 * every other answer is a typed error (and wrote nothing).
 */
export function classifyUpdateAnswer(
  answer: Buffer,
  key: TsigKey,
  requestMac: Buffer,
  nowSeconds: number,
  context: ErrorContext,
): UpdateResult {
  const header = readHeader(answer);
  if (!header.response || header.opcode !== opcodeUpdate) {
    throw rfc2136Error(
      context,
      'bad-response',
      `answer to an UPDATE is not an UPDATE response (opcode ${header.opcode})`,
    );
  }
  let record;
  try {
    record = readTsig(answer);
  } catch (error) {
    throw rfc2136Error(context, 'bad-response', `malformed TSIG record in the answer: ${(error as Error).message}`);
  }
  if (record !== null && record.error !== 0) {
    throw rfc2136Error(context, 'tsig-rejected', tsigRejection(key, record.error));
  }
  const unaccepted = record === null ? unsignedKeyRejection(key, 'UPDATE', header.rcode) : null;
  if (unaccepted !== null) throw rfc2136Error(context, 'tsig-rejected', unaccepted);
  if (record !== null) {
    const check = verifyMessage(answer, key, requestMac, nowSeconds);
    if (!check.ok) {
      throw rfc2136Error(
        context,
        'bad-response',
        `the answer's TSIG does not verify (${check.problem}); its outcome is unknown until the next read`,
      );
    }
  } else if (header.rcode === rcode.NOERROR || prerequisiteFailures.has(header.rcode)) {
    throw rfc2136Error(
      context,
      'bad-response',
      `unsigned ${rcodeName(header.rcode)} answer to a signed UPDATE; its outcome is unknown until the next read`,
    );
  }
  if (header.rcode === rcode.NOERROR) return 'applied';
  if (prerequisiteFailures.has(header.rcode)) return 'prerequisite-failed';
  throw updateError(header.rcode, key, context);
}

function updateError(code: number, key: TsigKey, context: ErrorContext) {
  switch (code) {
    case rcode.NOTAUTH:
      return rfc2136Error(
        context,
        'not-authoritative',
        'the server is not authoritative for the zone (NOTAUTH to an UPDATE): check provider.zone and the server; '
          + 'nothing was written',
      );
    case rcode.NOTZONE:
      return rfc2136Error(
        context,
        'not-in-zone',
        'a name of the UPDATE is outside the zone (NOTZONE); nothing was written',
      );
    case rcode.REFUSED:
      return rfc2136Error(context, 'refused', `the server refuses updates to the zone from key "${key.name}" `
        + '(REFUSED): '
        + 'allow them in its configuration (BIND: allow-update or update-policy; Knot: an acl with action update; '
        + 'PowerDNS: dnsupdate=yes, the zone\'s TSIG-ALLOW-DNSUPDATE metadata naming the key, and this host in '
        + 'allow-dnsupdate-from or the zone\'s ALLOW-DNSUPDATE-FROM — PowerDNS also answers REFUSED for a zone it '
        + 'does not serve when the host is allowed only per zone); nothing was written');
    default:
      return rfc2136Error(
        context,
        'server-failure',
        `the server answered ${rcodeName(code)} to an UPDATE; nothing was written`,
      );
  }
}
