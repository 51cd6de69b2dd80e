import { criticalities, type Criticality } from '../domain/types.js';
import { assert } from '../util/assert.js';
import { nameId } from './graph.js';
import type { DependencyGraph } from './graph.js';

/**
 * The blast radius of an alarm (issue 19): how many services depend on the thing alarmed, directly or through
 * other nodes (a service calling one that resolves the name, a service resolving a name whose targets' checks go
 * through it). Reverse reachability over the graph's edges — what *could* be hit, an upper bound of what `impact`
 * says a full failure does — so an alarm is ranked before anyone knows how bad it will get.
 */
export interface Dependents {
  /** Services that depend on it, transitively. */
  services: number;
  /** Of those, per criticality (most critical first in `criticalities`). */
  byCriticality: Record<Criticality, number>;
  /** Up to `topMax` service ids, most critical first, then by id. */
  top: string[];
}

const topMax = 5;

/** Node indices reached backwards from `start` (what depends on it), `start` included. */
function dependentIndices(graph: DependencyGraph, start: number): number[] {
  const seen = new Uint8Array(graph.nodes.length);
  const reached = [start];
  seen[start] = 1;
  for (let next = 0; next < reached.length; next += 1) {
    for (const edge of graph.dependentEdges(reached[next]!)) {
      const from = graph.edgeFrom[edge]!;
      if (seen[from] === 1) continue;
      seen[from] = 1;
      reached.push(from);
    }
  }
  assert(reached.length <= graph.nodes.length, 'internal', 'a node reached twice');
  return reached;
}

function rank(criticality: Criticality): number {
  return criticalities.indexOf(criticality);
}

/** The services among `indices`, counted and ranked. */
function summarize(graph: DependencyGraph, indices: readonly number[]): Dependents {
  const services = indices.map((index) => graph.nodes[index]!).filter((node) => node.kind === 'service');
  const byCriticality = Object.fromEntries(criticalities.map((level) => [level, 0])) as Record<Criticality, number>;
  for (const service of services) {
    assert(service.criticality !== undefined, 'internal', `${service.id} has no criticality`);
    byCriticality[service.criticality] += 1;
  }
  const ranked = services.sort((a, b) => rank(a.criticality!) - rank(b.criticality!) || (a.key < b.key ? -1 : 1));
  return { services: services.length, byCriticality, top: ranked.slice(0, topMax).map((service) => service.key) };
}

/** The services that depend on the managed name `name`; null when the graph has no such name. */
export function dependentsOfName(graph: DependencyGraph, name: string): Dependents | null {
  const index = graph.indexOf(nameId(name));
  if (index < 0) return null;
  return summarize(graph, dependentIndices(graph, index));
}

/** Every service of the graph: the blast radius of a zone-wide alarm. */
export function allServices(graph: DependencyGraph): Dependents {
  return summarize(graph, graph.nodes.map((_, index) => index));
}

/** "3 services depend on it (2 critical: dwfm, ec2-launch, …)", or null when none does. */
export function dependentsText(dependents: Dependents): string | null {
  if (dependents.services === 0) return null;
  const counted = criticalities
    .filter((level) => dependents.byCriticality[level] > 0)
    .map((level) => `${dependents.byCriticality[level]} ${level}`)
    .join(', ');
  const more = dependents.services > dependents.top.length ? ', …' : '';
  const noun = dependents.services === 1 ? 'service depends' : 'services depend';
  return `${dependents.services} ${noun} on it (${counted}: ${dependents.top.join(', ')}${more})`;
}

/** More critical dependents first, then more dependents; null (not a node of the graph) counts as none. */
export function compareBlastRadius(a: Dependents | null, b: Dependents | null): number {
  if (a === null || b === null) return (b?.services ?? 0) - (a?.services ?? 0);
  for (const level of criticalities) {
    const difference = b.byCriticality[level] - a.byCriticality[level];
    if (difference !== 0) return difference;
  }
  return b.services - a.services;
}
