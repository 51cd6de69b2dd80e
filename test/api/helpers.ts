import type { FastifyInstance } from 'fastify';
import { buildApp, type BuildOptions } from '../../src/api/app.js';
import { inventoryOf, servicesOf, parseConfig, zoneOf, zoneSetOf } from '../../src/config/load.js';
import type { Context } from '../../src/cli/context.js';
import { makeEnactor, makeJanitor, makePlanner, makeReconciler } from '../../src/roles/installation.js';
import type { ApplyChange, ApplyOutcome } from '../../src/providers/types.js';
import { silentLogger } from '../../src/util/log.js';
import { sampleConfig } from '../helpers/env.js';
import { openInstallation, type Installation } from '../helpers/fixtures.js';

/**
 * In-process API over a real SQLite installation, with the real roles wired as `dnsplane` wires them
 * (src/roles/installation.ts).
 */

export const adminToken = 'admin-token-0123456789abcdef';
export const readToken = 'read-only-token-0123456789abcdef';

export interface ApiFixture {
  install: Installation;
  context: Context;
  app: FastifyInstance;
  roles: {
    planner: ReturnType<typeof makePlanner>;
    enactor: ReturnType<typeof makeEnactor>;
    reconciler: ReturnType<typeof makeReconciler>;
    janitor: ReturnType<typeof makeJanitor>;
  };
  /** Calls of provider.apply so far, from any caller in this process (the API must make none). */
  applyCalls: () => number;
  close(): Promise<void>;
}

export async function apiFixture(names = 10, configExtra: Record<string, unknown> = {}, options: BuildOptions = {}): Promise<ApiFixture> {
  const install = openInstallation();
  const config = parseConfig(sampleConfig(names, 3, {
    safety: { maxChangedFraction: 1, minNamesForThreshold: 10, retainGenerations: 20 },
    planner: { interval: '10ms', leaseTtl: '60s' },
    reconciler: { interval: '10ms', maxLag: '0ms' },
    ...configExtra,
  }));
  // Count every conditional write to DNS, whoever makes it.
  let applyCalls = 0;
  const apply = install.provider.apply.bind(install.provider);
  install.provider.apply = async (changes: readonly ApplyChange[]): Promise<ApplyOutcome[]> => {
    applyCalls += 1;
    return apply(changes);
  };
  const context: Context = {
    config, configPath: '(test)', dataDir: install.dir, zone: zoneOf(config), zones: zoneSetOf(config), inventory: inventoryOf(config), services: servicesOf(config),
    inventoryVersion: 0,
    store: install.store, provider: install.provider, owner: null, close: async () => undefined,
  };
  const app = buildApp(context, { tokens: { token: adminToken, readToken }, validateResponses: true, ...options });
  await app.ready();
  const env = { log: silentLogger };
  const roles = {
    planner: makePlanner(context, 'planner-test', env),
    enactor: makeEnactor(context, 'az1', env),
    reconciler: makeReconciler(context, env),
    janitor: makeJanitor(context, env),
  };
  return {
    install, context, app, roles, applyCalls: () => applyCalls,
    async close() {
      await app.close();
      await install.close();
    },
  };
}

/** POSTs a JSON body (or raw text) with an optional bearer token. */
export async function post(app: FastifyInstance, url: string, body: unknown, token: string | null = adminToken) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const response = await app.inject({ method: 'POST', url, headers, payload: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: response.statusCode, body: response.json() as Record<string, unknown> };
}

export async function get<T = Record<string, unknown>>(app: FastifyInstance, url: string): Promise<{ status: number; body: T }> {
  const response = await app.inject({ method: 'GET', url });
  return { status: response.statusCode, body: response.json() as T };
}

/** One planner pass and one enactor pass: a change requested through the API reaches DNS. */
export async function planAndEnact(fixture: ApiFixture): Promise<void> {
  await fixture.roles.planner.tick();
  await fixture.roles.enactor.step();
}

export async function servedTargets(fixture: ApiFixture, name: string): Promise<string[]> {
  const state = (await fixture.install.provider.read([name])).get(name);
  return state === undefined ? [] : state.records.map((record) => record.target);
}
