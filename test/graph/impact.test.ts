// Goal: `impact` reports what a failure really loses — the 2025 chain from DynamoDB's name to S3's health-checked
// targets, an AZ's share of capacity, failover to secondaries, a check that goes through its own name — with a
// causal path per affected node; and on any inventory it agrees with the obvious rules, grows with the failure,
// and only reports paths made of edges. Method: fixed inventories with exact expectations, then fast-check over
// random inventories (shared targets, pools, capacity 0, cycles among services and checks) against a reference
// model that applies every rule to every node until nothing changes (test/graph/model.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Inventory, TargetSpec } from '../../src/domain/types.js';
import { buildGraph, type DependencyGraph } from '../../src/graph/graph.js';
import { impact, parseSubject } from '../../src/graph/impact.js';
import type { ImpactReport } from '../../src/graph/types.js';
import { UserError } from '../../src/util/assert.js';
import { inventoryArbitrary, modelImpact, nestedFailures } from './model.js';

const zone = 'dnsplane.test';

function target(id: string, az: string, extra: Partial<TargetSpec> = {}): TargetSpec {
  return { id, address: '10.0.0.1', az, capacity: 100, ...extra };
}

/** The demo's chain (src/demo/demo.ts) as an inventory. */
const chain: Inventory = {
  endpoints: [
    {
      name: `dynamodb.us-east-1.${zone}`,
      targets: [target('lb-1', 'az1'), target('lb-2', 'az2'), target('lb-3', 'az3')],
    },
    {
      name: `s3.us-east-1.${zone}`,
      targets: ['lb-4', 'lb-5'].map((id, index) => target(id, `az${index + 1}`, {
        check: { http: `http://127.0.0.${5 + index}:8081/healthz`, dependsOn: ['service:nlb-health'] },
      })),
    },
    { name: `api.eu-west-1.${zone}`, targets: [target('lb-6', 'az1'), target('lb-7', 'az2')] },
  ],
  services: [
    { id: 'nlb-health', criticality: 'high', names: [], services: ['ec2-launch'] },
    { id: 'dwfm', criticality: 'critical', names: [`dynamodb.us-east-1.${zone}`], services: [] },
    { id: 'ec2-launch', criticality: 'critical', names: [], services: ['dwfm'] },
    { id: 'reports', criticality: 'low', names: [`api.eu-west-1.${zone}`], services: [] },
  ],
};

const ids = (entries: readonly { id: string }[]) => entries.map((entry) => entry.id);

test('DynamoDB\'s name going empty loses the whole chain down to S3, each with its path', () => {
  const graph = buildGraph(chain);
  const report = impact(graph, [parseSubject('dynamodb.us-east-1', zone, graph)]);
  const dynamodb = `name:dynamodb.us-east-1.${zone}`;
  const services = ['service:dwfm', 'service:ec2-launch', 'service:nlb-health'];
  assert.deepEqual(report.failed, [dynamodb]);
  assert.deepEqual(ids(report.namesLost), [dynamodb, `name:s3.us-east-1.${zone}`]);
  assert.deepEqual(report.namesLost[1]!.path, [dynamodb, ...services, 'target:lb-4', `name:s3.us-east-1.${zone}`]);
  assert.deepEqual(report.namesLost[0]!.path, [dynamodb], 'the failed name is its own path');
  assert.deepEqual(report.namesDegraded, []);
  assert.deepEqual(ids(report.targets), ['target:lb-4', 'target:lb-5']);
  assert.deepEqual(report.targets[1]!.path, [dynamodb, ...services, 'target:lb-5']);
  // Most critical first, then by id; the low-criticality service of another region is untouched.
  assert.deepEqual(report.services.map((s) => [s.service, s.criticality, s.severity]),
    [['dwfm', 'critical', 'lost'], ['ec2-launch', 'critical', 'lost'], ['nlb-health', 'high', 'lost']]);
  assert.deepEqual(report.services[2]!.path, [dynamodb, ...services]);
});

