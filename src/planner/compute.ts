import { recordSetKey, sortRecords, targetsOfKey, type EndpointSpec, type HealthState, type PlanChange, type RecordEntry } from '../domain/types.js';
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
   * Names the newest plan serves failing open (every target was down): the targets they stop serving were down,
   * so leaving fail-open withdraws no healthy capacity. Absent: none (the guard then counts them, erring strict).
   */
  failingOpen?: ReadonlySet<string>;
  /**
   * Incremental planning: evaluate only these indices of `endpoints` (those
   * whose targets' health changed) and skip the search for removed names.
   * Omitted: evaluate everything.
   */
  only?: readonly number[];
}

export interface HealthWithdrawal {
  name: string;
  /** Targets the name served in the newest plan and no longer serves, because health took them out. */
  targets: string[];
  /** The served capacity the name loses (what it stops serving minus what it starts serving), above 0. */
  capacity: number;
}

export interface PlanComputation {
  changes: PlanChange[];
  /** Names in the desired plan (not counting removals). */
  namesTotal: number;
  /** The names evaluated (all, or those of `only`). */
  evaluated: string[];
  /** Evaluated names whose every target is down, served with all targets (fail open). */
  failOpen: string[];
  /**
   * Changed names whose change health alone does not explain: new names, removals, edited targets, capacities or
   * drains. The name threshold (safety.maxChangedFraction) guards these; health changes have the capacity guard.
   */
  operatorChanged: number;
  /** Health-driven changes that take capacity out of a name (restorations are not listed). */
  withdrawals: HealthWithdrawal[];
}

/** Maps capacities to DNS weights 1..255 relative to the largest capacity of the name; capacity 0 is weight 0. */
export function weightsFor(capacities: readonly number[]): number[] {
  const largest = Math.max(0, ...capacities);
  return capacities.map((capacity) => (capacity <= 0 || largest <= 0 ? 0 : Math.max(1, Math.round((weightMax * capacity) / largest))));
}

/**
 * The desired record set of one endpoint. Weights come from capacities and drains only, never from health, so a
 * health change keeps the weights of the targets it leaves alone. Healthy primaries with positive weight when
 * there are any; else healthy secondaries (failover pools, Route 53's failover routing); otherwise every target of
 * both pools (fail open, as Route 53 does — an empty answer is never the right answer, S1).
 */
export function desiredRecords(endpoint: EndpointSpec, health: ReadonlyMap<string, HealthState>, drained: ReadonlySet<string>): { records: RecordEntry[]; failOpen: boolean } {
  const weights = weightsFor(endpoint.targets.map((target) => (drained.has(target.id) ? 0 : target.capacity)));
  const all: RecordEntry[] = endpoint.targets.map((target, index) => ({ target: target.id, address: target.address, weight: weights[index]! }));
  const healthy = all.filter((record) => health.get(record.target) !== 'down');
  const secondaries = new Set(endpoint.targets.filter((target) => target.pool === 'secondary').map((target) => target.id));
  for (const secondary of [false, true]) {
    const serving = healthy.filter((record) => record.weight > 0 && secondaries.has(record.target) === secondary);
    if (serving.length > 0) return { records: sortRecords(serving), failOpen: false };
  }
  // Nothing healthy with weight in either pool: fail open to every target, keeping the weights that are positive.
  const positive = all.filter((record) => record.weight > 0);
  const fallback = positive.length > 0 ? positive : all.map((record) => ({ ...record, weight: 1 }));
  assert(fallback.length > 0, 'S1', `${endpoint.name}: fail-open produced an empty set`);
  return { records: sortRecords(fallback), failOpen: healthy.length === 0 };
}

/**
 * Whether health alone explains the move from `currentKey` to the desired set: the current set is what the same
 * inventory and drains give under the health it implies (its targets up, the others down), or it is the name's
 * fail-open set. Anything else (a new target address, a capacity, a drain, a removed target) is an edit.
 */
