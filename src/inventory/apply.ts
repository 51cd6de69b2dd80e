import type { Inventory } from '../domain/types.js';
import type { History, HistoryEntry, InventoryStore, InventoryVersionInfo, StoredInventory } from '../store/types.js';
import { assert, UserError } from '../util/assert.js';
import { selfDependencyRefusal, type ControlPlaneConfig } from '../graph/self-dependency.js';
import type { Config } from '../config/schema.js';
import {
  diffInventories, inventoryRefusal, isEmptyDiff, summarize, type InventoryDiff, type InventoryPolicy,
} from './diff.js';

/** Names given their own history entry per apply; a larger change is recorded by its summary only. */
const historyNamesMax = 10_000;

export type ApplyOutcome =
  | { kind: 'unchanged'; version: number; diff: InventoryDiff }
  | { kind: 'refused'; version: number; reason: string; diff: InventoryDiff }
  | { kind: 'stale'; current: number; diff: InventoryDiff }
  | { kind: 'applied'; info: InventoryVersionInfo; diff: InventoryDiff; forcedOver: string | null };

export interface ApplyOptions {
  actor: string;
  reason: string;
  force: boolean;
  policy: InventoryPolicy;
  /** The version the caller reviewed (a diff it showed): the apply fails as stale if it is no longer the newest. */
  baseVersion?: number;
  /**
   * The installation's own dependencies (store, provider, listen addresses, safety): an inventory through whose
   * names dnsplane would depend on itself is refused (a UserError: exit 2, HTTP 400; --force does not override it,
   * safety.acknowledgeSelfDependency does). Absent: not checked (the simulator).
   */
  config?: ControlPlaneConfig & Pick<Config, 'safety'>;
}

/** The newest stored inventory, or an empty version 0. */
export async function currentInventory(store: InventoryStore): Promise<StoredInventory> {
  const stored = await store.readInventory();
  return stored ?? {
    version: 0, createdAtMs: 0, actor: '', reason: '', forced: false, names: 0, summary: '', endpoints: [],
    services: [],
  };
}

/**
 * `dnsplane apply` (and the API's POST /api/inventory, and `up` on SIGHUP): diff the new endpoints against the
 * newest version, refuse above the name threshold unless forced, and store a new version by compare-and-swap on
 * the version the diff was made against — two concurrent applies cannot both win; the loser is told to re-diff.
 */
export async function applyInventory(
  store: InventoryStore & History, inventory: Inventory, options: ApplyOptions,
): Promise<ApplyOutcome> {
  const { endpoints, services } = inventory;
  assert(endpoints.length > 0, 'S1', 'an inventory with no names would remove every name');
  const current = await currentInventory(store);
  const diff = diffInventories(current, inventory);
  if (options.baseVersion !== undefined && options.baseVersion !== current.version) {
    return { kind: 'stale', current: current.version, diff };
  }
  if (isEmptyDiff(diff)) return { kind: 'unchanged', version: current.version, diff };
  const selfDependency = options.config === undefined ? null : selfDependencyRefusal(options.config, inventory);
  if (selfDependency !== null) throw new UserError(selfDependency);
  const refusal = inventoryRefusal(diff, options.policy);
  if (refusal !== null && !options.force) return { kind: 'refused', version: current.version, reason: refusal, diff };
  const summary = summarize(diff);
  const result = await store.putInventory({
    baseVersion: current.version, endpoints, services, actor: options.actor, reason: options.reason,
    forced: refusal !== null, summary,
  });
  if (!result.ok) return { kind: 'stale', current: result.current, diff };
  const { version } = result.info;
  assert(version === current.version + 1, 'internal', `inventory version ${version} after ${current.version}`);
  await store.appendHistory(historyOf(result.info, diff, refusal));
  return { kind: 'applied', info: result.info, diff, forcedOver: refusal };
}

/** A history entry of an inventory action (no generation: the plans it leads to record their own). */
function actionEntry(actor: string, name: string, detail: string): HistoryEntry {
  return { name, fromGeneration: 0, toGeneration: 0, actor, kind: 'action', detail };
}

function historyOf(info: InventoryVersionInfo, diff: InventoryDiff, refusal: string | null): HistoryEntry[] {
  const why = `${info.reason}${refusal === null ? '' : ` (forced over: ${refusal})`}`;
  const entries: HistoryEntry[] = [actionEntry(info.actor, '*', `inventory v${info.version}: ${info.summary}: ${why}`)];
  for (const entry of diff.names.slice(0, historyNamesMax)) {
    entries.push(actionEntry(info.actor, entry.name, `inventory v${info.version} ${entry.kind}: ${why}`));
  }
  return entries;
}

/**
 * The inventory a role starts from: the store's newest version, or — when the store has none yet — the config
 * file's endpoints stored as version 1 (`source` says which file). Two roles seeding at once race on the same
 * compare-and-swap; the loser reads the winner's version.
 */
export async function seedInventory(
  store: InventoryStore & History, inventory: Inventory, source: string,
): Promise<StoredInventory> {
  const stored = await store.readInventory();
  if (stored !== null) return stored;
  const { endpoints, services } = inventory;
  const names = `${endpoints.length} names`;
  const reason = `seeded from ${source}`;
  const seed = { baseVersion: 0, endpoints, services, actor: source, reason, forced: false, summary: names };
  const result = await store.putInventory(seed);
  if (result.ok) {
    const detail = `inventory v1: ${names} ${reason}`;
    await store.appendHistory([actionEntry(source, '*', detail)]);
  }
  const seeded = await store.readInventory();
  assert(seeded !== null, 'internal', 'the inventory was seeded but cannot be read');
  return seeded;
}