test('an AZ degrades the names with a target in it by their capacity, and the services that resolve them', () => {
  const graph = buildGraph(chain);
  const report = impact(graph, [parseSubject('az:az1', zone, graph)]);
  assert.deepEqual(report.namesLost, []);
  assert.deepEqual(report.namesDegraded.map((n) => [n.name, Math.round(n.capacityLostFraction * 100), n.failover]), [
    [`api.eu-west-1.${zone}`, 50, false], [`s3.us-east-1.${zone}`, 50, false],
    [`dynamodb.us-east-1.${zone}`, 33, false],
  ], 'most capacity lost first');
  assert.deepEqual(ids(report.targets), ['target:lb-1', 'target:lb-4', 'target:lb-6']);
  assert.deepEqual(report.targets[0]!.path, ['az:az1', 'target:lb-1']);
  assert.deepEqual(report.services.map((s) => [s.service, s.severity]),
    [['dwfm', 'degraded'], ['ec2-launch', 'degraded'], ['nlb-health', 'degraded'], ['reports', 'degraded']]);
  const dwfm = ['az:az1', 'target:lb-1', `name:dynamodb.us-east-1.${zone}`, 'service:dwfm'];
  assert.deepEqual(report.services[0]!.path, dwfm);
});

test('secondaries count only once every primary is lost: failover, then lost', () => {
  const inventory: Inventory = {
    endpoints: [{
      name: `web.${zone}`,
      targets: [target('p1', 'az1', { capacity: 300 }), target('p2', 'az2'), target('s1', 'az3', { pool: 'secondary' }),
        target('zero', 'az4', { capacity: 0 })],
    }],
    services: [],
  };
  const graph = buildGraph(inventory);
  const secondaryOnly = impact(graph, ['target:s1']);
  assert.deepEqual(secondaryOnly.namesDegraded, [], 'a secondary down while the primaries serve loses nothing');
  assert.deepEqual(ids(secondaryOnly.targets), ['target:s1']);
  assert.deepEqual(impact(graph, ['target:zero']).namesDegraded, [], 'capacity 0 serves nothing');
  const [p1] = impact(graph, ['target:p1']).namesDegraded;
  assert.deepEqual([p1!.capacityLostFraction, p1!.failover], [0.75, false]);
  const primaries = impact(graph, ['target:p1', 'target:p2']);
  assert.deepEqual(primaries.namesDegraded.map((n) => [n.capacityLostFraction, n.failover]), [[1, true]]);
  assert.deepEqual(primaries.namesLost, []);
  assert.deepEqual(ids(impact(graph, ['target:p1', 'target:p2', 'target:s1']).namesLost), [`name:web.${zone}`]);
});

test('a check through its own name: losing the name loses the targets, and a cycle of services ends', () => {
  const inventory: Inventory = {
    endpoints: [{
      name: `self.${zone}`,
      // Case and a trailing dot do not hide the managed name behind the check's host.
      targets: [target('a', 'az1', { check: { tcp: `SELF.${zone.toUpperCase()}.:443` } }), target('b', 'az2')],
    }],
    services: [
      { id: 'x', criticality: 'medium', names: [`self.${zone}`], services: ['y'] },
      { id: 'y', criticality: 'medium', names: [], services: ['x'] },
    ],
  };
  const graph = buildGraph(inventory);
  assert.ok(graph.hasEdge('target:a', `name:self.${zone}`), 'the check edge');
  const emptied = impact(graph, [`name:self.${zone}`]);
  assert.deepEqual(ids(emptied.targets), ['target:a'], 'b is not checked through the name');
  assert.deepEqual(emptied.targets[0]!.path, [`name:self.${zone}`, 'target:a']);
  const services = emptied.services.map((s) => [s.service, s.severity, s.path.length]);
  assert.deepEqual(services, [['x', 'lost', 2], ['y', 'lost', 3]]);
  const one = impact(graph, ['target:b']);
  assert.deepEqual(one.namesDegraded.map((n) => n.capacityLostFraction), [0.5], 'a is still up: its name answers');
});

test('subjects: relative and qualified names, targets, az:, service:, name:, target:; unknown ones suggest', () => {
  const graph = buildGraph(chain);
  const accepted: [string, string][] = [
    ['dynamodb.us-east-1', `name:dynamodb.us-east-1.${zone}`],
    [`DynamoDB.us-east-1.${zone}.`, `name:dynamodb.us-east-1.${zone}`],
    [`name:s3.us-east-1`, `name:s3.us-east-1.${zone}`],
    ['lb-4', 'target:lb-4'], ['target:lb-4', 'target:lb-4'], ['az:az3', 'az:az3'], ['service:dwfm', 'service:dwfm'],
  ];
  for (const [text, id] of accepted) assert.equal(parseSubject(text, zone, graph), id, text);
  const refused: [string, RegExp][] = [
    ['dynamodb.us-east-2', /unknown subject "dynamodb\.us-east-2".*did you mean "dynamodb\.us-east-1"\?/],
    ['service:dwfn', /no service is called "dwfn"; did you mean "service:dwfm"\?/],
    ['az:az9', /no az is called "az9"; did you mean "az:az1", "az:az2", "az:az3"\?/],
    ['lb-44', /did you mean "lb-4"/],
    ['nothing-like-it-at-all', /^unknown subject "nothing-like-it-at-all": no name, target, AZ or service is .*that$/],
    ['', /an empty subject/],
  ];
  for (const [text, message] of refused) {
    assert.throws(() => parseSubject(text, zone, graph), (error: unknown) => {
      assert.ok(error instanceof UserError, `${text}: ${String(error)}`);
      assert.match(error.message, message);
      return true;
    });
  }
  const clash = buildGraph({ endpoints: [{ name: `lb-1.${zone}`, targets: [target('lb-1', 'az1')] }], services: [] });
  assert.throws(() => parseSubject('lb-1', zone, clash), /both a name and a target: say name:lb-1 or target:lb-1/);
  assert.throws(() => impact(graph, ['name:nope']), UserError);
});

