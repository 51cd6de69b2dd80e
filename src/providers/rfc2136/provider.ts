import type { Generation } from '../../domain/types.js';
import { checkDnsName, isInZone, normalizeName } from '../../domain/names.js';
import { splitHostPort } from '../../domain/probe-spec.js';
import { assert } from '../../util/assert.js';
import { GuardedProvider, type GuardedChange, type SwapOutcome } from '../guard.js';
import type { ServedState } from '../types.js';
import { Rfc2136Error, rfc2136Error, type ErrorContext } from './errors.js';
import {
  canonicalAddress, claimedOwner, decodeMarker, decodeTombstone, foreignOwner, foreignState, interpret, markerName,
  tombstoneName, unmanagedState, unparsedVersion,
} from '../marker.js';
import type { OwnerIdentity } from '../../store/types.js';
import { TcpTransport } from './transport.js';
import { transferChanges, transferZone } from './transfer.js';
import { ZoneImage, type MarkerText } from './zone-image.js';
import { readTsig, signMessage, tsigRecordBytes, verifyMessage, type TsigAlgorithm, type TsigKey } from './tsig.js';
import {
  classifyUpdateAnswer, packWrites, prepareWrite, tsigRejection, unsignedKeyRejection,
  type MarkerSeen, type PreparedWrite, type UpdateResult,
} from './update.js';
import {
  decodeResponse, encodeQuery, encodeUpdate, rcode, rcodeName, readHeader, tcpMessageBytesMax, txtRdata,
  updateOverheadBytes, type DecodedRecord,
} from './wire.js';

/**
 * The RFC 2136 provider: drives an authoritative server (Knot DNS, BIND 9,
 * PowerDNS) with dynamic updates, and keeps the compare-and-swap of DESIGN.md §3 inside
 * the server. Per name, one UPDATE signed with TSIG requires the exact
 * current `_dnsplane.<name>` TXT marker (or its absence for a new name) and
 * replaces the A/AAAA records and the marker together; if the marker moved,
 * the server applies nothing and the name is a `conflict`. Several names go
 * into one message when they fit; an UPDATE is all-or-nothing, so a message
 * whose prerequisites fail is sent again name by name to find the conflicts.
 * The marker format and how weights map to plain DNS: see marker.ts.
 *
 * Reads are TSIG-signed queries over TCP whose answers must verify; `list`
 * is a signed zone transfer (AXFR), so the server must allow transfers to
 * the key as well as updates.
 *
 * One code path for all three servers; where PowerDNS differs (tested with
 * 4.7, README.md "Differences between the servers"):
 * - a key it does not accept gets an unsigned NOTAUTH (query) or REFUSED
 *   (UPDATE) rather than BADKEY/BADSIG: read as `tsig-rejected`
 *   (unsignedKeyRejection in update.ts);
 * - it refuses a whole UPDATE that adds an address beside a CNAME, where
 *   Knot and BIND ignore the address (RFC 2136 §3.4.2.2): no address is ever
 *   added at a name read with a CNAME (`aliased`);
 * - it compares a value prerequisite with the text its database holds, so a
 *   marker put there by SQL in another text form never matches (documented:
 *   delete the marker);
 * - it checks prerequisites under a lock of its own process only: every
 *   UPDATE must go to one instance (documented), as to a single primary.
 */

export interface Rfc2136Settings {
  /** host:port of the server. */
  server: string;
  /** Zone the server serves and every name lies in (no trailing dot). */
  zone: string;
  timeoutMs: number;
  tsig: { name: string; algorithm: TsigAlgorithm; secret: string };
  ttl: number;
  maxAnswers: number;
  /**
   * Who this installation is (marker.ts: owners). Null for a reader that judges no ownership (a read command on a
   * store that holds no owner id yet, a test's observer): a write through it is an internal error.
   */
  owner: OwnerIdentity | null;
  /** Largest UPDATE message, TSIG included. */
  messageBytesMax?: number;
  /** Most names in one UPDATE message. */
  updateNamesMax?: number;
  connectionsMax?: number;
}

