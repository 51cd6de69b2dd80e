import type { Config } from '../config/schema.js';
import type { ZoneSet } from '../domain/zones.js';
import type { EndpointSpec, ServiceSpec } from '../domain/types.js';
import type { Provider } from '../providers/types.js';
import type { InventoryStore, Store } from '../store/types.js';
import type { ConvergenceTracker } from '../status/report.js';
import type { Logger } from '../util/log.js';
import type { Authenticator } from './auth.js';
import type { EventHub } from './events.js';
import type { GraphSource } from './graph-source.js';
import type { HealthReader } from './health-reader.js';
import type { InventoryIndex } from './inventory.js';
import type { MetricsExporter } from './metrics.js';
import type { RouteRegistry } from './schema.js';

/**
 * What the API reads and writes: the installation's config, inventory, store and provider (an open CLI Context fits).
 */
export interface ApiContext {
  config: Config;
  /** The first zone; `zones` lists every one. */
  zone: string;
  zones: ZoneSet;
  /** Replaced (never mutated) when the process follows a new inventory version; the index follows it. */
  inventory: EndpointSpec[];
  /** The dependency graph's services of the same inventory version (replaced with it). */
  services: ServiceSpec[];
  inventoryVersion: number;
  store: Store & InventoryStore;
  provider: Provider;
}

/** Everything a route needs, built once per app. */
export interface ApiState {
  context: ApiContext;
  tracker: ConvergenceTracker;
  index: InventoryIndex;
  /** The dependency graph of the inventory version followed (graph routes, alarms ranked by blast radius). */
  graph: GraphSource;
  health: HealthReader;
  registry: RouteRegistry;
  auth: Authenticator;
  events: EventHub;
  metrics: MetricsExporter;
  log: Logger;
}
