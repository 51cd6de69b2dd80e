import { openDatabase, type Db } from '../../../src/store/sqlite/db.js';
import { servedSchema } from '../../../src/providers/builtin/sqlite.js';
import { decodeRecords } from '../../../src/domain/codec.js';
import { recordSetKey, type RecordEntry } from '../../../src/domain/types.js';
import { decodeMarker, decodeTombstone, tombstoneName } from '../../../src/providers/marker.js';
import type { Provider, ServedState } from '../../../src/providers/types.js';
import type { Route53Emulator, StoredSet } from './emulator.js';

/**
 * The invariant checker of test/e2e/harness.ts for a Route 53 hosted zone.
 * Two kinds of sample:
 * - the zone as the emulator holds it, taken in one synchronous step (what
 *   Route 53's name servers would serve at one moment): per name, the marker
 *   TXT, the weighted sets and the slot's TXT (under `_removed._dnsplane.`). A
 *   name once served always has a positive weighted set (S1) or a removal's
 *   tombstone in its slot above what it served (S2), and once removed nothing
 *   at the name (Route 53 answers NXDOMAIN);
 *   its generation never goes down (S2) and is never rewritten (S5); its sets
 *   are exactly what plan g's set maps to, weights and targets included (S3),
 *   and plan g exists (S4).
 * - the provider's own `read()` over the SDK: S1-S5 on the full record sets.
 * Plans come from the SQLite store (plan_versions), as in the core checker.
 */

interface Seen {
  generation: number;
  version: string;
}