const severity = (report: ImpactReport) => {
  const of = new Map<string, number>();
  for (const name of report.namesLost) of.set(name.id, 2);
  for (const name of report.namesDegraded) of.set(name.id, 1);
  for (const service of report.services) of.set(service.id, service.severity === 'lost' ? 2 : 1);
  for (const spec of report.targets) of.set(spec.id, 2);
  return of;
};

/** Paths start at a failed node, step along edges, and explain: a lost node's path holds only lost nodes. */
function assertPaths(graph: DependencyGraph, report: ImpactReport): void {
  const failed = new Set(report.failed);
  const of = severity(report);
  for (const entry of [...report.namesLost, ...report.namesDegraded, ...report.targets, ...report.services]) {
    assert.ok(failed.has(entry.path[0]!), `${entry.id}: the path starts at ${entry.path[0]}, which did not fail`);
    const weaker = entry.path.slice(1).find((id) => (of.get(id) ?? 0) < of.get(entry.id)!);
    assert.equal(weaker, undefined, `${entry.id} is ${of.get(entry.id)}, its path goes through ${weaker}`);
    assert.equal(entry.path[entry.path.length - 1], entry.id);
    assert.equal(new Set(entry.path).size, entry.path.length, `${entry.id}: the path visits a node twice`);
    for (let step = 1; step < entry.path.length; step += 1) {
      const from = entry.path[step]!;
      const to = entry.path[step - 1]!;
      assert.ok(graph.dependenciesOf(from).some((edge) => edge.to === to), `${entry.id}: no edge ${from} -> ${to}`);
    }
  }
}

test('property: impact agrees with the rules applied until nothing changes, and every path is made of edges', () => {
  fc.assert(fc.property(inventoryArbitrary.chain((inventory) => fc.tuple(fc.constant(inventory),
    nestedFailures(inventory))), ([inventory, [, failed]]) => {
    const graph = buildGraph(inventory);
    const report = impact(graph, failed);
    const model = modelImpact(inventory, failed);
    const of = severity(report);
    const reported = (level: number) => [...of].filter(([, value]) => value === level).map(([id]) => id).sort();
    const modelled = (set: Set<string>) => [...set].filter((id) => !id.startsWith('az:')).sort();
    assert.deepEqual(reported(2), modelled(model.lost), 'lost');
    assert.deepEqual(reported(1), modelled(model.degraded), 'degraded');
    assertPaths(graph, report);
  }), { numRuns: 400 });
});

test('property: failing more never affects less — names, targets, services, capacity or severity', () => {
  fc.assert(fc.property(inventoryArbitrary.chain((inventory) => fc.tuple(fc.constant(inventory),
    nestedFailures(inventory))), ([inventory, [smaller, larger]]) => {
    const graph = buildGraph(inventory);
    const less = impact(graph, smaller);
    const more = impact(graph, larger);
    const lessOf = severity(less);
    const moreOf = severity(more);
    for (const [id, level] of lessOf) {
      const after = moreOf.get(id) ?? 0;
      assert.ok(after >= level, `${id}: ${level} failing ${smaller}, ${after} failing ${larger}`);
    }
    const fraction = (report: ImpactReport, id: string) => (report.namesLost.some((n) => n.id === id) ? 1
      : report.namesDegraded.find((n) => n.id === id)?.capacityLostFraction ?? 0);
    for (const name of [...less.namesLost, ...less.namesDegraded]) {
      assert.ok(fraction(more, name.id) >= fraction(less, name.id), `${name.id}: less capacity lost failing more`);
    }
  }), { numRuns: 400 });
});
