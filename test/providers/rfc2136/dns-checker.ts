import { openDatabase, type Db } from '../../../src/store/sqlite/db.js';
import { servedSchema } from '../../../src/providers/builtin/sqlite.js';
import { decodeRecords } from '../../../src/domain/codec.js';
import { recordSetKey, type RecordEntry } from '../../../src/domain/types.js';
import { decodeMarker, decodeTombstone, servedSubset, tombstoneName } from '../../../src/providers/marker.js';
import type { Provider, ServedState } from '../../../src/providers/types.js';
import { readZone } from '../../../src/providers/rfc2136/transfer.js';
import type { DnsServer } from '../../helpers/dns-servers.js';

/**
 * The invariant checker of test/e2e/harness.ts, sampling a real DNS server
 * instead of SQLite `served` rows. Two kinds of sample:
 * - `dig` (the tool clients' operators use): per name, the marker TXT, the
 *   A records, and the marker again, in order over TCP. The A answer must
 *   never be empty for a name once served (S1) and the generation never
 *   goes down (S2); when the marker held still around the A query, the
 *   addresses are exactly what plan g maps to (S3).
 * - the provider's own `read()`: S1-S5 on the full record sets with weights.
 * Plans come from the SQLite store (plan_versions), as in the core checker.
 * A name may stop being served only when a plan above its generation removed
 * it (its tombstone marker then holds that plan's generation), and it may
 * come back only above that removal (S2).
 */

interface Seen {
  generation: number;
  version: string;
}

/** One `dig` answer block: the question, the status and the answer records' text. */
interface DigBlock {
  owner: string;
  type: string;
  status: string;
  answers: string[];
}

export class DnsInvariantChecker {
  readonly violations: string[] = [];
  digSamples = 0;
  readSamples = 0;
  digFailures: string[] = [];
  private readonly db: Db;
  private readonly last = new Map<string, Seen>();
  private readonly served = new Set<string>();
  /** Names seen removed, with the newest removal's generation then. */
  private readonly gone = new Map<string, number>();
  /** The highest generation each name was seen served at (tombstones not included). */
  private readonly servedAt = new Map<string, number>();

  private sawServed(name: string, generation: number): void {
    this.servedAt.set(name, Math.max(generation, this.servedAt.get(name) ?? 0));
  }

  constructor(dbPath: string, private readonly server: DnsServer, private readonly provider: Provider, private readonly names: readonly string[], private readonly maxAnswers: number) {
    this.db = openDatabase(dbPath, servedSchema);
  }

  get samples(): number {
    return this.digSamples + this.readSamples;
  }

  /** The record set plan `generation` holds for `name`; undefined when that plan version is gone. */
  private planAt(name: string, generation: number): RecordEntry[] | null | undefined {
    const row = this.db.prepare('SELECT records FROM plan_versions WHERE name = ? AND since <= ? ORDER BY since DESC LIMIT 1').get(name, generation) as { records: string | null } | undefined;
    if (row === undefined) return undefined;
    return row.records === null ? null : decodeRecords(row.records);
  }

  private monotonic(name: string, generation: number, version: string | null, where: string): void {
    const previous = this.last.get(name);
    if (previous !== undefined && generation < previous.generation) this.violations.push(`S2: ${name} went from generation ${previous.generation} to ${generation} (${where})`);
    if (previous !== undefined && version !== null && generation === previous.generation && previous.version !== '' && version !== previous.version) {
      this.violations.push(`S5: ${name} rewritten at the same generation ${generation} (${where})`);
    }
    if (previous === undefined || generation > previous.generation) this.last.set(name, { generation, version: version ?? '' });
    else if (version !== null && previous.version === '') this.last.set(name, { generation, version });
  }

