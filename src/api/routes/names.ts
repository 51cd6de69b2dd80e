import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiState } from '../state.js';
import { recordAction, requireActor } from '../actions.js';
import type { Actor } from '../auth.js';
import {
  actionSchema, alarmSchema, generation, historySchema, nameItemSchema, nameParam, pageQuery, reasonBody,
} from '../models.js';
import { defineRoute } from '../schema.js';
import { managedName, nameItems } from '../views.js';

/** History entries shown with one name. */
const nameHistoryMax = 50;

const namesQuery = z.strictObject({
  ...pageQuery,
  q: z.string().max(254).default('').describe('name prefix, e.g. "svc1" or "dynamodb."'),
});

const namesPage = z.object({
  total: z.number().int().describe('names matching q'),
  offset: z.number().int(),
  limit: z.number().int(),
  q: z.string(),
  generation: generation.describe('newest plan generation when the page was read'),
  items: z.array(nameItemSchema),
});

const nameDetail = nameItemSchema.extend({
  history: z.array(historySchema).describe(`the last ${nameHistoryMax} changes and actions, oldest first`),
  alarmsFull: z.array(alarmSchema),
});

export function registerNameRoutes(app: FastifyInstance, state: ApiState): void {
  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/names', tag: 'names', access: 'read', query: namesQuery, response: namesPage,
    summary: 'Managed names with served records, weights, enacted generation and the newest plan '
      + '(paginated, prefix filter)',
    handler: async ({ query }) => {
      const [start, end] = state.index.prefixRange(query.q);
      const from = Math.min(end, start + query.offset);
      const names = state.index.names.slice(from, Math.min(end, from + query.limit));
      const { latest, items } = await nameItems(state, names);
      return { total: end - start, offset: query.offset, limit: query.limit, q: query.q, generation: latest, items };
    },
  });

  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/names/:name', tag: 'names', access: 'read', params: nameParam, response: nameDetail,
    errors: [404],
    summary: 'One name: served records, the newest plan, targets with health, alarms and history',
    handler: async ({ params }) => {
      const name = managedName(state, params.name);
      const { items } = await nameItems(state, [name]);
      const history = await state.context.store.readHistory(name, nameHistoryMax);
      const alarmsFull = (await state.context.store.listAlarms(false)).filter((alarm) => alarm.name === name);
      return { ...items[0]!, history, alarmsFull };
    },
  });

  const freezeAction = (frozen: boolean) => async (
    { params, body, actor }: { params: { name: string }; body: { reason: string }; actor: Actor | null },
  ) => {
    const name = managedName(state, params.name);
    const before = (await state.context.store.listFreezes()).includes(name);
    await state.context.store.setFreeze(name, frozen);
    return recordAction(state, actor, frozen ? 'freeze' : 'unfreeze', name, [name], {
      reason: body.reason, changed: before !== frozen, requestId: null,
      effect: frozen
        ? 'enactors and the reconciler leave the name exactly as it is until it is unfrozen'
        : 'enactors bring the name to the newest plan on their next pass',
    });
  };
  for (const frozen of [true, false]) {
    defineRoute(app, state.registry, {
      method: 'POST', url: `/api/names/:name/${frozen ? 'freeze' : 'unfreeze'}`, tag: 'actions', access: 'write',
      params: nameParam, body: reasonBody,
      response: actionSchema, successStatus: 202, errors: [404],
      summary: frozen ? 'Freeze a name: enactors and the reconciler leave it exactly as it is' : 'Unfreeze a name',
      handler: freezeAction(frozen),
    });
  }

  defineRoute(app, state.registry, {
    method: 'POST', url: '/api/names/:name/reenact', tag: 'actions', access: 'write', params: nameParam,
    body: reasonBody,
    response: actionSchema, successStatus: 202, errors: [404],
    summary: 'Re-enact a name: the reconciler rewrites it with the newest plan on its next pass '
      + '(compare-and-swap guarded)',
    handler: async ({ params, body, actor }) => {
      const name = managedName(state, params.name);
      const requestId = await state.context.store.addRequest('reenact', name, requireActor(actor).id, body.reason);
      return recordAction(state, actor, 'reenact', name, [name], {
        reason: body.reason, changed: true, requestId,
        effect: 'the reconciler rewrites the name with the newest plan on its next pass',
      });
    },
  });
}
