import { isInZone } from '../../domain/names.js';
import { assert } from '../../util/assert.js';
import { canonicalAddress, inTombstoneSubtree, markerName, nameOfMarker, tombstoneName } from '../marker.js';
import { transferRecordsMax, type ChangeStep } from './transfer.js';
import { serialNewer, txtRdata, type DecodedRecord, type SoaData } from './wire.js';

/**
 * What the RFC 2136 provider keeps of a zone between bulk reads: the records a read needs (markers, addresses,
 * CNAMEs), at one SOA serial, from one zone transfer (AXFR) and brought forward by the changes of incremental ones
 * (IXFR, RFC 1995). Every change must fit the image exactly — each step starts at the serial the image holds, ends at
 * a newer one, deletes only records it holds and adds only records it does not — or the image is not used again:
 * the provider transfers the whole zone instead. A read answered from the image is a snapshot of the zone at one
 * serial, as a zone transfer is.
 */

/** A TXT record at a marker owner: its strings (to parse) and RDATA (for the prerequisite). */
export interface MarkerText {
  strings: Buffer[];
  rdata: Buffer;
}

/** The records of one owner name that reads use. */
interface OwnerRecords {
  addresses: string[];
  cnames: string[];
  texts: MarkerText[];
}

/**
 * Records an image holds at most: as many as one transfer may hold, so a whole transfer always makes an image and
 * changes that would grow it further send the provider to a whole transfer, which fails as too large.
 */
const imageRecordsMax = transferRecordsMax;

function soaOf(record: DecodedRecord): SoaData {
  const data = record.data as SoaData | undefined;
  assert(record.type === 'SOA' && data !== undefined, 'internal', `${record.name} ${record.type} is not an SOA`);
  return data;
}

/** The kinds of record an image keeps, by the key that tells two records of one owner apart. */
type Kept = { kind: 'addresses' | 'cnames'; key: string } | { kind: 'texts'; text: MarkerText };

export class ZoneImage {
  private readonly owners = new Map<string, OwnerRecords>();
  private recordCount = 0;

  private constructor(
    private readonly zone: string,
    private soaData: SoaData,
    /** When the AXFR it started from was taken. */
    readonly transferredAtMs: number,
  ) {}

  /** The image of a whole zone transfer: its records in transfer order, opening and closing SOA included. */
  static fromTransfer(zone: string, records: readonly DecodedRecord[], nowMs: number): ZoneImage {
    const first = records[0];
    assert(first !== undefined && first.type === 'SOA', 'internal', 'a zone transfer starts with the SOA');
    const image = new ZoneImage(zone, soaOf(first), nowMs);
    for (let index = 1; index < records.length - 1; index += 1) {
      const record = records[index]!;
      if (record.type !== 'SOA') image.add(record);
    }
    assert(image.recordCount <= imageRecordsMax, 'internal', `an image of ${image.recordCount} records`);
    return image;
  }

  get soa(): SoaData {
    return this.soaData;
  }

  get serial(): number {
    return this.soaData.serial;
  }

  /** Which part of the image `record` belongs in, or null for a record reads do not use. */
  private kept(owner: string, record: DecodedRecord): Kept | null {
    if (record.type === 'A' || record.type === 'AAAA') {
      return { kind: 'addresses', key: canonicalAddress(record.data as string) };
    }
    if (record.type === 'CNAME') return { kind: 'cnames', key: (record.data as string).toLowerCase() };
    if (record.type !== 'TXT') return null;
    const name = nameOfMarker(owner);
    const kept = (name !== null && isInZone(name, this.zone)) || inTombstoneSubtree(owner, this.zone);
    if (!kept) return null;
    const strings = record.data as Buffer[];
    return { kind: 'texts', text: { strings, rdata: txtRdata(strings) } };
  }

