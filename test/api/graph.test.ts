// Goal: the dependency graph through the API — GET /api/graph (a bounded view: nodes with their current health,
// alarms and impact, edges between them, capped columns with "+K more" counts, a focus on one subject's
// neighbourhood), GET /api/graph.svg (the same view drawn in three columns, state as CSS classes, every label
// escaped) and GET /api/impact (what failing a subject loses, with paths; 400 naming an unknown subject), all with
// read auth like the other reads. Method: the API in-process (app.inject) over a real SQLite installation whose
// config declares services; health is changed through the store as an operator override is, alarms raised as the
// reconciler raises them; every response is checked against the app's OpenAPI document and its zod schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiFixture as apiFixtureBare, get, readToken, adminToken } from './helpers.js';
import { conformanceOf } from './openapi.js';

async function apiFixture(...args: Parameters<typeof apiFixtureBare>): ReturnType<typeof apiFixtureBare> {
  const fixture = await apiFixtureBare(...args);
  (await conformanceOf(fixture.app)).watch(fixture.app);
  return fixture;
}

const zone = 'dnsplane.test';
const name = (n: number) => `name:svc${n}.${zone}`;

/** orders (critical) resolves svc0 and svc1 and calls payments (high), which resolves svc2; reports (low) svc3. */
const services = [
  { id: 'orders', criticality: 'critical', dependsOn: ['svc0', 'svc1', 'service:payments'] },
  { id: 'payments', criticality: 'high', dependsOn: ['svc2'] },
  { id: 'reports', criticality: 'low', dependsOn: ['svc3'] },
];

interface NodeView {
  id: string;
  kind: string;
  health?: string;
  served?: string;
  alarms?: number;
  impact: string | null;
  classes: string[];
}

interface GraphView {
  mode: string;
  subject: string | null;
  focus: string | null;
  downTargets: number;
  failed: string[];
  impacted: { namesLost: number; namesDegraded: number; targets: number; services: number };
  totals: { services: number; names: number; targets: number };
  more: { services: number; names: number; targets: number };
  services: NodeView[];
  names: NodeView[];
  targets: { az: string; nodes: NodeView[]; more: number }[];
  edges: { from: string; to: string; kind: string; impacted: boolean }[];
}

function nodeOf(view: GraphView, id: string): NodeView | undefined {
  const nodes = [...view.services, ...view.names, ...view.targets.flatMap((group) => group.nodes)];
  return nodes.find((node) => node.id === id);
}