const defaults = { messageBytesMax: tcpMessageBytesMax, updateNamesMax: 200, connectionsMax: 4 };
/** Pipelined requests per connection. */
const inflightPerConnectionMax = 64;
/** UPDATE messages in flight at once: servers process them one by one per zone anyway. */
const updatesInflightMax = 8;
/** Sequential re-reads of a name whose records did not match its marker, before giving up. */
const readAttemptsMax = 4;
/** Markers remembered between a read and an apply (a miss costs one query, never correctness). */
const markerCacheNamesMax = 200_000;
/** A zone transfer is reused for the following pages of one listing for at most this long. */
const listingReuseMs = 30_000;
/**
 * A read of at least this many names is answered from the zone image — one zone transfer, incremental when an image
 * is kept — rather than by three signed queries per name. Measured (`npm run bench -- rfc2136`, a 10,000-name zone
 * on Knot DNS and BIND, a loaded machine): queries per name took 50-70 ms for 16-64 names and 0.5-0.7 ms a name
 * beyond; an IXFR 4-21 ms whatever the names asked; the first AXFR 250-410 ms. So the image pays from a few dozen
 * names once it is kept, and the one AXFR that starts it is paid once per process (and per `imageAxfrIntervalMs`).
 */
export const bulkReadNamesMin = 64;
/**
 * The image is taken again by a whole zone transfer (AXFR) when it is older than this, however current the serial
 * says it is: a server that changes its zone without raising the serial is read right within this bound.
 */
const imageAxfrIntervalMs = 300_000;

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}


/** Runs `work` over `items` with at most `limit` at a time; results in order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index]!);
    }
  });
  await Promise.all(runners);
  return results;
}

/** A marker RRset as read: each record's RDATA (for the prerequisite) and strings (to parse). */
interface MarkerRrset {
  rdatas: Buffer[];
  strings: Buffer[][];
}

/**
 * A marker RRset from its TXT records in canonical order (by RDATA, RFC 4034 §6.3): a version derived from a foreign
 * marker's records is the same whichever order a query or a transfer gives them in.
 */
function markerRrset(texts: readonly MarkerText[]): MarkerRrset | null {
  if (texts.length === 0) return null;
  const sorted = [...texts].sort((a, b) => Buffer.compare(a.rdata, b.rdata));
  return { strings: sorted.map((text) => text.strings), rdatas: sorted.map((text) => text.rdata) };
}

/** Whether a TXT RRset at `_dnsplane.<name>` is a removal's tombstone (as earlier versions wrote them there). */
function isTombstoneRrset(rrset: MarkerRrset): boolean {
  return rrset.strings.length === 1 && decodeTombstone(rrset.strings[0]!) !== null;
}

function sameRrset(a: MarkerRrset | null, b: MarkerRrset | null): boolean {
  if (a === null || b === null) return a === b;
  return a.rdatas.length === b.rdatas.length && a.rdatas.every((rdata, index) => rdata.equals(b.rdatas[index]!));
}

export class Rfc2136Provider extends GuardedProvider {
  readonly kind = 'rfc2136';
  private readonly context: ErrorContext;
  /** The zone, lower case without the trailing dot, as names are compared with it. */
  private readonly zone: string;
  private readonly key: TsigKey;
  private readonly transport: TcpTransport;
  private readonly messageBytesMax: number;
  private readonly updateNamesMax: number;
  private readonly markers = new Map<string, MarkerSeen>();
  /**
   * Names whose last read found a CNAME where their addresses go. RFC 2136 §3.4.2.2 has a server ignore an address
   * added beside a CNAME (Knot DNS and BIND do); PowerDNS instead refuses the whole UPDATE, every other name of the
   * message with it. So a write to such a name adds no address, and requires the CNAME to still be there.
   */
  private readonly aliased = new Set<string>();
  private listing: { takenAtMs: number; states: ServedState[] } | null = null;
  /** The zone as the last zone transfer left it (see zone-image.ts), for bulk reads and listings. */
  private image: ZoneImage | null = null;
  /** The server refused an IXFR: every refresh of the image is a whole transfer from then on. */
  private ixfrRefused = false;
  private refreshRunning: Promise<ZoneImage> | null = null;
  private refreshNext: Promise<ZoneImage> | null = null;