/** The marker or tombstone a TXT value holds, parsed independently of the provider's code. */
function markerOf(value: string): { kind: 'marker'; generation: number; version: string; records: RecordEntry[] }
  | { kind: 'tombstone'; generation: number; version: string } | null {
  const strings = [...value.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((match) => Buffer.from(match[1]!, 'latin1'));
  const tombstone = decodeTombstone(strings);
  if (tombstone !== null) return { kind: 'tombstone', ...tombstone };
  const marker = decodeMarker(strings);
  return marker === null ? null : { kind: 'marker', ...marker };
}

/** The weighted sets a plan's set must be served as: "type/SetIdentifier/Weight/address" of its positive targets. */
function expectedSets(records: readonly RecordEntry[]): string[] {
  const type = (address: string) => (address.includes(':') ? 'AAAA' : 'A');
  return records.filter((record) => record.weight > 0)
    .map((record) => `${type(record.address)}/${record.target}/${record.weight}/${record.address}`)
    .sort();
}

function servedSets(sets: readonly StoredSet[]): string[] {
  return sets.map((set) => `${set.type}/${set.setIdentifier ?? '-'}/${set.weight ?? '-'}/${set.values.join('+')}`)
    .sort();
}

export class Route53InvariantChecker {
  readonly violations: string[] = [];
  zoneSamples = 0;
  readSamples = 0;
  private readonly db: Db;
  private readonly last = new Map<string, Seen>();
  private readonly served = new Set<string>();
  /** Names seen removed, with the removal's generation. */
  private readonly gone = new Map<string, number>();
  private readonly servedAt = new Map<string, number>();

  constructor(
    dbPath: string, private readonly emulator: Route53Emulator, private readonly hostedZoneId: string,
    private readonly provider: Provider, private readonly names: readonly string[],
    private readonly zone = 'dnsplane.test',
  ) {
    this.db = openDatabase(dbPath, servedSchema);
  }

  get samples(): number {
    return this.zoneSamples + this.readSamples;
  }

  /** The record set plan `generation` holds for `name`; undefined when that plan version is gone. */
  private planAt(name: string, generation: number): RecordEntry[] | null | undefined {
    const query = 'SELECT records FROM plan_versions WHERE name = ? AND since <= ? ORDER BY since DESC LIMIT 1';
    const row = this.db.prepare(query).get(name, generation) as { records: string | null } | undefined;
    if (row === undefined) return undefined;
    return row.records === null ? null : decodeRecords(row.records);
  }

  /**
   * `seenBefore`: what had been seen when this observation began. A provider read takes many requests and zone
   * samples may run meanwhile (the crash test takes them between kills); a state it read may be older than one a
   * later zone sample saw, never older than one seen before the read began.
   */
  private monotonic(
    name: string, generation: number, version: string, where: string, seenBefore: ReadonlyMap<string, Seen> = this.last,
  ): void {
    const previous = seenBefore.get(name);
    if (previous !== undefined && generation < previous.generation) {
      this.violations.push(`S2: ${name} went from generation ${previous.generation} to ${generation} (${where})`);
    }
    if (previous !== undefined && generation === previous.generation && version !== previous.version) {
      this.violations.push(`S5: ${name} rewritten at the same generation ${generation} (${where})`);
    }
    const latest = this.last.get(name);
    if (latest === undefined || generation >= latest.generation) this.last.set(name, { generation, version });
  }

  private sawServed(name: string, generation: number, where: string): void {
    const removedAt = this.gone.get(name);
    if (removedAt !== undefined && generation <= removedAt) {
      this.violations.push(`S2: ${name} came back at generation ${generation}, not above its removal at ${removedAt}`
        + ` (${where})`);
    }
    this.gone.delete(name);
    this.served.add(name);
    this.servedAt.set(name, Math.max(generation, this.servedAt.get(name) ?? 0));
  }

  private sawRemoved(name: string, generation: number, where: string): void {
    const servedAt = this.servedAt.get(name) ?? 0;
    if (generation <= servedAt) {
      this.violations.push(`S2: ${name} removed at ${generation}, not above the ${servedAt} it served (${where})`);
    }
    const plan = this.planAt(name, generation);
    if (plan !== undefined && plan !== null) {
      this.violations.push(`S3: ${name} removed at ${generation}, whose plan has ${recordSetKey(plan)} (${where})`);
    }
    this.gone.set(name, generation);
  }

  /** One name of a zone snapshot: its marker, its weighted sets and its slot. */
  private checkZoneName(
    name: string, markers: readonly StoredSet[], addresses: readonly StoredSet[], slot: readonly StoredSet[],
    where: string,
  ): void {
    const slotted = slot.length === 1 && slot[0]!.values.length === 1 ? markerOf(slot[0]!.values[0]!) : null;
    // Removed: no marker, its tombstone in the slot (an earlier version's stays at the marker's place).
    const removal = markers.length === 0 && slotted?.kind === 'tombstone' ? slotted : null;
    if (markers.length === 0 && removal === null) {
      if (this.served.has(name)) this.violations.push(`S1: ${name} lost its marker without a removal (${where})`);
      if (addresses.length > 0) {
        this.violations.push(`S3: ${name} answers ${servedSets(addresses)} without a marker (${where})`);
      }
      return;
    }
    const single = markers.length === 1 && markers[0]!.values.length === 1 ? markerOf(markers[0]!.values[0]!) : null;
    const marker = removal ?? single;
    if (marker === null) return void this.violations.push(`S3: ${name} has a marker that does not parse (${where})`);
    this.monotonic(name, marker.generation, marker.version, where);
    if (marker.kind === 'tombstone') {
      if (addresses.length > 0) {
        this.violations.push(`S3: ${name} is removed but answers ${servedSets(addresses)} (${where})`);
      }
      return this.sawRemoved(name, marker.generation, where);
    }
    this.sawServed(name, marker.generation, where);
    if (!addresses.some((set) => (set.weight ?? 0) > 0)) {
      this.violations.push(`S1: ${name} has no weighted set of positive weight at ${marker.generation} (${where})`);
    }
    const plan = this.planAt(name, marker.generation);
    if (plan === undefined) {
      // The plan may be cleaned up after the name moved on: only a name still on that generation now is a violation.
      const now = this.emulator.recordSets(this.hostedZoneId).find((set) => set.name === `_dnsplane.${name}.`);
      const still = now === undefined ? null : markerOf(now.values[0] ?? '');
      if (still?.generation === marker.generation) {
        this.violations.push(`S4: ${name} serves generation ${marker.generation} whose plan is gone (${where})`);
      }
      return;
    }
    if (plan === null) {
      return void this.violations.push(`S3: ${name} serves generation ${marker.generation}, a removal (${where})`);
    }
    if (recordSetKey(marker.records) !== recordSetKey(plan)) {
      const [holds, planned] = [recordSetKey(marker.records), recordSetKey(plan)];
      this.violations.push(`S3: ${name} marker at ${marker.generation}: ${holds}, plan ${planned} (${where})`);
    }
    const [expected, actual] = [expectedSets(plan), servedSets(addresses)];
    if (expected.join(',') !== actual.join(',')) {
      this.violations.push(`S3: ${name} at ${marker.generation} serves ${actual}, plan says ${expected} (${where})`);
    }
  }

  /** The whole zone at one moment, straight from the emulator. */
  sampleZone(): void {
    const where = `zone sample ${this.zoneSamples}`;
    const byName = new Map<string, { markers: StoredSet[]; addresses: StoredSet[]; slot: StoredSet[] }>(
      this.names.map((name) => [name, { markers: [], addresses: [], slot: [] }]),
    );
    const slotOf = new Map(this.names.map((name) => [tombstoneName(name, this.zone), name]));
    for (const set of this.emulator.recordSets(this.hostedZoneId)) {
      const owner = set.name.replace(/\.$/, '');
      const marked = owner.startsWith('_dnsplane.') ? owner.slice('_dnsplane.'.length) : null;
      const slotted = slotOf.get(owner);
      if (set.type === 'TXT' && slotted !== undefined) byName.get(slotted)!.slot.push(set);
      else if (set.type === 'TXT' && marked !== null) byName.get(marked)?.markers.push(set);
      else if (set.type === 'A' || set.type === 'AAAA') byName.get(owner)?.addresses.push(set);
    }
    for (const [name, { markers, addresses, slot }] of byName) {
      this.checkZoneName(name, markers, addresses, slot, where);
    }
    this.zoneSamples += 1;
  }

  private async checkReadState(state: ServedState, where: string, seenBefore: ReadonlyMap<string, Seen>): Promise<void> {
    this.sawServed(state.name, state.generation, where);
    if (state.records.length === 0) {
      this.violations.push(`S1: ${state.name} read no records at ${state.generation} (${where})`);
    }
    this.monotonic(state.name, state.generation, state.version, where, seenBefore);
    const plan = this.planAt(state.name, state.generation);
    if (plan === undefined) {
      const again = (await this.provider.read([state.name])).get(state.name);
      if (again?.generation !== state.generation) return;
      this.violations.push(`S4: ${state.name} reads generation ${state.generation} whose plan is gone (${where})`);
      return;
    }
    if (plan === null || recordSetKey(plan) !== recordSetKey(state.records)) {
      const planned = plan === null ? 'a removal' : recordSetKey(plan);
      const read = recordSetKey(state.records);
      this.violations.push(`S3: ${state.name} at ${state.generation} reads ${read}, plan ${planned} (${where})`);
    }
  }

  /** Every name through the provider's read; a served name read as absent must carry a removal above it. */
  async sampleRead(): Promise<void> {
    const where = `read sample ${this.readSamples}`;
    const seenBefore = new Map(this.last);
    const states = await this.provider.read(this.names);
    const absent = this.names.filter((name) => !states.has(name) && this.served.has(name) && !this.gone.has(name));
    const removals = absent.length === 0 ? new Map<string, number>() : await this.provider.readRemovals(absent);
    for (const name of absent) {
      const removedAt = removals.get(name);
      // Re-added and written since the read: the next samples will see it.
      if (removedAt === undefined) continue;
      this.sawRemoved(name, removedAt, where);
    }
    for (const state of states.values()) await this.checkReadState(state, where, seenBefore);
    this.readSamples += 1;
  }

  /** Samples until `running()` is false: a zone snapshot every turn, a provider read every `readEvery`-th. */
  async sampleWhile(running: () => boolean, readEvery = 4): Promise<void> {
    for (let turn = 0; running(); turn += 1) {
      this.sampleZone();
      if (turn % readEvery === 0) await this.sampleRead();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  close(): void {
    this.db.close();
  }
}
