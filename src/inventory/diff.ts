import type { EndpointSpec, TargetSpec } from '../domain/types.js';
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

export interface InventoryDiff {
  /** In name order. */
  names: NameDiff[];
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

export function diffInventories(before: readonly EndpointSpec[], after: readonly EndpointSpec[]): InventoryDiff {
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
    names,
    added: count('added'),
    removed: count('removed'),
    changed: count('changed'),
    namesBefore: before.length,
    namesAfter: after.length,
  };
}

export function summarize(diff: InventoryDiff): string {
  if (diff.names.length === 0) return 'no change';
  return `${diff.added} added, ${diff.removed} removed, ${diff.changed} changed `
    + `(${diff.namesBefore} → ${diff.namesAfter} names)`;
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
  lines.push(summarize(diff));
  return lines;
}
