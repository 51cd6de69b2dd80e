import {
  recordSetKey, sortRecordsInPlace, targetsOfKey, type EndpointSpec, type HealthState, type PlanChange,
  type RecordEntry,
} from '../domain/types.js';
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
  /**
   * How publishing the changes moves `servedCapacity(endpoints, current)`: the capacity the changed names serve
   * after, minus before (a removed name is in no endpoint, so it counts in neither).
   */
  servedCapacityDelta: number;
}

/** What a weight outside 0..weightMax is (a constant: weightsFor runs for every name of a plan). */
const weightOutside = `a weight is not an integer from 0 to ${weightMax}`;

/** Maps capacities to DNS weights 1..255 relative to the largest capacity of the name; capacity 0 is weight 0. */
export function weightsFor(capacities: readonly number[]): number[] {
  let largest = 0;
  for (const capacity of capacities) if (capacity > largest) largest = capacity;
  const weights = new Array<number>(capacities.length);
  for (let index = 0; index < capacities.length; index += 1) {
    const capacity = capacities[index]!;
    const weight = capacity <= 0 || largest <= 0 ? 0 : Math.max(1, Math.round((weightMax * capacity) / largest));
    assert(Number.isInteger(weight) && weight >= 0 && weight <= weightMax, 'internal', weightOutside, weight);
    weights[index] = weight;
  }
  return weights;
}

/**
 * The desired record set of one endpoint. Weights come from capacities and drains only, never from health, so a
 * health change keeps the weights of the targets it leaves alone. Healthy primaries with positive weight when
 * there are any; else healthy secondaries (failover pools, Route 53's failover routing); otherwise every target of
 * both pools (fail open, as Route 53 does — an empty answer is never the right answer, S1).
 */
export function desiredRecords(
  endpoint: EndpointSpec, health: ReadonlyMap<string, HealthState>, drained: ReadonlySet<string>,
): { records: RecordEntry[]; failOpen: boolean } {
  const { targets } = endpoint;
  assert(targets.length > 0, 'S1', 'an endpoint without targets', endpoint.name);
  // Loops rather than chains of map and filter: this runs for every name of a full plan (a million, issue 16).
  const capacities = new Array<number>(targets.length);
  for (let index = 0; index < targets.length; index += 1) {
    const target = targets[index]!;
    capacities[index] = drained.has(target.id) ? 0 : target.capacity;
  }
  const weights = weightsFor(capacities);
  // The healthy targets with weight, by pool: the primaries serve when there are any, else the secondaries.
  const primaries: RecordEntry[] = [];
  const secondaries: RecordEntry[] = [];
  let healthy = 0;
  for (let index = 0; index < targets.length; index += 1) {
    const target = targets[index]!;
    if (health.get(target.id) === 'down') continue;
    healthy += 1;
    const weight = weights[index]!;
    if (weight === 0) continue;
    const entry = { target: target.id, address: target.address, weight };
    if (target.pool === 'secondary') secondaries.push(entry);
    else primaries.push(entry);
  }
  if (primaries.length > 0) return { records: sortRecordsInPlace(primaries), failOpen: false };
  if (secondaries.length > 0) return { records: sortRecordsInPlace(secondaries), failOpen: false };
  const record = (index: number, weight: number): RecordEntry => {
    const target = targets[index]!;
    return { target: target.id, address: target.address, weight };
  };
  // Nothing healthy with weight in either pool: fail open to every target, keeping the weights that are positive.
  const positive: RecordEntry[] = [];
  for (let index = 0; index < targets.length; index += 1) {
    if (weights[index]! > 0) positive.push(record(index, weights[index]!));
  }
  const fallback = positive.length > 0 ? positive : targets.map((_, index) => record(index, 1));
  assert(fallback.length > 0, 'S1', 'fail-open produced an empty set', endpoint.name);
  // S1: every record served carries weight (a set of weight-0 records would answer nothing).
  assert(fallback.every((entry) => entry.weight > 0), 'S1', 'fail-open with a weight-0 record', endpoint.name);
  return { records: sortRecordsInPlace(fallback), failOpen: healthy === 0 };
}

/**
 * Whether health alone explains the move from `currentKey` to the desired set: the current set is what the same
 * inventory and drains give under the health it implies (its targets up, the others down), or it is the name's
 * fail-open set. Anything else (a new target address, a capacity, a drain, a removed target) is an edit.
 */
function healthExplains(endpoint: EndpointSpec, currentKey: string, drained: ReadonlySet<string>): boolean {
  const serving = new Set(targetsOfKey(currentKey));
  // S1: the newest plan never holds an empty set for a name it serves.
  assert(serving.size > 0, 'S1', 'the newest plan serves no target', endpoint.name);
  const implied = new Map<string, HealthState>(endpoint.targets.map(({ id }) => [id, serving.has(id) ? 'up' : 'down']));
  if (recordSetKey(desiredRecords(endpoint, implied, drained).records) === currentKey) return true;
  const allDown = new Map<string, HealthState>(endpoint.targets.map((target) => [target.id, 'down']));
  return recordSetKey(desiredRecords(endpoint, allDown, drained).records) === currentKey;
}

