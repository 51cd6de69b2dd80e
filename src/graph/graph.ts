import { normalizeName } from '../domain/names.js';
import { parseHostPort } from '../domain/probe-spec.js';
import {
  serviceRefPrefix, type EndpointSpec, type Inventory, type ProbeSpec, type ServiceSpec,
} from '../domain/types.js';
import { assert } from '../util/assert.js';
import type { EdgeKind, GraphEdge, GraphNode, NodeKind } from './types.js';

/**
 * Builds the dependency graph of one inventory version (src/graph/types.ts defines its semantics). Linear in the
 * inventory: a node costs one map entry and an object, an edge a few numbers, so 100,000 names of 4 targets and
 * 1,000 services build in about the time a map of their 500,000 nodes takes (test/graph/graph.test.ts times it).
 */

export function nameId(name: string): string {
  return `name:${name}`;
}

export function targetId(id: string): string {
  return `target:${id}`;
}

export function azId(az: string): string {
  return `az:${az}`;
}

export function serviceId(id: string): string {
  return `service:${id}`;
}

// scheme://host[:port][/...]: the host part of a check URL, without parsing the whole URL (a check per target).
const urlHostPattern = /^[a-z][a-z0-9+.-]*:\/\/(\[[^\]]*\]|[^/?#:]*)/i;

/** The host a check connects to (the URL's host, or tcp's), normalised like a name; null for no check. */
export function checkHost(check: ProbeSpec | undefined): string | null {
  if (check === undefined) return null;
  const url = check.http ?? check.https;
  if (url !== undefined) {
    const host = urlHostPattern.exec(url)?.[1];
    return host === undefined || host === '' ? null : normalizeName(host.replace(/^\[|\]$/g, ''));
  }
  if (check.tcp === undefined) return null;
  const parsed = parseHostPort(check.tcp);
  return typeof parsed === 'string' ? null : normalizeName(parsed.host);
}

/** One node's edges in a compressed adjacency: `edges[start[node]] .. edges[start[node + 1] - 1]` are edge indices. */
interface Adjacency {
  start: Int32Array;
  edges: Int32Array;
}

/** Groups edge indices by one endpoint (a counting sort): linear, and no array per node. */
function adjacency(nodeCount: number, endpoint: Int32Array): Adjacency {
  const start = new Int32Array(nodeCount + 1);
  for (const node of endpoint) start[node + 1]! += 1;
  for (let node = 0; node < nodeCount; node += 1) start[node + 1]! += start[node]!;
  const fill = start.slice(0, nodeCount);
  const edges = new Int32Array(endpoint.length);
  endpoint.forEach((node, edge) => {
    edges[fill[node]!] = edge;
    fill[node]! += 1;
  });
  assert(start[nodeCount] === endpoint.length, 'internal', `${start[nodeCount]} edges grouped of ${endpoint.length}`);
  return { start, edges };
}

/** Edge kinds by their code in `DependencyGraph.edgeKind`. */
export const edgeKinds: readonly EdgeKind[] = ['serves', 'in-az', 'resolves', 'calls', 'check'];
const edgeKindCode = new Map(edgeKinds.map((kind, code) => [kind, code]));
export const servesCode = edgeKindCode.get('serves')!;
const inAzCode = edgeKindCode.get('in-az')!;
const checkCode = edgeKindCode.get('check')!;

/** What the builder collects per edge, one column each (numbers only: no object per edge). */
interface EdgeColumns {
  from: number[];
  to: number[];
  kind: number[];
  /** serves: the target's capacity in the name, else 0. */
  capacity: number[];
  /** serves: 1 for a secondary, else 0. */
  secondary: number[];
}

/**
 * The dependency graph of one inventory version, immutable once built. Nodes are plain data (src/graph/types.ts);
 * edges are kept as typed columns and the adjacency in both directions as typed arrays of edge indices, so that a
 * graph of 100,000 names builds and propagates without an object per edge or per node and direction. An edge's
 * GraphEdge object is made when first asked for, and is the same object every time after.
 */
export class DependencyGraph {
  /** Services, names, targets and AZs, in the order first seen. */
  readonly nodes: readonly GraphNode[];
  /** dependsOn entries that name nothing in the inventory (a validated inventory has none): left out. */
  readonly unresolved: readonly { from: string; ref: string }[];
  readonly edgeCount: number;
  /** Per edge: the index of its `from` and `to` node, its kind's code (edgeKinds), for serves capacity and pool. */
  readonly edgeFrom: Int32Array;
  readonly edgeTo: Int32Array;
  readonly edgeKind: Uint8Array;
  readonly edgeCapacity: Float64Array;
  readonly edgeSecondary: Uint8Array;
  private readonly index: ReadonlyMap<string, number>;
  private readonly leaving: Adjacency;
  private readonly arriving: Adjacency;
  private readonly made: (GraphEdge | undefined)[];

  constructor(built: { nodes: GraphNode[]; index: Map<string, number>; columns: EdgeColumns;
    unresolved: { from: string; ref: string }[] }) {
    const { columns } = built;
    this.edgeCount = columns.from.length;
    assert(built.index.size === built.nodes.length, 'internal', 'a node id indexed twice or not at all');
    for (const column of [columns.to, columns.kind, columns.capacity, columns.secondary]) {
      assert(column.length === this.edgeCount, 'internal', 'edge columns of different lengths');
    }
    this.nodes = built.nodes;
    this.unresolved = built.unresolved;
    this.index = built.index;
    this.edgeFrom = Int32Array.from(columns.from);
    this.edgeTo = Int32Array.from(columns.to);
    this.edgeKind = Uint8Array.from(columns.kind);
    this.edgeCapacity = Float64Array.from(columns.capacity);
    this.edgeSecondary = Uint8Array.from(columns.secondary);
    this.leaving = adjacency(this.nodes.length, this.edgeFrom);
    this.arriving = adjacency(this.nodes.length, this.edgeTo);
    this.made = new Array<GraphEdge | undefined>(this.edgeCount);
  }

  /** Edge `index` as data. */
  edge(index: number): GraphEdge {
    assert(index >= 0 && index < this.edgeCount, 'internal', 'an edge index out of range');
    const made = this.made[index];
    if (made !== undefined) return made;
    const from = this.nodes[this.edgeFrom[index]!]!.id;
    const to = this.nodes[this.edgeTo[index]!]!.id;
    const kind = edgeKinds[this.edgeKind[index]!]!;
    const pool = this.edgeSecondary[index] === 1 ? 'secondary' : 'primary';
    const edge: GraphEdge = kind !== 'serves' ? { from, to, kind } : {
      from, to, kind, capacity: this.edgeCapacity[index]!, pool,
    };
    this.made[index] = edge;
    return edge;
  }

  /** Every edge, in the order added. */
  get edges(): readonly GraphEdge[] {
    return Array.from({ length: this.edgeCount }, (_, index) => this.edge(index));
  }

  /** The node's index in `nodes`, or -1. */
  indexOf(id: string): number {
    return this.index.get(id) ?? -1;
  }

  node(id: string): GraphNode | undefined {
    const index = this.indexOf(id);
    return index < 0 ? undefined : this.nodes[index];
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /** Edge indices leaving node `index` (what it depends on), as a view of the adjacency. */
  dependencyEdges(index: number): Int32Array {
    return this.leaving.edges.subarray(this.leaving.start[index], this.leaving.start[index + 1]);
  }

  /** Edge indices arriving at node `index` (what depends on it). */
  dependentEdges(index: number): Int32Array {
    return this.arriving.edges.subarray(this.arriving.start[index], this.arriving.start[index + 1]);
  }

  /** The edges leaving `id`: what it depends on. */
  dependenciesOf(id: string): GraphEdge[] {
    const index = this.indexOf(id);
    return index < 0 ? [] : Array.from(this.dependencyEdges(index), (edge) => this.edge(edge));
  }

  /** The edges arriving at `id`: what depends on it. */
  dependentsOf(id: string): GraphEdge[] {
    const index = this.indexOf(id);
    return index < 0 ? [] : Array.from(this.dependentEdges(index), (edge) => this.edge(edge));
  }

  /** An edge `from` → `to` exists (`from` depends on `to`). */
  hasEdge(from: string, to: string): boolean {
    const source = this.indexOf(from);
    const destination = this.indexOf(to);
    if (source < 0 || destination < 0) return false;
    return this.dependencyEdges(source).some((edge) => this.edgeTo[edge] === destination);
  }
}

class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  readonly index = new Map<string, number>();
  readonly columns: EdgeColumns = { from: [], to: [], kind: [], capacity: [], secondary: [] };
  readonly unresolved: { from: string; ref: string }[] = [];
  private readonly azs = new Map<string, number>();
  /** The managed names (fully qualified), for the check hosts. */
  readonly names = new Set<string>();
  /** "from to kind" of the edges that may repeat (checks, services, a target's AZ seen again). */
  private readonly seen = new Set<string>();

  /** The node's index; `created` tells whether this call added it. */
  created = false;

  /** Adds the node made by `make` unless `id` is there already; returns its index. */
  node(id: string, make: () => GraphNode): number {
    const existing = this.index.get(id);
    this.created = existing === undefined;
    if (existing !== undefined) return existing;
    const node = make();
    // Constant messages on the builder's hot path: an interpolated one would be built for every node and edge.
    assert(node.id === id, 'internal', 'a node made under another id');
    this.nodes.push(node);
    this.index.set(id, this.nodes.length - 1);
    return this.nodes.length - 1;
  }

  /** The node of an AZ, made when first seen (a handful of AZs for 100,000 targets: looked up by its name). */
  az(key: string): number {
    const known = this.azs.get(key);
    if (known !== undefined) return known;
    const id = azId(key);
    const index = this.node(id, () => ({ id, kind: 'az', key }));
    this.azs.set(key, index);
    return index;
  }

  /**
   * Adds `from` → `to` of kind `code` (edgeKinds); `once`: unless that edge is there already (a repeated dependsOn,
   * a shared target). Serves edges carry the target's capacity in the name and whether it is a secondary.
   */
  edge(from: number, to: number, code: number, once: boolean, capacity = 0, secondary = false): void {
    assert(from >= 0 && from < this.nodes.length, 'internal', 'an edge from an undeclared node');
    assert(to >= 0 && to < this.nodes.length, 'internal', 'an edge to an undeclared node');
    assert(code === servesCode || (capacity === 0 && !secondary), 'internal', 'capacity on an edge other than serves');
    if (once) {
      const key = `${from} ${to} ${code}`;
      if (this.seen.has(key)) return;
      this.seen.add(key);
    }
    const { columns } = this;
    columns.from.push(from);
    columns.to.push(to);
    columns.kind.push(code);
    columns.capacity.push(capacity);
    columns.secondary.push(secondary ? 1 : 0);
  }

  /** A dependsOn entry's node index, or null (recorded as unresolved) when the inventory has no such node. */
  reference(from: number, ref: string): number | null {
    const id = ref.startsWith(serviceRefPrefix) ? serviceId(ref.slice(serviceRefPrefix.length)) : nameId(ref);
    const index = this.index.get(id);
    if (index !== undefined) return index;
    this.unresolved.push({ from: this.nodes[from]!.id, ref });
    return null;
  }
}

/** A target of a name: its node (first seen: its fields), the serves edge, its AZ and its check's edges. */
function addTarget(builder: GraphBuilder, name: number, endpoint: EndpointSpec, position: number): void {
  const target = endpoint.targets[position]!;
  const pool = target.pool ?? 'primary';
  const id = targetId(target.id);
  const index = builder.node(id, () => ({
    id, kind: 'target', key: target.id, az: target.az, capacity: target.capacity, pool, name: endpoint.name,
  }));
  const created = builder.created;
  // A target listed twice in one name (an inventory that skipped validation) serves it once.
  let repeated = false;
  for (let earlier = 0; earlier < position; earlier += 1) repeated ||= endpoint.targets[earlier]!.id === target.id;
  if (!repeated) builder.edge(name, index, servesCode, false, target.capacity, pool === 'secondary');
  // A target shared by names is in its AZ once (and in another AZ too if a name says so).
  if (created || builder.nodes[index]!.az !== target.az) {
    builder.edge(index, builder.az(target.az), inAzCode, !created);
  }
  addCheckEdges(builder, index, target.check);
}

/** A check's edges: its dependsOn, and the managed name its URL or tcp host is (case and trailing dot aside). */
function addCheckEdges(builder: GraphBuilder, target: number, check: ProbeSpec | undefined): void {
  if (check === undefined) return;
  if (check.dependsOn !== undefined) {
    for (const ref of check.dependsOn) {
      const to = builder.reference(target, ref);
      if (to !== null) builder.edge(target, to, checkCode, true);
    }
  }
  const host = checkHost(check);
  // Most checks name an address: the set of names answers without building a node id for each.
  const name = host === null || !builder.names.has(host) ? undefined : builder.index.get(nameId(host));
  if (name !== undefined) builder.edge(target, name, checkCode, true);
}

function addServiceEdges(builder: GraphBuilder, service: ServiceSpec): void {
  const from = builder.index.get(serviceId(service.id));
  assert(from !== undefined, 'internal', `service ${service.id} has no node`);
  for (const name of service.names) {
    const to = builder.reference(from, name);
    if (to !== null) builder.edge(from, to, edgeKindCode.get('resolves')!, true);
  }
  for (const called of service.services) {
    const to = builder.reference(from, `${serviceRefPrefix}${called}`);
    if (to !== null) builder.edge(from, to, edgeKindCode.get('calls')!, true);
  }
}

export function buildGraph(inventory: Inventory): DependencyGraph {
  const builder = new GraphBuilder();
  // Every service and name first, so that a dependsOn may name one declared after it.
  for (const { id: key, criticality } of inventory.services) {
    const id = serviceId(key);
    builder.node(id, () => ({ id, kind: 'service', key, criticality }));
  }
  const names = inventory.endpoints.map(({ name }) => {
    builder.names.add(name);
    const id = nameId(name);
    return builder.node(id, () => ({ id, kind: 'name', key: name }));
  });
  inventory.endpoints.forEach((endpoint, position) => {
    for (let target = 0; target < endpoint.targets.length; target += 1) {
      addTarget(builder, names[position]!, endpoint, target);
    }
  });
  for (const service of inventory.services) addServiceEdges(builder, service);
  const graph = new DependencyGraph(builder);
  let serves = 0;
  for (const code of graph.edgeKind) if (code === servesCode) serves += 1;
  const listed = inventory.endpoints.reduce((sum, endpoint) => sum + endpoint.targets.length, 0);
  assert(serves <= listed, 'internal', `${serves} serves edges from ${listed} targets listed`);
  assert(graph.nodes.length >= names.length, 'internal', 'a name without its node');
  return graph;
}

/** The graph as JSON: its nodes and edges (the API and `dnsplane graph --format json`). */
export function graphJson(graph: DependencyGraph): { nodes: GraphNode[]; edges: GraphEdge[] } {
  return { nodes: [...graph.nodes], edges: [...graph.edges] };
}

function dotEscape(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n');
}

/** A Graphviz ID: always quoted, with quotes, backslashes and line breaks escaped. */
export function dotQuote(text: string): string {
  return `"${dotEscape(text)}"`;
}

/** The lines of a node's label: its key, and its criticality or capacity. */
function dotLabel(node: GraphNode): string[] {
  if (node.kind === 'service') return [node.key, node.criticality ?? ''];
  if (node.kind !== 'target') return [node.key];
  return [node.key, `capacity ${node.capacity ?? 0}${node.pool === 'secondary' ? ' (secondary)' : ''}`];
}

function dotNode(node: GraphNode): string {
  const shape = node.kind === 'service' ? 'ellipse' : node.kind === 'az' ? 'folder' : 'box';
  const label = `"${dotLabel(node).map(dotEscape).join('\\n')}"`;
  return `    ${dotQuote(node.id)} [label=${label}, shape=${shape}];`;
}

const edgeStyles: Record<EdgeKind, string> = {
  serves: 'solid', 'in-az': 'dotted', resolves: 'solid', calls: 'bold', check: 'dashed',
};

function dotCluster(id: string, label: string, nodes: readonly GraphNode[]): string[] {
  if (nodes.length === 0) return [];
  return [`  subgraph ${dotQuote(id)} {`, `    label=${dotQuote(label)};`, ...nodes.map(dotNode), '  }'];
}

/**
 * The graph in Graphviz dot: services, then names, then targets in one cluster per AZ (with the AZ's node), left to
 * right in the direction of dependency; check edges dashed. Every id is quoted, so any name or id is safe.
 */
export function graphDot(graph: DependencyGraph): string {
  const ofKind = (kind: NodeKind) => graph.nodes.filter((node) => node.kind === kind);
  const byAz = new Map<string, GraphNode[]>();
  for (const az of ofKind('az')) byAz.set(az.key, [az]);
  for (const target of ofKind('target')) {
    const members = byAz.get(target.az ?? '');
    assert(members !== undefined, 'internal', `target ${target.key} in AZ ${target.az}, which has no node`);
    members.push(target);
  }
  const lines = [
    'digraph dnsplane {',
    '  rankdir=LR;',
    '  node [fontname="Helvetica"];',
    ...dotCluster('cluster_services', 'services', ofKind('service')),
    ...dotCluster('cluster_names', 'names', ofKind('name')),
    ...[...byAz].flatMap(([az, nodes]) => dotCluster(`cluster_az_${az}`, `AZ ${az}`, nodes)),
    ...graph.edges.map((edge) => `  ${dotQuote(edge.from)} -> ${dotQuote(edge.to)}`
      + ` [label=${dotQuote(edge.kind)}, style=${edgeStyles[edge.kind]}];`),
    '}',
  ];
  return `${lines.join('\n')}\n`;
}
