import { criticalities, type Criticality, type HealthState } from '../domain/types.js';
import type { DependencyGraph } from '../graph/graph.js';
import type { EdgeKind, GraphNode, ImpactReport } from '../graph/types.js';
import { assert } from '../util/assert.js';

/**
 * The dashboard's view of the dependency graph (issue 19), pure: which nodes a bounded view shows, and that view as
 * an SVG of three fixed columns — services | names | targets grouped by AZ. This is a column layout, not a layout
 * engine: a node's place is its column and its rank in a deterministic order, and edges are curves between box
 * sides. Every column shows at most its limit of nodes, ranked so that what matters (failed, impacted, down,
 * alarmed, most critical) comes first, and ends with a "+K more" node; so 10,000 names cost the browser what 60 do.
 */

export type Column = 'services' | 'names' | 'targets';
/** What an impact (current: the targets reported down; or "impact of X") did to a node. */
export type ImpactMark = 'failed' | 'lost' | 'degraded';

export interface ColumnLimits {
  services: number;
  names: number;
  targets: number;
}

export const defaultColumnLimits: Readonly<ColumnLimits> = { services: 40, names: 60, targets: 80 };
/** Largest limit a request may ask for, per column. */
export const columnLimitMax = 500;
/** AZ groups drawn in the targets column; targets of further AZs only count in the column's "+K more". */
export const azGroupsMax = 32;
/** Edges drawn between the shown nodes (a service resolving every shown name could otherwise draw thousands). */
export const edgesMax = 4000;
/** Down targets taken into account in one view (the current failure). */
export const downTargetsMax = 50_000;

const criticalityRank = new Map<Criticality, number>(criticalities.map((criticality, rank) => [criticality, rank]));

function rankOf(node: GraphNode): number {
  return criticalityRank.get(node.criticality ?? 'medium') ?? criticalities.length;
}

function compareKeys(a: GraphNode, b: GraphNode): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** The graph with each column's nodes in their base order, built once per inventory version. */
export class GraphIndex {
  /** Services by criticality (most critical first), then id. */
  readonly services: string[];
  /** Names in name order. */
  readonly names: string[];
  /** Targets by AZ, then id. */
  readonly targets: string[];
  /** The AZ of each of `targets`, at the same position. */
  readonly targetAzs: string[];
  readonly azs: string[];

  constructor(readonly graph: DependencyGraph) {
    const byKind: Record<GraphNode['kind'], GraphNode[]> = { service: [], name: [], target: [], az: [] };
    for (const node of graph.nodes) byKind[node.kind].push(node);
    this.services = byKind.service.sort((a, b) => rankOf(a) - rankOf(b) || compareKeys(a, b)).map((node) => node.id);
    this.names = byKind.name.sort(compareKeys).map((node) => node.id);
    const targets = byKind.target.sort((a, b) => {
      const [azA, azB] = [a.az ?? '', b.az ?? ''];
      return azA < azB ? -1 : azA > azB ? 1 : compareKeys(a, b);
    });
    this.targets = targets.map((node) => node.id);
    this.targetAzs = targets.map((node) => node.az ?? '');
    this.azs = [...new Set(this.targetAzs)].sort();
    const columns = this.services.length + this.names.length + this.targets.length;
    assert(columns + byKind.az.length === graph.nodes.length, 'internal', 'every graph node is in one column or an AZ');
  }

  node(id: string): GraphNode {
    const node = this.graph.node(id);
    assert(node !== undefined, 'internal', `graph node ${id} is not in the graph`);
    return node;
  }

  /** The nodes `from` reaches through edges of `kind`: what a few shown nodes depend on, to rank the next column. */
  reached(from: Iterable<string>, kind: EdgeKind): Set<string> {
    const found = new Set<string>();
    for (const id of from) {
      for (const edge of this.graph.dependenciesOf(id)) if (edge.kind === kind) found.add(edge.to);
    }
    return found;
  }

