import type { EndpointSpec, Inventory, ServiceSpec, TargetSpec } from '../domain/types.js';
import { assert } from '../util/assert.js';

/**
 * What an inventory change does, name by name — pure, so `diff`, `apply`, the API and the dashboard all show the
 * same thing and a property test can compare it with what the planner then does.
 */

export interface TargetChange {
  id: string;
  before: TargetSpec | null;
  after: TargetSpec | null;
}

export interface NameDiff {
  name: string;
  kind: 'added' | 'removed' | 'changed';
  /** For a changed name: the targets added, removed or edited (address, az, capacity, pool, check). */
  targets: TargetChange[];
}

/** A service of the dependency graph added, removed or edited (no DNS answer changes with it). */
export interface ServiceDiff {
  id: string;
  kind: 'added' | 'removed' | 'changed';
  before: ServiceSpec | null;
  after: ServiceSpec | null;
}

export interface InventoryDiff {
  /** In name order. */
  names: NameDiff[];
  /** In id order. */
  services: ServiceDiff[];
  added: number;
  removed: number;
  changed: number;
  namesBefore: number;
  namesAfter: number;
}

export interface InventoryPolicy {
  maxChangedFraction: number;
  minNamesForThreshold: number;
}

function sameTarget(before: TargetSpec, after: TargetSpec): boolean {
  return JSON.stringify(normalTarget(before)) === JSON.stringify(normalTarget(after));
}

