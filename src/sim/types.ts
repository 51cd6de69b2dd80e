import type { Violation } from './checker.js';

export type SimMode = 'safe' | 'legacy';

/**
 * Test-only switches that break the safe design, to show that the checker
 * has teeth (each must be caught):
 * - no-cas: the provider ignores expectedVersion (no conditional write);
 * - janitor-ignores-holds: the janitor's floor ignores enactors' held generations;
 * - janitor-ignores-served: the janitor deletes versions without looking at the served generation;
 * - reconciler-off: no reconciler runs (drift is never repaired);
 * - no-removal-tombstone: the provider forgets that a plan removed a name;
 * - compaction-without-floor: the janitor's compaction deletes removal tombstones without raising the removal floor;
 * - quorum-any-down: the checkers' vote takes any single checker's 'down' (health.ts; caught by H1);
 * - capacity-guard-counts-names: the planner's capacity guard counts names, not capacity (health.ts; caught by H2);
 * - planner-ignores-inventory: a planner keeps planning from the inventory version it started with, and records it
 *   (inventory.ts; caught by I1 or L1);
 * - plan-mislabels-inventory: a planner records the newest version it follows but plans from the one it started
 *   with (caught by I1).
 * quorum-any-down and capacity-guard-counts-names bite only in seeds whose health comes from checkers (health.ts).
 */
export const mutantNames = [
  'no-cas', 'janitor-ignores-holds', 'janitor-ignores-served', 'reconciler-off', 'no-removal-tombstone',
  'compaction-without-floor', 'quorum-any-down', 'capacity-guard-counts-names',
  'planner-ignores-inventory', 'plan-mislabels-inventory',
] as const;
export type MutantName = (typeof mutantNames)[number];

export interface RunStats {
  generations: number;
  applies: number;
  crashes: number;
  pauses: number;
  lostAcks: number;
  transientErrors: number;
  /** Publishes the store refused by fencing token (S6 at work). */
  fencedPublishes: number;
  drifts: number;
  /** Names removed from the inventory by the versions an operator applied (names come back in later versions). */
  removals: number;
  /** Inventory versions the operator applied (after the seeded version 1). */
  inventoryVersions: number;
  /** Of those, versions forced over the apply threshold. */
  inventoryForced: number;
  /** Applies that lost the compare-and-swap to another command and re-diffed. */
  inventoryRaces: number;
  /** First writes refused because a newer plan had removed the name (the removal tombstone at work, S2). */
  supersededWrites: number;
  /** Of those, refused by the removal floor alone: the name's tombstone was compacted (issue 16), or it had none. */
  floorRefusedWrites: number;
  /** Removal tombstones the janitor compacted into the removal floor. */
  compactedRemovals: number;
  healthFlips: number;
  /** Writes that changed neither generation nor records (counted, not a violation: only the version moved). */
  redundantWrites: number;
  /**
   * Checkers mode (health.ts): AZs lost at once, checkers cut off from the targets, targets the checkers wrote down.
   */
  azLosses: number;
  checkerPartitions: number;
  checkerWithdrawals: number;
  /** Planner passes whose health withdrawals the capacity guard held. */
  capacityHolds: number;
  /** Names serving a target of their secondary pool when the run ended (a failover). */
  secondaryServed: number;
}

export interface RunResult {
  seed: bigint;
  mode: SimMode;
  mutant: MutantName | null;
  /** Whether operator removals were simulated (safe mode; on unless --no-removals). */
  removals: boolean;
  /** Safe mode stops at the first violation; legacy mode keeps going and records the first of each invariant. */
  violations: Violation[];
  steps: number;
  virtualMs: number;
  /** Virtual time from the end of the faults to convergence (L1), or null when it did not converge. */
  convergedAfterMs: number | null;
  stats: RunStats;
  trace: string[] | null;
}

export function emptyStats(): RunStats {
  return {
    generations: 0, applies: 0, crashes: 0, pauses: 0, lostAcks: 0, transientErrors: 0, fencedPublishes: 0, drifts: 0,
    removals: 0, inventoryVersions: 0, inventoryForced: 0, inventoryRaces: 0, supersededWrites: 0, healthFlips: 0,
    floorRefusedWrites: 0, compactedRemovals: 0, redundantWrites: 0, azLosses: 0, checkerPartitions: 0,
    checkerWithdrawals: 0, capacityHolds: 0, secondaryServed: 0,
  };
}
