import type { FastifyInstance } from 'fastify';
import type { ApiState } from '../state.js';
import { recordAction } from '../actions.js';
import { actionSchema, reasonBody } from '../models.js';
import { defineRoute } from '../schema.js';

export function registerZoneRoutes(app: FastifyInstance, state: ApiState): void {
  const { store } = state.context;
  for (const frozen of [true, false]) {
    defineRoute(app, state.registry, {
      method: 'POST', url: `/api/zone/${frozen ? 'freeze' : 'unfreeze'}`, tag: 'actions', access: 'write',
      body: reasonBody, response: actionSchema, successStatus: 202,
      summary: frozen
        ? 'Freeze the whole zone: no enactor or reconciler changes any name until unfrozen'
        : 'Unfreeze the zone',
      handler: async ({ body, actor }) => {
        const before = (await store.listFreezes()).includes('*');
        await store.setFreeze('*', frozen);
        return recordAction(state, actor, frozen ? 'zone-freeze' : 'zone-unfreeze', '*', [], {
          reason: body.reason, changed: before !== frozen, requestId: null,
          effect: frozen
            ? 'enactors and the reconciler change nothing until the zone is unfrozen'
            : 'enactors bring every name to the newest plan on their next pass',
        });
      },
    });
  }
}
