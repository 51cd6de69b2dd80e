// Goal: the HTTP API reports what DNS serves and lets an operator act on it
// only through the roles — schemas refuse bad input with a 400 naming the
// field and change nothing, mutations need the API token (401/403), and
// every action (drain, freeze, zone freeze, re-enact, force) reaches DNS
// through the planner, enactors and reconciler, never around them. Method:
// the Fastify app in-process (`app.inject()`) over a real SQLite file, with
// the real Planner, Enactor, Reconciler and Janitor stepped by hand; every
// JSON response is checked against its schema, and provider.apply is
// counted so the test can show the API itself never writes DNS. The OpenAPI
// document is validated by an OpenAPI validator from npm, and every response
// of every request in this file is checked against it (openapi.ts): status,
// content type and body, by Ajv's JSON Schema 2020-12.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveTokens } from '../../src/api/auth.js';
import { statusReport } from '../../src/status/report.js';
import { parseConfig } from '../../src/config/load.js';
import { adminToken, apiFixture as apiFixtureBare, get, planAndEnact, post, readToken, servedTargets } from './helpers.js';
import { conformanceOf, openApiProblems } from './openapi.js';
import { sampleConfig } from '../helpers/env.js';

/** "METHOD path status" of every response checked against the OpenAPI document in this file. */
const checkedResponses = new Set<string>();

/** The API fixture with every `app.inject` response checked against the app's own OpenAPI document. */
async function apiFixture(...args: Parameters<typeof apiFixtureBare>): ReturnType<typeof apiFixtureBare> {
  const fixture = await apiFixtureBare(...args);
  (await conformanceOf(fixture.app, checkedResponses)).watch(fixture.app);
  return fixture;
}

const svc0 = 'svc0.dnsplane.test';

