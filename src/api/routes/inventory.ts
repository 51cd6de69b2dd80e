import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiState } from '../state.js';
import { ApiError } from '../errors.js';
import { requireActor } from '../actions.js';
import { pageQuery } from '../models.js';
import { defineRoute } from '../schema.js';
import { parseInventory } from '../../config/load.js';
import { criticalities } from '../../domain/types.js';
import { applyInventory, currentInventory } from '../../inventory/apply.js';
import { diffInventories, type InventoryDiff } from '../../inventory/diff.js';

/** Largest inventory accepted in one POST: about 50,000 names; larger ones go through `dnsplane apply`. */
const inventoryBodyBytesMax = 16 * 1024 * 1024;
/** Names listed in a diff answer (the counts are always whole). */
const diffNamesMax = 100;

const versionInfo = z.object({
  version: z.number().int(), createdAtMs: z.number(), actor: z.string(), reason: z.string(), forced: z.boolean(),
  names: z.number().int(),
  summary: z.string().describe('what changed from the version before'),
});

const diffSchema = z.object({
  added: z.number().int(), removed: z.number().int(), changed: z.number().int(), namesBefore: z.number().int(),
  namesAfter: z.number().int(),
  names: z.array(z.object({ name: z.string(), kind: z.enum(['added', 'removed', 'changed']) }))
    .describe(`at most ${diffNamesMax}`),
  services: z.array(z.object({ id: z.string(), kind: z.enum(['added', 'removed', 'changed']) }))
    .describe(`services of the dependency graph, at most ${diffNamesMax}`),
});

function diffView(diff: InventoryDiff): z.input<typeof diffSchema> {
  const { added, removed, changed, namesBefore, namesAfter } = diff;
  return {
    added, removed, changed, namesBefore, namesAfter,
    names: diff.names.slice(0, diffNamesMax).map(({ name, kind }) => ({ name, kind })),
    services: diff.services.slice(0, diffNamesMax).map(({ id, kind }) => ({ id, kind })),
  };
}

const applyBody = z.strictObject({
  endpoints: z.array(z.unknown()).min(1, 'at least one endpoint is required')
    .describe('the endpoints, as in the config file'),
  services: z.array(z.unknown()).optional()
    .describe('the dependency graph\'s services, as in the config file (absent: none)'),
  reason: z.string().trim().min(1, 'must not be empty: say why').max(500),
  force: z.boolean().default(false).describe('apply even above safety.maxChangedFraction (audited)'),
  baseVersion: z.number().int().min(0).optional().describe('apply only if the stored inventory is still this version'),
}, { error: 'expected a JSON object with "endpoints" and "reason"' });

export function registerInventoryRoutes(app: FastifyInstance, state: ApiState): void {
  const { store } = state.context;
  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/inventory', tag: 'inventory', access: 'read', query: z.strictObject(pageQuery),
    response: z.object({
      version: z.number().int().describe('0: no inventory stored yet'), info: versionInfo.nullable(),
      total: z.number().int(),
      endpoints: z.array(z.object({ name: z.string(), targets: z.array(z.record(z.string(), z.unknown())) })),
      services: z.array(z.object({
        id: z.string(), criticality: z.enum(criticalities), names: z.array(z.string()), services: z.array(z.string()),
        description: z.string().optional(),
      })).describe('the dependency graph\'s services (all of them)'),
      lastChange: diffSchema.nullable().describe('what the newest version changed from the one before'),
    }),
    summary: 'The newest stored inventory version (endpoints paged) and what it changed',
    handler: async ({ query }) => {
      const current = await currentInventory(store);
      const previous = current.version > 1 ? await store.readInventory(current.version - 1) : null;
      const { endpoints, services, ...info } = current;
      return {
        version: current.version, info: current.version === 0 ? null : info, total: endpoints.length,
        endpoints: endpoints.slice(query.offset, query.offset + query.limit).map((endpoint) => ({
          name: endpoint.name,
          targets: endpoint.targets.map((target) => ({ ...target })),
        })),
        services,
        lastChange: current.version === 0
          ? null
          : diffView(diffInventories(previous ?? { endpoints: [], services: [] }, current)),
      };
    },
  });
  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/inventory/versions', tag: 'inventory', access: 'read',
    query: z.strictObject({ limit: pageQuery.limit }), response: z.object({ versions: z.array(versionInfo) }),
    summary: 'Inventory versions, newest first, with who, when and why',
    handler: async ({ query }) => ({ versions: await store.listInventoryVersions(query.limit) }),
  });
  defineRoute(app, state.registry, {
    method: 'POST', url: '/api/inventory', tag: 'inventory', access: 'write', body: applyBody,
    bodyLimitBytes: inventoryBodyBytesMax,
    response: z.object({
      outcome: z.enum(['applied', 'unchanged']), version: z.number().int(), forced: z.boolean(), diff: diffSchema,
    }),
    errors: [409, 413],
    summary: 'Store the next inventory version '
      + '(validated like the config; refused above the name threshold unless forced)',
    description: '409 `refused`: above safety.maxChangedFraction (send force: true to override; audited). '
      + '409 `stale`: the inventory changed since baseVersion; diff again.',
    handler: async ({ body, actor }) => {
      const document = { endpoints: body.endpoints, services: body.services ?? [] };
      const outcome = await applyInventory(store, parseInventory(document, state.context.config, 'body'), {
        actor: requireActor(actor).id, reason: body.reason, force: body.force, policy: state.context.config.safety,
        config: state.context.config,
        ...(body.baseVersion === undefined ? {} : { baseVersion: body.baseVersion }),
      });
      switch (outcome.kind) {
        case 'refused':
          throw new ApiError(409, 'refused', `${outcome.reason}; send "force": true to override (audited)`);
        case 'stale':
          throw new ApiError(
            409,
            'stale',
            `the inventory changed meanwhile (now version ${outcome.current}); diff again`,
          );
        case 'unchanged':
          return {
            outcome: 'unchanged' as const,
            version: outcome.version,
            forced: false,
            diff: diffView(outcome.diff),
          };
        case 'applied':
          return {
            outcome: 'applied' as const,
            version: outcome.info.version,
            forced: outcome.info.forced,
            diff: diffView(outcome.diff),
          };
      }
    },
  });
}
