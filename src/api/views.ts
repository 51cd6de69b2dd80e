import type { ZoneSet } from '../domain/zones.js';
import { readReachable } from '../providers/zoned.js';
import type { z } from 'zod';
import type { ApiState } from './state.js';
import { ApiError } from './errors.js';
import type { nameItemSchema, targetSchema } from './models.js';
import { recordSetKey, type Generation, type PlanEntry } from '../domain/types.js';
import type { ServedState } from '../providers/types.js';
import { assert } from '../util/assert.js';

/** Read-side helpers shared by the routes. */

type NameItem = z.input<typeof nameItemSchema>;
type TargetView = z.input<typeof targetSchema>;

/** Names read in one page of the names view. */
export const namesPageMax = 500;

function statusOf(served: ServedState | undefined, entry: PlanEntry | undefined): NameItem['status'] {
  if (served !== undefined && served.records.length === 0) return 'empty';
  if (entry === undefined) return served === undefined ? 'unplanned' : 'drift';
  if (entry.records === null) return 'removed';
  if (served === undefined) return 'not-served';
  if (served.generation < entry.since) return 'behind';
  // At or above `since`, the plan of the served generation holds this very entry: the sets must match.
  return recordSetKey(served.records) === recordSetKey(entry.records) ? 'converged' : 'drift';
}

/**
 * The names view of up to namesPageMax managed names: served records, the newest plan's set, status, controls, alarms.
 */
export async function nameItems(
  state: ApiState,
  names: readonly string[],
): Promise<{ latest: Generation; items: NameItem[] }> {
  assert(names.length <= namesPageMax, 'internal', `${names.length} names in one page`);
  const { store, provider } = state.context;
  const latest = await store.latestGeneration();
  // With several zones, a zone whose server is down leaves its names unreachable, not the whole page.
  const { states: served, unreachable } = await readReachable(provider, names);
  const entries = latest > 0 ? await store.readEntriesAt(names, latest) : new Map<string, PlanEntry>();
  const freezes = new Set(await store.listFreezes());
  const drains = new Set(await store.listDrains());
  const targetIds = names.flatMap((name) => (state.index.endpoint(name)?.targets ?? []).map((target) => target.id));
  const health = await state.health.of(targetIds);
  const wanted = new Set(names);
  const alarms = new Map<string, { kind: string; message: string }[]>();
  for (const alarm of await store.listAlarms(true)) {
    if (!wanted.has(alarm.name)) continue;
    alarms.set(alarm.name, [...(alarms.get(alarm.name) ?? []), { kind: alarm.kind, message: alarm.message }]);
  }
  const items = names.map((name): NameItem => {
    const servedState = served.get(name);
    const entry = entries.get(name);
    const targets: TargetView[] = (state.index.endpoint(name)?.targets ?? []).map((target) => ({
      id: target.id, address: target.address, az: target.az, capacity: target.capacity,
      health: health.get(target.id)?.state ?? 'unknown', drained: drains.has(target.id),
    }));
    return {
      name,
      status: unreachable.has(name) ? 'unreachable' : statusOf(servedState, entry),
      frozen: freezes.has(name) || freezes.has('*'),
      served: servedState === undefined
        ? null
        : { generation: servedState.generation, version: servedState.version, records: servedState.records },
      plan: entry === undefined ? null : { generation: latest, since: entry.since, records: entry.records },
      alarms: alarms.get(name) ?? [],
      targets,
    };
  });
  return { latest, items };
}

/** The 404 for a plan that is not (or no longer) stored, saying which. */
export async function planNotFound(state: ApiState, generation: Generation): Promise<ApiError> {
  const { store } = state.context;
  const latest = await store.latestGeneration();
  if (generation > latest || generation === 0) {
    return new ApiError(404, 'not-found', `plan ${generation} does not exist: the newest generation is ${latest}`);
  }
  const oldest = await store.oldestGeneration();
  return new ApiError(
    404,
    'not-found',
    `plan ${generation} no longer exists: the janitor cleaned it up `
      + `(the oldest plan kept is ${oldest}; see safety.retainGenerations)`,
  );
}

/** The managed name a path parameter names, or a 404. */
export function managedName(state: ApiState, raw: string): string {
  const name = state.index.resolveName(raw);
  if (name === null) {
    throw new ApiError(404, 'not-found', `"${raw}" is not a managed name of ${zonesText(state.context.zones)}`);
  }
  return name;
}

/** "zone z1" or "the zones z1., z2." for messages. */
export function zonesText(zones: ZoneSet): string {
  return zones.names.length === 1 ? `zone ${zones.primary}` : `the zones ${zones.toString()}`;
}
