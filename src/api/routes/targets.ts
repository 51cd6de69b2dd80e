import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiState } from '../state.js';
import { recordAction } from '../actions.js';
import { ApiError } from '../errors.js';
import { actionSchema, reasonBody } from '../models.js';
import { defineRoute } from '../schema.js';

const targetParam = z.strictObject({
  id: z.string().min(1).max(63).describe('target id from the inventory, e.g. "lb-1"'),
});

export function registerTargetRoutes(app: FastifyInstance, state: ApiState): void {
  const { store } = state.context;
  for (const drained of [true, false]) {
    defineRoute(app, state.registry, {
      method: 'POST', url: `/api/targets/:id/${drained ? 'drain' : 'undrain'}`, tag: 'actions', access: 'write',
      params: targetParam, body: reasonBody, response: actionSchema, successStatus: 202, errors: [404],
      summary: drained
        ? 'Drain a target: the planner gives it weight 0 in the next plan (kept only when nothing else is left); '
          + 'enactors apply that plan'
        : 'Undrain a target: the planner restores its weight in the next plan',
      handler: async ({ params, body, actor }) => {
        const names = state.index.namesOfTarget(params.id);
        if (names === null) throw new ApiError(404, 'not-found', `"${params.id}" is not a target of the inventory`);
        const before = (await store.listDrains()).includes(params.id);
        // A control for the planner, never a DNS write: the change reaches DNS as a plan, through the enactors'
        // compare-and-swap.
        await store.setDrain(params.id, drained);
        return recordAction(state, actor, drained ? 'drain' : 'undrain', params.id, names, {
          reason: body.reason, changed: before !== drained, requestId: null,
          effect: drained
            ? 'the planner publishes a plan with the target at weight 0; enactors apply it'
            : 'the planner publishes a plan with the target\'s weight restored',
        });
      },
    });
  }
}
