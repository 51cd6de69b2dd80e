import { recordSetKey, sortRecords, type EndpointSpec, type HealthState, type PlanChange, type RecordEntry } from '../domain/types.js';
import { weightMax } from '../domain/validate.js';
import { assert } from '../util/assert.js';

export interface PlanInput {
  endpoints: readonly EndpointSpec[];
  /** Health by target id; a target with no entry counts as up. */
  health: ReadonlyMap<string, HealthState>;
  /** Targets an operator drained: weight 0, kept only when nothing else is left. */
  drained?: ReadonlySet<string>;
  /** The newest plan: record-set key by name (removed names absent). */
  current: ReadonlyMap<string, string>;
  /**
   * Incremental planning: evaluate only these indices of `endpoints` (those
   * whose targets' health changed) and skip the search for removed names.
   * Omitted: evaluate everything.
   */
  only?: readonly number[];
}

export interface PlanComputation {
  changes: PlanChange[];
  /** Names in the desired plan (not counting removals). */
  namesTotal: number;
  /** The names evaluated (all, or those of `only`). */
  evaluated: string[];
  /** Evaluated names whose every target is down, served with all targets (fail open). */
  failOpen: string[];
}

/** Maps capacities to DNS weights 1..255 relative to the largest capacity of the name; capacity 0 is weight 0. */
export function weightsFor(capacities: readonly number[]): number[] {
  const largest = Math.max(0, ...capacities);
  return capacities.map((capacity) => (capacity <= 0 || largest <= 0 ? 0 : Math.max(1, Math.round((weightMax * capacity) / largest))));
}

/**
 * The desired record set of one endpoint. Healthy targets with positive
 * weight when there are any; otherwise every target (fail open, as Route53
 * does — an empty answer is never the right answer, S1).
 */
export function desiredRecords(endpoint: EndpointSpec, health: ReadonlyMap<string, HealthState>, drained: ReadonlySet<string>): { records: RecordEntry[]; failOpen: boolean } {
  const weights = weightsFor(endpoint.targets.map((target) => (drained.has(target.id) ? 0 : target.capacity)));
  const all: RecordEntry[] = endpoint.targets.map((target, index) => ({ target: target.id, address: target.address, weight: weights[index]! }));
  const healthy = all.filter((record) => health.get(record.target) !== 'down');
  const serving = healthy.filter((record) => record.weight > 0);
  if (serving.length > 0) return { records: sortRecords(serving), failOpen: false };
  // Nothing healthy with weight: fail open to every target, keeping the weights that are positive.
  const positive = all.filter((record) => record.weight > 0);
  const fallback = positive.length > 0 ? positive : all.map((record) => ({ ...record, weight: 1 }));
  assert(fallback.length > 0, 'S1', `${endpoint.name}: fail-open produced an empty set`);
  return { records: sortRecords(fallback), failOpen: healthy.length === 0 };
}

/**
 * Planning as a pure function (external-dns style): inventory + health +
 * the newest plan → the list of changes. Names missing from the inventory
 * are removed explicitly (null), which the safety threshold also counts.
 */
export function computePlan(input: PlanInput): PlanComputation {
  const drained = input.drained ?? new Set<string>();
  const changes: PlanChange[] = [];
  const failOpen: string[] = [];
  const evaluated: string[] = [];
  const indices = input.only ?? input.endpoints.map((_, index) => index);
  for (const index of indices) {
    const endpoint = input.endpoints[index]!;
    evaluated.push(endpoint.name);
    const desired = desiredRecords(endpoint, input.health, drained);
    if (desired.failOpen) failOpen.push(endpoint.name);
    assert(desired.records.length > 0, 'S1', `${endpoint.name}: planner produced an empty set`);
    if (input.current.get(endpoint.name) !== recordSetKey(desired.records)) changes.push({ name: endpoint.name, records: desired.records });
  }
  if (input.only === undefined) {
    const desiredNames = new Set(evaluated);
    for (const name of input.current.keys()) if (!desiredNames.has(name)) changes.push({ name, records: null });
  }
  return { changes, namesTotal: input.endpoints.length, evaluated, failOpen };
}

export interface SafetyPolicy {
  maxChangedFraction: number;
  minNamesForThreshold: number;
}

/**
 * The blast-radius guard: refuse a plan that changes more than the allowed
 * share of names, unless forced. The first plan is always allowed.
 * Returns a reason when refused, or null.
 */
export function safetyRefusal(changed: number, namesBefore: number, namesAfter: number, policy: SafetyPolicy): string | null {
  if (namesBefore === 0) return null;
  const population = Math.max(namesBefore, namesAfter);
  if (population < policy.minNamesForThreshold) return null;
  const fraction = changed / population;
  if (fraction <= policy.maxChangedFraction) return null;
  return `plan changes ${changed} of ${population} names (${(fraction * 100).toFixed(1)}%), above safety.maxChangedFraction ${(policy.maxChangedFraction * 100).toFixed(1)}%`;
}
