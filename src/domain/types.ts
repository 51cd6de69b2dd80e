/**
 * The vocabulary of dnsplane. Pure data; no I/O.
 *
 * Names are stored fully qualified, lower-case, without the trailing dot
 * ("dynamodb.us-east-1.dnsplane.test"). A record set is an array of entries
 * sorted by address, so that equal sets have equal canonical keys.
 */

export type Generation = number;

export interface RecordEntry {
  /** Target id from the inventory (e.g. "lb-1"). */
  target: string;
  /** IPv4 or IPv6 address, in canonical text form. */
  address: string;
  /** Integer 0..255; at least one entry of a set is positive. */
  weight: number;
}

export type HealthState = 'up' | 'down';

export interface TargetSpec {
  id: string;
  address: string;
  az: string;
  capacity: number;
  /** Failover pool: secondaries are served only while every primary is down. Absent: primary. */
  pool?: 'primary' | 'secondary';
  check?: ProbeSpec;
}

/** An inclusive range of HTTP statuses ("200-299" in the config). */
export interface StatusRange {
  min: number;
  max: number;
}

/**
 * A target's health check as the config yields it (src/config/schema.ts
 * validates it; src/health/probe.ts runs it): exactly one of `http`, `https`
 * or `tcp`, refined by the other keys.
 */
export interface ProbeSpec {
  http?: string;
  https?: string;
  /** "host:port" or "[v6]:port". */
  tcp?: string;
  /** HTTP(S): the Host header and, for https, the TLS SNI name. Default: the URL's host (no SNI for an IP literal). */
  host?: string;
  /** Overrides the port of the URL or of `tcp`. */
  port?: number;
  method?: 'GET' | 'HEAD';
  /** A status or an inclusive range; without it any 2xx or 3xx passes, as in Route 53. */
  expectStatus?: number | StatusRange;
  /** HTTP(S): must appear in the first bytes of the body (probeBodyBytesMax). */
  match?: string;
  /** Per-check timeout in milliseconds; without it the checker's (health.timeout). */
  timeout?: number;
  /** HTTPS: a PEM file of the CAs trusted instead of the default store. */
  ca?: string;
  /** HTTPS: skip certificate verification (explicit, never a fallback). */
  insecure?: boolean;
  /**
   * What the check's outcome depends on beyond the target itself (dependency graph, src/graph/): fully qualified
   * managed names and `service:<id>` references. A check whose URL host is a managed name depends on it anyway.
   */
  dependsOn?: string[];
}

/** How a dependsOn entry (config, ProbeSpec.dependsOn) names a service rather than a managed name. */
export const serviceRefPrefix = 'service:';

/** How much a service matters, most first: impact reports and alarms rank by it. */
export const criticalities = ['critical', 'high', 'medium', 'low'] as const;
export type Criticality = (typeof criticalities)[number];

/**
 * A service of the dependency graph (src/graph/): anything — an internal system, a team's application — that
 * depends on managed names and on other services. Part of the versioned inventory, like the endpoints.
 */
export interface ServiceSpec {
  /** 1-63 letters, digits, ".", "_" or "-". */
  id: string;
  criticality: Criticality;
  /** Fully qualified managed names it resolves. */
  names: string[];
  /** Ids of the services it calls. */
  services: string[];
  description?: string;
}

export interface EndpointSpec {
  /** Fully qualified name (see above). */
  name: string;
  targets: TargetSpec[];
  /** Take the name over although it holds records dnsplane did not write (store/types.ts: Adoptions). */
  adopt?: boolean;
}

/** What an inventory version holds: the names with their targets, and the services of the dependency graph. */
export interface Inventory {
  endpoints: EndpointSpec[];
  services: ServiceSpec[];
}

/**
 * One change in a plan: the new record set of a name, or `null` for an
 * explicit removal of the endpoint by the operator (the only way a name may
 * lose its answers, S1).
 */
export interface PlanChange {
  name: string;
  records: RecordEntry[] | null;
}

/**
 * What a plan says about one name at a generation: its record set and the
 * generation at which that set was introduced (`since` <= generation). The
 * set is identical in every plan from `since` up to the generation read.
 */
export interface PlanEntry {
  name: string;
  since: Generation;
  records: RecordEntry[] | null;
}

export interface PlanHeader {
  generation: Generation;
  /** The generation this plan was computed against (its predecessor). */
  baseGeneration: Generation;
  createdAtMs: number;
  plannerId: string;
  fencingToken: number;
  namesTotal: number;
  namesChanged: number;
  forced: boolean;
  note: string;
  /** The inventory version the plan was computed from (0 or absent: none recorded). */
  inventoryVersion?: number;
}

export function recordSetKey(records: readonly RecordEntry[] | null): string {
  if (records === null) return '<removed>';
  // A loop, not map/join: the planner builds a key for every name it evaluates.
  let key = '';
  for (let index = 0; index < records.length; index += 1) {
    const record = records[index]!;
    key += `${index === 0 ? '' : ','}${record.address}/${record.weight}/${record.target}`;
  }
  return key;
}

/** The target ids of a record-set key (the inverse of recordSetKey for targets; addresses hold no "/"). */
export function targetsOfKey(key: string): string[] {
  if (key === '<removed>' || key === '') return [];
  return key.split(',').map((entry) => entry.slice(entry.lastIndexOf('/') + 1));
}

/** A copy of `records` in address order. */
export function sortRecords(records: readonly RecordEntry[]): RecordEntry[] {
  return sortRecordsInPlace(records.slice());
}

/** `records` itself, put in address order (a set already in order, as most are, is left as it is). */
export function sortRecordsInPlace(records: RecordEntry[]): RecordEntry[] {
  for (let index = 1; index < records.length; index += 1) {
    if (records[index - 1]!.address > records[index]!.address) {
      return records.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    }
  }
  return records;
}
