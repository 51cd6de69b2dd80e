import type { FastifyInstance } from 'fastify';
import type { ApiState } from '../state.js';
import { statusSchema } from '../models.js';
import { defineRoute } from '../schema.js';
import { version } from '../../util/version.js';
import { checkersReport, enactorViews, statusReport } from '../../status/report.js';

/** Alarms carried by one event message; the banner shows these and the total count. */
const eventAlarmsMax = 20;
/** Drains and freezes carried by one event message. */
const eventControlsMax = 100;

export function registerStatusRoutes(app: FastifyInstance, state: ApiState): void {
  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/status', tag: 'status', access: 'read', response: statusSchema,
    summary: 'Generations, convergence, enactors, active alarms and counters',
    description: 'The same report as `dnsplane status --json`, '
      + 'kept cheap by an incrementally maintained convergence view.',
    handler: async () => {
      const { store } = state.context;
      const listed = await statusReport(state.context, state.tracker);
      const report = { ...listed, alarms: state.graph.rankAlarms(listed.alarms) };
      return {
        version,
        ...report,
        inventoryVersion: state.context.inventoryVersion,
        drains: await store.listDrains(),
        freezes: await store.listFreezes(),
        nowMs: Date.now(),
      };
    },
  });
}

/** The compact status pushed to dashboards over server-sent events (bounded lists; the page fetches details itself). */
export async function compactStatus(state: ApiState): Promise<{ nowMs: number } & Record<string, unknown>> {
  const { store } = state.context;
  const convergence = await state.tracker.refresh();
  const now = Date.now();
  const alarms = state.graph.rankAlarms(await store.listAlarms(true));
  const drains = await store.listDrains();
  const freezes = await store.listFreezes();
  return {
    nowMs: now,
    zone: state.context.zone,
    zones: state.tracker.zones(state.context.zone),
    generation: { latest: convergence.generation, oldest: await store.oldestGeneration() },
    servedVersion: convergence.servedVersion,
    names: { total: convergence.total, converged: convergence.converged, behind: convergence.behindSample },
    enactors: enactorViews(await store.listEnactors(), now).map(
      ({ id, heldGeneration, enactedGeneration, heartbeatAtMs, alive }) =>
        ({ id, heldGeneration, enactedGeneration, heartbeatAtMs, alive }),
    ),
    health: checkersReport(await store.listCheckerViews(), now),
    inventoryVersion: state.context.inventoryVersion,
    alarms: {
      total: alarms.length,
      items: alarms.slice(0, eventAlarmsMax).map(
        ({ kind, name, message, count, raisedAtMs, blastRadius }) =>
          ({ kind, name, message, count, raisedAtMs, blastRadius }),
      ),
    },
    drains: drains.slice(0, eventControlsMax),
    freezes: freezes.slice(0, eventControlsMax),
    mutations: state.auth.mutationsEnabled,
  };
}
