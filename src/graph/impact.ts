import { checkDnsName } from '../domain/names.js';
import { zoneSet, type ZoneSet } from '../domain/zones.js';
import { criticalities } from '../domain/types.js';
import { assert, UserError } from '../util/assert.js';
import { edgeKinds, servesCode, type DependencyGraph } from './graph.js';
import type { ImpactReport, NodeKind } from './types.js';

/**
 * Blast radius (issue 19): what failing some nodes loses, transitively, to a fixpoint. Losses spread against the
 * edges (a node is affected through what it depends on), cycles included: a target whose health check goes through
 * the name it serves is lost when that name is, and the name is lost when all its targets are.
 *
 * - a target is lost when it failed, its AZ failed, or its check depends on a lost name or lost service;
 * - a name is lost when it failed (it went empty), or when every target of capacity above 0 is lost — secondaries
 *   count only once every primary is lost, as the planner fails over (src/planner/compute.ts); it is degraded when
 *   some primary capacity is lost;
 * - a service is lost when it failed, or a name it resolves or a service it calls is lost; degraded when one of
 *   them is degraded.
 */

const nodeKinds: readonly NodeKind[] = ['name', 'target', 'az', 'service'];

/**
 * Per node (by index), what a name serves by pool — its targets of capacity above 0 — and how much of it is lost.
 * Typed arrays: a propagation through 100,000 names allocates no object per name.
 */
class NameLoss {
  readonly primaryCount: Int32Array;
  readonly primaryCapacity: Float64Array;
  readonly secondaryCount: Int32Array;
  readonly primaryLostCount: Int32Array;
  readonly primaryLostCapacity: Float64Array;
  readonly secondaryLostCount: Int32Array;

  constructor(private readonly graph: DependencyGraph) {
    const count = graph.nodes.length;
    this.primaryCount = new Int32Array(count);
    this.primaryCapacity = new Float64Array(count);
    this.secondaryCount = new Int32Array(count);
    this.primaryLostCount = new Int32Array(count);
    this.primaryLostCapacity = new Float64Array(count);
    this.secondaryLostCount = new Int32Array(count);
    for (let edge = 0; edge < graph.edgeCount; edge += 1) {
      const capacity = graph.edgeCapacity[edge]!;
      if (graph.edgeKind[edge] !== servesCode || capacity <= 0) continue;
      const name = graph.edgeFrom[edge]!;
      if (graph.edgeSecondary[edge] === 1) this.secondaryCount[name]! += 1;
      else {
        this.primaryCount[name]! += 1;
        this.primaryCapacity[name]! += capacity;
      }
    }
  }

  /** Counts the loss of serves edge `edge`'s target; true when its name has nothing of capacity left. */
  lose(edge: number): boolean {
    const capacity = this.graph.edgeCapacity[edge]!;
    const name = this.graph.edgeFrom[edge]!;
    if (capacity <= 0) return false;
    if (this.graph.edgeSecondary[edge] === 1) this.secondaryLostCount[name]! += 1;
    else {
      this.primaryLostCount[name]! += 1;
      this.primaryLostCapacity[name]! += capacity;
    }
    // Messages built only on failure: this runs once per lost target.
    const primaries = this.primaryLostCount[name]! <= this.primaryCount[name]!;
    assert(primaries, 'internal', primaries ? '' : `name ${name}: more primaries lost than it has`);
    const secondaries = this.secondaryLostCount[name]! <= this.secondaryCount[name]!;
    assert(secondaries, 'internal', secondaries ? '' : `name ${name}: more secondaries lost than it has`);
    return this.primariesGone(name) && this.secondaryLostCount[name] === this.secondaryCount[name];
  }

  primariesGone(name: number): boolean {
    return this.primaryLostCount[name] === this.primaryCount[name];
  }

  /** The share of the name's primary capacity lost (all of it when it has none of capacity above 0). */
  fraction(name: number): number {
    const total = this.primaryCapacity[name]!;
    return total > 0 ? Math.min(1, this.primaryLostCapacity[name]! / total) : 1;
  }
}