test('graph view: columns, edges, the current health, alarms and what the down targets lose', async () => {
  const fixture = await apiFixture(6, { services });
  try {
    await fixture.roles.planner.tick();
    await fixture.roles.enactor.step();
    const calm = await get<GraphView>(fixture.app, '/api/graph');
    assert.equal(calm.status, 200, JSON.stringify(calm.body));
    assert.equal(calm.body.mode, 'current');
    const serviceIds = calm.body.services.map((node) => node.id);
    assert.deepEqual(serviceIds, ['service:orders', 'service:payments', 'service:reports'], 'most critical first');
    assert.deepEqual(calm.body.totals, { services: 3, names: 6, targets: 18 });
    assert.deepEqual(calm.body.more, { services: 0, names: 0, targets: 0 });
    const groups = calm.body.targets.map((group) => [group.az, group.nodes.length]);
    assert.deepEqual(groups, [['az1', 6], ['az2', 6], ['az3', 6]]);
    // Names sit next to the services that resolve them: orders' first, then payments', reports', then the rest.
    assert.deepEqual(calm.body.names.map((node) => node.id), [0, 1, 2, 3, 4, 5].map(name));
    const hasEdge = (from: string, to: string, kind: string) =>
      calm.body.edges.some((edge) => edge.from === from && edge.to === to && edge.kind === kind);
    assert.ok(hasEdge('service:orders', 'service:payments', 'calls'));
    assert.ok(hasEdge(name(2), 'target:t2-0', 'serves'));
    assert.equal(calm.body.edges.filter((edge) => edge.kind === 'serves').length, 18);
    assert.ok(calm.body.edges.every((edge) => !edge.impacted));
    assert.deepEqual(nodeOf(calm.body, name(0))?.served, 'served');
    assert.equal(calm.body.downTargets, 0);
    assert.deepEqual(calm.body.impacted, { namesLost: 0, namesDegraded: 0, targets: 0, services: 0 });

    // One target of svc0 down, every target of svc2 down, an alarm on svc4: the view marks each, and what they lose.
    const { store } = fixture.install;
    for (const target of ['t0-0', 't2-0', 't2-1', 't2-2']) await store.setHealth(target, 'down', 'operator');
    await store.raiseAlarm('drift', `svc4.${zone}`, 'served set differs from the plan');
    const failing = (await get<GraphView>(fixture.app, '/api/graph')).body;
    assert.equal(failing.downTargets, 4);
    assert.deepEqual(failing.failed, ['target:t0-0', 'target:t2-0', 'target:t2-1', 'target:t2-2']);
    assert.equal(nodeOf(failing, 'target:t0-0')?.health, 'down');
    assert.ok(nodeOf(failing, 'target:t0-0')!.classes.includes('down'));
    assert.equal(nodeOf(failing, 'target:t0-1')?.health, 'unknown', 'no report yet: unknown, as in /api/health');
    assert.deepEqual([nodeOf(failing, name(0))?.impact, nodeOf(failing, name(2))?.impact], ['degraded', 'lost']);
    assert.ok(nodeOf(failing, name(2))!.classes.includes('impacted'));
    assert.deepEqual(nodeOf(failing, name(4))?.alarms, 1);
    assert.ok(nodeOf(failing, name(4))!.classes.includes('alarmed'));
    // payments loses svc2 entirely; orders calls payments, so it is lost too; reports is untouched.
    assert.deepEqual(failing.services.map((node) => [node.id, node.impact]), [
      ['service:orders', 'lost'], ['service:payments', 'lost'], ['service:reports', null],
    ]);
    assert.deepEqual(failing.impacted, { namesLost: 1, namesDegraded: 1, targets: 4, services: 2 });
    assert.ok(failing.edges.some((edge) => edge.from === 'service:payments' && edge.to === name(2) && edge.impacted));
    // A capped column keeps what matters: lost (svc2) and alarmed (svc4) names before degraded ones (svc0); the down
    // targets of the shown names before the other down ones (t0-0), by AZ.
    const capped = (await get<GraphView>(fixture.app, '/api/graph?names=2&targets=3')).body;
    assert.deepEqual(capped.names.map((node) => node.id), [name(2), name(4)]);
    assert.deepEqual(capped.targets.map((group) => [group.az, group.nodes.map((node) => node.id)]), [
      ['az1', ['target:t2-0']], ['az2', ['target:t2-1']], ['az3', ['target:t2-2']],
    ]);
    const twoTargets = (await get<GraphView>(fixture.app, '/api/graph?names=1&targets=4')).body;
    assert.deepEqual(twoTargets.targets.flatMap((group) => group.nodes.map((node) => node.id)).sort(),
      ['target:t0-0', 'target:t2-0', 'target:t2-1', 'target:t2-2'], 'then the other down targets');

    // An emptied name (the 2025 outcome) shows as empty.
    fixture.install.store.db.prepare(`UPDATE served SET records = '' WHERE name = 'svc5.${zone}'`).run();
    assert.equal(nodeOf((await get<GraphView>(fixture.app, '/api/graph')).body, name(5))?.served, 'empty');
  } finally {
    await fixture.close();
  }
});