  constructor(private readonly settings: Rfc2136Settings) {
    super();
    this.zone = normalizeName(settings.zone);
    assert(checkDnsName(this.zone) === null, 'internal', `zone "${settings.zone}" is not a DNS name`);
    this.context = { server: settings.server, zone: this.zone };
    const secret = Buffer.from(settings.tsig.secret, 'base64');
    assert(secret.length > 0, 'internal', 'empty TSIG secret');
    this.key = {
      name: settings.tsig.name.toLowerCase().replace(/\.$/, ''),
      algorithm: settings.tsig.algorithm,
      secret,
    };
    this.messageBytesMax = settings.messageBytesMax ?? defaults.messageBytesMax;
    this.updateNamesMax = settings.updateNamesMax ?? defaults.updateNamesMax;
    assert(
      this.messageBytesMax >= 4096 && this.messageBytesMax <= tcpMessageBytesMax,
      'internal',
      `messageBytesMax ${this.messageBytesMax}`,
    );
    assert(this.updateNamesMax >= 1, 'internal', `updateNamesMax ${this.updateNamesMax}`);
    const { host, port } = splitHostPort(settings.server);
    this.transport = new TcpTransport({
      ...this.context, host, port, timeoutMs: settings.timeoutMs,
      connectionsMax: settings.connectionsMax ?? defaults.connectionsMax, inflightPerConnectionMax,
    });
  }

  private checkName(name: string): void {
    assert(name === name.toLowerCase() && !name.endsWith('.'), 'internal', `name "${name}" is not normalised`);
    if (!isInZone(name, this.zone)) {
      throw rfc2136Error(
        this.context,
        'not-in-zone',
        `name ${name} is not in the zone; set provider.zone to the zone the server serves`,
      );
    }
  }

  private remember(name: string, seen: MarkerSeen | null): void {
    this.markers.delete(name);
    if (seen === null) return;
    if (this.markers.size >= markerCacheNamesMax) this.markers.delete(this.markers.keys().next().value!);
    this.markers.set(name, seen);
  }

  // ---- reads -------------------------------------------------------------

  /**
   * Records of one type at `name` from an authoritative answer; REFUSED or a
   * non-authoritative answer is an error. The query is signed with the TSIG
   * key and the answer must carry a signature that verifies: what a read
   * decides (skip a name, repair it) cannot come from a forged answer.
   */
  private async query(name: string, type: 'A' | 'AAAA' | 'TXT'): Promise<DecodedRecord[]> {
    let requestMac: Buffer | null = null;
    const answer = await this.transport.exchange((id) => {
      const { signed, mac } = signMessage(encodeQuery(id, name, type), this.key, nowSeconds());
      requestMac = mac;
      return signed;
    });
    this.checkSignedAnswer(answer, requestMac!, `${name} ${type}`);
    let decoded;
    try {
      decoded = decodeResponse(answer);
    } catch (error) {
      throw rfc2136Error(
        this.context,
        'bad-response',
        `malformed answer to ${name} ${type}: ${(error as Error).message}`,
      );
    }
    const { header } = decoded;
    const question = decoded.questions[0];
    if (!header.response || question === undefined || question.name !== name || question.type !== type) {
      throw rfc2136Error(this.context, 'bad-response', `the answer to ${name} ${type} is for another question`);
    }
    if (header.rcode === rcode.REFUSED || header.rcode === rcode.NOTAUTH) {
      throw rfc2136Error(
        this.context,
        'not-authoritative',
        `the server answered ${rcodeName(header.rcode)} to a query for ${name}: it does not serve the zone`,
      );
    }
    if (header.rcode !== rcode.NOERROR && header.rcode !== rcode.NXDOMAIN) {
      throw rfc2136Error(
        this.context,
        'server-failure',
        `the server answered ${rcodeName(header.rcode)} to a query for ${name} ${type}`,
      );
    }
    if (!header.authoritative) {
      throw rfc2136Error(
        this.context,
        'not-authoritative',
        `the answer for ${name} is not authoritative: the server does not serve the zone`,
      );
    }
    // The records `name` owns: of the type asked, or a CNAME in their place.
    const owned = decoded.answers.filter((record) => record.name.toLowerCase() === name);
    return owned.filter((record) => record.type === type || record.type === 'CNAME');
  }