const resolvesCode = edgeKinds.indexOf('resolves');
const callsCode = edgeKinds.indexOf('calls');

/** How a node is affected, by index. */
const unaffected = 0;
const degradedState = 1;
const lostState = 2;

/** Lost nodes to the fixpoint (a worklist: each node enters it once), counting the capacity names lose. */
function propagateLoss(graph: DependencyGraph, failed: readonly number[], names: NameLoss): Uint8Array {
  const state = new Uint8Array(graph.nodes.length);
  const queue = new Int32Array(graph.nodes.length);
  let queued = 0;
  const markLost = (index: number) => {
    if (state[index] === lostState) return;
    state[index] = lostState;
    queue[queued] = index;
    queued += 1;
  };
  for (const index of failed) markLost(index);
  for (let next = 0; next < queued; next += 1) {
    for (const edgeIndex of graph.dependentEdges(queue[next]!)) {
      const from = graph.edgeFrom[edgeIndex]!;
      if (graph.edgeKind[edgeIndex] !== servesCode || names.lose(edgeIndex)) markLost(from);
    }
  }
  assert(queued <= graph.nodes.length, 'internal', `${queued} nodes lost of ${graph.nodes.length}`);
  return state;
}

/** Marks degraded the names that lost primary capacity and, transitively, the services that resolve or call them. */
function propagateDegradation(graph: DependencyGraph, state: Uint8Array, names: NameLoss): void {
  const queue: number[] = [];
  graph.nodes.forEach((node, index) => {
    if (node.kind !== 'name' || state[index] !== unaffected || names.primaryLostCount[index] === 0) return;
    state[index] = degradedState;
    queue.push(index);
  });
  for (let next = 0; next < queue.length; next += 1) {
    for (const edgeIndex of graph.dependentEdges(queue[next]!)) {
      const kind = graph.edgeKind[edgeIndex];
      const from = graph.edgeFrom[edgeIndex]!;
      if ((kind !== resolvesCode && kind !== callsCode) || state[from] !== unaffected) continue;
      state[from] = degradedState;
      queue.push(from);
    }
  }
}

/**
 * One shortest causal path to every affected node, by breadth-first search from the failed nodes against the
 * edges: a lost node is reached only through lost nodes (they are its cause), a degraded one through lost or
 * degraded ones. Returns each node's predecessor: -1 unreached, -2 a failed node.
 */
function causalParents(graph: DependencyGraph, failed: readonly number[], state: Uint8Array): Int32Array {
  const parents = new Int32Array(graph.nodes.length).fill(-1);
  const queue = new Int32Array(graph.nodes.length);
  let queued = 0;
  for (const index of failed) {
    if (parents[index] !== -1) continue;
    parents[index] = -2;
    queue[queued] = index;
    queued += 1;
  }
  for (let next = 0; next < queued; next += 1) {
    const index = queue[next]!;
    for (const edgeIndex of graph.dependentEdges(index)) {
      const from = graph.edgeFrom[edgeIndex]!;
      if (parents[from] !== -1 || state[from] === unaffected) continue;
      // A lost node's cause is lost; a degraded node may be reached from either.
      if (state[index] === degradedState && state[from] === lostState) continue;
      parents[from] = index;
      queue[queued] = from;
      queued += 1;
    }
  }
  return parents;
}

/** Whether node `from` has an edge to node `to` (by index: no id is looked up). */
function edgeBetween(graph: DependencyGraph, from: number, to: number): boolean {
  for (const edge of graph.dependencyEdges(from)) if (graph.edgeTo[edge] === to) return true;
  return false;
}

/**
 * The path from a failed node to `index`, following the predecessors. Asserted as it is built: each step is an
 * edge of the graph (from the later node to the earlier), and it does not loop.
 */
