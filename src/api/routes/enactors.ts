import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiState } from '../state.js';
import { enactorSchema, generation } from '../models.js';
import { defineRoute } from '../schema.js';
import { enactorViews } from '../../status/report.js';

export function registerEnactorRoutes(app: FastifyInstance, state: ApiState): void {
  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/enactors', tag: 'enactors', access: 'read',
    response: z.object({
      latest: generation,
      enactors: z.array(enactorSchema.extend({
        lagGenerations: z.number().int().min(0).describe('newest generation minus what it has applied'),
      })),
    }),
    summary: 'Enactors: held and enacted generation, last heartbeat, alive, lag behind the newest plan',
    handler: async () => {
      const latest = await state.context.store.latestGeneration();
      const enactors = enactorViews(await state.context.store.listEnactors(), Date.now());
      return {
        latest,
        enactors: enactors.map((enactor) => ({
          ...enactor,
          lagGenerations: Math.max(0, latest - enactor.enactedGeneration),
        })),
      };
    },
  });
}