  /**
   * The neighbourhood of some nodes, for a focused view: everything that depends on them (transitively) and
   * everything they depend on (transitively), without the AZ nodes (the targets column groups by AZ). Each walk
   * visits a node once, so it is bounded by the graph's size.
   */
  neighbourhood(ids: readonly string[]): Set<string> {
    const { graph } = this;
    const found = new Set<string>();
    // On the graph's index arrays: a focus on a whole AZ walks 40,000 nodes, without an object per step.
    for (const direction of ['dependents', 'dependencies'] as const) {
      const seen = new Uint8Array(graph.nodes.length);
      const queue = ids.map((id) => graph.indexOf(id));
      assert(queue.every((index) => index >= 0), 'internal', `focus ${ids.join(', ')} is not in the graph`);
      for (const index of queue) seen[index] = 1;
      for (let head = 0; head < queue.length; head += 1) {
        const at = queue[head]!;
        const edges = direction === 'dependents' ? graph.dependentEdges(at) : graph.dependencyEdges(at);
        for (const edge of edges) {
          const next = direction === 'dependents' ? graph.edgeFrom[edge]! : graph.edgeTo[edge]!;
          if (seen[next] === 1) continue;
          seen[next] = 1;
          queue.push(next);
        }
      }
      for (const index of queue) if (graph.nodes[index]!.kind !== 'az') found.add(graph.nodes[index]!.id);
    }
    return found;
  }
}

/** The marks an impact report puts on nodes: what failed, and what lost everything or some capacity. */
export function impactMarks(report: ImpactReport | null): Map<string, ImpactMark> {
  const marks = new Map<string, ImpactMark>();
  if (report === null) return marks;
  for (const entry of report.namesDegraded) marks.set(entry.id, 'degraded');
  for (const entry of report.namesLost) marks.set(entry.id, 'lost');
  for (const entry of report.targets) marks.set(entry.id, 'lost');
  for (const entry of report.services) marks.set(entry.id, entry.severity);
  // Last: a failed node is marked failed even when the report also lists it among what it lost.
  for (const id of report.failed) marks.set(id, 'failed');
  return marks;
}

/** What a selection is ranked by: the impact shown, and the current health and alarms. */
export interface RankState {
  impact: ReadonlyMap<string, ImpactMark>;
  /** Target node ids reported down. */
  down: ReadonlySet<string>;
  /** Name node id → active alarms. */
  alarms: ReadonlyMap<string, number>;
}

export interface TargetGroup {
  az: string;
  ids: string[];
  /** Targets of this AZ in the view that are not shown. */
  more: number;
}

export interface Selection {
  services: string[];
  names: string[];
  targets: TargetGroup[];
  /** Nodes of each column in the view (the whole graph, or the focus's neighbourhood). */
  totals: ColumnLimits;
  /** Nodes of each column in the view that are not shown. */
  more: ColumnLimits;
}

/**
 * The first `limit` of `ids` (in their base order) by bucket: every id of bucket 0 before any of bucket 1, and so on;
 * `bucketOf` returns null for an id outside the view. One pass, no sort: 40,000 targets cost a scan.
 */
function pickByBucket(ids: readonly string[], bucketsCount: number, limit: number,
  bucketOf: (id: string, position: number) => number | null): { picked: string[]; eligible: number } {
  const buckets: string[][] = Array.from({ length: bucketsCount }, () => []);
  let eligible = 0;
  for (let position = 0; position < ids.length; position += 1) {
    const id = ids[position]!;
    const bucket = bucketOf(id, position);
    if (bucket === null) continue;
    assert(bucket >= 0 && bucket < bucketsCount, 'internal', 'a bucket outside the buckets');
    eligible += 1;
    if (buckets[bucket]!.length < limit) buckets[bucket]!.push(id);
  }
  const picked = buckets.flat().slice(0, limit);
  assert(picked.length === Math.min(limit, eligible), 'internal', `picked ${picked.length} of ${eligible} (${limit})`);
  return { picked, eligible };
}

/** Position of the first shown node that depends on `id` through an edge of `kind` (Infinity when none). */
function firstDependent(index: GraphIndex, id: string, kind: EdgeKind, positions: ReadonlyMap<string, number>): number {
  let first = Number.POSITIVE_INFINITY;
  for (const edge of index.graph.dependentsOf(id)) {
    if (edge.kind !== kind) continue;
    const position = positions.get(edge.from);
    if (position !== undefined && position < first) first = position;
  }
  return first;
}