  /** A signed query's answer: signed, with no TSIG error, verifying against the request's MAC. */
  private checkSignedAnswer(answer: Buffer, requestMac: Buffer, what: string): void {
    let record;
    try {
      record = readTsig(answer);
    } catch (error) {
      throw rfc2136Error(
        this.context,
        'bad-response',
        `malformed TSIG record in the answer to ${what}: ${(error as Error).message}`,
      );
    }
    if (record !== null && record.error !== 0) {
      throw rfc2136Error(this.context, 'tsig-rejected', `reading ${what}: ${tsigRejection(this.key, record.error)}`);
    }
    if (record === null) {
      const { rcode: code } = readHeader(answer);
      const unaccepted = unsignedKeyRejection(this.key, 'query', code);
      if (unaccepted !== null) throw rfc2136Error(this.context, 'tsig-rejected', `reading ${what}: ${unaccepted}`);
      // Knot answers a query for a zone it does not serve with an unsigned REFUSED; the caller reports it. No data.
      if (code === rcode.REFUSED) return;
      throw rfc2136Error(
        this.context,
        'bad-response',
        `unsigned answer to a signed query for ${what}: not from the server that holds the key, or altered on the way`,
      );
    }
    const check = verifyMessage(answer, this.key, requestMac, nowSeconds());
    if (!check.ok) {
      throw rfc2136Error(this.context, 'bad-response', `the answer to ${what} does not verify (${check.problem})`);
    }
  }

  private async queryMarker(name: string): Promise<MarkerRrset | null> {
    return this.queryTexts(markerName(name));
  }

  /** The TXT RRset at the name's tombstone owner (marker.ts: tombstoneName). */
  private async queryTombstone(name: string): Promise<MarkerRrset | null> {
    return this.queryTexts(tombstoneName(name, this.zone));
  }

  private async queryTexts(owner: string): Promise<MarkerRrset | null> {
    const records = (await this.query(owner, 'TXT')).filter((record) => record.type === 'TXT');
    return markerRrset(records.map((record) => {
      const strings = record.data as Buffer[];
      return { strings, rdata: txtRdata(strings) };
    }));
  }

  /** The addresses `name` serves; notes whether a CNAME stands there instead (see `aliased`). */
  private async queryAddresses(name: string): Promise<string[]> {
    const records = (await Promise.all([this.query(name, 'A'), this.query(name, 'AAAA')])).flat();
    this.noteAlias(name, records.some((record) => record.type === 'CNAME'));
    return records.filter((record) => record.type !== 'CNAME').map((record) => canonicalAddress(record.data as string));
  }

  private noteAlias(name: string, aliased: boolean): void {
    if (!aliased) return void this.aliased.delete(name);
    if (this.aliased.size >= markerCacheNamesMax) this.aliased.delete(this.aliased.values().next().value!);
    this.aliased.add(name);
  }

  /**
   * The state a marker RRset and the served addresses describe, and what the prerequisite must repeat. Another
   * installation's marker is its name, whatever the addresses: held, and consistent (nothing here compares them).
   */
  private view(name: string, marker: MarkerRrset, served: readonly string[]) {
    const parsed = marker.strings.length === 1 ? decodeMarker(marker.strings[0]!) : null;
    const version = parsed?.version ?? unparsedVersion(marker.rdatas);
    // A marker that does not parse is overwritten as this installation's (L3), unless it names another owner.
    const owner = parsed === null ? claimedOwner(marker.strings.flat()) : parsed.owner;
    const foreign = foreignOwner(owner, this.settings.owner);
    if (foreign !== null) {
      const seen: MarkerSeen = { version, generation: parsed?.generation ?? 0, rdatas: marker.rdatas, foreign: true };
      return { state: foreignState(name, version, foreign), consistent: true, seen };
    }
    const { state, consistent } = interpret(name, parsed, version, served, this.settings.maxAnswers);
    return { state, consistent, seen: { version, generation: state.generation, rdatas: marker.rdatas } };
  }

  /**
   * A name with no marker of its own: none, or a removal's tombstone — `legacy` at `_dnsplane.<name>` (earlier
   * versions), or `subtree` at its tombstone owner. Absent when it holds nothing a write would replace; unmanaged
   * when it holds addresses or a CNAME (made by hand or by another tool), at a version that is a digest of exactly
   * those, which an adoption's prerequisite repeats together with any tombstone read.
   */
  private unmarked(
    name: string, legacy: MarkerRrset | null, subtree: MarkerRrset | null, served: readonly string[],
  ): ServedState | undefined {
    assert(legacy === null || isTombstoneRrset(legacy), 'internal', () => `${name}: a marker read as unmarked`);
    const removal = legacy !== null
      ? this.tombstoneOf(name, legacy, 'marker')
      : subtree !== null ? this.tombstoneOf(name, subtree, 'subtree') : null;
    if (removal === null) this.forget(name);
    if (served.length === 0 && !this.aliased.has(name)) return undefined;
    const cname = this.aliased.has(name) ? ['CNAME'] : [];
    const { state, version } = unmanagedState(name, served, cname);
    this.remember(name, {
      version, generation: 0, rdatas: legacy?.rdatas ?? [], unmanaged: { addresses: [...served] },
      ...(subtree === null ? {} : { tombstone: subtree.rdatas }),
      ...(removal === null ? {} : { removed: true }),
      ...(removal === null || removal.foreign ? {} : { removedAt: removal.generation }),
    });
    return state;
  }

