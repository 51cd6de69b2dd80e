import type { HealthRecord, HealthStore, SelectiveHealthReads } from '../store/types.js';
import type { HealthState } from '../domain/types.js';
import { assert } from '../util/assert.js';

/**
 * Health reads for the API, selective where the store allows: with a checker
 * the health table has a row per target (400,000 for 100,000 names × 4), and
 * reading it whole takes over a second on the embedded store. Pages read
 * only their targets; counts are cached briefly because even an aggregate
 * scans the table. A store without selective reads is read whole, at most
 * once per `fullReadCacheMs`.
 */

const fullReadCacheMs = 250;
const countsCacheMs = 2000;

export class HealthReader {
  private full: { atMs: number; records: HealthRecord[] } | null = null;
  private counts: { atMs: number; value: Record<HealthState, number> } | null = null;

  private readonly selective: SelectiveHealthReads | null;

  constructor(private readonly store: HealthStore) {
    this.selective = store.selectiveHealthReads();
  }

  /** Health of these targets, by target id. */
  async of(targets: readonly string[]): Promise<Map<string, HealthRecord>> {
    const records = this.selective !== null ? await this.selective.readHealthOf(targets) : await this.readAll();
    const wanted = new Set(targets);
    const byTarget = new Map<string, HealthRecord>();
    for (const record of records) if (wanted.has(record.target)) byTarget.set(record.target, record);
    return byTarget;
  }

  /** Records in `state`, in target order. */
  async list(state: HealthState, offset: number, limit: number): Promise<HealthRecord[]> {
    assert(offset >= 0 && limit >= 0, 'internal', `health page ${offset}+${limit}`);
    if (this.selective !== null) return this.selective.listHealth(state, offset, limit);
    return (await this.readAll()).filter((record) => record.state === state).slice(offset, offset + limit);
  }

  /** Targets with a record in each state (at most countsCacheMs old). */
  async countByState(): Promise<Record<HealthState, number>> {
    const now = Date.now();
    if (this.counts !== null && now - this.counts.atMs < countsCacheMs) return this.counts.value;
    let value: Record<HealthState, number>;
    if (this.selective !== null) value = await this.selective.countHealth();
    else {
      value = { up: 0, down: 0 };
      for (const record of await this.readAll()) value[record.state] += 1;
    }
    this.counts = { atMs: now, value };
    return value;
  }

  private async readAll(): Promise<HealthRecord[]> {
    const now = Date.now();
    if (this.full === null || now - this.full.atMs >= fullReadCacheMs) {
      this.full = { atMs: now, records: await this.store.readHealth() };
    }
    return this.full.records;
  }
}
