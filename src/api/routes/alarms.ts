import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiState } from '../state.js';
import { alarmSchema, historySchema } from '../models.js';
import { defineRoute } from '../schema.js';

const booleanText = z.enum(['true', 'false']).transform((value) => value === 'true');

export function registerAlarmRoutes(app: FastifyInstance, state: ApiState): void {
  const { store } = state.context;
  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/alarms', tag: 'alarms', access: 'read',
    query: z.strictObject({
      active: booleanText.default(true).describe('false: also alarms already cleared'),
      limit: z.coerce.number().int().min(1).max(1000).default(200),
    }),
    response: z.object({ total: z.number().int(), items: z.array(alarmSchema) }),
    summary: 'Alarms (drift, fail-open, safety-threshold, invalid-plan, ...), ranked by blast radius',
    description: 'Most critical dependent services first (the services that depend on the alarmed name, '
      + 'transitively; every service for a zone-wide alarm), then most dependents, then most recent.',
    handler: async ({ query }) => {
      const alarms = state.graph.rankAlarms(await store.listAlarms(query.active));
      return { total: alarms.length, items: alarms.slice(0, query.limit) };
    },
  });

  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/history', tag: 'alarms', access: 'read',
    query: z.strictObject({
      name: z.string().min(1).max(254).optional()
        .describe('one name ("*" for zone-wide actions); all names when absent'),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
    response: z.object({ items: z.array(historySchema) }),
    summary: 'History of enactments, repairs and operator actions, oldest first',
    handler: async ({ query }) => {
      const name = query.name === undefined || query.name === '*'
        ? query.name ?? null
        : state.index.resolveName(query.name) ?? query.name;
      return { items: await store.readHistory(name, query.limit) };
    },
  });
}