  /** What claims a name: its marker RRset, and, when there is none, the RRset at its tombstone owner. */
  private async queryClaim(name: string): Promise<{ marker: MarkerRrset | null; tombstone: MarkerRrset | null }> {
    const marker = await this.queryMarker(name);
    return { marker, tombstone: marker === null ? await this.queryTombstone(name) : null };
  }

  /**
   * One name: marker and addresses in parallel; when they agree, that is the
   * state (the marker was current while it was read, and the addresses are
   * its). When they do not — addresses that are not the marker's, or
   * addresses and no marker — a hand edit is told from a read that straddled
   * a write (a first write or a removal between the two queries) by reading
   * marker (and tombstone), addresses, marker (and tombstone) in order until
   * they hold still around the addresses: only then is a name unmanaged or
   * edited.
   */
  private async readName(name: string): Promise<ServedState | undefined> {
    const [marker, served] = await Promise.all([this.queryMarker(name), this.queryAddresses(name)]);
    const unmarked = marker === null || isTombstoneRrset(marker);
    if (unmarked && served.length === 0 && !this.aliased.has(name)) {
      return this.unmarked(name, marker, marker === null ? await this.queryTombstone(name) : null, served);
    }
    if (!unmarked) {
      const first = this.view(name, marker, served);
      if (first.consistent) return this.keep(name, first);
    }
    for (let attempt = 0; attempt < readAttemptsMax; attempt += 1) {
      const before = await this.queryClaim(name);
      const addresses = await this.queryAddresses(name);
      const after = await this.queryClaim(name);
      if (!sameRrset(before.marker, after.marker) || !sameRrset(before.tombstone, after.tombstone)) continue;
      if (after.marker === null || isTombstoneRrset(after.marker)) {
        return this.unmarked(name, after.marker, after.tombstone, addresses);
      }
      return this.keep(name, this.view(name, after.marker, addresses));
    }
    throw rfc2136Error(this.context, 'unstable-read', `${name} changed during each of ${readAttemptsMax} reads`);
  }

  /**
   * The generation of a removal's tombstone, or null when `marker` is not one.
   * A tombstone means the name is not served; its generation and exact RRset
   * are remembered for the next first write.
   */
  private tombstoneOf(
    name: string, rrset: MarkerRrset, place: 'marker' | 'subtree',
  ): { generation: Generation; foreign: boolean } | null {
    const tombstone = rrset.strings.length === 1 ? decodeTombstone(rrset.strings[0]!) : null;
    if (tombstone === null && place === 'marker') return null;
    // Another installation's removal leaves the name free here; its generation is of another plan history. So does
    // anything else found at a tombstone owner: it is no removal of this installation's, and a write requires it as
    // read (and deletes it).
    const foreign = tombstone === null || foreignOwner(tombstone.owner, this.settings.owner) !== null;
    this.remember(name, {
      version: tombstone?.version ?? unparsedVersion(rrset.rdatas),
      generation: tombstone?.generation ?? 0,
      rdatas: place === 'marker' ? rrset.rdatas : [],
      ...(place === 'subtree' ? { tombstone: rrset.rdatas } : {}),
      removed: true,
      ...(foreign ? { foreign } : {}),
    });
    return { generation: tombstone?.generation ?? 0, foreign };
  }

  private forget(name: string): undefined {
    this.remember(name, null);
    return undefined;
  }

  private keep(name: string, view: { state: ServedState; seen: MarkerSeen }): ServedState {
    this.remember(name, view.seen);
    return view.state;
  }