test('reads: status, names (paged, prefix filter), one name, plans, diff, enactors, health, alarms, history', async () => {
  const fixture = await apiFixture(30);
  try {
    await planAndEnact(fixture);
    await fixture.install.store.setHealth('t1-0', 'down', 'operator');
    await planAndEnact(fixture);
    const status = await get<{ generation: { latest: number }; names: { total: number; converged: number }; enactors: { id: string; alive: boolean }[] }>(fixture.app, '/api/status');
    assert.equal(status.status, 200);
    assert.equal(status.body.generation.latest, 2);
    assert.deepEqual([status.body.names.total, status.body.names.converged], [30, 30]);
    assert.deepEqual(status.body.enactors.map((e) => [e.id, e.alive]), [['az1', true]]);
    // Three checkers, one of which sees t2-0 down and one that suspects itself: each view and the disagreement are shown.
    await fixture.install.store.publishCheckerView({ id: 'c1', probed: 90, down: [], suspect: false }, 60_000);
    await fixture.install.store.publishCheckerView({ id: 'c2', probed: 90, down: ['t2-0'], suspect: false }, 60_000);
    await fixture.install.store.publishCheckerView({ id: 'c3', probed: 90, down: ['t2-0', 't3-0', 't4-0'], suspect: true }, 60_000);
    const checkers = (await get<{ health: { voters: string[]; checkers: { id: string; suspect: boolean; downTotal: number }[]; disagreements: unknown[] } }>(fixture.app, '/api/status')).body.health;
    assert.deepEqual(checkers.voters, ['c1', 'c2']);
    assert.deepEqual(checkers.checkers.map((c) => [c.id, c.suspect, c.downTotal]), [['c1', false, 0], ['c2', false, 1], ['c3', true, 3]]);
    assert.deepEqual(checkers.disagreements, [{ target: 't2-0', down: ['c2'], up: ['c1'] }]);

    const page = await get<{ total: number; items: { name: string; status: string; served: { generation: number } }[] }>(fixture.app, '/api/names?offset=10&limit=5');
    assert.equal(page.body.total, 30);
    assert.deepEqual(page.body.items.map((item) => item.name), ['svc18', 'svc19', 'svc2', 'svc20', 'svc21'].map((n) => `${n}.dnsplane.test`));
    assert.ok(page.body.items.every((item) => item.status === 'converged'));
    const prefix = await get<{ total: number; items: { name: string }[] }>(fixture.app, '/api/names?q=svc1');
    assert.equal(prefix.body.total, 11, 'svc1 and svc10..svc19');
    assert.equal(prefix.body.items[0]!.name, 'svc1.dnsplane.test');

    const one = await get<{ served: { generation: number; records: { target: string }[] }; plan: { since: number }; targets: { id: string; health: string }[]; history: { kind: string }[] }>(fixture.app, '/api/names/svc1');
    assert.equal(one.status, 200);
    assert.equal(one.body.served.generation, 2);
    assert.deepEqual(one.body.served.records.map((r) => r.target), ['t1-1', 't1-2']);
    assert.equal(one.body.plan.since, 2);
    assert.deepEqual(one.body.targets.map((t) => [t.id, t.health]), [['t1-0', 'down'], ['t1-1', 'unknown'], ['t1-2', 'unknown']]);
    assert.deepEqual(one.body.history.map((h) => h.kind), ['enact', 'enact']);

    const plans = await get<{ plans: { generation: number; namesChanged: number }[] }>(fixture.app, '/api/plans');
    assert.deepEqual(plans.body.plans.map((p) => [p.generation, p.namesChanged]), [[2, 1], [1, 30]]);
    const plan = await get<{ entries: { name: string }[]; nextAfterName: string | null }>(fixture.app, '/api/plans/2?limit=20');
    assert.equal(plan.body.entries.length, 20);
    const rest = await get<{ entries: { name: string }[]; nextAfterName: string | null }>(fixture.app, `/api/plans/2?limit=20&afterName=${plan.body.nextAfterName}`);
    assert.equal(rest.body.entries.length, 10);
    assert.equal(rest.body.nextAfterName, null);
    const diff = await get<{ changes: { name: string; before: { target: string }[]; after: { target: string }[] }[] }>(fixture.app, '/api/plans/1/diff/2');
    assert.deepEqual(diff.body.changes.map((c) => [c.name, c.before.length, c.after.length]), [['svc1.dnsplane.test', 3, 2]]);

    const enactors = await get<{ enactors: { id: string; enactedGeneration: number; lagGenerations: number }[] }>(fixture.app, '/api/enactors');
    assert.deepEqual(enactors.body.enactors.map((e) => [e.id, e.enactedGeneration, e.lagGenerations]), [['az1', 2, 0]]);
    const health = await get<{ total: number; summary: { down: number }; items: { target: string; state: string }[] }>(fixture.app, '/api/health?state=down');
    assert.deepEqual([health.body.total, health.body.summary.down, health.body.items[0]!.target], [1, 1, 't1-0']);
    const healthPage = await get<{ total: number; items: { target: string }[] }>(fixture.app, '/api/health?offset=4&limit=3');
    assert.equal(healthPage.body.total, 90);
    assert.deepEqual(healthPage.body.items.map((i) => i.target), ['t1-1', 't1-2', 't10-0']);
    assert.deepEqual((await get(fixture.app, '/api/alarms')).body, { total: 0, items: [] });
  } finally {
    await fixture.close();
  }
});