function capacityOf(endpoint: EndpointSpec, targets: Iterable<string>): number {
  let total = 0;
  for (const id of targets) total += endpoint.targets.find((target) => target.id === id)?.capacity ?? 0;
  assert(total >= 0, 'internal', 'a capacity is never negative');
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
  const plan: PlanComputation = {
    changes: [], namesTotal: input.endpoints.length, evaluated: [], failOpen: [], operatorChanged: 0, withdrawals: [],
    servedCapacityDelta: 0,
  };
  const indices = input.only ?? input.endpoints.map((_, index) => index);
  for (const index of indices) {
    const endpoint = input.endpoints[index];
    assert(endpoint !== undefined, 'internal', 'an endpoint index outside the endpoints', index);
    planEndpoint(plan, endpoint, input, drained);
  }
  if (input.only === undefined) {
    const desiredNames = new Set(plan.evaluated);
    for (const name of input.current.keys()) {
      if (desiredNames.has(name)) continue;
      plan.changes.push({ name, records: null });
      plan.operatorChanged += 1;
    }
  }
  const { evaluated, operatorChanged, changes } = plan;
  assert(evaluated.length === indices.length, 'internal', `${evaluated.length} of ${indices.length} evaluated`);
  assert(operatorChanged <= changes.length, 'internal', `${operatorChanged} edits of ${changes.length} changes`);
  // S5: every change changes something, so planning again from the same inputs publishes nothing.
  const idle = plan.changes.find((change) => {
    const currentKey = input.current.get(change.name);
    if (change.records === null) return currentKey === undefined;
    return currentKey !== undefined && currentKey === recordSetKey(change.records);
  });
  assert(idle === undefined, 'S5', `${idle?.name}: a change to what the newest plan already holds`);
  return plan;
}

/** Evaluates one endpoint into `plan`: its change (if any), classified as an edit or a health change. */
function planEndpoint(
  plan: PlanComputation, endpoint: EndpointSpec, input: PlanInput, drained: ReadonlySet<string>,
): void {
  plan.evaluated.push(endpoint.name);
  const desired = desiredRecords(endpoint, input.health, drained);
  if (desired.failOpen) plan.failOpen.push(endpoint.name);
  assert(desired.records.length > 0, 'S1', 'planner produced an empty set', endpoint.name);
  const currentKey = input.current.get(endpoint.name);
  const desiredKey = recordSetKey(desired.records);
  if (currentKey === desiredKey) return;
  plan.changes.push({ name: endpoint.name, records: desired.records });
  const servedBefore = currentKey === undefined ? 0 : capacityOf(endpoint, targetsOfKey(currentKey));
  plan.servedCapacityDelta += capacityOf(endpoint, desired.records.map((record) => record.target)) - servedBefore;
  if (currentKey === undefined || !healthExplains(endpoint, currentKey, drained)) {
    plan.operatorChanged += 1;
    return;
  }
  if (input.failingOpen?.has(endpoint.name) === true) return; // a recovery from fail-open: nothing healthy leaves
  // The capacity a name loses is net: failing back from a secondary to its primaries withdraws nothing.
  const kept = new Set(desired.records.map((record) => record.target));
  const before = targetsOfKey(currentKey);
  const withdrawn = before.filter((target) => !kept.has(target));
  const lost = capacityOf(endpoint, before) - capacityOf(endpoint, kept);
  if (withdrawn.length > 0 && lost > 0) {
    plan.withdrawals.push({ name: endpoint.name, targets: withdrawn, capacity: lost });
  }
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
export function capacityRefusal(
  withdrawnCapacity: number, servedCapacityBefore: number, maxFraction: number,
): string | null {
  assert(withdrawnCapacity >= 0, 'internal', `withdrawn capacity ${withdrawnCapacity}`);
  assert(servedCapacityBefore >= 0, 'internal', `served capacity ${servedCapacityBefore}`);
  assert(maxFraction >= 0, 'internal', `safety.maxWithdrawnCapacityFraction ${maxFraction}`);
  if (withdrawnCapacity === 0 || servedCapacityBefore === 0) return null;
  const fraction = withdrawnCapacity / servedCapacityBefore;
  if (fraction <= maxFraction) return null;
  const share = `${withdrawnCapacity} of ${servedCapacityBefore} served capacity (${percent(fraction)})`;
  const limit = `safety.maxWithdrawnCapacityFraction ${percent(maxFraction)}`;
  return `plan withdraws ${share} on failed health checks, above ${limit}`;
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
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
export function safetyRefusal(
  changed: number, namesBefore: number, namesAfter: number, policy: SafetyPolicy,
): string | null {
  assert(changed >= 0, 'internal', `${changed} names changed`);
  assert(namesBefore >= 0, 'internal', `${namesBefore} names before`);
  assert(namesAfter >= 0, 'internal', `${namesAfter} names after`);
  assert(policy.maxChangedFraction >= 0, 'internal', `safety.maxChangedFraction ${policy.maxChangedFraction}`);
  if (namesBefore === 0) return null;
  const population = Math.max(namesBefore, namesAfter);
  if (population < policy.minNamesForThreshold) return null;
  const fraction = changed / population;
  if (fraction <= policy.maxChangedFraction) return null;
  const share = `${changed} of ${population} names (${percent(fraction)})`;
  return `plan changes ${share}, above safety.maxChangedFraction ${percent(policy.maxChangedFraction)}`;
}
