import { assert } from '../util/assert.js';
import type { Provider, ServedState } from './types.js';

/**
 * Pages of served names read by one listing (with a page of 5,000, 5e9 names): a provider whose listing never ends
 * cannot spin its reader.
 */
const servedPagesMax = 1_000_000;

/**
 * Every served name, page by page in name order: the one paging loop of the reconciler and of the status read
 * model. Asserts what the next page relies on — a page within the limit, in name order after the last name — and
 * ends after `servedPagesMax` pages at most.
 */
export async function forEachServedPage(
  provider: Pick<Provider, 'list'>, pageSize: number, visit: (page: readonly ServedState[]) => void,
): Promise<void> {
  assert(Number.isInteger(pageSize) && pageSize >= 1, 'internal', `page size ${pageSize}`);
  let after: string | null = null;
  for (let pages = 0; pages < servedPagesMax; pages += 1) {
    const page = await provider.list(after, pageSize);
    assert(page.length <= pageSize, 'internal', 'the provider ignored the page limit');
    // In name order after `after`, or the next page (after the last name) would skip names.
    const unordered = page.find((state, index) => {
      const previous = page[index - 1]?.name ?? after;
      return previous !== null && state.name <= previous;
    });
    assert(unordered === undefined, 'internal', `the provider ignored paging: ${unordered?.name} after ${after}`);
    visit(page);
    if (page.length < pageSize) return;
    after = page[page.length - 1]!.name;
  }
  assert(false, 'internal', `more than ${servedPagesMax} pages of served names`);
}

/** Every served name, in name order. */
export async function readAllServed(provider: Pick<Provider, 'list'>, pageSize = 5000): Promise<ServedState[]> {
  const all: ServedState[] = [];
  await forEachServedPage(provider, pageSize, (page) => {
    for (const state of page) all.push(state);
  });
  return all;
}
