import type { FastifyInstance, FastifyReply } from 'fastify';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiState } from '../state.js';
import { documentRoute } from '../schema.js';
import { ApiError } from '../errors.js';

/** The dashboard's files: plain HTML, CSS and JavaScript, no build step and nothing fetched from the internet. */
const staticDir = join(import.meta.dirname, '..', 'static');
const files: Record<string, string> = {
  'index.html': 'text/html',
  'app.js': 'text/javascript',
  'style.css': 'text/css',
};

/** Only same-origin scripts, styles and connections: no inline script, no CDN. */
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
  + "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function registerDashboardRoutes(app: FastifyInstance, state: ApiState): void {
  // Read once: the files are small, and a missing file should fail the start, not the first visitor.
  const contents = new Map(Object.keys(files).map((file) => [file, readFileSync(join(staticDir, file))]));
  const send = (file: string) => async (_request: unknown, reply: FastifyReply) =>
    reply
      .header('content-type', `${files[file]}; charset=utf-8`)
      .header('cache-control', 'no-cache')
      .header('content-security-policy', contentSecurityPolicy)
      .header('x-content-type-options', 'nosniff')
      .send(contents.get(file));
  documentRoute(state.registry, {
    method: 'GET', url: '/', tag: 'dashboard', access: 'read', contentType: 'text/html', summary: 'The live dashboard',
  });
  app.get('/', send('index.html'));
  app.get('/static/:file', async (request, reply) => {
    const file = (request.params as { file: string }).file;
    if (!Object.hasOwn(files, file) || file === 'index.html') {
      throw new ApiError(404, 'not-found', `no static file "${file}"`);
    }
    return send(file)(request, reply);
  });
}