test('impact of a subject: the report with paths, the view marking it, 400 naming an unknown subject', async () => {
  const fixture = await apiFixture(6, { services });
  try {
    type Report = {
      failed: string[]; totals: Record<string, number>; namesLost: { name: string; path: string[] }[];
      namesDegraded: { name: string; capacityLostFraction: number; path: string[] }[];
      services: { service: string; severity: string; criticality: string; path: string[] }[]; targets: { id: string }[];
    };
    const target = await get<Report>(fixture.app, '/api/impact?of=t1-0');
    assert.equal(target.status, 200, JSON.stringify(target.body));
    assert.deepEqual(target.body.failed, ['target:t1-0']);
    const degraded = target.body.namesDegraded.map((entry) => [entry.name, entry.path]);
    assert.deepEqual(degraded, [[`svc1.${zone}`, ['target:t1-0', name(1)]]]);
    assert.ok(Math.abs(target.body.namesDegraded[0]!.capacityLostFraction - 1 / 3) < 1e-9);
    const affected = target.body.services.map((entry) => [entry.service, entry.severity, entry.path]);
    assert.deepEqual(affected, [['orders', 'degraded', ['target:t1-0', name(1), 'service:orders']]]);

    // A name as the operator types it: relative to the zone; emptying it loses the services that resolve it.
    const byName = await get<Report>(fixture.app, '/api/impact?of=svc2');
    assert.deepEqual(byName.body.failed, [name(2)]);
    const lost = byName.body.services.map((entry) => [entry.service, entry.severity]);
    assert.deepEqual(lost, [['orders', 'lost'], ['payments', 'lost']]);
    assert.deepEqual(byName.body.services[0]!.path, [name(2), 'service:payments', 'service:orders']);

    // A whole AZ: every name degraded; the lists are bounded by `limit`, the totals are not.
    const az = await get<Report>(fixture.app, '/api/impact?of=az:az1&limit=2');
    assert.deepEqual(az.body.totals, { namesLost: 0, namesDegraded: 6, targets: 6, services: 3 });
    assert.equal(az.body.namesDegraded.length, 2);
    assert.equal(az.body.targets.length, 2);

    for (const [url, pattern] of [
      ['/api/impact?of=lb-42', /query\.of: unknown subject "lb-42"/],
      ['/api/impact?of=az:az9', /query\.of: unknown subject "az:az9"/],
      ['/api/graph?impact=service:nope', /query\.impact: unknown subject "service:nope"/],
      ['/api/graph.svg?focus=svc99', /query\.focus: unknown subject "svc99"/],
      ['/api/impact?of=', /query\.of: must not be empty/],
      ['/api/impact', /query\.of/],
      ['/api/graph?names=0', /query\.names/],
      ['/api/graph?names=501', /query\.names/],
      ['/api/graph?colour=red', /query\.colour: unknown field/],
    ] as const) {
      const bad = await get<{ error: string; message: string }>(fixture.app, url);
      assert.equal(bad.status, 400, url);
      assert.equal(bad.body.error, 'bad-request');
      assert.match(bad.body.message, pattern, url);
    }

    // The view of "impact of t1-0": the target failed, svc1 and orders impacted; the current failure's marks gone.
    await fixture.install.store.setHealth('t3-0', 'down', 'operator');
    const view = (await get<GraphView>(fixture.app, '/api/graph?impact=t1-0')).body;
    assert.deepEqual([view.mode, view.subject, view.failed], ['impact', 'target:t1-0', ['target:t1-0']]);
    assert.ok(nodeOf(view, 'target:t1-0')!.classes.includes('failed'));
    assert.ok(nodeOf(view, 'target:t1-0')!.classes.includes('subject'));
    assert.deepEqual([nodeOf(view, name(1))?.impact, nodeOf(view, 'service:orders')?.impact], ['degraded', 'degraded']);
    assert.deepEqual([nodeOf(view, name(3))?.impact, nodeOf(view, 'service:reports')?.impact], [null, null]);
    assert.equal(nodeOf(view, 'target:t3-0')?.health, 'down', 'the current health is still shown');
  } finally {
    await fixture.close();
  }
});

