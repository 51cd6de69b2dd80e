import { decide } from '../enactor/enactor.js';
import { validateRecordSet } from '../domain/validate.js';
import { recordSetKey, type Generation } from '../domain/types.js';
import type { MemoryStoreState, DeletionEvent, PublishEvent } from './memory-store.js';
import { describeRow, type MemoryProviderState, type ServedRow, type ServedWrite } from './memory-provider.js';
import type { StepInfo } from './scheduler.js';

/** One broken invariant: which, for which name, at which step. */
export interface Violation {
  invariant: string;
  name: string;
  step: number;
  atMs: number;
  message: string;
}

export interface CheckerOptions {
  /** Largest clock offset of any actor; liveness judgements (heartbeats) get a margin of twice this. */
  skewMaxMs: number;
}

/**
 * The invariant checker of a safe-mode run (DESIGN.md §2). It runs after
 * every step, sees the store and the provider directly (zero time, no
 * faults) and returns the first violation it finds:
 * - from the write log: S2 per write (never below the served or removal
 *   generation), S1 on every write;
 * - from the clean-up log: S4 (no header a live enactor holds, as the
 *   janitor saw it, is deleted; deleting never touches what is served);
 * - from the publish log: S6 (each generation is the previous + 1, fencing
 *   tokens never go back); I1 (the inventory version a plan records never
 *   decreases from one generation to the next, and the names the plan gives
 *   records are exactly the names of that version);
 * - from the state: S1, S2, S3 (served set == the set visible at the served
 *   generation), S4 (that version still exists), S5 (re-applying the plan in
 *   effect is a skip for the production `decide`), L3 (the newest plan is
 *   whole and valid, and no name is ahead of it).
 * In seeds whose health comes from checkers, health.ts checks H1 after every
 * step and H2 at the liveness bound.
 */
export class Checker {
  /** Highest generation each name was served or removed at (S2). */
  private readonly generationSeen = new Map<string, Generation>();
  /** Names an operator hand-edited, with the version of the edit: S3 waits for a repair. */
  private readonly drifted = new Map<string, number>();
  private lastPublished: PublishEvent | null = null;
  private storeMutationsSeen = -1;
  private providerVersionSeen = -1;
  redundantWrites = 0;
  applies = 0;

  constructor(
    private readonly store: MemoryStoreState,
    private readonly provider: MemoryProviderState,
    private readonly options: CheckerOptions,
  ) {}

  /** An injected hand edit: S3 does not hold for the name until someone repairs it. */
  noteDrift(name: string): void {
    const row = this.provider.served.get(name);
    if (row !== undefined) this.drifted.set(name, row.version);
  }

  get driftedNames(): readonly string[] {
    return [...this.drifted.keys()];
  }

  check(step: StepInfo): Violation | null {
    const violation = this.checkWrites(step) ?? this.checkDeletions(step) ?? this.checkPublishes(step);
    if (violation !== null) return violation;
    if (this.store.mutations === this.storeMutationsSeen && this.provider.versionLast === this.providerVersionSeen) {
      return null;
    }
    this.storeMutationsSeen = this.store.mutations;
    this.providerVersionSeen = this.provider.versionLast;
    return this.checkServed(step) ?? this.checkNewestPlan(step);
  }

  private violation(step: StepInfo, invariant: string, name: string, message: string): Violation {
    return { invariant, name, step: step.step, atMs: step.atMs, message };
  }

  private checkWrites(step: StepInfo): Violation | null {
    const writes = this.provider.writes.splice(0);
    for (const write of writes) {
      const found = this.checkWrite(step, write);
      if (found !== null) return found;
    }
    return null;
  }

