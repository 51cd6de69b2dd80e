import type { FastifyInstance } from 'fastify';
import type { ApiState } from '../state.js';
import { documentRoute } from '../schema.js';

export function registerEventRoutes(app: FastifyInstance, state: ApiState): void {
  documentRoute(state.registry, {
    method: 'GET', url: '/api/events', tag: 'status', access: 'read', contentType: 'text/event-stream', errors: [503],
    summary: 'Server-sent events: a compact status (`event: status`) on every change and at least every 500 ms',
  });
  app.get('/api/events', (request, reply) => {
    reply.hijack();
    if (!state.events.add(reply.raw)) {
      reply.raw.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '5' });
      reply.raw.end(JSON.stringify({
        error: 'unavailable',
        message: 'too many event clients (api.eventClientsMax); try again later',
      }));
    }
  });
}
