import { z } from 'zod';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, errorSchema, formatZodIssues } from './errors.js';
import type { Access, Actor } from './auth.js';
import { assert } from '../util/assert.js';

/**
 * The small zod adapter of the API (TypeBox is not installed; zod already
 * validates the config). A route is declared once with zod schemas for its
 * path parameters, query, body and response; `defineRoute` registers it with
 * Fastify, parses every input through its schema (a 400 names the field),
 * types the handler from the same schemas, and records the route so that
 * `/api/openapi.json` is generated from exactly what is enforced.
 */

type AnyObject = z.ZodObject<z.ZodRawShape>;

export interface RouteInput<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
  /** The authenticated caller of a `write` route; null on `read` routes. */
  actor: Actor | null;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface RouteSpec<P extends AnyObject, Q extends AnyObject, B extends z.ZodType, R extends z.ZodType> {
  method: 'GET' | 'POST';
  /** Fastify path syntax (`/api/names/:name`); OpenAPI gets `{name}`. */
  url: string;
  tag: string;
  summary: string;
  description?: string;
  params?: P;
  query?: Q;
  body?: B;
  response: R;
  successStatus?: 200 | 202;
  access: Access;
  /** Error statuses this route can answer besides 400 (documented in OpenAPI). */
  errors?: number[];
  /** Largest body this route accepts, when it differs from the app's (an inventory is larger than a reason). */
  bodyLimitBytes?: number;
  /** A response that is not JSON (an SVG): the handler returns its text, `response` is then `z.string()`. */
  contentType?: string;
  handler: (input: RouteInput<P, Q, B>) => Promise<z.input<R>>;
}

/** What the OpenAPI document needs to know of a route, JSON or not. */
export interface RouteDoc {
  method: 'GET' | 'POST';
  url: string;
  tag: string;
  summary: string;
  description?: string;
  params?: AnyObject;
  query?: AnyObject;
  body?: z.ZodType;
  response?: z.ZodType;
  /** For non-JSON responses (metrics text, server-sent events, HTML). */
  contentType?: string;
  successStatus: number;
  access: Access;
  errors: number[];
}

export interface RouteRegistry {
  routes: RouteDoc[];
  /** When set, every JSON response is checked against its schema (tests); a mismatch is a 500, not a silent drift. */
  validateResponses: boolean;
  authorize(request: FastifyRequest, access: Access): Actor | null;
}

function parsePart<T extends z.ZodType>(schema: T | undefined, part: string, value: unknown): z.output<T> {
  if (schema === undefined) return undefined as z.output<T>;
  const result = schema.safeParse(value);
  if (!result.success) throw new ApiError(400, 'bad-request', formatZodIssues(part, result.error));
  return result.data;
}

/** Registers a JSON route with its schemas; see the file comment. */
export function defineRoute<P extends AnyObject, Q extends AnyObject, B extends z.ZodType, R extends z.ZodType>(
  app: FastifyInstance,
  registry: RouteRegistry,
  spec: RouteSpec<P, Q, B, R>,
): void {
  assert(spec.url.startsWith('/'), 'internal', `route ${spec.url} must be absolute`);
  assert(spec.method === 'GET' ? spec.body === undefined : true, 'internal', `GET ${spec.url} cannot take a body`);
  registry.routes.push({ ...spec, successStatus: spec.successStatus ?? 200, errors: spec.errors ?? [] });
  app.route({
    method: spec.method,
    url: spec.url,
    ...(spec.bodyLimitBytes === undefined ? {} : { bodyLimit: spec.bodyLimitBytes }),
    handler: async (request, reply) => {
      // Authorization before validation: an anonymous caller learns nothing about the body's schema.
      const actor = registry.authorize(request, spec.access);
      const params = parsePart(spec.params, 'path', request.params);
      const query = parsePart(spec.query, 'query', request.query);
      const body = parsePart(spec.body, 'body', request.body === undefined ? null : request.body);
      const result = await spec.handler({ params, query, body, actor, request, reply } as RouteInput<P, Q, B>);
      if (registry.validateResponses) {
        const checked = spec.response.safeParse(result);
        assert(
          checked.success,
          'internal',
          `${spec.method} ${spec.url} answered outside its schema: `
            + `${checked.success ? '' : formatZodIssues('response', checked.error)}`,
        );
      }
      if (spec.contentType !== undefined) reply.type(`${spec.contentType}; charset=utf-8`);
      return reply.code(spec.successStatus ?? 200).send(result);
    },
  });
}

