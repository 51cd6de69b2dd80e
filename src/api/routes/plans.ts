import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiState } from '../state.js';
import { recordAction, requireActor } from '../actions.js';
import { ApiError } from '../errors.js';
import { actionSchema, generation, planHeaderSchema, reasonBody, recordSchema } from '../models.js';
import { defineRoute } from '../schema.js';
import { planNotFound } from '../views.js';
import { recordSetKey } from '../../domain/types.js';

const plansQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('newest first'),
});
const generationParam = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const entriesQuery = z.strictObject({
  afterName: z.string().max(254).default('').describe('paging: names after this one'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const entrySchema = z.object({
  name: z.string(),
  since: generation,
  records: z.array(recordSchema).nullable().describe('null: the plan removes the name'),
});

const planPage = z.object({
  header: planHeaderSchema,
  entries: z.array(entrySchema),
  nextAfterName: z.string().nullable().describe('pass as afterName for the next page; null on the last page'),
});

const diffPage = z.object({
  from: generation,
  to: generation,
  changes: z.array(z.object({
    name: z.string(),
    before: z.array(recordSchema).nullable().describe('the set at `from`; null when absent, removed or cleaned up'),
    after: z.array(recordSchema).nullable().describe('the set at `to`; null when removed'),
  })),
  nextAfterName: z.string().nullable(),
});

export function registerPlanRoutes(app: FastifyInstance, state: ApiState): void {
  const { store } = state.context;
  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/plans', tag: 'plans', access: 'read', query: plansQuery,
    response: z.object({ latest: generation, oldest: generation, plans: z.array(planHeaderSchema) }),
    summary: 'Published plans, newest first (the plan timeline)',
    handler: async ({ query }) => ({
      latest: await store.latestGeneration(),
      oldest: await store.oldestGeneration(),
      plans: await store.listPlans(query.limit),
    }),
  });

  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/plans/:generation', tag: 'plans', access: 'read', errors: [404],
    params: z.strictObject({ generation: generationParam }), query: entriesQuery, response: planPage,
    summary: 'One plan: its header and its record sets, a page at a time in name order',
    handler: async ({ params, query }) => {
      const view = await store.readPlan(params.generation, { afterName: query.afterName, limit: query.limit });
      if (view === null) throw await planNotFound(state, params.generation);
      const full = view.entries.length === query.limit;
      return { header: view.header, entries: view.entries, nextAfterName: full ? view.entries.at(-1)!.name : null };
    },
  });

  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/plans/:from/diff/:to', tag: 'plans', access: 'read', errors: [404],
    params: z.strictObject({ from: generationParam, to: generationParam }), query: entriesQuery, response: diffPage,
    summary: 'What changed between two plans: every name whose record set differs, a page at a time',
    description: 'Reads only the versions introduced after `from`, '
      + 'so a diff of two adjacent generations is as cheap as the change.',
    handler: async ({ params, query }) => {
      if (params.from >= params.to) {
        throw new ApiError(400, 'bad-request', `path.from: must be below path.to (${params.from} >= ${params.to})`);
      }
      if ((await store.readPlan(params.from, { names: [] })) === null) throw await planNotFound(state, params.from);
      const view = await store.readPlan(
        params.to,
        { sinceAfter: params.from, afterName: query.afterName, limit: query.limit },
      );
      if (view === null) throw await planNotFound(state, params.to);
      const names = view.entries.map((entry) => entry.name);
      const before = await store.readEntriesAt(names, params.from);
      const changes = view.entries
        .map((entry) => ({ name: entry.name, before: before.get(entry.name)?.records ?? null, after: entry.records }))
        .filter((change) => recordSetKey(change.before) !== recordSetKey(change.after));
      return {
        from: params.from,
        to: params.to,
        changes,
        nextAfterName: view.entries.length === query.limit ? names.at(-1)! : null,
      };
    },
  });

  defineRoute(app, state.registry, {
    method: 'POST', url: '/api/plans/force', tag: 'actions', access: 'write', body: reasonBody, response: actionSchema,
    successStatus: 202,
    summary: 'Force the next plan past the safety threshold: the planner leader publishes it on its next pass',
    handler: async ({ body, actor }) => {
      const requestId = await store.addRequest('force', '*', requireActor(actor).id, body.reason);
      return recordAction(state, actor, 'force', '*', [], {
        reason: body.reason, changed: true, requestId,
        effect: 'the planner leader publishes its next plan even if the safety threshold refuses it',
      });
    },
  });
}