  /**
   * Served names among `names`: a few by signed queries per name; many (`bulkReadNamesMin`) from the zone image,
   * every name at the one serial the image holds once brought up to date.
   */
  async read(names: readonly string[]): Promise<Map<string, ServedState>> {
    for (const name of names) this.checkName(name);
    let states: (ServedState | undefined)[];
    if (names.length >= bulkReadNamesMin) {
      const image = await this.freshImage();
      states = names.map((name) => this.imageState(image, name));
    } else {
      states = await Promise.all(names.map((name) => this.readName(name)));
    }
    const found = new Map<string, ServedState>();
    states.forEach((state, index) => {
      if (state !== undefined) found.set(names[index]!, state);
    });
    return found;
  }

  async readRemovals(names: readonly string[]): Promise<Map<string, Generation>> {
    for (const name of names) this.checkName(name);
    // Per name: the TXT RRset at `_dnsplane.<name>`, and, when there is none, the one at its tombstone owner.
    let found: [MarkerRrset | null, MarkerRrset | null][];
    if (names.length >= bulkReadNamesMin) {
      const image = await this.freshImage();
      found = names.map((name) => {
        const marker = markerRrset(image.markerTexts(name));
        return [marker, marker === null ? markerRrset(image.tombstoneTexts(name)) : null];
      });
    } else {
      found = await Promise.all(names.map(async (name): Promise<[MarkerRrset | null, MarkerRrset | null]> => {
        const marker = await this.queryMarker(name);
        return [marker, marker === null ? await this.queryTombstone(name) : null];
      }));
    }
    const removals = new Map<string, Generation>();
    found.forEach(([marker, subtree], index) => {
      const name = names[index]!;
      const tombstone = marker !== null
        ? this.tombstoneOf(name, marker, 'marker')
        : subtree !== null ? this.tombstoneOf(name, subtree, 'subtree') : null;
      // Only this installation's removals: another's says nothing of the plans kept here.
      if (tombstone !== null && !tombstone.foreign) removals.set(name, tombstone.generation);
    });
    return removals;
  }

  /**
   * One name as the image holds it. Marker and addresses come from one serial, so a disagreement between them is
   * what the zone held (a hand edit), never a read that straddled a write.
   */
  private imageState(image: ZoneImage, name: string): ServedState | undefined {
    this.noteAlias(name, image.aliased(name));
    const marker = markerRrset(image.markerTexts(name));
    if (marker === null || isTombstoneRrset(marker)) {
      const subtree = marker === null ? markerRrset(image.tombstoneTexts(name)) : null;
      return this.unmarked(name, marker, subtree, image.addresses(name));
    }
    return this.keep(name, this.view(name, marker, image.addresses(name)));
  }

  // ---- the zone image (zone transfers) ---------------------------------------

  /**
   * The zone image brought up to date after this call began: a refresh already under way may have started before
   * a write its caller expects to read, so a caller arriving during one waits for the next (one at most is queued,
   * shared by everyone who arrives meanwhile).
   */
  private freshImage(): Promise<ZoneImage> {
    if (this.refreshRunning === null) return this.startRefresh();
    this.refreshNext ??= this.refreshRunning.then(() => undefined, () => undefined).then(() => {
      this.refreshNext = null;
      return this.startRefresh();
    });
    return this.refreshNext;
  }

  private startRefresh(): Promise<ZoneImage> {
    assert(this.refreshRunning === null, 'internal', 'two zone image refreshes at once');
    const running = this.refreshImage().finally(() => {
      if (this.refreshRunning === running) this.refreshRunning = null;
    });
    this.refreshRunning = running;
    return running;
  }