function pathTo(graph: DependencyGraph, parents: Int32Array, index: number): string[] {
  const path: string[] = [];
  for (let at = index; ;) {
    // Messages built only on failure: this runs once per step of every path.
    const reached = at >= 0;
    assert(reached, 'internal', reached ? '' : `${graph.nodes[index]!.id} is affected but no causal path reaches it`);
    const bounded = path.length < graph.nodes.length;
    assert(bounded, 'internal', bounded ? '' : `the causal path to ${graph.nodes[index]!.id} loops`);
    path.push(graph.nodes[at]!.id);
    const parent = parents[at]!;
    if (parent === -2) break;
    const step = parent >= 0 && edgeBetween(graph, at, parent);
    assert(step, 'internal', step ? '' : `the path to ${graph.nodes[index]!.id} steps to node ${at}: no edge`);
    at = parent;
  }
  return path.reverse();
}

const criticalityRank = (criticality: string): number => criticalities.indexOf(criticality as never);

function sortReport(report: ImpactReport): ImpactReport {
  report.namesLost.sort((a, b) => compareText(a.name, b.name));
  report.namesDegraded.sort((a, b) => b.capacityLostFraction - a.capacityLostFraction || compareText(a.name, b.name));
  report.targets.sort((a, b) => compareText(a.id, b.id));
  report.services.sort((a, b) => criticalityRank(a.criticality) - criticalityRank(b.criticality)
    || compareText(a.service, b.service));
  return report;
}

export function impact(graph: DependencyGraph, failedIds: readonly string[]): ImpactReport {
  const failed = failedIds.map((id) => {
    const index = graph.indexOf(id);
    if (index < 0) throw new UserError(`unknown node "${id}" (not in the dependency graph)`);
    return index;
  });
  const names = new NameLoss(graph);
  const state = propagateLoss(graph, failed, names);
  propagateDegradation(graph, state, names);
  const parents = causalParents(graph, failed, state);
  const report: ImpactReport = { failed: [...failedIds], namesLost: [], namesDegraded: [], targets: [], services: [] };
  const failedSet = new Set(failedIds);
  graph.nodes.forEach((node, index) => {
    const severity = state[index];
    if (severity === unaffected || node.kind === 'az') return;
    const { id, key } = node;
    const path = pathTo(graph, parents, index);
    const starts = failedSet.has(path[0]!);
    assert(starts, 'internal', starts ? '' : `the path to ${id} starts at ${path[0]}, which did not fail`);
    if (node.kind === 'target') report.targets.push({ id, path });
    else if (node.kind === 'name' && severity === lostState) {
      report.namesLost.push({ id, path, name: key, capacityLostFraction: 1, failover: false });
    } else if (node.kind === 'name') {
      const failover = names.primariesGone(index);
      report.namesDegraded.push({ id, path, name: key, capacityLostFraction: names.fraction(index), failover });
    } else {
      assert(node.criticality !== undefined, 'internal', `service ${id} has no criticality`);
      const lost = severity === lostState ? 'lost' : 'degraded';
      report.services.push({ id, path, service: key, criticality: node.criticality, severity: lost });
    }
  });
  return sortReport(report);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The edit distance of `a` and `b` when it is at most `max`, else `max + 1` (a banded dynamic programme). */
export function editDistanceAtMost(a: string, b: string, max: number): number {
  assert(Number.isInteger(max) && max >= 0, 'internal', `edit distance bound ${max}`);
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, column) => column);
  for (let row = 1; row <= a.length; row += 1) {
    const current = [row];
    let rowMin = row;
    for (let column = 1; column <= b.length; column += 1) {
      const substitution = previous[column - 1]! + (a[row - 1] === b[column - 1] ? 0 : 1);
      const value = Math.min(substitution, previous[column]! + 1, current[column - 1]! + 1);
      current.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin > max) return max + 1;
    previous = current;
  }
  return Math.min(previous[b.length]!, max + 1);
}