test('bounded view: capped columns with "+K more", a focus on a subject, the SVG with escaped labels', async () => {
  const odd = 'a<z>&"q\'';
  const fixture = await apiFixture(30, {
    services: [
      ...services,
      ...Array.from({ length: 12 }, (_, n) => ({ id: `batch-${n}`, criticality: 'low', dependsOn: [`svc${10 + n}`] })),
    ],
  });
  try {
    // One target in an AZ whose name needs escaping in XML.
    fixture.context.inventory = fixture.context.inventory.map((endpoint, n) => (n !== 7 ? endpoint : {
      ...endpoint, targets: endpoint.targets.map((target, t) => (t === 0 ? { ...target, az: odd } : target)),
    }));
    const capped = (await get<GraphView>(fixture.app, '/api/graph?services=4&names=5&targets=6')).body;
    assert.deepEqual([capped.services.length, capped.names.length], [4, 5]);
    assert.equal(capped.targets.reduce((sum, group) => sum + group.nodes.length, 0), 6);
    assert.deepEqual(capped.totals, { services: 15, names: 30, targets: 90 });
    assert.deepEqual(capped.more, { services: 11, names: 25, targets: 84 });
    const grouped = capped.targets.reduce((sum, group) => sum + group.nodes.length + group.more, 0);
    assert.equal(grouped, 90, 'every AZ group counts the rest');
    const drawn = (id: string) => nodeOf(capped, id) !== undefined;
    assert.ok(capped.edges.every((edge) => drawn(edge.from) && drawn(edge.to)), 'edges join shown nodes only');

    // Focus on payments: what depends on it (orders) and what it depends on (svc2 and its targets), nothing else.
    const focused = (await get<GraphView>(fixture.app, '/api/graph?focus=service:payments')).body;
    assert.equal(focused.focus, 'service:payments');
    assert.deepEqual(focused.services.map((node) => node.id), ['service:orders', 'service:payments']);
    assert.deepEqual(focused.names.map((node) => node.id), [name(2)]);
    const focusedTargets = focused.targets.flatMap((group) => group.nodes.map((node) => node.id));
    assert.deepEqual(focusedTargets, ['target:t2-0', 'target:t2-1', 'target:t2-2']);
    assert.deepEqual(focused.more, { services: 0, names: 0, targets: 0 });

    const svg = await fixture.app.inject({ method: 'GET', url: '/api/graph.svg?names=5' });
    assert.equal(svg.statusCode, 200);
    assert.match(String(svg.headers['content-type']), /^image\/svg\+xml/);
    const text = svg.body;
    assert.match(text, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<\?xml-stylesheet/);
    assert.match(text, /<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" class="graph current"/);
    assert.match(text, /<g class="node service" data-id="service:orders"/);
    assert.match(text, /\+25 more names/);
    assert.ok(!text.includes(odd) && !text.includes('a<z>'), 'the odd AZ never appears raw');
    assert.ok(text.includes('a&#60;z&#62;&#38;&#34;q&#39;'), 'the odd AZ appears escaped');
    // Every element opened is closed: the document is well formed as far as tags go.
    const opened = (text.match(/<(g|text|title|svg)[\s>]/g) ?? []).length;
    const closed = (text.match(/<\/(g|text|title|svg)>/g) ?? []).length;
    assert.equal(opened, closed);

    await fixture.install.store.setHealth('t2-1', 'down', 'operator');
    const marked = (await fixture.app.inject({ method: 'GET', url: '/api/graph.svg?impact=svc2' })).body;
    assert.match(marked, /<g class="node target down[^"]*" data-id="target:t2-1"/);
    assert.match(marked, /<g class="node name [^"]*failed[^"]*" data-id="name:svc2\.dnsplane\.test"/);
    assert.match(marked, /<g class="node service [^"]*impacted lost[^"]*" data-id="service:payments"/);
    const impactedEdge = /<path class="edge resolves impacted" data-from="service:payments" data-to="name:svc2\./;
    assert.match(marked, impactedEdge);
    assert.match(marked, /<svg [^>]*class="graph impact"/);

    // A new inventory version (the context's endpoints and services replaced together): the graph is rebuilt.
    const late = { id: 'late', criticality: 'critical' as const, names: [`svc29.${zone}`], services: [] };
    fixture.context.services = [...fixture.context.services, late];
    fixture.context.inventoryVersion += 1;
    const rebuilt = (await get<GraphView>(fixture.app, '/api/graph')).body;
    assert.equal(rebuilt.totals.services, 16);
    assert.ok(rebuilt.edges.some((edge) => edge.from === 'service:late' && edge.to === name(29)));
  } finally {
    await fixture.close();
  }
});

test('graph reads need a token beyond loopback, like every read', async () => {
  const wide = await apiFixtureBare(2, {
    api: { listen: '0.0.0.0:8080', token: adminToken, readToken }, services: [{ id: 'orders', dependsOn: ['svc0'] }],
  }, { tokens: undefined });
  try {
    for (const url of ['/api/graph', '/api/graph.svg', '/api/impact?of=svc0']) {
      assert.equal((await wide.app.inject({ method: 'GET', url })).statusCode, 401, url);
      const allowed = await wide.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${readToken}` } });
      assert.equal(allowed.statusCode, 200, url);
    }
  } finally {
    await wide.close();
  }
});
