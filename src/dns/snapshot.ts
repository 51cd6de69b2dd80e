import { addressFamily } from '../domain/names.js';
import type { RecordEntry } from '../domain/types.js';
import { validateRecordSet } from '../domain/validate.js';
import type { ServedChange } from '../providers/types.js';
import { assert } from '../util/assert.js';

/** One served name as the server answers it: records split by family, and the marker. */
export interface ServedName {
  readonly name: string;
  readonly generation: number;
  readonly version: number;
  readonly v4: readonly RecordEntry[];
  readonly v6: readonly RecordEntry[];
}

/** Names remembered as changed, at most; a reader further behind than this starts over (see `changedSince`). */
const changeLogMax = 4096;

export interface ApplyReport {
  applied: number;
  removed: number;
  /** Names outside the zone (the zone was changed under a live store): not served. */
  outsideZone: number;
  /** Invalid record sets (empty, bad address): the previous set was kept (S1). */
  rejected: string[];
}

/**
 * The in-memory copy of the `served` table that queries read. It is only
 * changed by `apply`, which runs synchronously between two queries, so a
 * query sees each name either wholly before or wholly after a change (S3).
 *
 * Besides the names it counts, for every ancestor of a served name inside
 * the zone, how many served names lie below it: those ancestors exist
 * (empty non-terminals) and answer NODATA, not NXDOMAIN (RFC 8020).
 *
 * And it numbers its changes of names (`changes`) and remembers the latest
 * changed names, so answers prepared from it (cache.ts) are dropped for the
 * names that changed, and only for them.
 */
export class ServedSnapshot {
  readonly zone: string;
  private readonly names = new Map<string, ServedName>();
  private readonly below = new Map<string, number>();
  version = 0;
  /** How many times a name was set or removed since the snapshot was created. */
  changes = 0;
  /** The names of the latest changes: changeLog[i] is change number changeLogFirst + i + 1. */
  private changeLog: string[] = [];
  private changeLogFirst = 0;

  constructor(zone: string) {
    assert(
      zone.length > 0 && zone === zone.toLowerCase() && !zone.endsWith('.'),
      'internal',
      `zone "${zone}" is not normalized`,
    );
    this.zone = zone;
  }

  get size(): number {
    return this.names.size;
  }

  get(name: string): ServedName | undefined {
    return this.names.get(name);
  }

  /** True when `name` has served names below it (an empty non-terminal unless served itself). */
  hasDescendants(name: string): boolean {
    return this.below.has(name);
  }

  /**
   * The names changed after change number `after` (oldest first; a name may repeat), or null when they are no
   * longer all remembered and the reader must forget everything it derived from the snapshot.
   */
  changedSince(after: number): readonly string[] | null {
    assert(after <= this.changes, 'internal', `change ${after} is ahead of the snapshot's ${this.changes}`);
    if (after < this.changeLogFirst) return null;
    return this.changeLog.slice(after - this.changeLogFirst);
  }

  /** Applies changes in version order and moves the snapshot to `version`. */
  apply(changes: readonly ServedChange[], version: number): ApplyReport {
    assert(version >= this.version, 'internal', `snapshot version would go back from ${this.version} to ${version}`);
    const report: ApplyReport = { applied: 0, removed: 0, outsideZone: 0, rejected: [] };
    for (const change of changes) {
      if (!this.inZone(change.name)) report.outsideZone += 1;
      else if (change.state === null) report.removed += this.remove(change.name) ? 1 : 0;
      else this.applyState(change, report);
    }
    this.version = version;
    return report;
  }

  private applyState(change: ServedChange, report: ApplyReport): void {
    const state = change.state;
    assert(state !== null, 'internal', 'applyState without a state');
    const problems = validateRecordSet(change.name, state.records);
    if (problems.length > 0) {
      // A hand edit can write anything into the table; the plan validation did not see it. Never trade a good
      // set for an empty or broken one: keep what was served and let the reconciler repair the row.
      report.rejected.push(problems.join('; '));
      return;
    }
    const v4 = state.records.filter((record) => addressFamily(record.address) === 4);
    const v6 = state.records.filter((record) => addressFamily(record.address) === 6);
    assert(v4.length + v6.length === state.records.length, 'S1', `${change.name}: a record is neither IPv4 nor IPv6`);
    if (!this.names.has(change.name)) this.countAncestors(change.name, 1);
    this.names.set(change.name, { name: change.name, generation: state.generation, version: change.version, v4, v6 });
    this.logChange(change.name);
    report.applied += 1;
  }

  private remove(name: string): boolean {
    if (!this.names.delete(name)) return false;
    this.countAncestors(name, -1);
    this.logChange(name);
    return true;
  }

  private logChange(name: string): void {
    this.changes += 1;
    this.changeLog.push(name);
    if (this.changeLog.length > changeLogMax) {
      // Forget the older half at once: trimming one name per change would copy the whole log each time.
      const forgotten = this.changeLog.length - changeLogMax / 2;
      this.changeLog = this.changeLog.slice(forgotten);
      this.changeLogFirst += forgotten;
    }
    assert(this.changeLogFirst + this.changeLog.length === this.changes, 'internal', 'the change log lost count');
  }

  private inZone(name: string): boolean {
    return name === this.zone || name.endsWith(`.${this.zone}`);
  }

  /** Adds `delta` to every proper ancestor of `name` down to (and including) the zone apex. */
  private countAncestors(name: string, delta: 1 | -1): void {
    let ancestor = name;
    while (ancestor !== this.zone) {
      const dot = ancestor.indexOf('.');
      assert(dot > 0, 'internal', `"${name}" is not below the zone "${this.zone}"`);
      ancestor = ancestor.slice(dot + 1);
      const count = (this.below.get(ancestor) ?? 0) + delta;
      assert(count >= 0, 'internal', `descendant count of "${ancestor}" went negative`);
      if (count === 0) this.below.delete(ancestor);
      else this.below.set(ancestor, count);
    }
  }
}
