import type { Generation } from '../domain/types.js';
import type { ZoneSet } from '../domain/zones.js';
import { assert } from '../util/assert.js';
import type { PlanReader, PlanReadOptions, PlanView } from '../store/types.js';

/** Underlying pages read to fill one page of a zone (with 1,000 names a page, 1e9 names of other zones skipped). */
const skippedPagesMax = 1_000_000;

/**
 * A plan reader that sees only the names of one zone of an installation with several (config `zones:`): what an
 * enactor loop of that zone reads. A page is filled from as many pages of the whole plan as it takes, so a short page
 * still means the plan's end (the enactor's paging rule), and entries keep the plan's name order.
 */
export function zonePlanReader<S extends PlanReader>(store: S, zones: ZoneSet, zone: string): S {
  assert(zones.names.includes(zone), 'internal', () => `${zone} is not one of ${zones.toString()}`);
  const inZone = (name: string) => zones.zoneOf(name) === zone;
  const readPlan = async (generation: Generation, options: PlanReadOptions = {}): Promise<PlanView | null> => {
    if (options.names !== undefined) {
      return store.readPlan(generation, { ...options, names: options.names.filter(inZone) });
    }
    if (options.limit === undefined) {
      const view = await store.readPlan(generation, options);
      if (view === null) return null;
      return { header: view.header, entries: view.entries.filter((entry) => inZone(entry.name)) };
    }
    const { limit } = options;
    const entries: PlanView['entries'] = [];
    let afterName = options.afterName;
    for (let pages = 0; pages < skippedPagesMax; pages += 1) {
      const view = await store.readPlan(generation, { ...options, ...(afterName === undefined ? {} : { afterName }) });
      if (view === null) return null;
      for (const entry of view.entries) if (inZone(entry.name) && entries.length < limit) entries.push(entry);
      const last = view.entries[view.entries.length - 1];
      if (view.entries.length < limit || entries.length >= limit || last === undefined) {
        return { header: view.header, entries };
      }
      afterName = last.name;
    }
    assert(false, 'internal', () => `plan ${generation}: more than ${skippedPagesMax} pages without filling one`);
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === 'readPlan') return readPlan;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
