import { z } from 'zod';
import type { FastifyError, FastifyInstance } from 'fastify';
import { formatPath } from '../config/load.js';
import { InvariantViolation, UserError } from '../util/assert.js';

/** An error with the HTTP status and a stable code a client can branch on; the message names the problem. */
export class ApiError extends Error {
  constructor(readonly statusCode: number, readonly code: string, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

export const errorSchema = z.object({
  error: z.string()
    .describe('stable machine-readable code, e.g. "bad-request", "not-found", "unauthorized", "forbidden"'),
  message: z.string().describe('what was wrong, naming the field or the resource'),
});

/** Zod issues as "body.reason: must not be empty; query.limit: ...", each with the part of the request it came from. */
export function formatZodIssues(part: string, error: z.ZodError): string {
  const lines = error.issues.slice(0, 10).map((issue) => {
    const path = issue.path.length === 0 ? part : `${part}.${formatPath(issue.path)}`;
    if (issue.code === 'unrecognized_keys') {
      return (issue as { keys: string[] }).keys.map((key) => `${path}.${key}: unknown field`).join('; ');
    }
    return `${path}: ${issue.message}`;
  });
  return lines.join('; ');
}

/**
 * Every error leaves as `{ error, message }`: 4xx explain the request's problem, 5xx hide internals behind a generic
 * text.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | ApiError | Error, request, reply) => {
    if (error instanceof ApiError) {
      if (error.statusCode === 401) reply.header('www-authenticate', 'Bearer realm="dnsplane"');
      return reply.code(error.statusCode).send({ error: error.code, message: error.message });
    }
    if (error instanceof UserError) return reply.code(400).send({ error: 'bad-request', message: error.message });
    const statusCode = (error as FastifyError).statusCode;
    // Fastify's own client errors (malformed JSON, body too large, wrong content type) keep their status and text.
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      return reply.code(statusCode).send({
        error: statusCode === 413 ? 'too-large' : 'bad-request',
        message: error.message,
      });
    }
    request.log.error({ err: error }, 'request failed');
    const message = error instanceof InvariantViolation ? error.message : 'internal error (see the API log)';
    return reply.code(500).send({ error: 'internal', message });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({
    error: 'not-found',
    message: `no route ${request.method} ${request.url.split('?')[0]}`,
  }));
}