  private checkWrite(step: StepInfo, write: ServedWrite): Violation | null {
    const { name } = write;
    const seen = this.generationSeen.get(name) ?? 0;
    if (write.kind === 'hand-edit') return null;
    if (write.generation < seen) {
      return this.violation(
        step,
        'S2',
        name,
        `${write.writer} wrote generation ${write.generation} (${describeRow(write.after)}) `
          + `after the name had reached generation ${seen}`,
      );
    }
    this.generationSeen.set(name, write.generation);
    this.applies += 1;
    if (write.kind === 'remove') return null;
    // Any write after a hand edit replaced the edited set: the drift is over, S3 holds again.
    this.drifted.delete(name);
    const problems = validateRecordSet(name, write.after!.records);
    if (problems.length > 0) {
      return this.violation(step, 'S1', name, `${write.writer} wrote an invalid set: ${problems.join('; ')}`);
    }
    if (
      write.before !== null
      && write.before.generation === write.generation
      && recordSetKey(write.before.records) === recordSetKey(write.after!.records)
    ) {
      this.redundantWrites += 1;
    }
    return null;
  }

  private checkDeletions(step: StepInfo): Violation | null {
    const deletions = this.store.deletions.splice(0);
    for (const deletion of deletions) {
      const found = this.checkDeletion(step, deletion);
      if (found !== null) return found;
    }
    return null;
  }

  /** S4: the clean-up honoured every hold it saw from an enactor that was certainly alive (beyond any clock skew). */
  private checkDeletion(step: StepInfo, deletion: DeletionEvent): Violation | null {
    const marginMs = 2 * this.options.skewMaxMs;
    const deleted = new Set(deletion.headers);
    for (const row of deletion.seenEnactors) {
      const ttlMs = row.expiresAtMs - row.heartbeatAtMs;
      const certainlyLive = row.trueHeartbeatAtMs + ttlMs - marginMs > deletion.seenAtTrueMs;
      if (certainlyLive && row.heldGeneration > 0 && deleted.has(row.heldGeneration)) {
        return this.violation(
          step,
          'S4',
          `plan ${row.heldGeneration}`,
          `${deletion.deleter} deleted plan ${row.heldGeneration}, held by live enactor ${row.id}`,
        );
      }
    }
    return null;
  }

  private checkPublishes(step: StepInfo): Violation | null {
    for (const publish of this.store.publishes.splice(0)) {
      if (publish.generation !== publish.latestBefore + 1) {
        return this.violation(
          step,
          'S6',
          `plan ${publish.generation}`,
          `${publish.holder} published ${publish.generation} over ${publish.latestBefore}`,
        );
      }
      const last = this.lastPublished;
      if (last !== null && publish.generation <= last.generation) {
        return this.violation(
          step,
          'S6',
          `plan ${publish.generation}`,
          `generation ${publish.generation} published after ${last.generation}`,
        );
      }
      if (last !== null && publish.token < last.token) {
        return this.violation(
          step,
          'S6',
          `plan ${publish.generation}`,
          `${publish.holder} published with fencing token ${publish.token} after token ${last.token} (two leaders)`,
        );
      }
      const found = this.checkPlanInventory(step, publish, last);
      if (found !== null) return found;
      this.lastPublished = publish;
    }
    return null;
  }

  /**
   * I1, checked as a plan is published (the publish is the only write of its step, so the store holds exactly that
   * plan's versions): the inventory version it records is stored and not below the previous plan's, and the names
   * with records at its generation are exactly that version's names — each added name planned, each removed one
   * removed.
   */
  private checkPlanInventory(step: StepInfo, publish: PublishEvent, last: PublishEvent | null): Violation | null {
    const plan = `plan ${publish.generation}`;
    if (last !== null && publish.inventoryVersion < last.inventoryVersion) {
      return this.violation(
        step,
        'I1',
        plan,
        `${publish.holder} published inventory v${publish.inventoryVersion} `
          + `after plan ${last.generation} had v${last.inventoryVersion}`,
      );
    }
    const inventory = this.store.inventories[publish.inventoryVersion - 1];
    if (inventory === undefined) {
      return this.violation(step, 'I1', plan, `records inventory v${publish.inventoryVersion}, which was never stored`);
    }
    const expected = inventory.endpoints.map((endpoint) => endpoint.name).sort();
    const planned = plannedNames(this.store, publish.generation);
    if (planned.join(',') === expected.join(',')) return null;
    const missing = expected.filter((name) => !planned.includes(name));
    const extra = planned.filter((name) => !expected.includes(name));
    return this.violation(
      step,
      'I1',
      plan,
      `records inventory v${publish.inventoryVersion} but ${missing.length > 0 ? `lacks ${missing.join(',')}` : ''}`
        + `${missing.length > 0 && extra.length > 0 ? ' and ' : ''}`
        + `${extra.length > 0 ? `plans ${extra.join(',')}` : ''}`,
    );
  }

