import type { FastifyInstance } from 'fastify';
import type { ApiState } from '../state.js';
import { documentRoute } from '../schema.js';

export function registerMetricsRoutes(app: FastifyInstance, state: ApiState): void {
  documentRoute(state.registry, {
    method: 'GET', url: '/metrics', tag: 'metrics', access: 'read', contentType: 'text/plain; version=0.0.4',
    summary: 'Prometheus metrics (prefix dnsplane_), read from the store on each scrape',
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await state.metrics.render();
    return reply.header('content-type', state.metrics.contentType).send(text);
  });
}