test('the cached status agrees with a full read as plans, enactments, hand edits and removals happen', async () => {
  const fixture = await apiFixture(12);
  try {
    const compare = async (what: string) => {
      const cached = (await get<{ generation: unknown; names: unknown }>(fixture.app, '/api/status')).body;
      const full = await statusReport(fixture.context);
      assert.deepEqual({ generation: cached.generation, names: cached.names }, { generation: full.generation, names: full.names }, what);
    };
    await compare('empty installation');
    await fixture.roles.planner.tick();
    await compare('a plan, nothing served');
    await fixture.roles.enactor.step();
    await compare('enacted');
    await fixture.install.store.setHealth('t3-1', 'down', 'test');
    await fixture.roles.planner.tick();
    await compare('a newer plan, not enacted yet');
    fixture.install.store.db.prepare("UPDATE served SET generation = 0 WHERE name = 'svc5.dnsplane.test'").run();
    fixture.install.store.db.prepare("DELETE FROM served WHERE name = 'svc6.dnsplane.test'").run();
    await compare('hand edits: a generation set back, a row deleted');
    await fixture.roles.enactor.step();
    await fixture.roles.reconciler.tick();
    await compare('repaired');
    const status = (await get<{ names: { total: number; converged: number } }>(fixture.app, '/api/status')).body;
    assert.deepEqual(status.names, { total: 12, converged: 12, behind: [] });
  } finally {
    await fixture.close();
  }
});

test('bad bodies and parameters get a 400 naming the field, and change nothing', async () => {
  const fixture = await apiFixture(3);
  try {
    await planAndEnact(fixture);
    const url = '/api/targets/t0-1/drain';
    const cases: [unknown, RegExp][] = [
      [{}, /body\.reason: a reason is required/],
      [{ reason: '' }, /body\.reason: must not be empty/],
      [{ reason: '   ' }, /body\.reason: must not be empty/],
      [{ reason: 42 }, /body\.reason: a reason is required/],
      [{ reason: 'x'.repeat(501) }, /body\.reason: must be at most 500 characters/],
      [{ reason: 'ok', extra: true }, /body\.extra: unknown field/],
      [[], /body: expected a JSON object with a "reason"/],
      ['{"reason": ', /JSON/i],
    ];
    for (const [body, message] of cases) {
      const response = await post(fixture.app, url, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.body.error, 'bad-request');
      assert.match(String(response.body.message), message, JSON.stringify(body));
    }
    const huge = await post(fixture.app, url, { reason: 'x'.repeat(20_000) });
    assert.deepEqual([huge.status, huge.body.error], [413, 'too-large'], 'bodies are bounded before parsing');
    const empty = await fixture.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(empty.statusCode, 400);
    assert.match(empty.json().message, /body: expected a JSON object with a "reason"/);
    for (const [query, message] of [['limit=0', /query\.limit/], ['limit=abc', /query\.limit/], ['offset=-1', /query\.offset/], ['nope=1', /query\.nope: unknown field/]] as const) {
      const response = await get(fixture.app, `/api/names?${query}`);
      assert.equal(response.status, 400, query);
      assert.match(String(response.body.message), message);
    }
    assert.match(String((await get(fixture.app, '/api/plans/abc')).body.message), /path\.generation/);
    assert.match(String((await get(fixture.app, '/api/plans/2/diff/1')).body.message), /path\.from: must be below path\.to/);
    assert.deepEqual(await fixture.install.store.listDrains(), [], 'nothing drained');
    assert.equal((await fixture.install.store.readHistory(null, 100)).filter((h) => h.kind === 'action').length, 0, 'nothing recorded');
  } finally {
    await fixture.close();
  }
});