  /**
   * A name once served that reads as absent: it must carry a removal's
   * tombstone above the generation it was served at, from a plan that
   * removes it. A name with no tombstone by the time it is asked (added back
   * meanwhile, or removed again) is looked up in one signed zone transfer —
   * one serial, so no write can land between two questions: only a name with
   * neither a marker nor a tombstone there has lost its marker (S1).
   */
  private async checkAbsent(names: readonly string[], where: string): Promise<void> {
    if (names.length === 0) return;
    const removals = await this.provider.readRemovals(names);
    const unexplained = names.filter((candidate) => !removals.has(candidate));
    if (unexplained.length > 0) {
      const { key, zone } = this.server;
      const records = await readZone({
        server: this.server.server, zone, timeoutMs: 10_000,
        key: { name: key.name, algorithm: key.algorithm, secret: Buffer.from(key.secret, 'base64') },
      });
      const texts = new Set(records.filter((record) => record.type === 'TXT').map((record) => record.name.toLowerCase()));
      for (const name of unexplained) {
        if (!texts.has(`_dnsplane.${name}`) && !texts.has(tombstoneName(name, zone))) this.violations.push(`S1: ${name} is no longer served and has no marker or tombstone (${where})`);
      }
    }
    for (const [name, removedAt] of removals) {
      if (removedAt <= (this.servedAt.get(name) ?? 0)) this.violations.push(`S2: ${name} was removed at generation ${removedAt}, not above the ${this.servedAt.get(name)} it was served at (${where})`);
      const plan = this.planAt(name, removedAt);
      if (plan !== undefined && plan !== null) this.violations.push(`S3: ${name} was removed at generation ${removedAt}, whose plan has ${recordSetKey(plan)} (${where})`);
      this.gone.set(name, removedAt);
    }
  }

  /** S1-S5 on every name through the provider's read. */
  async sampleRead(): Promise<void> {
    const states = await this.provider.read(this.names);
    const where = `read sample ${this.readSamples}`;
    await this.checkAbsent(this.names.filter((name) => !states.has(name) && this.served.has(name)), where);
    for (const name of this.names) {
      const state = states.get(name);
      if (state === undefined) continue;
      const removedAt = this.gone.get(name);
      if (removedAt !== undefined && state.generation <= removedAt) this.violations.push(`S2: ${name} came back at generation ${state.generation}, not above its removal at ${removedAt} (${where})`);
      this.gone.delete(name);
      this.served.add(name);
      this.sawServed(name, state.generation);
      if (state.records.length === 0) this.violations.push(`S1: ${name} served no records at generation ${state.generation} (${where})`);
      await this.checkPlan(state, where);
      this.monotonic(name, state.generation, state.version, where);
    }
    this.readSamples += 1;
  }

  private async checkPlan(state: ServedState, where: string): Promise<void> {
    const plan = this.planAt(state.name, state.generation);
    if (plan === undefined || plan === null) {
      // The plan row may have been cleaned up after the name moved on; only a name still on that generation is a violation.
      const again = (await this.provider.read([state.name])).get(state.name);
      if (again?.generation === state.generation) this.violations.push(`S4: ${state.name} serves generation ${state.generation} whose plan is gone (${where})`);
      return;
    }
    if (recordSetKey(plan) !== recordSetKey(state.records)) {
      this.violations.push(`S3: ${state.name} at generation ${state.generation} serves ${recordSetKey(state.records)}, plan says ${recordSetKey(plan)} (${where})`);
    }
  }

  /**
   * One `dig` run over TCP: marker, tombstone, A, marker, tombstone for every name, in that order. A removal's
   * tombstone lives at its own owner (marker.ts: tombstoneName), so that a removed name answers NXDOMAIN.
   */
  async sampleDig(): Promise<void> {
    const zone = this.server.zone;
    const queries = this.names.flatMap((name) => [
      `_dnsplane.${name}`, 'TXT', tombstoneName(name, zone), 'TXT', name, 'A', `_dnsplane.${name}`, 'TXT',
      tombstoneName(name, zone), 'TXT',
    ]);
    // +time=5 (over the helper's 2): on a loaded machine a slow answer is not a failure of the invariants.
    const result = await this.server.dig(['+time=5', '+norec', '+noall', '+comments', '+question', '+answer', ...queries]);
    const blocks = parseDig(result.stdout);
    if (result.code !== 0 || blocks.length !== this.names.length * 5 || blocks.some((block) => block.status !== 'NOERROR' && block.status !== 'NXDOMAIN')) {
      this.digFailures.push(`dig exited ${result.code} with ${blocks.length} answers: ${result.stderr.slice(0, 500)}`);
      return;
    }
    this.names.forEach((name, index) => this.checkDigName(name, blocks.slice(index * 5, index * 5 + 5), `dig sample ${this.digSamples}`));
    this.digSamples += 1;
  }