/** Records a route that is served by hand (text, HTML, event stream) so it still appears in the OpenAPI document. */
export function documentRoute(
  registry: RouteRegistry,
  doc: Omit<RouteDoc, 'successStatus' | 'errors'> & { successStatus?: number; errors?: number[] },
): void {
  registry.routes.push({ ...doc, successStatus: doc.successStatus ?? 200, errors: doc.errors ?? [] });
}

/**
 * A response object of a plain `z.object` is sent as the handler built it (the schema checks it in tests but does not
 * strip it), so the document must not promise that it has no other properties: clients ignore fields they do not
 * know. Strict objects keep `additionalProperties: false`.
 */
function allowAdditionalOutput(
  context: { zodSchema: { _zod: { def: unknown } }; jsonSchema: Record<string, unknown> },
): void {
  const def = context.zodSchema._zod.def as { type: string; catchall?: unknown };
  if (def.type === 'object' && def.catchall === undefined) delete context.jsonSchema.additionalProperties;
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const json = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    override: io === 'output' ? allowAdditionalOutput : undefined,
  }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

function parameters(schema: AnyObject | undefined, location: 'path' | 'query'): unknown[] {
  if (schema === undefined) return [];
  return Object.entries(schema.shape).map(([name, property]) => {
    const field = property as z.ZodType;
    return {
      name, in: location, required: location === 'path' || !field.safeParse(undefined).success,
      description: field.description, schema: jsonSchema(field, 'input'),
    };
  });
}

const errorTexts: Record<number, string> = {
  400: 'the request is invalid; the message names the field',
  401: 'no bearer token, or a token that is not configured',
  403: 'the token lacks the right (read-only token on a mutation), or mutations are disabled (no API token configured)',
  404: 'the named resource does not exist (or was cleaned up)',
  413: 'the body is larger than this route accepts (16 KiB for a reason)',
  415: 'the body is not application/json',
  503: 'too many clients',
};

/** "GET /api/names/:name" -> "getApiNamesName"; "/" -> "getRoot". */
function operationId(route: RouteDoc): string {
  const words = route.url.split(/[^A-Za-z0-9]+/).filter((word) => word.length > 0);
  const tail = words.length === 0 ? 'Root' : words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join('');
  return `${route.method.toLowerCase()}${tail}`;
}

function operation(route: RouteDoc): Record<string, unknown> {
  const schema = route.response !== undefined
    ? jsonSchema(route.response, 'output')
    : route.contentType === undefined ? {} : { type: 'string' };
  const content = { [route.contentType ?? 'application/json']: { schema } };
  const responses: Record<string, unknown> = { [String(route.successStatus)]: { description: 'success', content } };
  const errorContent = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
  const errors = new Set([
    ...(route.params || route.query || route.body ? [400] : []),
    ...(route.body ? [413, 415] : []),
    ...route.errors,
    ...(route.access === 'write' ? [401, 403] : []),
  ]);
  for (const status of [...errors].sort()) {
    responses[String(status)] = { description: errorTexts[status] ?? 'error', content: errorContent };
  }
  responses.default = {
    description: 'an unexpected error (500; the message hides internals, the API log has them)',
    content: errorContent,
  };
  return {
    tags: [route.tag], summary: route.summary, description: route.description,
    operationId: operationId(route),
    parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
    requestBody: route.body === undefined
      ? undefined
      : { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } },
    security: route.access === 'write' ? [{ bearer: [] }] : [],
    responses,
  };
}

/** The OpenAPI 3.1 document of every registered route (JSON Schema 2020-12, which OpenAPI 3.1 uses as is). */
export function openApiDocument(registry: RouteRegistry, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of registry.routes) {
    const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'dnsplane API', version,
      description: 'Status, served records, plans, enactors, health and alarms of a dnsplane installation, '
        + 'and operator actions that act through the planner, enactors and reconciler (never a direct DNS write).',
    },
    paths,
    components: {
      schemas: { Error: jsonSchema(errorSchema, 'output') },
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'api.token (or DNSPLANE_API_TOKEN) for mutations; api.readToken is read-only',
        },
      },
    },
  };
}
