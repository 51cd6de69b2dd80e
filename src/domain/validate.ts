import { addressFamily, checkDnsName } from './names.js';
import { zoneSet, type ZoneSet } from './zones.js';
import type { PlanChange, RecordEntry } from './types.js';

export const weightMax = 255;

/**
 * Record sets already found valid, by identity. An enactor validates a set
 * before deciding to write it and the provider validates it again at the
 * write; both see the same array, so the second check is free. Record sets
 * are never mutated after validation (plans are immutable).
 */
const validSets = new WeakSet<readonly RecordEntry[]>();

/**
 * Validates one name's record set (DESIGN.md §2 S1, issue "plan validation"):
 * non-empty, integer weights 0..255 with at least one positive, valid
 * addresses, no duplicate target or address. Returns a list of problems,
 * each naming where it is; empty when the set is valid.
 */
export function validateRecordSet(name: string, records: readonly RecordEntry[]): string[] {
  if (validSets.has(records)) return [];
  const problems = findRecordSetProblems(name, records);
  if (problems.length === 0) validSets.add(records);
  return problems;
}

/**
 * Where a problem is, built only when there is one: this check runs for every record a plan or an apply carries, so
 * it creates no string and no closure per record (a named closure costs more than the string under a transform that
 * keeps function names, as tsx's does).
 */
function recordAt(name: string, index: number): string {
  return `${name}: records[${index}]`;
}

function findRecordSetProblems(name: string, records: readonly RecordEntry[]): string[] {
  const problems: string[] = [];
  if (records.length === 0) problems.push(`${name}: record set is empty (S1: a name never loses all its answers)`);
  const targets = new Set<string>();
  const addresses = new Set<string>();
  let positive = 0;
  for (let index = 0; index < records.length; index += 1) {
    const record = records[index]!;
    if (typeof record.target !== 'string' || record.target.length === 0) {
      problems.push(`${recordAt(name, index)}.target is empty`);
    }
    if (addressFamily(record.address) === 0) {
      problems.push(`${recordAt(name, index)}.address "${record.address}" is not an IPv4 or IPv6 address`);
    }
    if (!Number.isInteger(record.weight) || record.weight < 0 || record.weight > weightMax) {
      problems.push(`${recordAt(name, index)}.weight ${record.weight} is not an integer from 0 to ${weightMax}`);
    } else if (record.weight > 0) {
      positive += 1;
    }
    if (targets.has(record.target)) problems.push(`${recordAt(name, index)}.target "${record.target}" appears twice`);
    if (addresses.has(record.address)) {
      problems.push(`${recordAt(name, index)}.address "${record.address}" appears twice`);
    }
    targets.add(record.target);
    addresses.add(record.address);
  }
  if (records.length > 0 && positive === 0) problems.push(`${name}: every weight is 0 (at least one must be positive)`);
  return problems;
}

/** Validates a whole list of plan changes against the installation's zones. */
export function validatePlanChanges(changes: readonly PlanChange[], zone: string | ZoneSet): string[] {
  const zones = zoneSet(zone);
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const change of changes) {
    const nameProblem = checkDnsName(change.name);
    if (nameProblem !== null) problems.push(`name "${change.name}" ${nameProblem}`);
    else if (zones.zoneOf(change.name) === null) {
      const where = zones.names.length === 1 ? `the zone "${zones.primary}"` : `the zones ${zones.toString()}`;
      problems.push(`name "${change.name}" is outside ${where}`);
    }
    if (seen.has(change.name)) problems.push(`name "${change.name}" appears twice in the plan`);
    seen.add(change.name);
    if (change.records !== null) problems.push(...validateRecordSet(change.name, change.records));
  }
  return problems;
}
