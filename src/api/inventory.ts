import type { EndpointSpec, TargetSpec } from '../domain/types.js';
import { normalizeName } from '../domain/names.js';
import type { ZoneSet } from '../domain/zones.js';
import { assert } from '../util/assert.js';

/**
 * The managed names and targets, indexed for the API: names sorted once, so
 * a prefix filter is two binary searches and a page is a slice — 100,000
 * names cost the same as 100. Targets are listed in inventory order through
 * prefix sums (no per-target objects), and looked up by id through a map
 * built on first use (a drain), since most installations never need it.
 */

export interface TargetRow {
  target: TargetSpec;
  /** The endpoint (name) the target was found under; a target shared by several names is listed once per name. */
  name: string;
}

/** Endpoints a target id appears in, kept for the history of a drain (a shared target changes every one of them). */
const endpointsPerTargetMax = 1000;

export class InventoryIndex {
  /** Managed names, sorted. */
  names: string[] = [];
  private endpoints = new Map<string, EndpointSpec>();
  /** targetsBefore[i]: targets in sorted endpoints before the i-th. */
  private targetsBefore: number[] = [0];
  private targetEndpoints: Map<string, string[]> | null = null;

  constructor(inventory: readonly EndpointSpec[], readonly zones: ZoneSet) {
    this.update(inventory);
  }

  /** Rebuilds the index for a new inventory version (the API follows the store's newest without a restart). */
  update(inventory: readonly EndpointSpec[]): void {
    const endpoints = new Map<string, EndpointSpec>();
    for (const endpoint of inventory) endpoints.set(endpoint.name, endpoint);
    assert(endpoints.size === inventory.length, 'internal', 'the inventory has duplicate names');
    const names = [...endpoints.keys()].sort();
    const targetsBefore = new Array<number>(names.length + 1);
    targetsBefore[0] = 0;
    names.forEach((name, index) => {
      targetsBefore[index + 1] = targetsBefore[index]! + endpoints.get(name)!.targets.length;
    });
    this.endpoints = endpoints;
    this.names = names;
    this.targetsBefore = targetsBefore;
    this.targetEndpoints = null;
  }

  get targetRowsTotal(): number {
    return this.targetsBefore[this.names.length]!;
  }

  endpoint(name: string): EndpointSpec | undefined {
    return this.endpoints.get(name);
  }

  /**
   * A name as a user may type it ("svc1", "svc1.dnsplane.test", "SVC1.dnsplane.test.") to the managed name, or null.
   */
  resolveName(raw: string): string | null {
    const normalized = normalizeName(raw);
    if (this.endpoints.has(normalized)) return normalized;
    const qualified = this.zones.qualify(normalized);
    return this.endpoints.has(qualified) ? qualified : null;
  }

  /** [start, end) of the sorted names beginning with `prefix`. */
  prefixRange(prefix: string): [number, number] {
    const normalized = prefix.trim().toLowerCase();
    if (normalized.length === 0) return [0, this.names.length];
    const start = this.lowerBound(normalized);
    // Names are ASCII, so every name with the prefix sorts below prefix + U+FFFF.
    const end = this.lowerBound(`${normalized}\uffff`);
    assert(start <= end, 'internal', `prefix range ${start}..${end}`);
    return [start, end];
  }

  private lowerBound(key: string): number {
    let low = 0;
    let high = this.names.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.names[middle]! < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The `offset`-th to `offset + limit`-th target rows, in name order. */
  targetRows(offset: number, limit: number): TargetRow[] {
    assert(offset >= 0 && limit >= 0, 'internal', `target rows ${offset}+${limit}`);
    const rows: TargetRow[] = [];
    // The endpoint holding row `offset`: the last index whose targetsBefore is <= offset.
    let low = 0;
    let high = this.names.length;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.targetsBefore[middle]! <= offset) low = middle;
      else high = middle - 1;
    }
    for (let index = low; index < this.names.length && rows.length < limit; index += 1) {
      const name = this.names[index]!;
      const targets = this.endpoints.get(name)!.targets;
      const first = index === low ? offset - this.targetsBefore[index]! : 0;
      for (let t = first; t < targets.length && rows.length < limit; t += 1) rows.push({ target: targets[t]!, name });
    }
    return rows;
  }

  /** The names a target id serves (at most endpointsPerTargetMax), or null for an unknown target. */
  namesOfTarget(id: string): string[] | null {
    if (this.targetEndpoints === null) {
      const map = new Map<string, string[]>();
      for (const name of this.names) {
        for (const target of this.endpoints.get(name)!.targets) {
          const names = map.get(target.id);
          if (names === undefined) map.set(target.id, [name]);
          else if (names.length < endpointsPerTargetMax) names.push(name);
        }
      }
      this.targetEndpoints = map;
    }
    return this.targetEndpoints.get(id) ?? null;
  }
}
