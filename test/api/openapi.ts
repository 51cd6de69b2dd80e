import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';

/**
 * The API's OpenAPI document held to the ecosystem's own validators: the
 * document against the OpenAPI 3.1 specification's schema
 * (@seriousme/openapi-schema-validator), and every response a test receives
 * against the document (status documented for the operation, content type
 * documented, JSON body valid by Ajv's JSON Schema 2020-12, which OpenAPI 3.1
 * uses as is). The app's own check (validateResponses) compares a handler's
 * result with its zod schema; this compares what went over the wire with
 * what the document promises clients.
 */

type Json = Record<string, unknown>;
interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: Json }> }>;
}

// ajv-formats is CommonJS with a default export; under NodeNext its namespace import is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

/** The document's problems by the OpenAPI specification's schema; empty when it is valid. */
export async function openApiProblems(document: Json): Promise<string[]> {
  const result = await new Validator().validate(document);
  if (result.valid) return [];
  return typeof result.errors === 'string' ? [result.errors] : (result.errors ?? []).map((error) => `${error.instancePath} ${error.message ?? ''} ${JSON.stringify(error.params)}`);
}

export class OpenApiConformance {
  private readonly ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly templates: { path: string; pattern: RegExp; literal: number }[];

  /** `seen` collects "GET /api/names/{name} 200" for every response checked (it may be shared by several apps). */
  constructor(readonly document: Json & { paths: Record<string, Record<string, Operation>>; components: Json }, readonly seen = new Set<string>()) {
    this.templates = Object.keys(document.paths).map((path) => ({
      path,
      pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
      literal: path.replace(/\{[^}]+\}/g, '').length,
    }));
  }

  /** The documented path a request URL falls under; literal paths win over templated ones (`/api/plans/force`). */
  pathOf(url: string): string | undefined {
    const path = url.split('?')[0]!;
    const matches = this.templates.filter((template) => template.pattern.test(decodeURIComponent(path)) || template.pattern.test(path));
    return matches.sort((a, b) => b.literal - a.literal)[0]?.path;
  }

  /** Asserts that one response is what the document says this operation answers. */
  check(method: string, url: string, response: LightMyRequestResponse): void {
    const path = this.pathOf(url);
    if (path === undefined) return this.checkUndocumented(method, url, response);
    const operation = this.document.paths[path]?.[method.toLowerCase()];
    assert.ok(operation !== undefined, `${method} ${path}: not documented`);
    const status = String(response.statusCode);
    // `default` covers the unexpected (500); any other status must be listed, and no 5xx is expected of these tests.
    const documented = operation.responses[status] ?? (response.statusCode >= 500 ? operation.responses.default : undefined);
    assert.ok(documented !== undefined, `${method} ${path} answered ${status}, which the document does not list (${Object.keys(operation.responses).join(', ')})`);
    const mediaType = String(response.headers['content-type'] ?? '').split(';')[0]!.trim();
    const content = documented.content ?? {};
    const key = Object.keys(content).find((documentedType) => documentedType.split(';')[0]!.trim() === mediaType);
    assert.ok(key !== undefined, `${method} ${path} ${status} sent ${mediaType}; documented: ${Object.keys(content).join(', ')}`);
    if (mediaType === 'application/json') {
      const validate = this.validator(`${method} ${path} ${status}`, content[key]!.schema ?? {});
      assert.ok(validate(response.json()), `${method} ${url} ${status} body outside the document: ${this.ajv.errorsText(validate.errors)}`);
    }
    this.seen.add(`${method.toUpperCase()} ${path} ${status}`);
  }

  /** A path the document does not have must get a 404 in the document's Error shape. */
  private checkUndocumented(method: string, url: string, response: LightMyRequestResponse): void {
    assert.equal(response.statusCode, 404, `${method} ${url}: no documented path, yet ${response.statusCode}`);
    const validate = this.validator('undocumented 404', { $ref: '#/components/schemas/Error' });
    assert.ok(validate(response.json()), `${method} ${url} 404 body is not an Error: ${this.ajv.errorsText(validate.errors)}`);
    this.seen.add(`${method.toUpperCase()} (undocumented) 404`);
  }

  private validator(key: string, schema: Json): ValidateFunction {
    let validate = this.compiled.get(key);
    // The document's components travel with each schema, so `#/components/schemas/Error` resolves within it.
    if (validate === undefined) validate = this.ajv.compile({ ...schema, components: this.document.components });
    this.compiled.set(key, validate);
    return validate;
  }

  /** Routes every `app.inject` of this app through `check`. */
  watch(app: FastifyInstance): void {
    const inject = app.inject.bind(app) as (options: InjectOptions) => Promise<LightMyRequestResponse>;
    const conformance = this;
    (app as unknown as { inject: (options: InjectOptions) => Promise<LightMyRequestResponse> }).inject = async function injectChecked(options: InjectOptions) {
      const response = await inject(options);
      conformance.check(options.method ?? 'GET', String(options.url), response);
      return response;
    };
  }
}

/** Reads an app's own document and checks it by the OpenAPI specification's schema. */
export async function conformanceOf(app: FastifyInstance, seen?: Set<string>): Promise<OpenApiConformance> {
  const response = await app.inject({ method: 'GET', url: '/api/openapi.json' });
  assert.equal(response.statusCode, 200);
  const document = response.json() as ConstructorParameters<typeof OpenApiConformance>[0];
  assert.deepEqual(await openApiProblems(document), [], 'the OpenAPI document is valid');
  return new OpenApiConformance(document, seen);
}