  /**
   * The kept image brought forward by an IXFR from its serial; a new one from an AXFR when none is kept, it is
   * older than `imageAxfrIntervalMs`, the server refuses IXFR or answers with the whole zone, or the changes do not
   * fit the image (ZoneImage.applySteps): the image is only ever what the server signed, at one serial.
   */
  private async refreshImage(): Promise<ZoneImage> {
    const kept = this.image;
    const usable = kept !== null && !this.ixfrRefused && Date.now() - kept.transferredAtMs <= imageAxfrIntervalMs;
    if (!usable) return this.keepImage(await this.transferImage());
    let changes;
    try {
      changes = await transferChanges(this.transport, this.zone, this.key, this.context, kept.soa);
    } catch (error) {
      if (!(error instanceof Rfc2136Error) || error.reason !== 'refused') throw error;
      // A server that does not serve IXFR (or not to this key) serves AXFR: the refusal of one is no refusal of both.
      this.ixfrRefused = true;
      return this.keepImage(await this.transferImage());
    }
    if (changes.kind === 'current' && changes.soa.serial === kept.serial) return kept;
    // The server is at a serial older than the image: its history changed (a restore); read the whole zone.
    if (changes.kind === 'current') return this.keepImage(await this.transferImage());
    if (changes.kind === 'full') return this.keepImage(this.imageOf(changes.records));
    this.image = null;
    const problem = kept.applySteps(changes.steps, changes.soa);
    if (problem !== null) {
      // Signed by the server, yet not a history of the zone this image holds: the server's history changed (a
      // restore, a reloaded zone file). The whole zone is the only truth left.
      return this.keepImage(await this.transferImage());
    }
    return this.keepImage(kept);
  }

  private async transferImage(): Promise<ZoneImage> {
    return this.imageOf(await transferZone(this.transport, this.zone, this.key, this.context));
  }

  private imageOf(records: readonly DecodedRecord[]): ZoneImage {
    return ZoneImage.fromTransfer(this.zone, records, Date.now());
  }

  private keepImage(image: ZoneImage): ZoneImage {
    this.image = image;
    return image;
  }

  // ---- listing (zone transfer) ---------------------------------------------