/** A target with its optional fields made explicit and its keys in one order, so equal targets compare equal. */
function normalTarget(target: TargetSpec): Record<string, unknown> {
  const check = target.check === undefined ? null : Object.fromEntries(
    Object.entries(target.check).filter(([, value]) => value !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return {
    id: target.id,
    address: target.address,
    az: target.az,
    capacity: target.capacity,
    pool: target.pool ?? 'primary',
    check,
  };
}

function targetChanges(before: EndpointSpec, after: EndpointSpec): TargetChange[] {
  const old = new Map(before.targets.map((target) => [target.id, target]));
  const now = new Map(after.targets.map((target) => [target.id, target]));
  const changes: TargetChange[] = [];
  for (const id of [...new Set([...old.keys(), ...now.keys()])].sort()) {
    const [was, is] = [old.get(id) ?? null, now.get(id) ?? null];
    if (was !== null && is !== null && sameTarget(was, is)) continue;
    changes.push({ id, before: was, after: is });
  }
  return changes;
}

/** A service with its optional fields explicit and its lists sorted, so equal services compare equal. */
function normalService(service: ServiceSpec): string {
  return JSON.stringify([
    service.id, service.criticality, [...service.names].sort(), [...service.services].sort(), service.description ?? '',
  ]);
}

function serviceChanges(before: readonly ServiceSpec[], after: readonly ServiceSpec[]): ServiceDiff[] {
  const old = new Map(before.map((service) => [service.id, service]));
  const now = new Map(after.map((service) => [service.id, service]));
  assert(old.size === before.length, 'internal', 'an inventory holds each service once (before)');
  assert(now.size === after.length, 'internal', 'an inventory holds each service once (after)');
  const changes: ServiceDiff[] = [];
  for (const id of [...new Set([...old.keys(), ...now.keys()])].sort()) {
    const [was, is] = [old.get(id) ?? null, now.get(id) ?? null];
    if (was !== null && is !== null && normalService(was) === normalService(is)) continue;
    changes.push({ id, kind: was === null ? 'added' : is === null ? 'removed' : 'changed', before: was, after: is });
  }
  return changes;
}

/** Whether the diff changes anything at all: a name, or a service of the graph. */
export function isEmptyDiff(diff: InventoryDiff): boolean {
  return diff.names.length === 0 && diff.services.length === 0;
}

export function diffInventories(beforeInventory: Inventory, afterInventory: Inventory): InventoryDiff {
  const [before, after] = [beforeInventory.endpoints, afterInventory.endpoints];
  const old = new Map(before.map((endpoint) => [endpoint.name, endpoint]));
  const now = new Map(after.map((endpoint) => [endpoint.name, endpoint]));
  assert(old.size === before.length && now.size === after.length, 'internal', 'an inventory holds each name once');
  const names: NameDiff[] = [];
  for (const name of [...new Set([...old.keys(), ...now.keys()])].sort()) {
    const [was, is] = [old.get(name), now.get(name)];
    if (was === undefined) {
      names.push({
        name,
        kind: 'added',
        targets: is!.targets.map((target) => ({ id: target.id, before: null, after: target })),
      });
    } else if (is === undefined) {
      names.push({
        name,
        kind: 'removed',
        targets: was.targets.map((target) => ({ id: target.id, before: target, after: null })),
      });
    } else {
      const targets = targetChanges(was, is);
      if (targets.length > 0) names.push({ name, kind: 'changed', targets });
    }
  }
  const count = (kind: NameDiff['kind']) => names.filter((entry) => entry.kind === kind).length;
  return {
    names, services: serviceChanges(beforeInventory.services, afterInventory.services),
    added: count('added'), removed: count('removed'), changed: count('changed'),
    namesBefore: before.length, namesAfter: after.length,
  };
}

export function summarize(diff: InventoryDiff): string {
  if (isEmptyDiff(diff)) return 'no change';
  const services = diff.services.length === 0 ? '' : `; ${diff.services.length} services added, removed or edited`;
  return `${diff.added} added, ${diff.removed} removed, ${diff.changed} changed `
    + `(${diff.namesBefore} → ${diff.namesAfter} names)`
    + services;
}

/**
 * The name threshold at apply (octoDNS's): refuse when the names removed or changed exceed `maxChangedFraction`
 * of the names there are now (adding names never empties anything, so additions do not count). The first
 * inventory, and inventories smaller than `minNamesForThreshold`, are never refused.
 */
export function inventoryRefusal(diff: InventoryDiff, policy: InventoryPolicy): string | null {
  if (diff.namesBefore === 0 || diff.namesBefore < policy.minNamesForThreshold) return null;
  const touched = diff.removed + diff.changed;
  const fraction = touched / diff.namesBefore;
  if (fraction <= policy.maxChangedFraction) return null;
  return `the change removes or edits ${touched} of ${diff.namesBefore} names (${(fraction * 100).toFixed(1)}%), `
    + `above safety.maxChangedFraction ${(policy.maxChangedFraction * 100).toFixed(1)}%`;
}

function describeTarget(target: TargetSpec): string {
  const check = target.check === undefined
    ? ''
    : ` check ${target.check.http ?? target.check.https ?? target.check.tcp ?? ''}`;
  return `${target.address} ${target.az} capacity ${target.capacity}`
    + `${(target.pool ?? 'primary') === 'secondary' ? ' secondary' : ''}${check}`;
}

/** The diff as lines for a terminal: one per name, then one per target change below it. */
export function formatDiff(diff: InventoryDiff, namesMax = 200): string[] {
  const lines: string[] = [];
  for (const entry of diff.names.slice(0, namesMax)) {
    const sign = entry.kind === 'added' ? '+' : entry.kind === 'removed' ? '-' : '~';
    lines.push(
      `${sign} ${entry.name} (${entry.kind}${entry.kind === 'changed' ? '' : `, ${entry.targets.length} targets`})`,
    );
    if (entry.kind !== 'changed') continue;
    for (const change of entry.targets) {
      if (change.before === null) lines.push(`    + ${change.id}: ${describeTarget(change.after!)}`);
      else if (change.after === null) lines.push(`    - ${change.id}: ${describeTarget(change.before)}`);
      else lines.push(`    ~ ${change.id}: ${describeTarget(change.before)} → ${describeTarget(change.after)}`);
    }
  }
  if (diff.names.length > namesMax) lines.push(`… and ${diff.names.length - namesMax} more names`);
  for (const change of diff.services.slice(0, namesMax)) {
    const sign = change.kind === 'added' ? '+' : change.kind === 'removed' ? '-' : '~';
    lines.push(`${sign} service:${change.id} (${change.kind})`);
  }
  if (diff.services.length > namesMax) lines.push(`… and ${diff.services.length - namesMax} more services`);
  lines.push(summarize(diff));
  return lines;
}
