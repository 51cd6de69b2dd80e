import { assert } from '../util/assert.js';
import type { HistoryRetention } from './types.js';

/**
 * The one rule of what history goes (config `history`), for the stores that decide it in code (etcd, memory; SQLite
 * says the same in SQL): the ids of `entries` written before `rule.beforeMs`, or beyond the newest `rule.perNameMax`
 * of their name, oldest first. `entries` in id order, oldest first.
 */
export function historyBeyond(
  entries: readonly { id: number; name: string; atMs: number }[], rule: HistoryRetention,
): number[] {
  assert(Number.isInteger(rule.perNameMax) && rule.perNameMax >= 1, 'internal', 'history keeps at least one per name');
  const keptPerName = new Map<string, number>();
  const doomed: number[] = [];
  for (let index = entries.length - 1; index >= 0; index -= 1) {
    const entry = entries[index]!;
    assert(index === 0 || entries[index - 1]!.id < entry.id, 'internal', 'history entries out of id order');
    const newer = keptPerName.get(entry.name) ?? 0;
    if (entry.atMs < rule.beforeMs || newer >= rule.perNameMax) doomed.push(entry.id);
    else keptPerName.set(entry.name, newer + 1);
  }
  return doomed.reverse();
}
