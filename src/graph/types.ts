import type { Criticality } from '../domain/types.js';

/**
 * The dependency graph of an installation (issue 19): services → names → targets (by AZ), plus the edges that
 * health checks add (a target's check that depends on a name or a service). Built from one inventory version
 * (endpoints and services), so it is versioned with it. Pure data: no store, no I/O.
 *
 * Node ids are strings with a kind prefix, the same syntax `dnsplane impact` takes:
 *   name:<fully qualified name>   target:<target id>   az:<az>   service:<service id>
 */
export type NodeKind = 'name' | 'target' | 'az' | 'service';

export interface GraphNode {
  /** "<kind>:<key>", unique. */
  id: string;
  kind: NodeKind;
  /** The name, target id, AZ or service id. */
  key: string;
  /** Services: their criticality. */
  criticality?: Criticality;
  /** Targets: their AZ, capacity, pool and the name they serve. */
  az?: string;
  capacity?: number;
  pool?: 'primary' | 'secondary';
  name?: string;
}

/**
 * `from` depends on `to`: when `to` fails, `from` is affected. Kinds:
 * - serves:   name → target (a name's answers are its targets)
 * - in-az:    target → az
 * - resolves: service → name
 * - calls:    service → service
 * - check:    target → name | service (the target's health check goes through it)
 */
export type EdgeKind = 'serves' | 'in-az' | 'resolves' | 'calls' | 'check';

export interface GraphEdge {
  from: string;
  to: string;
  kind: EdgeKind;
  /** serves: the target's capacity and pool in this name (a target shared by names may differ per name). */
  capacity?: number;
  pool?: 'primary' | 'secondary';
}

/** What failing (or emptying) some nodes loses, transitively. Every path is a chain of existing edges, reversed. */
export interface ImpactReport {
  /** The node ids that were failed, as given. */
  failed: string[];
  /** Names left with no working target (the planner would fail open: answers stay, none works). */
  namesLost: ImpactedName[];
  /** Names that keep some capacity. */
  namesDegraded: ImpactedName[];
  /** Targets that stop working: failed themselves, in a failed AZ, or their check depends on something lost. */
  targets: ImpactedNode[];
  /** Services affected, most critical first. */
  services: ImpactedService[];
}

export interface ImpactedNode {
  id: string;
  /** From a failed node to this one: each step an edge of the graph (followed from `to` to `from`). */
  path: string[];
}

export interface ImpactedName extends ImpactedNode {
  name: string;
  /**
   * Share of the name's primary capacity lost, 0..1 (targets of capacity 0 do not count). Secondaries count only
   * when every primary is lost: the name then fails over to them (`failover`) and is lost only when they are too.
   */
  capacityLostFraction: number;
  /** Every primary is lost and some secondary is not: the name is served by its secondaries. */
  failover: boolean;
}

export interface ImpactedService extends ImpactedNode {
  service: string;
  criticality: Criticality;
  /** 'lost': a name it resolves lost every target, or a service it calls is lost; 'degraded': only capacity. */
  severity: 'lost' | 'degraded';
}
