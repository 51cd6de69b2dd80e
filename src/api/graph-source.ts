import { buildGraph } from '../graph/graph.js';
import type { ImpactReport } from '../graph/types.js';
import type { EndpointSpec, ServiceSpec } from '../domain/types.js';
import { AlarmRanker, type RankedAlarm } from '../status/blast-radius.js';
import type { Alarm } from '../store/types.js';
import { GraphIndex } from './graph-view.js';

/** What the API's context says of the inventory version it follows (an ApiContext is one). */
interface InventoryFollowed {
  readonly inventory: EndpointSpec[];
  readonly services: ServiceSpec[];
  readonly inventoryVersion: number;
}

/** One inventory version's graph, with the impact reports computed on it. */
export interface GraphEntry {
  version: number;
  index: GraphIndex;
  impacts: Map<string, ImpactReport>;
}

/**
 * The dependency graph of the inventory version the API follows, built once per version (the context's endpoints
 * and services are replaced together, never mutated, when a new version arrives): for the graph routes and for
 * ranking alarms by blast radius.
 */
export class GraphSource {
  private entry: GraphEntry | null = null;
  private builtFrom: { endpoints: readonly EndpointSpec[]; services: readonly ServiceSpec[] } | null = null;
  private readonly ranker = new AlarmRanker();

  constructor(private readonly context: InventoryFollowed) {}

  current(): GraphEntry {
    const { inventory: endpoints, services, inventoryVersion: version } = this.context;
    const from = this.builtFrom;
    const same = from?.endpoints === endpoints && from.services === services && this.entry?.version === version;
    if (this.entry === null || !same) {
      this.entry = { version, index: new GraphIndex(buildGraph({ endpoints, services })), impacts: new Map() };
      this.builtFrom = { endpoints, services };
    }
    return this.entry;
  }

  /** Alarms ranked by blast radius on the current graph (src/status/blast-radius.ts). */
  rankAlarms(alarms: readonly Alarm[]): RankedAlarm[] {
    return this.ranker.rank(alarms, this.current().index.graph);
  }
}