/** Orders shown nodes next to the shown nodes that depend on them (fewer crossing edges), then by their rank. */
function alignTo(index: GraphIndex, ids: readonly string[], kind: EdgeKind, dependents: readonly string[]): string[] {
  const positions = new Map(dependents.map((id, position) => [id, position]));
  const rank = new Map(ids.map((id, position) => [id, position]));
  const anchor = new Map(ids.map((id) => [id, firstDependent(index, id, kind, positions)]));
  return [...ids].sort((a, b) => (anchor.get(a)! - anchor.get(b)!) || (rank.get(a)! - rank.get(b)!));
}

const impactBucket = (mark: ImpactMark | undefined): number | null =>
  (mark === 'failed' ? 0 : mark === 'lost' ? 1 : mark === 'degraded' ? 2 : null);

/**
 * The nodes a bounded view shows: `within` restricts it to a focus's neighbourhood (null: the whole graph). Services
 * rank failed, lost, degraded, then by criticality; names failed, lost, alarmed, degraded, then the rest; targets
 * failed, down, then the rest — and within each of these, the nodes joined to the shown nodes of the column before
 * first, so that the columns show one connected picture rather than three unrelated lists.
 */
export function selectNodes(index: GraphIndex, state: RankState, limits: ColumnLimits,
  within: ReadonlySet<string> | null): Selection {
  for (const column of ['services', 'names', 'targets'] as const) {
    assert(limits[column] >= 1 && limits[column] <= columnLimitMax, 'internal', `${column} limit ${limits[column]}`);
  }
  const inView = (id: string) => within === null || within.has(id);
  const services = pickByBucket(index.services, 4, limits.services,
    (id) => (inView(id) ? impactBucket(state.impact.get(id)) ?? 3 : null));
  // What the shown services resolve, and what the shown names are served by: sets built from the few shown nodes,
  // so ranking 10,000 names and 40,000 targets is a lookup each.
  const resolvedByShown = index.reached(services.picked, 'resolves');
  const names = pickByBucket(index.names, 8, limits.names, (id) => {
    if (!inView(id)) return null;
    const mark = state.impact.get(id);
    const joined = resolvedByShown.has(id) ? 0 : 1;
    if (mark === 'failed') return 0;
    if (mark === 'lost') return 1 + joined;
    if ((state.alarms.get(id) ?? 0) > 0) return 3;
    if (mark === 'degraded') return 4 + joined;
    return 6 + joined;
  });
  const servesShown = index.reached(names.picked, 'serves');
  const eligiblePerAz = new Map<string, number>();
  const targets = pickByBucket(index.targets, 7, limits.targets, (id, position) => {
    if (!inView(id)) return null;
    const az = index.targetAzs[position]!;
    eligiblePerAz.set(az, (eligiblePerAz.get(az) ?? 0) + 1);
    const mark = state.impact.get(id);
    const joined = servesShown.has(id) ? 0 : 1;
    if (mark === 'failed') return joined;
    if (state.down.has(id)) return 2 + joined;
    if (joined === 0) return 4;
    return mark === undefined ? 6 : 5;
  });
  const namesShown = alignTo(index, names.picked, 'resolves', services.picked);
  const targetsShown = alignTo(index, targets.picked, 'serves', namesShown);
  const more = (picked: { picked: string[]; eligible: number }) => picked.eligible - picked.picked.length;
  return {
    services: services.picked,
    names: namesShown,
    targets: targetGroups(index, targetsShown, eligiblePerAz),
    totals: { services: services.eligible, names: names.eligible, targets: targets.eligible },
    more: { services: more(services), names: more(names), targets: more(targets) },
  };
}

/** Shown targets by AZ (AZs in name order, at most azGroupsMax), each with how many of its targets are not shown. */
function targetGroups(index: GraphIndex, shown: readonly string[], eligiblePerAz: ReadonlyMap<string, number>):
  TargetGroup[] {
  const byAz = new Map<string, string[]>();
  for (const id of shown) {
    const az = index.node(id).az ?? '';
    const group = byAz.get(az);
    if (group === undefined) byAz.set(az, [id]);
    else group.push(id);
  }
  const groups: TargetGroup[] = [];
  for (const az of index.azs) {
    const eligible = eligiblePerAz.get(az) ?? 0;
    if (eligible === 0) continue;
    const ids = byAz.get(az) ?? [];
    // Past the bound, only AZs with shown targets get a group; the others count in the column's "+K more".
    if (groups.length >= azGroupsMax && ids.length === 0) continue;
    groups.push({ az, ids, more: eligible - ids.length });
  }
  const grouped = groups.reduce((sum, group) => sum + group.ids.length, 0);
  assert(grouped === shown.length, 'internal', `${grouped} of ${shown.length} shown targets in an AZ group`);
  return groups;
}

