import type { DependencyGraph } from '../graph/graph.js';
import {
  allServices, compareBlastRadius, dependentsOfName, dependentsText, type Dependents,
} from '../graph/dependents.js';
import type { Alarm } from '../store/types.js';
import { assert } from '../util/assert.js';

/** An alarm with the services that depend on what it is about (issue 19: alarms ranked by blast radius). */
export interface RankedAlarm extends Alarm {
  /** null: the alarm is not about a managed name or the zone (a checker, a DNS server). */
  dependents: Dependents | null;
  /** dependentsText: "3 services depend on it (2 critical: …)", or null. */
  blastRadius: string | null;
}

/** Alarms given their blast radius per listing; the rest keep their order after them, unranked. */
const rankedAlarmsMax = 1000;
/** Names whose dependents are remembered for the current graph. */
const cachedNamesMax = 10_000;

/**
 * Ranks alarms by blast radius: the most critical dependent services first, then the most dependents, then as
 * the store listed them (newest first). A zone-wide alarm ("*") has every service as its dependents. One per
 * reader (the API keeps one); the dependents of a name are computed once per graph.
 */
export class AlarmRanker {
  private graph: DependencyGraph | null = null;
  private readonly cache = new Map<string, Dependents | null>();

  rank(alarms: readonly Alarm[], graph: DependencyGraph): RankedAlarm[] {
    if (graph !== this.graph) {
      this.graph = graph;
      this.cache.clear();
    }
    const ranked = alarms.slice(0, rankedAlarmsMax).map((alarm, order) => {
      const dependents = this.dependents(alarm.name, graph);
      return {
        alarm: { ...alarm, dependents, blastRadius: dependents === null ? null : dependentsText(dependents) },
        order,
      };
    });
    ranked.sort((a, b) => compareBlastRadius(a.alarm.dependents, b.alarm.dependents) || a.order - b.order);
    const rest = alarms.slice(rankedAlarmsMax).map((alarm) => ({ ...alarm, dependents: null, blastRadius: null }));
    const result = [...ranked.map((entry) => entry.alarm), ...rest];
    assert(result.length === alarms.length, 'internal', `${result.length} alarms ranked of ${alarms.length}`);
    return result;
  }

  private dependents(name: string, graph: DependencyGraph): Dependents | null {
    const cached = this.cache.get(name);
    if (cached !== undefined || this.cache.has(name)) return cached ?? null;
    const dependents = name === '*' ? allServices(graph) : dependentsOfName(graph, name);
    if (this.cache.size >= cachedNamesMax) this.cache.clear();
    this.cache.set(name, dependents);
    return dependents;
  }
}

/** The alarms as a terminal shows them, ranked: one line each, with the blast radius when something depends. */
export function alarmLine(alarm: RankedAlarm): string {
  const radius = alarm.blastRadius === null ? '' : ` — ${alarm.blastRadius}`;
  return `  [${alarm.kind}] ${alarm.name}: ${alarm.message} (x${alarm.count})${radius}`;
}