  /** Adds a record; false when the image holds it already. */
  private add(record: DecodedRecord): boolean {
    const owner = record.name.toLowerCase();
    const kept = this.kept(owner, record);
    if (kept === null) return true;
    let records = this.owners.get(owner);
    if (records === undefined) {
      records = { addresses: [], cnames: [], texts: [] };
      this.owners.set(owner, records);
    }
    if (kept.kind === 'texts') {
      if (records.texts.some((text) => text.rdata.equals(kept.text.rdata))) return false;
      records.texts.push(kept.text);
    } else {
      if (records[kept.kind].includes(kept.key)) return false;
      records[kept.kind].push(kept.key);
    }
    this.recordCount += 1;
    return true;
  }

  /** Deletes a record; false when the image does not hold it. */
  private delete(record: DecodedRecord): boolean {
    const owner = record.name.toLowerCase();
    const kept = this.kept(owner, record);
    if (kept === null) return true;
    const records = this.owners.get(owner);
    if (records === undefined) return false;
    const list: unknown[] = records[kept.kind];
    const index = kept.kind === 'texts'
      ? records.texts.findIndex((text) => text.rdata.equals(kept.text.rdata))
      : records[kept.kind].indexOf(kept.key);
    if (index < 0) return false;
    list.splice(index, 1);
    this.recordCount -= 1;
    if (records.addresses.length + records.cnames.length + records.texts.length === 0) this.owners.delete(owner);
    return true;
  }

  /**
   * Brings the image to `soa` by the steps of an incremental transfer. Returns null, or the first problem found —
   * a broken serial chain, a deleted record the image does not hold, an added one it holds — after which the image
   * is partly changed and must not be used again.
   */
  applySteps(steps: readonly ChangeStep[], soa: SoaData): string | null {
    assert(steps.length > 0, 'internal', 'an incremental transfer without a step');
    for (const step of steps) {
      if (step.fromSerial !== this.serial) {
        return `a step from serial ${step.fromSerial} where the image holds ${this.serial}`;
      }
      if (!serialNewer(step.to.serial, step.fromSerial)) {
        return `a step from serial ${step.fromSerial} to ${step.to.serial}, which is not newer`;
      }
      for (const record of step.deleted) {
        if (record.type !== 'SOA' && !this.delete(record)) {
          return `serial ${step.to.serial} deletes ${record.name} ${record.type}, which serial ${this.serial} lacks`;
        }
      }
      for (const record of step.added) {
        if (record.type !== 'SOA' && !this.add(record)) {
          return `serial ${step.to.serial} adds ${record.name} ${record.type}, which serial ${this.serial} holds`;
        }
      }
      if (this.recordCount > imageRecordsMax) return `more than ${imageRecordsMax} records`;
      this.soaData = step.to;
    }
    if (this.serial !== soa.serial) return `the steps end at serial ${this.serial}, the transfer at ${soa.serial}`;
    return null;
  }

  /** The TXT records of `name`'s marker owner, in canonical order (by RDATA), so that equal RRsets read alike. */
  markerTexts(name: string): MarkerText[] {
    const texts = this.owners.get(markerName(name))?.texts ?? [];
    return [...texts].sort((a, b) => Buffer.compare(a.rdata, b.rdata));
  }

  /** The TXT records at `name`'s tombstone owner (marker.ts: tombstoneName), in canonical order. */
  tombstoneTexts(name: string): MarkerText[] {
    const texts = this.owners.get(tombstoneName(name, this.zone))?.texts ?? [];
    return [...texts].sort((a, b) => Buffer.compare(a.rdata, b.rdata));
  }

  addresses(name: string): string[] {
    return [...(this.owners.get(name)?.addresses ?? [])];
  }

  aliased(name: string): boolean {
    return (this.owners.get(name)?.cnames.length ?? 0) > 0;
  }

  /** Every name of the zone with a marker owner holding TXT records (markers and tombstones). */
  markedNames(): string[] {
    const names: string[] = [];
    for (const [owner, records] of this.owners) {
      const name = records.texts.length === 0 ? null : nameOfMarker(owner);
      if (name !== null && isInZone(name, this.zone)) names.push(name);
    }
    return names;
  }
}
