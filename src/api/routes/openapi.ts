import type { FastifyInstance } from 'fastify';
import type { ApiState } from '../app.js';
import { documentRoute, openApiDocument } from '../schema.js';

export const apiVersion = '0.1.0';

export function registerOpenApiRoutes(app: FastifyInstance, state: ApiState): void {
  documentRoute(state.registry, { method: 'GET', url: '/api/openapi.json', tag: 'meta', access: 'read', contentType: 'application/json', summary: 'This document' });
  // Built on first request, when every route has been registered; the routes do not change afterwards.
  let document: Record<string, unknown> | null = null;
  app.get('/api/openapi.json', async () => {
    document ??= openApiDocument(state.registry, apiVersion);
    return document;
  });
}
