import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.js';
import type { EndpointSpec } from '../domain/types.js';
import type { Provider } from '../providers/types.js';
import type { InventoryStore, Store } from '../store/types.js';
import { ConvergenceTracker } from '../status/report.js';
import { silentLogger, type Logger } from '../util/log.js';
import { Authenticator, resolveTokens, type ApiTokens } from './auth.js';
import { installErrorHandler } from './errors.js';
import { EventHub } from './events.js';
import { HealthReader } from './health-reader.js';
import { InventoryIndex } from './inventory.js';
import { MetricsExporter } from './metrics.js';
import type { RouteRegistry } from './schema.js';
import { compactStatus, registerStatusRoutes } from './routes/status.js';
import { registerNameRoutes } from './routes/names.js';
import { registerPlanRoutes } from './routes/plans.js';
import { registerEnactorRoutes } from './routes/enactors.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerAlarmRoutes } from './routes/alarms.js';
import { registerTargetRoutes } from './routes/targets.js';
import { registerZoneRoutes } from './routes/zone.js';
import { registerInventoryRoutes } from './routes/inventory.js';
import { registerEventRoutes } from './routes/events.js';
import { registerMetricsRoutes } from './routes/metrics.js';
import { registerOpenApiRoutes } from './routes/openapi.js';
import { registerDashboardRoutes } from './routes/dashboard.js';
import { registerGraphRoutes } from './routes/graph.js';
import type { ApiContext, ApiState } from './state.js';
import { GraphSource } from './graph-source.js';

export type { ApiContext } from './state.js';

export interface BuildOptions {
  /** Tokens; default: DNSPLANE_API_TOKEN / DNSPLANE_API_READ_TOKEN, else api.token / api.readToken of the config. */
  tokens?: ApiTokens;
  /** Check every JSON response against its schema (tests). */
  validateResponses?: boolean;
  log?: Logger;
  /** Server-sent events: how often the status is rebuilt, and the longest gap between two messages. */
  eventsTickMs?: number;
  eventsPushIntervalMs?: number;
}

/** Largest request body accepted: an action body is one short reason. */
const bodyLimitBytes = 16 * 1024;
const eventBufferedBytesMax = 1024 * 1024;

/**
 * The HTTP API, dashboard and metrics of one installation, as a Fastify
 * instance (not listening: the caller listens, tests use `app.inject()`).
 * Operator actions only write controls into the store (drains, freezes,
 * queued requests) for the planner, enactors and reconciler to carry out;
 * nothing here writes to DNS.
 */
export function buildApp(context: ApiContext, options: BuildOptions = {}): FastifyInstance {
  const log = options.log ?? silentLogger;
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: bodyLimitBytes,
    forceCloseConnections: true,
  });
  // Without tokens from the caller (the CLI reads the environment), only the config's count.
  const auth = new Authenticator(options.tokens ?? resolveTokens(context.config.api, {}));
  const registry: RouteRegistry = {
    routes: [],
    validateResponses: options.validateResponses ?? false,
    authorize: (request, access) => auth.authorize(request, access),
  };
  const tracker = new ConvergenceTracker(context.store, context.provider);
  const index = new InventoryIndex(context.inventory, context.zones);
  let indexed = context.inventory;
  const api = context.config.api;
  const health = new HealthReader(context.store);
  const metrics = new MetricsExporter(
    { store: context.store, tracker, index, health },
    {
      namesMax: api.metricsNamesMax,
      targetsMax: api.metricsTargetsMax,
      counterSeriesMax: api.metricsCounterSeriesMax,
    },
  );
  // The hub builds its messages from `state`, which exists by the time the first client connects.
  const events = new EventHub(() => compactStatus(state), {
    tickMs: options.eventsTickMs ?? 100,
    pushIntervalMs: options.eventsPushIntervalMs ?? 500,
    clientsMax: api.eventClientsMax,
    bufferedBytesMax: eventBufferedBytesMax,
  }, log);
  const graph = new GraphSource(context);
  // Built before the API listens (about 2 s at 100,000 names), not by the first request that needs it.
  graph.current();
  const state: ApiState = { context, tracker, index, graph, health, registry, auth, log, metrics, events };

  installErrorHandler(app);
  // Beyond loopback, reads need a token (src/api/auth.ts), on the routes served by hand (metrics, events, OpenAPI) as
  // on the others; the dashboard's page and assets hold no data and stay open.
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    if (auth.readsNeedToken && route !== '/' && route !== '/static/:file') auth.authorize(request, 'read');
  });
  // Every request sees the inventory version the process follows now (rebuilt once per new version).
  app.addHook('onRequest', async () => {
    if (context.inventory === indexed) return;
    indexed = context.inventory;
    index.update(indexed);
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.requests.inc({
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    });
  });
  // Streams end before the server closes; otherwise close() would wait for dashboards to hang up.
  app.addHook('preClose', async () => events.close());
  // The first status read walks the whole plan and every served name once; do it before the first request.
  app.addHook('onReady', async () => {
    await tracker.refresh();
  });

  registerStatusRoutes(app, state);
  registerNameRoutes(app, state);
  registerPlanRoutes(app, state);
  registerEnactorRoutes(app, state);
  registerHealthRoutes(app, state);
  registerAlarmRoutes(app, state);
  registerTargetRoutes(app, state);
  registerZoneRoutes(app, state);
  registerInventoryRoutes(app, state);
  registerGraphRoutes(app, state);
  registerEventRoutes(app, state);
  registerMetricsRoutes(app, state);
  registerOpenApiRoutes(app, state);
  registerDashboardRoutes(app, state);
  return app;
}