test('mutations need the API token: 401 without or with a wrong one, 403 for the read-only token or when none is configured', async () => {
  const fixture = await apiFixture(3);
  try {
    const url = '/api/names/svc0/freeze';
    const body = { reason: 'maintenance' };
    const none = await fixture.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    assert.equal(none.statusCode, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="dnsplane"');
    assert.match(none.json().message, /bearer token/);
    assert.equal((await post(fixture.app, url, body, 'wrong-token-0123456789abcdef')).status, 401);
    assert.equal((await post(fixture.app, url, body, `${adminToken}x`)).status, 401, 'a longer token is not a prefix match');
    assert.equal((await post(fixture.app, url, body, adminToken.slice(0, -1))).status, 401, 'nor is a shorter one');
    const readOnly = await post(fixture.app, url, body, readToken);
    assert.equal(readOnly.status, 403);
    assert.match(String(readOnly.body.message), /read-only token/);
    // Authorization comes before validation: an anonymous caller with a bad body still gets 401.
    assert.equal((await post(fixture.app, url, { reason: '' }, null)).status, 401);
    assert.equal((await get(fixture.app, '/api/status')).status, 200, 'reads are open');
    assert.deepEqual(await fixture.install.store.listFreezes(), []);
    assert.equal((await post(fixture.app, url, body, adminToken)).status, 202);
    assert.deepEqual(await fixture.install.store.listFreezes(), [svc0]);
  } finally {
    await fixture.close();
  }
  const disabled = await apiFixture(2, {}, { tokens: {} });
  try {
    const response = await post(disabled.app, '/api/plans/force', { reason: 'x' }, adminToken);
    assert.equal(response.status, 403);
    assert.match(String(response.body.message), /no API token is configured/);
  } finally {
    await disabled.close();
  }
});

test('beyond loopback, reads need the read or API token (metrics, events and OpenAPI too) unless api.publicReads is set', async () => {
  // Method: the app built from the config alone (tokens resolved as `dnsplane api` resolves them), listening on every
  // interface; the bare fixture, since a 401 on a read is this configuration's answer, not the loopback one the
  // OpenAPI document describes.
  const wide = await apiFixtureBare(2, { api: { listen: '0.0.0.0:8080', token: adminToken, readToken } }, { tokens: undefined });
  try {
    for (const url of ['/api/status', '/api/names', '/metrics', '/api/openapi.json', '/api/events', '/api/nosuch']) {
      const anonymous = await wide.app.inject({ method: 'GET', url });
      assert.equal(anonymous.statusCode, 401, url);
      assert.match(anonymous.json().message, /beyond loopback: reads need a bearer token/);
      const wrong = await wide.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${readToken}x` } });
      assert.equal(wrong.statusCode, 401, `${url} with a wrong token`);
    }
    for (const token of [readToken, adminToken]) {
      for (const url of ['/api/status', '/metrics', '/api/openapi.json']) {
        assert.equal((await wide.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } })).statusCode, 200, url);
      }
    }
    assert.equal((await wide.app.inject({ method: 'GET', url: '/' })).statusCode, 200, 'the dashboard page itself holds no data');
    assert.equal((await post(wide.app, '/api/plans/force', { reason: 'x' }, readToken)).status, 403, 'the read token still may not act');
    assert.equal((await post(wide.app, '/api/plans/force', { reason: 'x' }, adminToken)).status, 202);
  } finally {
    await wide.close();
  }
  const open = await apiFixtureBare(2, { api: { listen: '0.0.0.0:8080', token: adminToken, publicReads: true } }, { tokens: undefined });
  try {
    assert.equal((await get(open.app, '/api/status')).status, 200, 'api.publicReads: true opens reads on purpose');
    assert.equal((await post(open.app, '/api/plans/force', { reason: 'x' }, null)).status, 401, 'but not actions');
  } finally {
    await open.close();
  }
});

test('resolveTokens: which listen addresses are loopback, and beyond loopback some token must exist', () => {
  const api = (listen: string, extra: Record<string, unknown> = {}) => parseConfig(sampleConfig(1, 1, { api: { listen, ...extra } })).api;
  for (const listen of ['127.0.0.1:8080', '127.0.0.2:8080', '[::1]:8080', 'localhost:8080']) {
    assert.equal(resolveTokens(api(listen), {}).readsNeedToken, false, listen);
  }
  for (const listen of ['0.0.0.0:8080', '[::]:8080', '192.0.2.10:8080']) {
    assert.throws(() => resolveTokens(api(listen), {}), /is beyond loopback, where reads need a token, but none is set/, listen);
    assert.equal(resolveTokens(api(listen), { DNSPLANE_API_READ_TOKEN: readToken }).readsNeedToken, true, listen);
    assert.equal(resolveTokens(api(listen, { publicReads: true }), {}).readsNeedToken, false, `${listen} with publicReads`);
  }
  assert.throws(() => parseConfig(sampleConfig(1, 1, { api: { publicReads: 'yes' } })), /api\.publicReads/);
});

test('resolveTokens: the environment wins over the config; lengths 16-512; the two tokens must differ', () => {
  const api = (extra: Record<string, unknown> = {}) => parseConfig(sampleConfig(1, 1, { api: extra })).api;
  const configured = api({ token: adminToken, readToken });
  assert.deepEqual(resolveTokens(configured, {}), { token: adminToken, readToken, readsNeedToken: false });
  const fromEnv = 'env-token-0123456789abcdef';
  const fromEnvRead = 'env-read-token-0123456789abcdef';
  assert.deepEqual(resolveTokens(configured, { DNSPLANE_API_TOKEN: fromEnv, DNSPLANE_API_READ_TOKEN: fromEnvRead }),
    { token: fromEnv, readToken: fromEnvRead, readsNeedToken: false }, 'the environment wins');
  assert.deepEqual(resolveTokens(configured, { DNSPLANE_API_TOKEN: '' }).token, adminToken, 'an empty variable is unset');
  assert.deepEqual(resolveTokens(api(), {}), { token: undefined, readToken: undefined, readsNeedToken: false },
    'none at all on loopback: reads open, mutations disabled');
  const bounds = [['x'.repeat(15), false], ['x'.repeat(16), true], ['x'.repeat(512), true], ['x'.repeat(513), false]] as const;
  for (const [value, accepted] of bounds) {
    for (const [variable, key] of [['DNSPLANE_API_TOKEN', 'token'], ['DNSPLANE_API_READ_TOKEN', 'readToken']] as const) {
      const resolve = () => resolveTokens(api(), { [variable]: value });
      if (accepted) assert.equal(resolve()[key], value, `${variable} of ${value.length}`);
      else assert.throws(resolve, new RegExp(`^UserError: ${variable} / api\\.${key} must be 16-512 characters$`), `${variable} of ${value.length}`);
    }
  }
  assert.throws(() => resolveTokens(api({ token: adminToken }), { DNSPLANE_API_READ_TOKEN: adminToken }),
    /the API token and the read-only token must differ/);
});

test('drain reaches DNS through the planner and the enactor only; undrain brings the target back', async () => {
  const fixture = await apiFixture(5);
  try {
    await planAndEnact(fixture);
    const before = (await fixture.install.provider.read([svc0])).get(svc0)!;
    const writesBefore = fixture.applyCalls();
    const drained = await post(fixture.app, '/api/targets/t0-1/drain', { reason: 'replace the load balancer' });
    assert.equal(drained.status, 202);
    assert.deepEqual([drained.body.action, drained.body.subject, drained.body.changed], ['drain', 't0-1', true]);
    // Right after the POST: no DNS write was made and DNS serves exactly what it did.
    assert.equal(fixture.applyCalls(), writesBefore, 'the API handler made no provider.apply call');
    assert.deepEqual((await fixture.install.provider.read([svc0])).get(svc0), before);
    const history = await fixture.install.store.readHistory(svc0, 10);
    const action = history.at(-1)!;
    assert.equal(action.kind, 'action');
    assert.match(action.actor, /^api-token:[0-9a-f]{8}$/);
    assert.equal(action.detail, 'drain t0-1: replace the load balancer');
    // The planner publishes weight 0; DNS changes only when an enactor applies that plan.
    assert.equal((await fixture.roles.planner.tick()).kind, 'published');
    assert.deepEqual(await servedTargets(fixture, svc0), ['t0-0', 't0-1', 't0-2'], 'a plan alone changes nothing served');
    await fixture.roles.enactor.step();
    assert.deepEqual(await servedTargets(fixture, svc0), ['t0-0', 't0-2']);
    const again = await post(fixture.app, '/api/targets/t0-1/drain', { reason: 'twice' });
    assert.equal(again.body.changed, false, 'idempotent, and says so');
    assert.equal((await post(fixture.app, '/api/targets/t0-1/undrain', { reason: 'replaced' })).status, 202);
    await planAndEnact(fixture);
    assert.deepEqual(await servedTargets(fixture, svc0), ['t0-0', 't0-1', 't0-2']);
    assert.equal((await post(fixture.app, '/api/targets/nope/drain', { reason: 'x' })).status, 404);
  } finally {
    await fixture.close();
  }
});

test('freeze and zone freeze hold names through the enactors; unfreeze converges', async () => {
  const fixture = await apiFixture(5);
  try {
    await planAndEnact(fixture);
    assert.equal((await post(fixture.app, '/api/names/svc0.dnsplane.test./freeze', { reason: 'investigating' })).status, 202, 'a fully qualified name with its dot');
    await fixture.install.store.setHealth('t0-0', 'down', 'test');
    await fixture.install.store.setHealth('t1-0', 'down', 'test');
    await planAndEnact(fixture);
    assert.deepEqual(await servedTargets(fixture, svc0), ['t0-0', 't0-1', 't0-2'], 'frozen');
    assert.deepEqual(await servedTargets(fixture, 'svc1.dnsplane.test'), ['t1-1', 't1-2'], 'others move on');
    const frozenItem = (await get<{ frozen: boolean; status: string }>(fixture.app, '/api/names/svc0')).body;
    assert.deepEqual([frozenItem.frozen, frozenItem.status], [true, 'behind']);
    assert.equal((await post(fixture.app, '/api/zone/freeze', { reason: 'incident 42' })).status, 202);
    await fixture.install.store.setHealth('t2-0', 'down', 'test');
    await planAndEnact(fixture);
    assert.deepEqual(await servedTargets(fixture, 'svc2.dnsplane.test'), ['t2-0', 't2-1', 't2-2'], 'zone frozen');
    assert.equal((await fixture.install.store.readHistory('*', 10)).at(-1)!.detail, 'zone-freeze *: incident 42');
    await post(fixture.app, '/api/zone/unfreeze', { reason: 'resolved' });
    await post(fixture.app, '/api/names/svc0/unfreeze', { reason: 'done' });
    await fixture.roles.enactor.step();
    assert.deepEqual(await servedTargets(fixture, svc0), ['t0-1', 't0-2']);
    assert.deepEqual(await servedTargets(fixture, 'svc2.dnsplane.test'), ['t2-1', 't2-2']);
    assert.equal((await post(fixture.app, '/api/names/unknown-name/freeze', { reason: 'x' })).status, 404);
  } finally {
    await fixture.close();
  }
});

test('re-enact is carried out by the reconciler, a forced plan by the planner leader', async () => {
  const fixture = await apiFixture(10, { safety: { maxChangedFraction: 0.3, minNamesForThreshold: 10, retainGenerations: 20 } });
  try {
    await planAndEnact(fixture);
    const before = (await fixture.install.provider.read(['svc3.dnsplane.test'])).get('svc3.dnsplane.test')!;
    const writes = fixture.applyCalls();
    const reenact = await post(fixture.app, '/api/names/svc3/reenact', { reason: 'suspect cache' });
    assert.equal(reenact.status, 202);
    assert.equal(typeof reenact.body.requestId, 'number');
    assert.equal(fixture.applyCalls(), writes, 'queued, not written');
    assert.equal((await fixture.roles.reconciler.tick()).repaired, 1);
    const after = (await fixture.install.provider.read(['svc3.dnsplane.test'])).get('svc3.dnsplane.test')!;
    assert.notEqual(after.version, before.version);
    assert.deepEqual(after.records, before.records);
    const history = await fixture.install.store.readHistory('svc3.dnsplane.test', 10);
    assert.deepEqual(history.slice(-2).map((h) => h.kind), ['action', 'repair']);
    // Drains changing 4 of 10 names are above the 30% threshold for edits: refused until forced through the API.
    for (let n = 0; n < 4; n += 1) await fixture.install.store.setDrain(`t${n}-2`, true);
    assert.equal((await fixture.roles.planner.tick()).kind, 'refused');
    const alarms = await get<{ items: { kind: string }[] }>(fixture.app, '/api/alarms');
    assert.deepEqual(alarms.body.items.map((a) => a.kind), ['safety-threshold']);
    assert.equal((await post(fixture.app, '/api/plans/force', { reason: 'known maintenance' })).status, 202);
    assert.equal(await fixture.install.store.latestGeneration(), 1, 'the API publishes nothing itself');
    const controller = new AbortController();
    const running = fixture.roles.planner.run(controller.signal);
    const deadline = Date.now() + 10_000;
    while ((await fixture.install.store.latestGeneration()) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await running;
    const plans = await get<{ plans: { generation: number; forced: boolean }[] }>(fixture.app, '/api/plans?limit=1');
    assert.deepEqual(plans.body.plans[0], { ...plans.body.plans[0], generation: 2, forced: true });
  } finally {
    await fixture.close();
  }
});

test('unknown names, targets and plans get a 404 that says why, including a plan the janitor cleaned up', async () => {
  const fixture = await apiFixture(3, { safety: { maxChangedFraction: 1, minNamesForThreshold: 10, retainGenerations: 1 } });
  try {
    await planAndEnact(fixture);
    for (let i = 0; i < 4; i += 1) {
      await fixture.install.store.setHealth('t0-0', i % 2 === 0 ? 'down' : 'up', 'test');
      await planAndEnact(fixture);
    }
    await fixture.roles.janitor.tick();
    const oldest = await fixture.install.store.oldestGeneration();
    assert.ok(oldest > 1, `cleaned up below ${oldest}`);
    const gone = await get(fixture.app, '/api/plans/1');
    assert.equal(gone.status, 404);
    assert.match(String(gone.body.message), new RegExp(`plan 1 no longer exists: the janitor cleaned it up \\(the oldest plan kept is ${oldest}`));
    assert.match(String((await get(fixture.app, '/api/plans/1/diff/5')).body.message), /plan 1 no longer exists/);
    assert.match(String((await get(fixture.app, '/api/plans/99')).body.message), /plan 99 does not exist: the newest generation is 5/);
    assert.equal((await get(fixture.app, `/api/plans/${oldest}/diff/5`)).status, 200);
    assert.match(String((await get(fixture.app, '/api/names/nope')).body.message), /"nope" is not a managed name of zone dnsplane\.test/);
    assert.equal((await get(fixture.app, '/api/nothing-here')).status, 404);
    assert.match(String((await post(fixture.app, '/api/targets/t9-9/undrain', { reason: 'x' })).body.message), /"t9-9" is not a target/);
  } finally {
    await fixture.close();
  }
});

test('the OpenAPI document lists every route with its parameters, bodies and responses', async () => {
  const fixture = await apiFixture(2);
  try {
    const { status, body } = await get<{ openapi: string; paths: Record<string, Record<string, { parameters: { name: string; in: string }[]; requestBody?: unknown; responses: Record<string, unknown>; security: unknown[] }>> }>(fixture.app, '/api/openapi.json');
    assert.equal(status, 200);
    assert.equal(body.openapi, '3.1.0');
    const routes = fixture.app.printRoutes({ commonPrefix: false });
    for (const path of ['/api/status', '/api/names', '/api/names/{name}', '/api/plans/{from}/diff/{to}', '/api/enactors', '/api/health', '/api/alarms', '/api/events', '/metrics']) {
      assert.ok(body.paths[path]?.get, `GET ${path} documented`);
    }
    for (const path of ['/api/targets/{id}/drain', '/api/targets/{id}/undrain', '/api/names/{name}/freeze', '/api/names/{name}/unfreeze', '/api/names/{name}/reenact', '/api/zone/freeze', '/api/zone/unfreeze', '/api/plans/force']) {
      const operation = body.paths[path]?.post;
      assert.ok(operation, `POST ${path} documented`);
      assert.ok(operation.requestBody, `${path} has a body schema`);
      assert.deepEqual(Object.keys(operation.responses).sort(), ['202', '400', '401', '403', '413', '415', 'default', ...(path.includes('{') ? ['404'] : [])].sort(), path);
      assert.deepEqual(operation.security, [{ bearer: [] }]);
    }
    assert.deepEqual(body.paths['/api/names']!.get!.parameters.map((p) => p.name), ['offset', 'limit', 'q']);
    assert.ok(routes.includes('openapi.json'));
  } finally {
    await fixture.close();
  }
});

test('the OpenAPI document passes an OpenAPI validator, and every operation answered in this file as it documents', async () => {
  // Goal: API clients generated from the document get what it promises. Method: the document through
  // @seriousme/openapi-schema-validator (and a broken copy, which it must refuse); then the routes served by hand are
  // requested, and every operation's success status must have been among the responses checked in this file.
  const fixture = await apiFixture(2);
  try {
    const document = (await get<Record<string, unknown> & { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }>(fixture.app, '/api/openapi.json')).body;
    assert.deepEqual(await openApiProblems(document), []);
    assert.notDeepEqual(await openApiProblems({ ...document, info: { title: 'no version' } }), [], 'the validator refuses a broken document');
    const status = await get<{ version: string }>(fixture.app, '/api/status');
    assert.match(status.body.version, /^\d+\.\d+\.\d+/);
    assert.equal(status.body.version, (document.info as { version: string }).version);
    await planAndEnact(fixture);
    const history = await get<{ items: { name: string; kind: string }[] }>(fixture.app, `/api/history?name=${svc0}&limit=5`);
    assert.deepEqual(history.body.items.map((item) => [item.name, item.kind]), [[svc0, 'enact']]);
    // The inventory routes (their behaviour: test/api/inventory.test.ts).
    const applied = await post(fixture.app, '/api/inventory', { reason: 'one more', endpoints: sampleConfig(3).endpoints });
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    assert.equal((await get<{ version: number }>(fixture.app, '/api/inventory')).body.version, 1);
    assert.equal((await get<{ versions: unknown[] }>(fixture.app, '/api/inventory/versions')).body.versions.length, 1);
    // The dependency graph routes (their behaviour: test/api/graph.test.ts).
    for (const url of ['/api/graph', '/api/graph.svg', `/api/impact?of=${svc0}`]) {
      assert.equal((await fixture.app.inject({ method: 'GET', url })).statusCode, 200, url);
    }
    for (const url of ['/metrics', '/']) assert.equal((await fixture.app.inject({ method: 'GET', url })).statusCode, 200, url);
    // The event stream never ends, so inject cannot read it; its headers are checked over a socket in metrics.test.ts.
    const unchecked = new Set(['GET /api/events']);
    const missing: string[] = [];
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const success = Object.keys(operation.responses).find((code) => code.startsWith('2'))!;
        const key = `${method.toUpperCase()} ${path}`;
        if (!unchecked.has(key) && !checkedResponses.has(`${key} ${success}`)) missing.push(`${key} ${success}`);
      }
    }
    assert.deepEqual(missing, [], 'operations no test in this file received a success response from');
    assert.ok([...checkedResponses].some((key) => / (400|401|403|404)$/.test(key)), 'error responses were checked too');
  } finally {
    await fixture.close();
  }
});