  async list(afterName: string | null, limit: number): Promise<ServedState[]> {
    assert(Number.isInteger(limit) && limit > 0, 'internal', `list limit ${limit}`);
    const stale = this.listing === null || Date.now() - this.listing.takenAtMs > listingReuseMs;
    if (afterName === null || stale) this.listing = { takenAtMs: Date.now(), states: await this.transferStates() };
    const states = this.listing!.states;
    let low = 0;
    let high = states.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (afterName !== null && states[middle]!.name <= afterName) low = middle + 1;
      else high = middle;
    }
    return states.slice(low, low + limit);
  }

  /** Every managed name of the zone from the zone image: a consistent snapshot at one serial. */
  private async transferStates(): Promise<ServedState[]> {
    const image = await this.freshImage();
    const states: ServedState[] = [];
    for (const name of image.markedNames()) {
      const state = this.imageState(image, name);
      // Managed names only: another installation's, or one with addresses over a tombstone, are not this one's.
      if (state !== undefined && state.held === undefined) states.push(state);
    }
    return states.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  // ---- writes --------------------------------------------------------------

  /**
   * The marker each change expects, from the last read, or read now; a
   * conflict (with the marker found) when it has moved already. A first
   * write expects the tombstone last read for the name, if any, or no marker
   * at all; a tombstone of this installation's at or above its generation
   * means a newer plan removed the name (another's is of another plan history,
   * and leaves the name free). An adoption expects the unmanaged name exactly
   * as read. The server compares only the records, so the generation is
   * compared here: the prerequisite pins the marker, and with it the
   * generation it holds.
   */
  private async expectedMarker(change: GuardedChange): Promise<MarkerSeen | null | SwapOutcome> {
    const name = change.name;
    if (change.expectedVersion === null) {
      const tombstone = this.markers.get(name);
      if (tombstone?.removed !== true || tombstone.unmanaged !== undefined) return null;
      if (tombstone.foreign === true || tombstone.generation < change.generation) return tombstone;
      return { name, outcome: 'superseded', generation: tombstone.generation };
    }
    let seen = this.markers.get(name);
    if (seen === undefined || seen.version !== change.expectedVersion) {
      await this.readName(name);
      seen = this.markers.get(name);
    }
    if (seen === undefined || (seen.removed === true && seen.unmanaged === undefined)) {
      return { name, outcome: 'conflict', found: null };
    }
    if (seen.foreign === true) {
      assert(seen.version !== change.expectedVersion, 'internal',
        () => `${name}: a write over the marker of another installation`);
      return { name, outcome: 'conflict', found: null };
    }
    if (seen.unmanaged !== undefined) {
      if (seen.version !== change.expectedVersion) return { name, outcome: 'conflict', found: null };
      // This installation removed the name at or above the write: an adoption there is a stale write's (S2), as a
      // first write over that tombstone would be.
      if (seen.removedAt !== undefined && seen.removedAt >= change.generation) {
        return { name, outcome: 'superseded', generation: seen.removedAt };
      }
      return seen;
    }
    if (seen.version !== change.expectedVersion || seen.generation > change.generation) {
      return { name, outcome: 'conflict', found: { generation: seen.generation, version: seen.version } };
    }
    return seen;
  }

  protected async compareAndSwap(changes: readonly GuardedChange[]): Promise<SwapOutcome[]> {
    const owner = this.settings.owner?.owner;
    assert(owner !== undefined, 'internal', 'a write through an RFC 2136 provider opened without an owner id');
    for (const change of changes) this.checkName(change.name);
    const expected = await Promise.all(changes.map((change) => this.expectedMarker(change)));
    const outcomes = new Map<string, SwapOutcome>();
    const replaced = new Map<string, Generation | null>();
    const writes: PreparedWrite[] = [];
    changes.forEach((change, index) => {
      const marker = expected[index]!;
      if (marker !== null && 'outcome' in marker) return void outcomes.set(change.name, marker);
      // A tombstone, or an unmanaged name, is not served: a write over it replaces nothing dnsplane wrote.
      const unmarked = marker === null || marker.removed === true || marker.unmanaged !== undefined;
      replaced.set(change.name, unmarked ? null : marker.generation);
      const settings = { zone: this.zone, ttl: this.settings.ttl, maxAnswers: this.settings.maxAnswers, owner };
      writes.push(prepareWrite(change, marker, settings, this.aliased.has(change.name)));
    });
    for (const [write, result] of await this.sendWrites(writes)) {
      const name = write.change.name;
      if (result === 'applied') {
        this.remember(name, write.written);
        outcomes.set(name, { name, outcome: 'applied', version: write.version, replaced: replaced.get(name) ?? null });
      } else {
        this.remember(name, null);
        outcomes.set(name, { name, outcome: 'conflict', found: null });
      }
    }
    return changes.map((change) => outcomes.get(change.name)!);
  }

  /** Sends the writes packed into messages; a message whose prerequisites fail is retried name by name. */
  private async sendWrites(writes: readonly PreparedWrite[]): Promise<[PreparedWrite, UpdateResult][]> {
    const recordBytesMax = this.messageBytesMax - updateOverheadBytes(this.zone) - tsigRecordBytes(this.key);
    const oversized = writes.find((write) => write.bytesMax > recordBytesMax);
    if (oversized !== undefined) {
      throw rfc2136Error(
        this.context,
        'too-large',
        `the write of ${oversized.change.name} takes up to ${oversized.bytesMax} bytes, more than one UPDATE of `
          + `messageBytesMax ${this.messageBytesMax} holds; nothing was written`,
      );
    }
    const groups = packWrites(writes, this.updateNamesMax, recordBytesMax);
    const results = await mapLimited(groups, updatesInflightMax, (group) => this.sendUpdate(group));
    const settled: [PreparedWrite, UpdateResult][] = [];
    const retry: PreparedWrite[] = [];
    groups.forEach((group, index) => {
      if (results[index] === 'applied' || group.length === 1) {
        for (const write of group) settled.push([write, results[index]!]);
      } else {
        retry.push(...group);
      }
    });
    const singles = await mapLimited(retry, updatesInflightMax, (write) => this.sendUpdate([write]));
    retry.forEach((write, index) => settled.push([write, singles[index]!]));
    return settled;
  }

  /** One signed UPDATE carrying `group`, answered as a whole. */
  private async sendUpdate(group: readonly PreparedWrite[]): Promise<UpdateResult> {
    let requestMac: Buffer | null = null;
    const answer = await this.transport.exchange((id) => {
      const unsigned = encodeUpdate({
        id, zone: this.zone,
        prerequisites: group.flatMap((write) => write.prerequisites), updates: group.flatMap((write) => write.updates),
      }, this.messageBytesMax);
      const { signed, mac } = signMessage(unsigned, this.key, nowSeconds());
      assert(
        signed.length <= this.messageBytesMax,
        'internal',
        `UPDATE of ${signed.length} bytes exceeds messageBytesMax ${this.messageBytesMax}`,
      );
      requestMac = mac;
      return signed;
    });
    return classifyUpdateAnswer(answer, this.key, requestMac!, nowSeconds(), this.context);
  }

  async close(): Promise<void> {
    this.listing = null;
    this.image = null;
    this.markers.clear();
    this.aliased.clear();
    await this.transport.close();
  }
}