  private checkServed(step: StepInfo): Violation | null {
    for (const [name, row] of this.provider.served) {
      const found = this.checkName(step, name, row);
      if (found !== null) return found;
    }
    return null;
  }

  private checkName(step: StepInfo, name: string, row: ServedRow): Violation | null {
    if (row.records.length === 0) {
      return this.violation(step, 'S1', name, `serves no records at generation ${row.generation}`);
    }
    const seen = this.generationSeen.get(name) ?? 0;
    if (row.generation < seen) {
      return this.violation(step, 'S2', name, `serves generation ${row.generation} after ${seen}`);
    }
    const version = this.store.visible(name, row.generation);
    if (version === undefined) {
      return this.violation(
        step,
        'S4',
        name,
        `serves generation ${row.generation}, but the plan version it refers to no longer exists`,
      );
    }
    if (
      !this.drifted.has(name)
      && (version.records === null || recordSetKey(version.records) !== recordSetKey(row.records))
    ) {
      return this.violation(
        step,
        'S3',
        name,
        `serves [${recordSetKey(row.records)}] at generation ${row.generation}, `
          + `plan ${row.generation} says [${recordSetKey(version.records)}]`,
      );
    }
    const state = { name, generation: row.generation, version: String(row.version), records: row.records };
    const again = decide({ name, since: version.since, records: version.records }, state, row.generation);
    if (again !== 'skip') {
      return this.violation(step, 'S5', name, `re-applying plan ${row.generation} would write again`);
    }
    if (row.generation > this.store.generationLast) {
      return this.violation(
        step,
        'L3',
        name,
        `serves generation ${row.generation}, above the newest plan ${this.store.generationLast}`,
      );
    }
    return null;
  }

  /** L3: the newest plan exists whole and valid, so it can always be enacted from here. */
  private checkNewestPlan(step: StepInfo): Violation | null {
    const latest = this.store.generationLast;
    if (latest === 0) return null;
    if (!this.store.headers.has(latest)) {
      return this.violation(step, 'L3', `plan ${latest}`, `the newest plan ${latest} was deleted`);
    }
    for (const name of this.store.versions.keys()) {
      const version = this.store.visible(name, latest);
      if (version === undefined) {
        return this.violation(step, 'L3', name, `the newest plan ${latest} has no version for the name`);
      }
      if (version.records !== null && validateRecordSet(name, version.records).length > 0) {
        return this.violation(step, 'L3', name, `the newest plan ${latest} holds an invalid set`);
      }
    }
    return null;
  }
}

/** The names plan `generation` gives records (not removed), sorted. */
function plannedNames(store: MemoryStoreState, generation: Generation): string[] {
  const names: string[] = [];
  for (const name of store.names()) {
    const version = store.visible(name, generation);
    if (version !== undefined && version.records !== null) names.push(name);
  }
  return names;
}

/**
 * L1: every name serves the newest plan's set (or is absent when the plan removes it). Returns the first name that does
 * not, or null.
 */
export function firstUnconverged(
  store: MemoryStoreState,
  provider: MemoryProviderState,
): { name: string; detail: string } | null {
  const latest = store.generationLast;
  for (const name of store.versions.keys()) {
    const version = store.visible(name, latest);
    const row = provider.served.get(name);
    if (version === undefined) return { name, detail: `no version at the newest plan ${latest}` };
    if (version.records === null) {
      if (row !== undefined) {
        return { name, detail: `removed in plan ${version.since} but still serves ${describeRow(row)}` };
      }
      continue;
    }
    if (row === undefined) return { name, detail: `not served; plan ${latest} has [${recordSetKey(version.records)}]` };
    if (row.generation < version.since || recordSetKey(row.records) !== recordSetKey(version.records)) {
      return {
        name,
        detail: `serves ${describeRow(row)}, the newest plan ${latest} says [${recordSetKey(version.records)}] `
          + `since ${version.since}`,
      };
    }
  }
  return null;
}
