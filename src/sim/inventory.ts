import { applyInventory, currentInventory, seedInventory, type ApplyOutcome } from '../inventory/apply.js';
import type { InventoryPolicy } from '../inventory/diff.js';
import type { InventorySnapshot } from '../inventory/follow.js';
import type { EndpointSpec } from '../domain/types.js';
import type { StoredInventory } from '../store/types.js';
import { assert } from '../util/assert.js';
import type { Clock } from '../util/clock.js';
import { InjectedFault, type SimStore } from './faults.js';
import type { SimRandom } from './random.js';
import type { RunStats } from './types.js';

/**
 * The inventory in a safe-mode run is versioned in the store, as in production: every planner and checker seeds it
 * at its start with `seedInventory` (the first incarnations race on the compare-and-swap; a restarted one reads the
 * newest) and then follows newer versions with the production `InventoryFollower` on its own virtual clock. An
 * operator changes it only through `applyInventory`, as `dnsplane apply` does: each command toggles one name (or
 * two) of the scenario — removed, or added back — against the version it read, forces a change the apply threshold
 * refuses, re-diffs when another command won the race, and re-runs a command that failed midway.
 */

/** What the simulated config file is called (the seed's actor). */
export const inventorySource = 'sim-config.yaml';

/** Seeding at a role's start is retried this many times on injected faults, as a supervisor restarts a role. */
const seedAttemptsMax = 20;
const seedRetryMs = 5;
/** Attempts of one operator command (a failed or lost race re-runs it); then the operator gives up on it. */
const applyAttemptsMax = 8;
/** Chance that a command toggles two names rather than one (one removed and another added back, say). */
const twoTogglesProbability = 0.3;

/**
 * The apply threshold the operator's commands meet: two names of three (or one of one) is refused and then
 * forced, as an operator would after reading the refusal; one of two or three passes.
 */
export const operatorPolicy: InventoryPolicy = { maxChangedFraction: 0.5, minNamesForThreshold: 2 };

/** One role incarnation's view of the inventory: what its closures read, replaced whole by the follower. */
export interface InventoryHolder {
  current: InventorySnapshot;
  /** The version the incarnation seeded or read at its start (what the mutants keep planning from). */
  started: InventorySnapshot;
}

/** `followInventory`'s seeding step (src/cli/context.ts), retried over injected faults. */
export async function seedWithRetry(
  store: SimStore,
  endpoints: readonly EndpointSpec[],
  clock: Clock,
): Promise<StoredInventory> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const seeded = await seedInventory(store, { endpoints: [...endpoints], services: [] }, inventorySource);
      assert(
        seeded.version >= 1 && seeded.endpoints.length > 0,
        'internal',
        `seeded inventory v${seeded.version} with ${seeded.endpoints.length} names`,
      );
      return seeded;
    } catch (error) {
      if (!(error instanceof InjectedFault) || attempt >= seedAttemptsMax) throw error;
      await clock.sleep(seedRetryMs);
    }
  }
}

interface Command {
  endpoints: EndpointSpec[];
  /** The version the command's diff was made against; undefined when it is re-run as it is after a failure. */
  baseVersion: number | undefined;
}

export class InventoryOperator {
  constructor(
    /** Every name the scenario has: a version holds a subset of them, in this order. */
    private readonly endpoints: readonly EndpointSpec[],
    private readonly store: SimStore,
    private readonly random: SimRandom,
    private readonly stats: RunStats,
    /** Called only when the run is traced: the text is built lazily. */
    private readonly note: ((text: () => string) => void) | null,
  ) {
    assert(endpoints.length > 0, 'internal', 'an operator needs names to toggle');
  }

  /**
   * The inventory after toggling one name, sometimes two, of `current` (each toggle changes it); null when that would
   * be empty.
   */
  nextInventory(current: readonly EndpointSpec[]): EndpointSpec[] | null {
    const present = new Set(current.map((endpoint) => endpoint.name));
    const names = this.endpoints.map((endpoint) => endpoint.name);
    const toggled = new Set([this.random.pick(names)]);
    if (this.random.chance(twoTogglesProbability)) toggled.add(this.random.pick(names));
    const next = this.endpoints.filter((endpoint) => present.has(endpoint.name) !== toggled.has(endpoint.name));
    return next.length === 0 ? null : next;
  }

  /** One operator command: edit the newest version and apply it, until it is applied, unchanged or given up. */
  async command(): Promise<void> {
    let command: Command | null = null;
    for (let attempt = 1; attempt <= applyAttemptsMax; attempt += 1) {
      try {
        command ??= await this.edit();
        if (command === null) return;
        const outcome = await this.apply(command);
        if (outcome.kind !== 'stale') return this.applied(outcome);
        // Another command stored a version after this one's diff: read the newest and edit again.
        this.stats.inventoryRaces += 1;
        this.note?.(() => `inventory apply lost the race to v${outcome.current}: re-diffing`);
        command = null;
      } catch (error) {
        if (!(error instanceof InjectedFault)) throw error;
        // The command failed somewhere (maybe after storing): run the same file again, without a reviewed base.
        if (command !== null) command = { endpoints: command.endpoints, baseVersion: undefined };
      }
    }
    this.note?.(() => `inventory apply given up after ${applyAttemptsMax} attempts`);
  }

  private async edit(): Promise<Command | null> {
    const current = await currentInventory(this.store);
    const endpoints = this.nextInventory(current.endpoints);
    return endpoints === null ? null : { endpoints, baseVersion: current.version };
  }

  private async apply(command: Command): Promise<ApplyOutcome> {
    const options = {
      actor: 'operator',
      reason: 'sim: names leave and come back',
      policy: operatorPolicy,
      baseVersion: command.baseVersion,
    };
    const inventory = { endpoints: command.endpoints, services: [] };
    const outcome = await applyInventory(this.store, inventory, { ...options, force: false });
    if (outcome.kind !== 'refused') return outcome;
    this.note?.(() => `inventory apply refused (${outcome.reason}): forcing it`);
    return applyInventory(this.store, inventory, { ...options, force: true });
  }

  private applied(outcome: Exclude<ApplyOutcome, { kind: 'stale' }>): void {
    if (outcome.kind !== 'applied') return;
    assert(
      outcome.info.names === outcome.diff.namesAfter,
      'internal',
      `v${outcome.info.version} stored ${outcome.info.names} names, the diff had ${outcome.diff.namesAfter}`,
    );
    this.stats.inventoryVersions += 1;
    this.stats.removals += outcome.diff.removed;
    if (outcome.forcedOver !== null) this.stats.inventoryForced += 1;
    this.note?.(() => {
      const names = outcome.diff.names.map((entry) => `${entry.kind === 'added' ? '+' : '-'}${entry.name}`).join(' ');
      return `INVENTORY v${outcome.info.version}: ${names}${outcome.forcedOver === null ? '' : ' (forced)'}`;
    });
  }
}