/** How `dnsplane impact` spells a node: a name relative to the zone, a target by id, `az:AZ`, `service:S`. */
export function subjectText(graph: DependencyGraph, id: string, zone: string): string {
  const node = graph.node(id);
  assert(node !== undefined, 'internal', `${id} is not in the graph`);
  if (node.kind === 'target') return node.key;
  if (node.kind !== 'name') return id;
  return node.key.endsWith(`.${zone}`) ? node.key.slice(0, -zone.length - 1) : node.key;
}

const suggestionsMax = 5;

/** Up to five nodes spelt like `text` (its kind's when it names one), closest first, as `impact` takes them. */
function closeMatches(graph: DependencyGraph, text: string, kind: NodeKind | null, zone: string): string[] {
  const wanted = text.toLowerCase();
  const max = Math.max(2, Math.floor(wanted.length / 3));
  const scored: { subject: string; distance: number }[] = [];
  for (const node of graph.nodes) {
    if (kind !== null && node.kind !== kind) continue;
    const subject = subjectText(graph, node.id, zone);
    // A name is compared as written, relative or fully qualified, whichever is closer.
    const spellings = node.kind === 'name' ? [subject, node.key] : [node.key];
    const distances = spellings.map((spelling) => {
      const key = spelling.toLowerCase();
      return key.includes(wanted) ? 0 : editDistanceAtMost(wanted, key, max);
    });
    const distance = Math.min(...distances);
    if (distance <= max) scored.push({ subject, distance });
  }
  scored.sort((a, b) => a.distance - b.distance || compareText(a.subject, b.subject));
  return scored.slice(0, suggestionsMax).map(({ subject }) => subject);
}

function unknownSubject(
  graph: DependencyGraph, text: string, kind: NodeKind | null, key: string, zone: string,
): UserError {
  const matches = closeMatches(graph, key, kind, zone);
  const what = kind === null ? 'no name, target, AZ or service is called that' : `no ${kind} is called "${key}"`;
  const hint = matches.length === 0 ? '' : `; did you mean ${matches.map((match) => `"${match}"`).join(', ')}?`;
  return new UserError(`unknown subject "${text}": ${what}${hint}`);
}

/**
 * The node a `dnsplane impact` subject names: `NAME` (relative to the zone or fully qualified), a `TARGET` id,
 * `az:AZ`, `service:S`, or explicitly `name:NAME` / `target:ID`. Unknown or ambiguous subjects are a UserError that
 * names them (and suggests close matches).
 */
/** `zone`: the zone, or the installation's zones (relative names are in the first). */
export function parseSubject(text: string, zone: string | ZoneSet, graph: DependencyGraph): string {
  const zones = zoneSet(zone);
  const trimmed = text.trim();
  if (trimmed.length === 0) throw new UserError('an empty subject: give a NAME, TARGET, az:AZ or service:S');
  const colon = trimmed.indexOf(':');
  const kind = nodeKinds.find((candidate) => trimmed.slice(0, colon) === candidate) ?? null;
  if (kind !== null) {
    const key = trimmed.slice(colon + 1);
    const id = kind === 'name' ? nameIdOf(key, zones) : `${kind}:${key}`;
    if (id !== null && graph.has(id)) return id;
    throw unknownSubject(graph, trimmed, kind, key, zones.primary);
  }
  const asName = nameIdOf(trimmed, zones);
  const name = asName !== null && graph.has(asName) ? asName : null;
  const target = graph.has(`target:${trimmed}`) ? `target:${trimmed}` : null;
  if (name !== null && target !== null) {
    throw new UserError(`"${trimmed}" is both a name and a target: say name:${trimmed} or target:${trimmed}`);
  }
  const found = name ?? target;
  if (found === null) throw unknownSubject(graph, trimmed, null, trimmed, zones.primary);
  return found;
}

function nameIdOf(text: string, zones: ZoneSet): string | null {
  return checkDnsName(text) === null ? `name:${zones.qualify(text)}` : null;
}
