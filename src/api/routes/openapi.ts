import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiState } from '../state.js';
import { documentRoute, openApiDocument } from '../schema.js';
import { version } from '../../util/version.js';

export function registerOpenApiRoutes(app: FastifyInstance, state: ApiState): void {
  documentRoute(state.registry, {
    method: 'GET', url: '/api/openapi.json', tag: 'meta', access: 'read', contentType: 'application/json',
    summary: 'This document',
    response: z.looseObject({
      openapi: z.string(),
      info: z.looseObject({ title: z.string(), version: z.string() }),
      paths: z.record(z.string(), z.unknown()),
    }),
  });
  // Built on first request, when every route has been registered; the routes do not change afterwards.
  let document: Record<string, unknown> | null = null;
  app.get('/api/openapi.json', async () => {
    document ??= openApiDocument(state.registry, version);
    return document;
  });
}
