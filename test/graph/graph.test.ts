// Goal: the graph holds exactly the edges an inventory implies — serves, in-az, resolves, calls, check (from
// dependsOn, and from a check whose host is a managed name whatever its case or trailing dot) — once each, with
// adjacency both ways; its dot output is valid for Graphviz whatever the ids hold; and 100,000 names of 4 targets
// with 1,000 services build and propagate in linear time. Method: a hand-written inventory with every kind of
// edge; dot read back by a structural parser (test/graph/dot.ts) on random inventories and hostile ids; the large
// inventory timed, with a bound that a quadratic step would blow by far.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { EndpointSpec, Inventory, ServiceSpec } from '../../src/domain/types.js';
import { buildGraph, graphDot, graphJson } from '../../src/graph/graph.js';
import { impact } from '../../src/graph/impact.js';
import { parseDot } from './dot.js';
import { largeInventory } from '../helpers/graph-inventory.js';
import { inventoryArbitrary } from './model.js';

const zone = 'dnsplane.test';

const inventory: Inventory = {
  endpoints: [
    {
      name: `db.${zone}`,
      targets: [
        { id: 'a', address: '10.0.0.1', az: 'az1', capacity: 100 },
        { id: 'b', address: '10.0.0.2', az: 'az2', capacity: 50, pool: 'secondary',
          check: {
            https: `https://Web.${zone.toUpperCase()}.:8443/health`, dependsOn: [`web.${zone}`, 'service:auth'],
          } },
      ],
    },
    {
      name: `web.${zone}`,
      targets: [
        // Shared with db: one node, in its AZ once, serving both names.
        { id: 'a', address: '10.0.0.1', az: 'az1', capacity: 10, check: { tcp: '10.0.0.1:80' } },
        { id: 'c', address: '10.0.0.3', az: 'az2', capacity: 10, check: { http: 'http://unmanaged.example/x' } },
      ],
    },
  ],
  services: [
    { id: 'auth', criticality: 'high', names: [`db.${zone}`, `db.${zone}`], services: ['app'] },
    { id: 'app', criticality: 'critical', names: [`web.${zone}`], services: ['auth', 'ghost'] },
  ],
};

test('every kind of edge, once, with the adjacency both ways', () => {
  const graph = buildGraph(inventory);
  const edges = graphJson(graph).edges.map((edge) => `${edge.from} ${edge.kind} ${edge.to}`).sort();
  assert.deepEqual(edges, [
    'name:db.dnsplane.test serves target:a',
    'name:db.dnsplane.test serves target:b',
    'name:web.dnsplane.test serves target:a',
    'name:web.dnsplane.test serves target:c',
    'service:app calls service:auth',
    'service:app resolves name:web.dnsplane.test',
    'service:auth calls service:app',
    'service:auth resolves name:db.dnsplane.test',
    'target:a in-az az:az1',
    'target:b check name:web.dnsplane.test',
    'target:b check service:auth',
    'target:b in-az az:az2',
    'target:c in-az az:az2',
  ].sort());
  const unresolved = [{ from: 'service:app', ref: 'service:ghost' }];
  assert.deepEqual(graph.unresolved, unresolved, 'an unknown reference is kept aside');
  assert.deepEqual(graph.nodes.map((node) => node.id), [
    'service:auth', 'service:app', 'name:db.dnsplane.test', 'name:web.dnsplane.test', 'target:a', 'az:az1', 'target:b',
    'az:az2', 'target:c',
  ]);
  assert.deepEqual(graph.node('target:b'), {
    id: 'target:b', kind: 'target', key: 'b', az: 'az2', capacity: 50, pool: 'secondary', name: 'db.dnsplane.test',
  });
  const serves = graph.dependenciesOf('name:db.dnsplane.test');
  assert.deepEqual(serves.map((edge) => [edge.to, edge.capacity, edge.pool]),
    [['target:a', 100, 'primary'], ['target:b', 50, 'secondary']], 'capacity and pool per name');
  const dependents = (id: string) => graph.dependentsOf(id).map((edge) => edge.from).sort();
  assert.deepEqual(dependents('target:a'), ['name:db.dnsplane.test', 'name:web.dnsplane.test']);
  assert.deepEqual(dependents('name:web.dnsplane.test'), ['service:app', 'target:b']);
  for (const edge of graph.edges) {
    assert.ok(graph.dependenciesOf(edge.from).includes(edge), `${edge.from} lists its edge`);
    assert.ok(graph.dependentsOf(edge.to).includes(edge), `${edge.to} lists its edge`);
  }
  assert.deepEqual(graph.dependenciesOf('nope'), []);
});

test('dot: clusters by kind and AZ, every edge between declared nodes', () => {
  const parsed = parseDot(graphDot(buildGraph(inventory)));
  assert.deepEqual(parsed.clusters, ['cluster_services', 'cluster_names', 'cluster_az_az1', 'cluster_az_az2']);
  assert.equal(parsed.nodes.size, 9);
  assert.equal(parsed.edges.length, 13);
});

test('property: dot parses structurally for any inventory, quotes and backslashes in ids included', () => {
  const hostile = fc.stringMatching(/^[a-z"\\{} ;\-\[\]=>]{1,8}$/);
  fc.assert(fc.property(inventoryArbitrary, hostile, hostile, (random, targetId, azName) => {
    const endpoints: EndpointSpec[] = [...random.endpoints, {
      name: `odd.${zone}`, targets: [{ id: targetId, address: '10.0.0.9', az: azName, capacity: 1 }],
    }];
    const services: ServiceSpec[] = [...random.services, {
      id: `${targetId}"x`, criticality: 'low', names: [`odd.${zone}`], services: [],
    }];
    const graph = buildGraph({ endpoints, services });
    const parsed = parseDot(graphDot(graph));
    assert.deepEqual([...parsed.nodes].sort(), graph.nodes.map((node) => node.id).sort());
    assert.deepEqual(parsed.edges, graph.edges.map((edge) => [edge.from, edge.to]));
  }), { numRuns: 200 });
});

test('100,000 names of 4 targets and 1,000 services: every node and edge, and the impact of two AZs', () => {
  // How long it takes is measured by `npm run bench -- graph`, not here.
  const graph = buildGraph(largeInventory(100_000, 1000));
  const report = impact(graph, ['az:az1', 'az:az2']);
  assert.equal(graph.nodes.length, 100_000 + 400_000 + 4 + 1000);
  assert.equal(graph.edges.length, 800_000 + 20_000 + 999);
  assert.equal(report.namesDegraded.length, 100_000);
  assert.equal(report.targets.length, 200_000);
  assert.equal(report.services.length, 1000);
});
