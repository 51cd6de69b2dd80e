import type { Generation, PlanEntry } from '../domain/types.js';
import type { PlanReader } from '../store/types.js';
import { assert } from '../util/assert.js';

/** Pages one paged read of a plan goes through at most (with pages of 5,000, 5e9 names): it cannot spin. */
const planPagesMax = 1_000_000;

export interface PlanPagesRange {
  /** Only versions introduced after this generation (a delta), as PlanReadOptions.sinceAfter. */
  sinceAfter?: Generation;
  /** Names after this one ('' or absent: from the first). */
  afterName?: string;
  /** At most this many entries in all (absent: to the end of the plan). */
  entriesMax?: number;
}

export interface PlanPagesRead {
  /** The plan was cleaned up under the read (its header is gone): the caller starts again from the newest. */
  vanished: boolean;
  entries: number;
  /** The read reached the end of the plan (a short page), not only `entriesMax`. */
  end: boolean;
  /** The last name read ('' or `afterName` when none was). */
  lastName: string;
}

/**
 * Plan `generation` page by page in name order — the one paging loop of the enactor and the reconciler: memory stays
 * bounded by a page however large the plan. Asserts what the next page relies on (the plan asked for, the page limit
 * kept, names in order after the last one read) and stops after `planPagesMax` pages at most.
 */
export async function forEachPlanPage(
  store: Pick<PlanReader, 'readPlan'>, generation: Generation, range: PlanPagesRange, pageSize: number,
  visit: (entries: readonly PlanEntry[]) => Promise<void> | void,
): Promise<PlanPagesRead> {
  assert(Number.isInteger(pageSize) && pageSize >= 1, 'internal', `page size ${pageSize}`);
  const entriesMax = range.entriesMax ?? Infinity;
  assert(entriesMax >= 0, 'internal', `entriesMax ${entriesMax}`);
  let afterName = range.afterName ?? '';
  let entries = 0;
  for (let page = 0; page < planPagesMax; page += 1) {
    if (entries >= entriesMax) return { vanished: false, entries, end: false, lastName: afterName };
    const limit = Math.min(pageSize, entriesMax - entries);
    const view = await store.readPlan(generation, { sinceAfter: range.sinceAfter, afterName, limit });
    if (view === null) return { vanished: true, entries, end: false, lastName: afterName };
    const read = view.header.generation;
    assert(read === generation, 'internal', () => `asked for plan ${generation}, read ${read}`);
    assert(view.entries.length <= limit, 'internal', 'the store ignored the page limit');
    // In name order after `afterName`, or the next page (after the last name) would skip names.
    const unordered = view.entries.find((entry, index) => entry.name <= (view.entries[index - 1]?.name ?? afterName));
    assert(unordered === undefined, 'internal',
      () => `the store ignored paging: ${unordered?.name} after ${afterName}`);
    await visit(view.entries);
    entries += view.entries.length;
    if (view.entries.length > 0) afterName = view.entries[view.entries.length - 1]!.name;
    if (view.entries.length < limit) return { vanished: false, entries, end: true, lastName: afterName };
  }
  assert(false, 'internal', () => `plan ${generation} has more than ${planPagesMax} pages`);
}