// ---- the model both answers are made of -------------------------------------------------------------------------

/** Per-node state read for the shown nodes only (a few hundred reads, whatever the inventory's size). */
export interface ShownState {
  health: ReadonlyMap<string, HealthState>;
  drained: ReadonlySet<string>;
  /** Name node id → what DNS serves: records, no records, or nothing yet. */
  served: ReadonlyMap<string, 'served' | 'empty' | 'not-served' | 'unreachable'>;
}

/** Everything a node's view is made of: the ranking state, the shown nodes' state, and the subjects asked about. */
export interface ViewState {
  rank: RankState;
  shown: ShownState;
  /** The `impact` and `focus` subjects (class "subject"). */
  subjects: ReadonlySet<string>;
}

export interface NodeView {
  id: string;
  kind: 'service' | 'name' | 'target';
  key: string;
  column: Column;
  az?: string;
  capacity?: number;
  criticality?: Criticality;
  health?: HealthState | 'unknown';
  drained?: boolean;
  served?: 'served' | 'empty' | 'not-served' | 'unreachable';
  alarms?: number;
  impact: ImpactMark | null;
  /**
   * CSS classes of the node's state: up, down, unknown, drained (targets); alarmed, empty, not-served (names);
   * failed, impacted with lost or degraded (any); subject.
   */
  classes: string[];
}

export interface EdgeView {
  from: string;
  to: string;
  kind: EdgeKind;
  /** Both ends are failed or impacted: the edge is on an impact path. */
  impacted: boolean;
}

export interface GraphModel {
  services: NodeView[];
  names: NodeView[];
  targets: { az: string; nodes: NodeView[]; more: number }[];
  totals: ColumnLimits;
  more: ColumnLimits;
  edges: EdgeView[];
  /** Edges between shown nodes left out past edgesMax. */
  edgesOmitted: number;
}

function nodeView(index: GraphIndex, id: string, state: ViewState): NodeView {
  const node = index.node(id);
  assert(node.kind !== 'az', 'internal', `${id}: AZs are groups, not nodes of a column`);
  const { rank, shown } = state;
  const impact = rank.impact.get(id) ?? null;
  const classes: string[] = [];
  const view: NodeView = { id, kind: node.kind, key: node.key, column: `${node.kind}s`, impact, classes };
  if (node.kind === 'service') view.criticality = node.criticality ?? 'medium';
  if (node.kind === 'target') {
    view.az = node.az ?? '';
    view.capacity = node.capacity ?? 0;
    view.health = rank.down.has(id) ? 'down' : shown.health.get(id) ?? 'unknown';
    view.drained = shown.drained.has(id);
    classes.push(view.health);
    if (view.drained) classes.push('drained');
  }
  if (node.kind === 'name') {
    view.served = shown.served.get(id) ?? 'not-served';
    view.alarms = rank.alarms.get(id) ?? 0;
    if (view.served !== 'served') classes.push(view.served);
    if (view.alarms > 0) classes.push('alarmed');
  }
  if (impact === 'failed') classes.push('failed');
  else if (impact !== null) classes.push('impacted', impact);
  if (state.subjects.has(id)) classes.push('subject');
  return view;
}

/** The shown nodes with their state, and the edges between them (at most edgesMax). */
export function graphModel(index: GraphIndex, selection: Selection, state: ViewState): GraphModel {
  const view = (id: string) => nodeView(index, id, state);
  const model: GraphModel = {
    services: selection.services.map(view),
    names: selection.names.map(view),
    targets: selection.targets.map((group) => ({ az: group.az, nodes: group.ids.map(view), more: group.more })),
    totals: selection.totals,
    more: selection.more,
    edges: [],
    edgesOmitted: 0,
  };
  const targets = selection.targets.flatMap((group) => group.ids);
  const shownIds = new Set([...selection.services, ...selection.names, ...targets]);
  const marked = state.rank.impact;
  for (const from of shownIds) {
    for (const edge of index.graph.dependenciesOf(from)) {
      if (edge.kind === 'in-az' || !shownIds.has(edge.to)) continue;
      if (model.edges.length >= edgesMax) {
        model.edgesOmitted += 1;
        continue;
      }
      model.edges.push({ from, to: edge.to, kind: edge.kind, impacted: marked.has(from) && marked.has(edge.to) });
    }
  }
  return model;
}

