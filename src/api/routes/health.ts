import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiState } from '../state.js';
import { healthState, pageQuery } from '../models.js';
import { defineRoute } from '../schema.js';
import type { TargetRow } from '../inventory.js';

const healthItem = z.object({
  target: z.string(),
  name: z.string().describe('the endpoint the target serves (a shared target is listed once per endpoint)'),
  address: z.string(),
  az: z.string(),
  capacity: z.number().int(),
  state: healthState,
  source: z.string().nullable().describe('who reported the state: a checker, or "operator"'),
  updatedAtMs: z.number().nullable(),
  drained: z.boolean(),
});

export function registerHealthRoutes(app: FastifyInstance, state: ApiState): void {
  const { store } = state.context;
  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/health', tag: 'health', access: 'read',
    query: z.strictObject({
      ...pageQuery,
      state: z.enum(['up', 'down']).optional().describe('only targets reported in this state'),
    }),
    response: z.object({
      total: z.number().int().describe(
        'without `state`: target rows (one per endpoint and target); with it: reported targets in that state',
      ),
      summary: z.object({
        targetRows: z.number().int(),
        up: z.number().int(),
        down: z.number().int(),
        drained: z.number().int(),
      }),
      items: z.array(healthItem),
    }),
    summary: 'Health of every target, in name order (paginated); '
      + '`state` pages through the targets reported up or down instead',
    handler: async ({ query }) => {
      const drains = new Set(await store.listDrains());
      const counts = await state.health.countByState();
      let total: number;
      let rows: TargetRow[];
      if (query.state === undefined) {
        total = state.index.targetRowsTotal;
        rows = state.index.targetRows(query.offset, query.limit);
      } else {
        // Paged by reported target (a target shared by several names appears once per name on its page).
        total = counts[query.state];
        rows = [];
        for (const record of await state.health.list(query.state, query.offset, query.limit)) {
          for (const name of state.index.namesOfTarget(record.target) ?? []) {
            rows.push({
              target: state.index.endpoint(name)!.targets.find((candidate) => candidate.id === record.target)!,
              name,
            });
          }
        }
      }
      const records = await state.health.of(rows.map((row) => row.target.id));
      return {
        total,
        summary: { targetRows: state.index.targetRowsTotal, up: counts.up, down: counts.down, drained: drains.size },
        items: rows.map(({ target, name }) => {
          const record = records.get(target.id);
          return {
            target: target.id, name, address: target.address, az: target.az, capacity: target.capacity,
            state: record?.state ?? ('unknown' as const), source: record?.source ?? null,
            updatedAtMs: record?.updatedAtMs ?? null, drained: drains.has(target.id),
          };
        }),
      };
    },
  });
}