  private checkDigName(name: string, [before, tombBefore, addresses, after, tombAfter]: DigBlock[], where: string): void {
    // A name holds a marker or (removed) a tombstone, never both: one UPDATE swaps them.
    const markerBefore = markerOf(before!) ?? markerOf(tombBefore!);
    const markerAfter = markerOf(after!) ?? markerOf(tombAfter!);
    const a = addresses!.answers.map((line) => line.split(/\s+/).pop()!).sort();
    if (markerBefore?.removed === true || markerAfter?.removed === true) {
      // A tombstone: the removal's generation counts for S2 like a marker's.
      for (const marker of [markerBefore, markerAfter]) if (marker !== null) this.monotonic(name, marker.generation, null, where);
      if (markerBefore?.text !== markerAfter?.text) return; // a write landed between
      if (a.length > 0) this.violations.push(`S3: ${name} is removed (generation ${markerBefore!.generation}) but answers A ${a.join(',')} (${where})`);
      const plan = this.planAt(name, markerBefore!.generation);
      if (plan !== undefined && plan !== null) this.violations.push(`S3: ${name} is removed at generation ${markerBefore!.generation}, whose plan has ${recordSetKey(plan)} (${where})`);
      return;
    }
    if (markerBefore !== null || a.length > 0) this.served.add(name);
    if (this.served.has(name) && a.length === 0) this.violations.push(`S1: ${name} answered no A record (${where})`);
    if (markerBefore === null || markerAfter === null) {
      if (this.served.has(name) && markerAfter === null) this.violations.push(`S1: ${name} lost its marker (${where})`);
      return;
    }
    this.monotonic(name, markerBefore.generation, null, where);
    this.monotonic(name, markerAfter.generation, null, where);
    this.sawServed(name, markerAfter.generation);
    if (markerBefore.text !== markerAfter.text) return; // a write landed between: the A answer may be either set
    const plan = this.planAt(name, markerBefore.generation);
    if (plan === undefined || plan === null) return; // checked by read samples, which can re-read to rule out a clean-up race
    const expected = servedSubset(plan, this.maxAnswers).map((record) => record.address).sort();
    if (expected.join(',') !== a.join(',')) this.violations.push(`S3: ${name} at generation ${markerBefore.generation} answers A ${a.join(',')}, plan says ${expected.join(',')} (${where})`);
  }

  /** Samples until `running()` is false, alternating dig and read samples (dig takes every `digEvery`-th turn). */
  async sampleWhile(running: () => boolean, digEvery = 2): Promise<void> {
    for (let turn = 0; running(); turn += 1) {
      if (turn % digEvery === 0) await this.sampleDig();
      else await this.sampleRead();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  close(): void {
    this.db.close();
  }
}

/** Splits `dig +noall +comments +question +answer` output into one block per query. */
export function parseDig(output: string): DigBlock[] {
  const blocks: DigBlock[] = [];
  for (const chunk of output.split(';; ->>HEADER<<-').slice(1)) {
    const status = /status: ([A-Z]+)/.exec(chunk)?.[1] ?? 'UNKNOWN';
    const question = /^;([^\s;]+)\s+IN\s+([A-Z]+)\s*$/m.exec(chunk);
    // The chunk's first line is the rest of the header line; answers are the record lines after it.
    const answers = chunk.split('\n').slice(1).filter((line) => /^\S+\s+\d+\s+IN\s+[A-Z]+\s/.test(line));
    blocks.push({ owner: question?.[1]?.replace(/\.$/, '') ?? '', type: question?.[2] ?? '', status, answers });
  }
  return blocks;
}

/** The marker (or a removal's tombstone) a dig TXT answer holds, or null for none or more than one record. */
function markerOf(block: DigBlock): { generation: number; text: string; removed: boolean } | null {
  if (block.answers.length !== 1) return null;
  const line = block.answers[0]!;
  const strings = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((match) => Buffer.from(match[1]!, 'latin1'));
  const tombstone = decodeTombstone(strings);
  if (tombstone !== null) return { generation: tombstone.generation, text: line, removed: true };
  const marker = decodeMarker(strings);
  return marker === null ? null : { generation: marker.generation, text: line, removed: false };
}