// ---- SVG ----------------------------------------------------------------------------------------------------------

/** Text for XML character data and attribute values (both quote kinds, so any attribute delimiter is safe). */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

const layout = {
  top: 44,
  rowPitch: 30,
  nodeHeight: 22,
  groupHeader: 24,
  charWidth: 7.2,
  columns: {
    services: { x: 56, width: 190 },
    names: { x: 336, width: 260 },
    targets: { x: 686, width: 170 },
  },
  width: 900,
} as const;

interface Placed {
  x: number;
  y: number;
  width: number;
}

function truncate(text: string, widthPx: number): string {
  const charsMax = Math.max(4, Math.floor(widthPx / layout.charWidth));
  return text.length <= charsMax ? text : `${text.slice(0, charsMax - 1)}…`;
}

function countOf(count: number, word: string): string {
  return `${count.toLocaleString('en-US')} ${word}${count === 1 ? '' : 's'}`;
}

/** The short text at a node's right edge: a target's health, a service's criticality, a name's alarms. */
function sideText(node: NodeView): string {
  if (node.kind === 'target') return node.drained === true ? 'drained' : node.health ?? '';
  if (node.kind === 'service') return node.criticality ?? '';
  if ((node.alarms ?? 0) > 0) return countOf(node.alarms ?? 0, 'alarm');
  return node.served === 'served' ? '' : node.served ?? '';
}

function nodeTitle(node: NodeView): string {
  const parts = [node.id];
  const drained = node.drained === true ? ', drained' : '';
  if (node.kind === 'target') parts.push(`${node.az}, capacity ${node.capacity}`, `health ${node.health}${drained}`);
  if (node.kind === 'service') parts.push(`criticality ${node.criticality}`);
  if (node.kind === 'name') parts.push(`DNS: ${node.served}`, `${countOf(node.alarms ?? 0, 'active alarm')}`);
  if (node.impact !== null) parts.push(node.impact === 'failed' ? 'failed' : `impacted: ${node.impact}`);
  return parts.join(' · ');
}

function nodeSvg(node: NodeView, at: Placed): string {
  const side = sideText(node);
  const label = truncate(node.key, at.width - 16 - (side.length + 1) * layout.charWidth);
  const classes = ['node', node.kind, ...node.classes].join(' ');
  return `<g class="${classes}" data-id="${escapeXml(node.id)}" transform="translate(${at.x},${at.y})">`
    + `<title>${escapeXml(nodeTitle(node))}</title>`
    + `<rect width="${at.width}" height="${layout.nodeHeight}" rx="4" fill="#fff" stroke="#a0a8b4"/>`
    + `<text class="label" x="8" y="15">${escapeXml(label)}</text>`
    + (side === '' ? '' : `<text class="side" x="${at.width - 6}" y="15" text-anchor="end">${escapeXml(side)}</text>`)
    + '</g>';
}

function moreSvg(column: string, count: number, what: string, at: Placed): string {
  return `<g class="node more" data-more="${escapeXml(column)}" transform="translate(${at.x},${at.y})">`
    + `<text class="label" x="8" y="15">+${count.toLocaleString('en-US')} more ${escapeXml(what)}</text></g>`;
}

function edgePath(edge: EdgeView, from: Placed, to: Placed): string {
  const fromY = from.y + layout.nodeHeight / 2;
  const toY = to.y + layout.nodeHeight / 2;
  let d: string;
  if (from.x === to.x) {
    // Within a column (a service calling a service): an arc on the column's left.
    const bend = from.x - 18 - Math.min(30, Math.abs(toY - fromY) / 8);
    d = `M${from.x},${fromY} C${bend},${fromY} ${bend},${toY} ${to.x},${toY}`;
  } else {
    // Between columns, from the side of one box that faces the other.
    const [startX, endX] = from.x < to.x ? [from.x + from.width, to.x] : [from.x, to.x + to.width];
    const middleX = (startX + endX) / 2;
    d = `M${startX},${fromY} C${middleX},${fromY} ${middleX},${toY} ${endX},${toY}`;
  }
  const classes = `edge ${edge.kind}${edge.impacted ? ' impacted' : ''}`;
  const ends = `data-from="${escapeXml(edge.from)}" data-to="${escapeXml(edge.to)}"`;
  return `<path class="${classes}" ${ends} d="${d}" fill="none" stroke="#c3c9d2"/>`;
}