function healthExplains(endpoint: EndpointSpec, currentKey: string, drained: ReadonlySet<string>): boolean {
  const serving = new Set(targetsOfKey(currentKey));
  const implied = new Map<string, HealthState>(endpoint.targets.map((target) => [target.id, serving.has(target.id) ? 'up' : 'down']));
  if (recordSetKey(desiredRecords(endpoint, implied, drained).records) === currentKey) return true;
  const allDown = new Map<string, HealthState>(endpoint.targets.map((target) => [target.id, 'down']));
  return recordSetKey(desiredRecords(endpoint, allDown, drained).records) === currentKey;
}

function capacityOf(endpoint: EndpointSpec, targets: Iterable<string>): number {
  let total = 0;
  for (const id of targets) total += endpoint.targets.find((target) => target.id === id)?.capacity ?? 0;
  return total;
}

/**
 * Planning as a pure function (external-dns style): inventory + health +
 * the newest plan → the list of changes, each classified as an edit or a
 * health change. Names missing from the inventory are removed explicitly
 * (null), which the name threshold also counts.
 */
export function computePlan(input: PlanInput): PlanComputation {
  const drained = input.drained ?? new Set<string>();
  const changes: PlanChange[] = [];
  const failOpen: string[] = [];
  const evaluated: string[] = [];
  const withdrawals: HealthWithdrawal[] = [];
  let operatorChanged = 0;
  const indices = input.only ?? input.endpoints.map((_, index) => index);
  for (const index of indices) {
    const endpoint = input.endpoints[index]!;
    evaluated.push(endpoint.name);
    const desired = desiredRecords(endpoint, input.health, drained);
    if (desired.failOpen) failOpen.push(endpoint.name);
    assert(desired.records.length > 0, 'S1', `${endpoint.name}: planner produced an empty set`);
    const currentKey = input.current.get(endpoint.name);
    if (currentKey === recordSetKey(desired.records)) continue;
    changes.push({ name: endpoint.name, records: desired.records });
    if (currentKey === undefined || !healthExplains(endpoint, currentKey, drained)) {
      operatorChanged += 1;
      continue;
    }
    if (input.failingOpen?.has(endpoint.name) === true) continue; // a recovery from fail-open: nothing healthy leaves
    // The capacity a name loses is net: failing back from a secondary to its primaries withdraws nothing.
    const kept = new Set(desired.records.map((record) => record.target));
    const before = targetsOfKey(currentKey);
    const withdrawn = before.filter((target) => !kept.has(target));
    const lost = capacityOf(endpoint, before) - capacityOf(endpoint, kept);
    if (withdrawn.length > 0 && lost > 0) withdrawals.push({ name: endpoint.name, targets: withdrawn, capacity: lost });
  }
  if (input.only === undefined) {
    const desiredNames = new Set(evaluated);
    for (const name of input.current.keys()) {
      if (desiredNames.has(name)) continue;
      changes.push({ name, records: null });
      operatorChanged += 1;
    }
  }
  return { changes, namesTotal: input.endpoints.length, evaluated, failOpen, operatorChanged, withdrawals };
}

/** The capacity the newest plan serves across the zone: the capacity of every served target of every name. */
export function servedCapacity(endpoints: readonly EndpointSpec[], current: ReadonlyMap<string, string>): number {
  let total = 0;
  for (const endpoint of endpoints) {
    const key = current.get(endpoint.name);
    if (key !== undefined) total += capacityOf(endpoint, targetsOfKey(key));
  }
  return total;
}

/**
 * The capacity guard for health-driven changes: a plan may withdraw at most `maxFraction` of the capacity the
 * zone serves now. Losing one AZ of three withdraws a third and passes; a checker fleet that sees most targets
 * fail at once would withdraw more and is held. Returns a reason when held, or null.
 */
export function capacityRefusal(withdrawnCapacity: number, servedCapacityBefore: number, maxFraction: number): string | null {
  assert(withdrawnCapacity >= 0 && servedCapacityBefore >= 0, 'internal', 'capacities are never negative');
  if (withdrawnCapacity === 0 || servedCapacityBefore === 0) return null;
  const fraction = withdrawnCapacity / servedCapacityBefore;
  if (fraction <= maxFraction) return null;
  return `plan withdraws ${withdrawnCapacity} of ${servedCapacityBefore} served capacity (${(fraction * 100).toFixed(1)}%) on failed health checks, above safety.maxWithdrawnCapacityFraction ${(maxFraction * 100).toFixed(1)}%`;
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
