import { recordSetKey, type EndpointSpec, type HealthState, type RecordEntry } from '../domain/types.js';
import { capacityRefusal, computePlan, safetyRefusal, servedCapacity } from '../planner/compute.js';
import type { Controls, HealthStore, PlanReader } from '../store/types.js';

/**
 * `dnsplane plan --dry-run`: the plan the planner would compute now from the given inventory, the stored health
 * and drains and the newest plan — through the same pure functions the planner uses (computePlan and its guards),
 * so what it shows is what the planner then does. Reads only.
 */

export interface DryRunName {
  name: string;
  before: RecordEntry[] | null;
  after: RecordEntry[] | null;
}

export interface DryRunResult {
  /** The newest plan the changes are computed against. */
  generation: number;
  /** Names whose record set would change, in name order. */
  names: DryRunName[];
  /** Of those, the changes health alone does not explain (edits). */
  edits: number;
  /** The name threshold's refusal of the edits, or null (an inventory version's edits passed it at apply). */
  editRefusal: string | null;
  /** The capacity guard's hold of the health withdrawals, or null. */
  capacityHold: string | null;
  failOpen: string[];
}

export async function dryRunPlan(
  store: PlanReader & HealthStore & Controls,
  endpoints: readonly EndpointSpec[],
  safety: { maxChangedFraction: number; minNamesForThreshold: number; maxWithdrawnCapacityFraction: number },
): Promise<DryRunResult> {
  const generation = await store.latestGeneration();
  const view = generation === 0 ? null : await store.readPlan(generation);
  const before = new Map<string, RecordEntry[]>();
  for (const entry of view?.entries ?? []) if (entry.records !== null) before.set(entry.name, entry.records);
  const current = new Map([...before].map(([name, records]) => [name, recordSetKey(records)]));
  const health = new Map<string, HealthState>((await store.readHealth()).map(({ target, state }) => [target, state]));
  const drained = new Set(await store.listDrains());
  const plan = computePlan({ endpoints, health, drained, current });
  const withdrawn = plan.withdrawals.reduce((sum, withdrawal) => sum + withdrawal.capacity, 0);
  const names = plan.changes
    .map((change) => ({ name: change.name, before: before.get(change.name) ?? null, after: change.records }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    generation, names, edits: plan.operatorChanged,
    editRefusal: safetyRefusal(plan.operatorChanged, current.size, plan.namesTotal, safety),
    capacityHold: capacityRefusal(withdrawn, servedCapacity(endpoints, current), safety.maxWithdrawnCapacityFraction),
    failOpen: plan.failOpen,
  };
}

function describe(records: RecordEntry[] | null): string {
  if (records === null) return '(none)';
  return records.map((record) => `${record.address}/${record.weight}`).join(' ');
}

export function formatDryRun(result: DryRunResult, namesMax = 200): string[] {
  const { edits } = result;
  const total = result.names.length;
  const changing = `${total} names would change (${edits} by edits, ${total - edits} by health)`;
  const lines = [`against plan ${result.generation}: ${changing}`];
  for (const entry of result.names.slice(0, namesMax)) {
    lines.push(`  ${entry.name}: ${describe(entry.before)} → ${describe(entry.after)}`);
  }
  if (result.names.length > namesMax) lines.push(`  … and ${result.names.length - namesMax} more`);
  if (result.editRefusal !== null) {
    const unless = 'refused unless the edits come with a new inventory version, or forced';
    lines.push(`name threshold: ${result.editRefusal} (${unless})`);
  }
  if (result.capacityHold !== null) lines.push(`capacity guard: ${result.capacityHold} (held until forced)`);
  if (result.failOpen.length > 0) lines.push(`fail open (every target down): ${result.failOpen.join(', ')}`);
  return lines;
}