/** Draws nodes (and a "+K more" node) top down from `y` in one column; returns the y below the last. */
function drawColumn(column: Column, nodes: readonly NodeView[], more: { key: string; count: number; what: string },
  y: number, out: { body: string[]; places: Map<string, Placed> }): number {
  const { x, width } = layout.columns[column];
  let at = y;
  for (const node of nodes) {
    out.places.set(node.id, { x, y: at, width });
    out.body.push(nodeSvg(node, { x, y: at, width }));
    at += layout.rowPitch;
  }
  if (more.count > 0) {
    out.body.push(moreSvg(more.key, more.count, more.what, { x, y: at, width }));
    at += layout.rowPitch;
  }
  return at;
}

/**
 * The column layout of a model as an SVG document (classes carry the state; style.css colours them). `mode` is a
 * class of the root: in the current view the failed nodes are the targets reported down, drawn as down.
 */
export function renderSvg(model: GraphModel, title: string, mode: 'current' | 'impact'): string {
  const out = { body: [] as string[], places: new Map<string, Placed>() };
  const { services, names, targets } = layout.columns;
  const shownTargets = model.targets.reduce((sum, group) => sum + group.nodes.length, 0);
  const header = (x: number, column: Column, shown: number, tail = '') =>
    `<text class="column-title" x="${x}" y="20">${column} (${shown.toLocaleString('en-US')} of `
    + `${model.totals[column].toLocaleString('en-US')})${tail}</text>`;
  const headers = [header(services.x, 'services', model.services.length), header(names.x, 'names', model.names.length),
    header(targets.x, 'targets', shownTargets, ', by AZ')];
  const moreOf = (column: 'services' | 'names') => ({ key: column, count: model.more[column], what: column });
  let bottom = Math.max(
    drawColumn('services', model.services, moreOf('services'), layout.top, out),
    drawColumn('names', model.names, moreOf('names'), layout.top, out),
  );
  let y: number = layout.top;
  for (const group of model.targets) {
    const azTitle = escapeXml(group.az === '' ? '(no AZ)' : group.az);
    const at = `x="${targets.x}" y="${y + 16}"`;
    out.body.push(`<text class="az-title" data-az="${escapeXml(group.az)}" ${at}>${azTitle}</text>`);
    y = drawColumn('targets', group.nodes, { key: `targets:${group.az}`, count: group.more, what: `in ${group.az}` },
      y + layout.groupHeader, out);
  }
  const grouped = model.targets.reduce((sum, group) => sum + group.nodes.length + group.more, 0);
  const ungrouped = { key: 'targets', count: model.totals.targets - grouped, what: 'targets in other AZs' };
  y = drawColumn('targets', [], ungrouped, y, out);
  bottom = Math.max(bottom, y) + 8;
  const { places } = out;
  const joined = model.edges.every((edge) => places.has(edge.from) && places.has(edge.to));
  assert(joined, 'internal', 'an edge to a node that is not drawn');
  const edges = model.edges.map((edge) => edgePath(edge, places.get(edge.from)!, places.get(edge.to)!));
  const size = `width="${layout.width}" height="${bottom}" viewBox="0 0 ${layout.width} ${bottom}"`;
  return '<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet type="text/css" href="/static/style.css"?>\n'
    + `<svg xmlns="http://www.w3.org/2000/svg" class="graph ${mode}" ${size}`
    + ` font-family="ui-monospace, monospace" font-size="12" role="img" aria-label="${escapeXml(title)}">`
    + `<title>${escapeXml(title)}</title><g class="columns">${headers.join('')}</g>`
    + `<g class="edges">${edges.join('')}</g><g class="nodes">${out.body.join('')}</g></svg>\n`;
}
