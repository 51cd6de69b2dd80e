import { assert } from '../util/assert.js';
import type { DependencyGraph } from './graph.js';
import type { ImpactedName, ImpactedNode, ImpactReport } from './types.js';

/**
 * An impact report as `dnsplane impact` prints it. Paths read in the direction the failure spreads, from the
 * failed node to the affected one: `dynamodb.… → service:dwfm → service:ec2-launch → …`. Names are written
 * fully qualified, targets by id, AZs and services with their prefix (as `impact` takes them).
 */

export const pathArrow = ' → ';

/** A node as a path shows it. */
export function nodeLabel(graph: DependencyGraph, id: string): string {
  const node = graph.node(id);
  assert(node !== undefined, 'internal', `${id} is not in the graph`);
  return node.kind === 'name' || node.kind === 'target' ? node.key : id;
}

export function pathText(graph: DependencyGraph, path: readonly string[]): string {
  assert(path.length > 0, 'internal', 'an empty path');
  return path.map((id) => nodeLabel(graph, id)).join(pathArrow);
}

function percent(fraction: number): string {
  assert(fraction >= 0 && fraction <= 1, 'internal', `capacity fraction ${fraction}`);
  return `${Math.round(fraction * 100)}%`;
}

function how(graph: DependencyGraph, node: ImpactedNode): string {
  return node.path.length === 1 ? 'failed' : pathText(graph, node.path);
}

/** One section: its title, then up to `limit` entries (the rest counted), or "none". */
function section<T>(title: string, entries: readonly T[], limit: number, line: (entry: T) => string): string[] {
  if (entries.length === 0) return [`${title}: none`];
  const more = entries.length > limit ? [`  … and ${entries.length - limit} more (--json lists all)`] : [];
  return [`${title} (${entries.length}):`, ...entries.slice(0, limit).map(line), ...more];
}

function nameLine(graph: DependencyGraph, entry: ImpactedName): string {
  const failover = entry.failover ? ', on its secondaries' : '';
  return `  ${entry.name}  capacity lost ${percent(entry.capacityLostFraction)}${failover}: ${how(graph, entry)}`;
}

function headline(graph: DependencyGraph, report: ImpactReport): string {
  const subjects = report.failed.map((id) => nodeLabel(graph, id));
  const subject = subjects.length === 1 ? `${subjects[0]} fails` : `${subjects.join(' and ')} fail`;
  const lost = report.services.filter((service) => service.severity === 'lost').length;
  return `if ${subject}: ${report.namesLost.length} names lost, ${report.namesDegraded.length} degraded,`
    + ` ${report.targets.length} targets lost, ${lost} services lost and`
    + ` ${report.services.length - lost} degraded (paths: failed${pathArrow}affected)`;
}

export function formatImpact(graph: DependencyGraph, report: ImpactReport, limit: number): string[] {
  assert(Number.isInteger(limit) && limit >= 1, 'internal', `list limit ${limit}`);
  return [
    headline(graph, report),
    ...section('names lost', report.namesLost, limit, (entry) => nameLine(graph, entry)),
    ...section('names degraded', report.namesDegraded, limit, (entry) => nameLine(graph, entry)),
    ...section('targets lost', report.targets, limit,
      (entry) => `  ${nodeLabel(graph, entry.id)}: ${how(graph, entry)}`),
    ...section('services, most critical first', report.services, limit,
      (entry) => `  ${entry.criticality.padEnd(8)} ${entry.service} ${entry.severity}: ${how(graph, entry)}`),
  ];
}

/** Entries named in a one-line summary; the rest are counted. */
const summaryNamedMax = 3;

function named(labels: readonly string[]): string {
  const more = labels.length > summaryNamedMax ? `, +${labels.length - summaryNamedMax} more` : '';
  return labels.slice(0, summaryNamedMax).join(', ') + more;
}

/**
 * An impact report in one line, for an alarm: "2 names lost (a, b), 1 degraded; services: dwfm critical lost,
 * ec2-launch critical lost, +1 more" — or "nothing else lost" when it reaches only what failed.
 */
export function impactSummary(report: ImpactReport): string {
  const parts: string[] = [];
  if (report.namesLost.length > 0) {
    parts.push(`${report.namesLost.length} names lost (${named(report.namesLost.map((entry) => entry.name))})`);
  }
  if (report.namesDegraded.length > 0) parts.push(`${report.namesDegraded.length} names degraded`);
  if (report.services.length > 0) {
    const services = report.services.map((entry) => `${entry.service} ${entry.criticality} ${entry.severity}`);
    parts.push(`services: ${named(services)}`);
  }
  return parts.length === 0 ? 'no name or service lost' : parts.join('; ');
}
