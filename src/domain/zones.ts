import { assert } from '../util/assert.js';
import { isInZone, normalizeName } from './names.js';

/**
 * The zones of one installation (config `zone:`, or `zones:` for several), normalised, the first one first. One
 * rule decides which zone a name is in and how a configured name is qualified, for the config, the inventory, the
 * planner's check, the provider routing and the read commands:
 * - a name that is, or ends in, one of the zones is in the longest of them (zones never nest: the config refuses it,
 *   so there is at most one);
 * - any other name is relative to the first zone ("web" is web.<first zone>).
 */
export class ZoneSet {
  readonly names: readonly string[];

  constructor(names: readonly string[]) {
    assert(names.length > 0, 'internal', 'an installation has at least one zone');
    this.names = names.map((name) => normalizeName(name));
    const repeated = () => `zones repeated: ${this.names.join(', ')}`;
    assert(new Set(this.names).size === this.names.length, 'internal', repeated);
  }

  /** The first zone: relative names are qualified into it. */
  get primary(): string {
    return this.names[0]!;
  }

  /** The zone `name` is in, or null when it is in none of them. */
  zoneOf(name: string): string | null {
    let found: string | null = null;
    for (const zone of this.names) {
      if (isInZone(name, zone) && (found === null || zone.length > found.length)) found = zone;
    }
    return found;
  }

  /** A configured name as served: as is when it is in one of the zones, else qualified into the first. */
  qualify(raw: string): string {
    const name = normalizeName(raw);
    return this.zoneOf(name) === null ? `${name}.${this.primary}` : name;
  }

  /** "z1." or "z1., z2." for messages. */
  toString(): string {
    return this.names.map((name) => `${name}.`).join(', ');
  }
}

/** Two zone names one of which is inside the other, or null: one installation's zones never nest. */
export function nestedZones(names: readonly string[]): [string, string] | null {
  const normalized = names.map((name) => normalizeName(name));
  for (const inner of normalized) {
    const outer = normalized.find((zone) => zone !== inner && isInZone(inner, zone));
    if (outer !== undefined) return [inner, outer];
  }
  return null;
}

/** A zone given as one name or as an installation's zones. */
export function zoneSet(zone: string | ZoneSet): ZoneSet {
  return typeof zone === 'string' ? new ZoneSet([zone]) : zone;
}

/** The heartbeat id of an enactor process's loop for one zone of several: `<id>@<zone>`. */
export function zoneLoopId(id: string, zone: string): string {
  return `${id}@${zone}`;
}

/** Whether an enactor heartbeat id is a loop of `zone` (zoneLoopId). */
export function isZoneLoopOf(loopId: string, zone: string): boolean {
  return loopId.endsWith(`@${zone}`);
}
