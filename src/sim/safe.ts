import { computePlan } from '../planner/compute.js';
import { InventoryFollower } from '../inventory/follow.js';
import {
  buildChecker, buildEnactor, buildJanitor, buildPlanner, buildReconciler, type RoleSettings,
} from '../roles/build.js';
import { InvariantViolation, assert } from '../util/assert.js';
import type { Logger } from '../util/log.js';
import { recordSetKey, type EndpointSpec, type HealthState } from '../domain/types.js';
import type { Store } from '../store/types.js';
import type { Provider, ServedState } from '../providers/types.js';
import { Checker, firstUnconverged, type Violation } from './checker.js';
import { FaultInjector, faultyProvider, faultyStore, type SimStore } from './faults.js';
import {
  HealthWorld, deriveHealth, guardCountsNames, type AzLossEvent, type PartitionEvent,
} from './health.js';
import { InventoryOperator, seedWithRetry, type InventoryHolder } from './inventory.js';
import { MemoryProvider, MemoryProviderState } from './memory-provider.js';
import { MemoryStore, MemoryStoreState } from './memory-store.js';
import { createRandom, type SimRandom } from './random.js';
import { deriveScenario, nextIntervalMs, type Scenario } from './scenario.js';
import { roleSettingsOf, withBatchNamesMax } from './settings.js';
import {
  Scheduler, VirtualClock, guardAgainstStall, simulationStartMs, type ActorSlot, type StepInfo,
} from './scheduler.js';
import { Trace } from './trace.js';
import { runLogger, type ErrorLine } from './log.js';
import { emptyStats, type MutantName, type RunResult, type RunStats } from './types.js';

/**
 * Safe mode: the production Planner, Enactor, Janitor and Reconciler (the
 * classes themselves, not a copy, built by the role builder that `dnsplane up`
 * uses, from settings parsed by the config's schema: settings.ts) run against
 * the in-memory store and provider behind fault-injecting wrappers, on
 * virtual time. A safety phase
 * with faults is followed by a liveness phase without them, in which every
 * name must converge to the newest plan within a bound (L1). The checker
 * runs after every step. In a quarter of the seeds health comes from
 * production health checkers probing a true health, with AZ losses, a
 * checker cut off and failover pools (health.ts: H1, H2). The inventory is
 * versioned in the store: an operator applies versions that remove names and
 * add others back, and planners and checkers follow them (inventory.ts: I1).
 */

export interface SafeRunOptions {
  mutant?: MutantName | null;
  trace?: boolean;
  /** Adjusts the derived scenario (tests use it to pin a property); applied after the seed's draws. */
  adjust?: (scenario: Scenario) => Scenario;
  /**
   * Let an operator apply inventory versions that remove names and add them back (on unless false; see
   * Scenario.removalMeanMs).
   */
  removals?: boolean;
}

/** Mean time between operator inventory commands when `removals` is on. */
const removalMeanMs = 150;

/**
 * The production run loops stop on abort; a simulated run stops by no longer stepping them, so their signal never
 * fires.
 */
const neverAborted = new AbortController().signal;

/** Upper bound on steps of one run: a run that needs more is itself a bug (a livelock). */
const stepsMax = 200_000;
const traceLinesMax = 20_000;

type Role = 'planner' | 'enactor' | 'janitor' | 'reconciler' | 'checker';

/**
 * Errors the production classes log on purpose in checkers mode — a plan held by the capacity guard, a checker
 * that doubts itself — are alarms doing their job, not bugs; any other error line is still a violation.
 */
const expectedErrorLines = [
  /^plan withdraws .* above safety\.maxWithdrawnCapacityFraction/,
  /^most targets failed at once: suspecting this checker/,
];

interface ActorEntry {
  slot: ActorSlot;
  role: Role;
  clock: VirtualClock;
  random: SimRandom;
  running: boolean;
}

/** Roles whose incarnations the faults crash and pause (a lease or a heartbeat to lose). */
const crashableRoles: ReadonlySet<Role> = new Set(['enactor', 'planner']);

/** Roles that read the inventory, and so follow its versions. */
const followingRoles: ReadonlySet<Role> = new Set(['planner', 'checker']);

class SafeWorld {
  readonly scheduler = new Scheduler();
  readonly random: SimRandom;
  readonly scenario: Scenario;
  /** The roles' settings: the config's defaults with the scenario's choices (settings.ts). */
  readonly settings: RoleSettings;
  readonly storeState: MemoryStoreState;
  readonly providerState: MemoryProviderState;
  readonly faults: FaultInjector;
  readonly checker: Checker;
  readonly trace: Trace | null;
  readonly actors: ActorEntry[] = [];
  /** The true health in checkers mode; in direct mode also what the store holds. */
  readonly health = new Map<string, HealthState>();
  readonly healthWorld: HealthWorld | null;
  readonly targets: string[];
  /** Applies inventory versions through its own faulty store (null with removals off). */
  readonly operator: InventoryOperator | null;
  private readonly operatorSlot: ActorSlot;
  readonly stats: RunStats = emptyStats();
  readonly violations: Violation[] = [];
  private readonly signal = neverAborted;
  readonly log: Logger;
  readonly releaseLog: () => void;
  faultsOn = true;

  constructor(readonly seed: bigint, readonly options: SafeRunOptions) {
    this.random = createRandom(seed);
    const derived = deriveScenario(this.random.fork());
    const withRemovals = options.removals !== false ? { ...derived, removalMeanMs } : derived;
    const health = deriveHealth(seed, withRemovals.endpoints, withRemovals.safetyPhaseMs);
    const withHealth = { ...withRemovals, endpoints: health.endpoints, health: health.health };
    this.scenario = options.adjust === undefined ? withHealth : options.adjust(withHealth);
    this.settings = roleSettingsOf(this.scenario);
    this.trace = options.trace === true ? new Trace(traceLinesMax) : null;
    this.targets = this.scenario.endpoints.flatMap((endpoint) => endpoint.targets.map((target) => target.id));
    this.storeState = new MemoryStoreState(() => this.scheduler.nowMs);
    this.providerState = new MemoryProviderState({
      ignoreExpectedVersion: options.mutant === 'no-cas', ignoreRemovals: options.mutant === 'no-removal-tombstone',
      compactWithoutFloor: options.mutant === 'compaction-without-floor',
    });
    this.faults = new FaultInjector(this.scheduler, this.random.fork(), this.scenario.faults, this.trace);
    this.checker = new Checker(this.storeState, this.providerState, { skewMaxMs: this.scenario.skewMaxMs });
    this.healthWorld = this.scenario.health.mode === 'checkers' ? this.createHealthWorld() : null;
    this.operatorSlot = this.scheduler.actor('operator');
    this.operator = this.scenario.removalMeanMs > 0 ? this.createOperator() : null;
    const logger = runLogger((line) => this.errorLogged(line));
    this.log = logger.log;
    this.releaseLog = logger.release;
  }

  /**
   * The checkers' store calls wait like everyone's but never fail (their injector stays disabled): a checker's
   * fault is its partition, and H1 relies on a bounded delay from reading the views to writing the health.
   */
  private createHealthWorld(): HealthWorld {
    const faults = new FaultInjector(this.scheduler, this.random.fork(), this.scenario.faults, this.trace);
    faults.enabled = false;
    const note = (actor: string, text: string): void => this.note(actor, text);
    return new HealthWorld(this.scenario.health, this.scenario.endpoints, {
      truth: this.health, stats: this.stats, faults, note, tracing: this.trace !== null,
      skewMaxMs: this.scenario.skewMaxMs,
    });
  }

  private createOperator(): InventoryOperator {
    const clock = new VirtualClock(this.scheduler, this.operatorSlot, 0);
    const store = faultyStore(new MemoryStore(this.storeState, clock, 'operator'), this.faults, this.operatorSlot);
    const note = this.trace === null ? null : (text: () => string) => this.note('operator', text());
    return new InventoryOperator(this.scenario.endpoints, store, this.random.fork(), this.stats, note);
  }

  /** The newest stored inventory (the scenario's endpoints before the first role seeded it). */
  newestInventory(): readonly EndpointSpec[] {
    return this.storeState.latestInventory()?.endpoints ?? this.scenario.endpoints;
  }

  /**
   * An error a production loop caught and logged: only injected faults (and assertions, reported when the loop
   * stops) may get there.
   */
  private errorLogged(line: ErrorLine): void {
    // A warn line is a violation only when it carries an error (a loop that logs a failed call at warn and retries).
    if (line.level === 'warn' && line.errorType === null) return;
    if (line.errorType === 'InjectedFault' || line.errorType === 'InvariantViolation') return;
    const expected = expectedErrorLines.some((pattern) => pattern.test(line.message));
    if (line.errorType === null && this.healthWorld !== null && expected) return;
    const error = line.errorType === null ? '' : ` (${line.errorType}: ${line.errorMessage})`;
    const message = `unexpected error logged: ${line.message}${error}`;
    const { stepCount: step, nowMs: atMs } = this.scheduler;
    this.violations.push({ invariant: 'internal', name: '*', step, atMs, message });
    this.note('CHECKER', message);
  }

  note(actor: string, text: string): void {
    this.trace?.add(this.scheduler.nowMs, actor, text);
  }

  addActor(id: string, role: Role): ActorEntry {
    const random = this.random.fork();
    const skew = this.scenario.skewMaxMs;
    const offsetMs = skew === 0 ? 0 : random.between(-skew, skew);
    const slot = this.scheduler.actor(id);
    const clock = new VirtualClock(this.scheduler, slot, offsetMs);
    const entry: ActorEntry = { slot, role, clock, random, running: false };
    this.actors.push(entry);
    return entry;
  }

  /** A fresh incarnation: new wrappers, a new production object, no memory of the previous one. */
  startActor(entry: ActorEntry, startDelayMs: number): void {
    const { slot } = entry;
    const faults = entry.role === 'checker' ? this.healthWorld!.faults : this.faults;
    const store = faultyStore(new MemoryStore(this.storeState, entry.clock, slot.id), faults, slot);
    const provider = faultyProvider(new MemoryProvider(this.providerState, slot.id), this.faults, slot);
    const noInventory = { version: 0, endpoints: [], services: [] };
    const holder: InventoryHolder = { current: noInventory, started: noInventory };
    const run = this.buildRole(entry, store, provider, holder);
    entry.running = true;
    this.note(slot.id, `started (incarnation ${slot.incarnation}, clock offset ${entry.clock.offsetMs}ms)`);
    this.scheduler.start(slot, async () => {
      await this.scheduler.wait(slot, startDelayMs, 'start');
      if (followingRoles.has(entry.role)) await this.followInventory(entry, store, holder);
      await run();
    }, (error) => this.actorSettled(entry, error));
  }

  /**
   * As a role's start in production (src/cli/context.ts): seed the inventory or read the newest, then follow newer
   * versions in a loop of its own on the actor's clock, begun by a scheduler-side event so that only one chain of
   * the actor runs at a time; a crash ends both chains.
   */
  private async followInventory(entry: ActorEntry, store: SimStore, holder: InventoryHolder): Promise<void> {
    const { slot } = entry;
    const seeded = await seedWithRetry(store, this.scenario.endpoints, entry.clock);
    holder.current = { version: seeded.version, endpoints: seeded.endpoints, services: seeded.services };
    holder.started = holder.current;
    this.note(slot.id, `inventory v${seeded.version} (${seeded.endpoints.length} names)`);
    const follower = new InventoryFollower({ pollIntervalMs: this.scenario.timing.inventoryPollMs }, {
      store, clock: entry.clock, log: this.log,
      onChange: (snapshot) => {
        holder.current = snapshot;
        if (this.trace === null) return;
        this.note(slot.id, `follows inventory v${snapshot.version} (${snapshot.endpoints.length} names)`);
      },
    }, holder.current);
    const incarnation = slot.incarnation;
    this.scheduler.at(this.scheduler.nowMs, 'follow inventory', () => {
      if (slot.incarnation !== incarnation) return;
      const settled = (error: unknown): void => this.loopSettled(`${slot.id}'s inventory follower`, error);
      this.scheduler.start(slot, () => follower.run(this.signal), settled);
    });
  }

  /** The operator's next command, in a chain of its own (commands may overlap and race on the compare-and-swap). */
  private inventoryCommand(): void {
    const operator = this.operator;
    assert(operator !== null, 'internal', 'an inventory command without an operator');
    this.scheduler.start(this.operatorSlot, () => operator.command(), (error) => {
      if (error !== null) this.loopSettled('the operator', error);
    });
  }

  /** The role of an actor's incarnation, from the run's settings; a mutant wraps its deps or the built role. */
  private buildRole(
    entry: ActorEntry, store: SimStore, provider: Provider, holder: InventoryHolder,
  ): () => Promise<void> {
    const { settings, signal } = this;
    const mutant = this.options.mutant ?? null;
    const id = entry.slot.id;
    const base = { clock: entry.clock, log: this.log };
    switch (entry.role) {
      case 'planner': {
        const inventory = plannerInventory(holder, mutant);
        const planner = buildPlanner(settings, id, this.scenario.zone, { ...base, store, ...inventory });
        const { maxWithdrawnCapacityFraction } = settings.safety;
        if (mutant === 'capacity-guard-counts-names') guardCountsNames(planner, maxWithdrawnCapacityFraction);
        return () => planner.run(signal);
      }
      case 'checker': {
        const world = this.healthWorld!;
        const checkerStore = world.checkerStore(id, store, mutant === 'quorum-any-down');
        const inventory = () => holder.current.endpoints;
        const deps = { ...base, store: checkerStore, rng: entry.random, inventory, probe: world.probeFor(id) };
        const checker = buildChecker(settings, id, deps, this.scenario.health.checker.viewTtlMs);
        return () => checker.run(signal);
      }
      case 'enactor': {
        // Each incarnation draws its batch bound, one or two names, so that a plan is enacted in several batches.
        const enactorSettings = withBatchNamesMax(settings, 1 + entry.random.int(2));
        const enactor = buildEnactor(enactorSettings, id, { ...base, store, provider, rng: entry.random });
        return () => enactor.run(signal);
      }
      case 'janitor': {
        const janitorStore = mutant === 'janitor-ignores-holds' ? ignoreHolds(store) : store;
        const janitorProvider = mutant === 'janitor-ignores-served' ? ignoreServed(provider) : provider;
        const janitor = buildJanitor(settings, { ...base, store: janitorStore, provider: janitorProvider });
        return () => janitor.run(signal);
      }
      case 'reconciler': {
        const reconciler = buildReconciler(settings, id, { ...base, store, provider, rng: entry.random });
        return () => reconciler.run(signal);
      }
    }
  }

  /** A production run loop only ends by throwing an InvariantViolation (its own assertion fired). */
  private actorSettled(entry: ActorEntry, error: unknown): void {
    entry.running = false;
    this.loopSettled(entry.slot.id, error);
  }

  private loopSettled(who: string, error: unknown): void {
    const now = this.scheduler.nowMs;
    if (error instanceof InvariantViolation) {
      const message = `production assertion fired in ${who}: ${error.message}`;
      const { invariant } = error;
      this.violations.push({ invariant, name: who, step: this.scheduler.stepCount, atMs: now, message });
    } else {
      const message = error === null
        ? 'run loop returned while not aborted'
        : `run loop rejected: ${(error as Error).stack ?? String(error)}`;
      this.violations.push({ invariant: 'internal', name: who, step: this.scheduler.stepCount, atMs: now, message });
    }
    this.note(who, `stopped: ${this.violations.at(-1)!.message}`);
  }

  // --- Fault drivers: scheduler-side events, active only in the safety phase. ---

  scheduleEvery(meanMs: number, label: string, action: () => void): void {
    if (meanMs <= 0) return;
    const next = (): void => {
      this.scheduler.at(this.scheduler.nowMs + nextIntervalMs(this.random, meanMs), label, () => {
        if (!this.faultsOn) return;
        action();
        next();
      });
    };
    next();
  }

  /** A target's true health flips; in direct mode the store learns it at once, in checkers mode only by probing. */
  flipHealth(): void {
    const target = this.random.pick(this.targets);
    const state: HealthState = this.health.get(target) === 'down' ? 'up' : 'down';
    this.health.set(target, state);
    if (this.healthWorld === null) {
      this.storeState.health.set(target, { target, state, source: 'sim', updatedAtMs: this.scheduler.nowMs });
      this.storeState.mutations += 1;
    }
    this.stats.healthFlips += 1;
    this.note('operator', `health ${target} → ${state}`);
  }

  /** A burst: many flips one planner interval apart, so the planner publishes many generations in a row. */
  maybeBurst(): void {
    if (!this.random.chance(this.scenario.burstProbability)) return;
    const flips = this.random.between(2, this.scenario.burstFlipsMax);
    for (let index = 1; index <= flips; index += 1) {
      this.scheduler.at(this.scheduler.nowMs + index * this.scenario.timing.plannerIntervalMs, 'burst flip', () => {
        if (this.faultsOn) this.flipHealth();
      });
    }
  }

  crashOne(): void {
    const candidates = this.actors.filter((entry) => entry.running && crashableRoles.has(entry.role));
    if (candidates.length === 0) return;
    const entry = this.random.pick(candidates);
    this.scheduler.crash(entry.slot);
    entry.running = false;
    this.stats.crashes += 1;
    // Down for up to three heartbeat TTLs: sometimes long enough to be declared dead, sometimes not.
    const downMs = this.random.int(3 * this.scenario.timing.heartbeatTtlMs + 1);
    this.note(entry.slot.id, `CRASH (memory lost); restarts in ${downMs}ms`);
    this.scheduler.at(this.scheduler.nowMs + downMs, 'restart', () => {
      if (!entry.running) this.startActor(entry, 0);
    });
  }

  pauseOne(): void {
    const candidates = this.actors.filter((entry) => entry.running && crashableRoles.has(entry.role));
    if (candidates.length === 0) return;
    const entry = this.random.pick(candidates);
    const { timing } = this.scenario;
    const ttlMs = entry.role === 'enactor' ? timing.heartbeatTtlMs : timing.plannerLeaseTtlMs;
    // Longer than the TTL: the holder's lease or heartbeat expires while it sleeps, and it wakes up not knowing.
    entry.slot.pauseNextMs = ttlMs + this.random.int(ttlMs + 1);
    this.stats.pauses += 1;
    this.note(entry.slot.id, `PAUSE ${entry.slot.pauseNextMs}ms at its next await (TTL ${ttlMs}ms)`);
  }

  driftOne(): void {
    const names = [...this.providerState.served.keys()].sort();
    if (names.length === 0) return;
    const name = this.random.pick(names);
    const records = this.providerState.served.get(name)!.records;
    // A plausible hand edit: drop one record, or re-weight the only one. Never empty (that is S1's business, not
    // drift).
    const only = records[0]!;
    const edited = records.length > 1 ? records.slice(1) : [{ ...only, weight: only.weight === 1 ? 2 : 1 }];
    this.providerState.handEdit(name, edited);
    this.checker.noteDrift(name);
    this.stats.drifts += 1;
    this.note('operator', `HAND EDIT ${name} → [${recordSetKey(edited)}] (drift)`);
  }

  startFaults(): void {
    const { scenario } = this;
    this.scheduleEvery(scenario.healthFlipMeanMs, 'health flip', () => {
      this.flipHealth();
      this.maybeBurst();
    });
    this.scheduleEvery(scenario.crashMeanMs, 'crash', () => this.crashOne());
    this.scheduleEvery(scenario.pauseMeanMs, 'pause', () => this.pauseOne());
    this.scheduleEvery(scenario.driftMeanMs, 'drift', () => this.driftOne());
    this.scheduleEvery(scenario.removalMeanMs, 'inventory command', () => this.inventoryCommand());
    this.healthWorld?.schedule(simulationStartMs, () => this.faultsOn);
  }

  stopFaults(): void {
    this.faultsOn = false;
    this.faults.enabled = false;
    for (const entry of this.actors) {
      entry.slot.pauseNextMs = 0;
      if (!entry.running) this.startActor(entry, 0);
    }
    this.note('sim', '--- faults stop: liveness phase (L1) ---');
    this.healthWorld?.settle();
  }

  private convergedAt = { storeMutations: -1, providerVersion: -1, value: false };

  /**
   * True when every name serves the newest plan and the planner has nothing more to publish (recomputed only after
   * a write).
   */
  converged(): boolean {
    const cache = this.convergedAt;
    const unchanged = cache.storeMutations === this.storeState.mutations;
    if (unchanged && cache.providerVersion === this.providerState.versionLast) return cache.value;
    cache.storeMutations = this.storeState.mutations;
    cache.providerVersion = this.providerState.versionLast;
    cache.value = this.computeConverged();
    return cache.value;
  }

  private computeConverged(): boolean {
    if (firstUnconverged(this.storeState, this.providerState) !== null) return false;
    const latest = this.storeState.generationLast;
    const current = new Map<string, string>();
    for (const name of this.storeState.versions.keys()) {
      const version = this.storeState.visible(name, latest);
      if (version !== undefined && version.records !== null) current.set(name, recordSetKey(version.records));
    }
    return computePlan({ endpoints: this.newestInventory(), health: this.health, current }).changes.length === 0;
  }
}

/**
 * The planner's view of the inventory: the version its follower holds. The mutants plan from the version the
 * incarnation started with — recording it (planner-ignores-inventory), or recording the newest
 * (plan-mislabels-inventory).
 */
function plannerInventory(
  holder: InventoryHolder, mutant: MutantName | null,
): { inventory: () => readonly EndpointSpec[]; inventoryVersion: () => number } {
  if (mutant === 'planner-ignores-inventory') {
    return { inventory: () => holder.started.endpoints, inventoryVersion: () => holder.started.version };
  }
  if (mutant === 'plan-mislabels-inventory') {
    return { inventory: () => holder.started.endpoints, inventoryVersion: () => holder.current.version };
  }
  return { inventory: () => holder.current.endpoints, inventoryVersion: () => holder.current.version };
}

function ignoreHolds(store: Store): Store {
  // Mutant: the janitor reads the heartbeats (so the checker knows what it saw) and then ignores them.
  const mutant = Object.create(store) as Store;
  mutant.listEnactors = async () => {
    await store.listEnactors();
    return [];
  };
  return mutant;
}

function ignoreServed(provider: Provider): Provider {
  // Mutant: the janitor believes every name already serves a generation above every version, so every superseded
  // version below the floor looks deletable — a clean-up decoupled from what is served only by distance, as in 2025.
  const everythingEnacted = (name: string): ServedState => ({
    name, generation: Number.MAX_SAFE_INTEGER, version: 'mutant', records: [],
  });
  const read = async (names: readonly string[]): Promise<Map<string, ServedState>> => {
    await provider.read(names);
    return new Map(names.map((name) => [name, everythingEnacted(name)]));
  };
  return { ...provider, read };
}

/** Runs until `untilMs`, checking after every step; returns false when a violation stopped the run. */
async function runPhase(world: SafeWorld, untilMs: number, stopWhen: (() => boolean) | null): Promise<boolean> {
  for (;;) {
    assert(world.scheduler.stepCount < stepsMax, 'internal', () => `seed ${world.seed}: more than ${stepsMax} steps`);
    const info = await world.scheduler.step(untilMs);
    if (info === null) return true;
    if (!checkStep(world, info)) return false;
    if (stopWhen !== null && stopWhen()) return true;
  }
}

function checkStep(world: SafeWorld, info: StepInfo): boolean {
  if (world.violations.length > 0) return false;
  const violation = world.checker.check(info) ?? world.healthWorld?.check(info) ?? null;
  if (violation === null) return true;
  world.violations.push(violation);
  world.note('CHECKER', `VIOLATION ${violation.invariant} ${violation.name}: ${violation.message}`);
  return false;
}

function describeHealth(scenario: Scenario): string {
  const { health } = scenario;
  if (health.mode === 'direct') return '';
  const pools = scenario.endpoints.filter((endpoint) => endpoint.targets.some((target) => target.pool === 'secondary'));
  const checkers = `${health.checkers} checkers (rise ${health.checker.rise}, fall ${health.checker.fall})`;
  const events = `${describeAzLoss(health.azLoss)}, ${describePartition(health.partition)}`;
  return `; health by ${checkers}, ${pools.length} name(s) with a secondary pool, ${events}`;
}

function describeAzLoss(loss: AzLossEvent | null): string {
  if (loss === null) return 'no AZ loss';
  const lasting = loss.recoverAfterMs === null ? 'for good' : `for ${loss.recoverAfterMs}ms`;
  return `${loss.az} lost at +${loss.atMs}ms ${lasting}`;
}

function describePartition(partition: PartitionEvent | null): string {
  if (partition === null) return 'no partition';
  const { checker, kind, atMs, durationMs } = partition;
  return `checker-${checker + 1} cut off (${kind}) at +${atMs}ms for ${durationMs}ms`;
}

export function runSafe(seed: bigint, options: SafeRunOptions = {}): Promise<RunResult> {
  return guardAgainstStall(simulate(seed, options), () => `safe seed ${seed}`);
}

async function simulate(seed: bigint, options: SafeRunOptions): Promise<RunResult> {
  const world = new SafeWorld(seed, options);
  const { scenario } = world;
  const actors = `${scenario.endpoints.length} names, ${scenario.enactors} enactors, ${scenario.planners} planners`;
  const mutant = options.mutant ? `, MUTANT ${options.mutant}` : '';
  const skew = `skew ±${scenario.skewMaxMs}ms`;
  const retain = `retain ${scenario.retainGenerations}`;
  world.note('sim', `seed ${seed}: ${actors}, ${retain}, ${skew}${describeHealth(scenario)}${mutant}`);
  for (let index = 1; index <= scenario.planners; index += 1) world.addActor(`planner-${index}`, 'planner');
  for (let index = 1; index <= scenario.enactors; index += 1) world.addActor(`enactor-${index}`, 'enactor');
  world.addActor('janitor', 'janitor');
  if (options.mutant !== 'reconciler-off') world.addActor('reconciler', 'reconciler');
  for (let index = 0; index < scenario.health.checkers; index += 1) {
    world.addActor(world.healthWorld!.checkerId(index), 'checker');
  }
  for (const entry of world.actors) world.startActor(entry, world.random.int(scenario.timing.enactorPollMs));
  world.startFaults();

  const safetyEndMs = simulationStartMs + scenario.safetyPhaseMs;
  let convergedAfterMs: number | null = null;
  if (await runPhase(world, safetyEndMs, null)) {
    world.scheduler.advanceTo(safetyEndMs);
    world.stopFaults();
    const livenessEndMs = safetyEndMs + scenario.livenessBoundMs;
    const sound = await runPhase(world, livenessEndMs, () => world.converged());
    if (sound && world.converged()) convergedAfterMs = world.scheduler.nowMs - safetyEndMs;
    else if (sound) notConverged(world);
  }
  return finish(world, convergedAfterMs);
}

/** The liveness bound passed unconverged: H2 when a name still serves the lost AZ, L1 otherwise. */
function notConverged(world: SafeWorld): void {
  const azStuck = world.healthWorld?.azLossUnconverged(world.newestInventory(), world.providerState) ?? null;
  const stuck = azStuck ?? firstUnconverged(world.storeState, world.providerState);
  const invariant = azStuck === null ? 'L1' : 'H2';
  const name = stuck?.name ?? '*';
  const guard = world.storeState.alarms.get('capacity-guard\u0000*');
  const held = guard !== undefined && guard.clearedAtMs === null ? ` (capacity guard: ${guard.message})` : '';
  const detail = `${stuck?.detail ?? 'the planner still has changes to publish'}${held}`;
  const message = `not converged ${world.scenario.livenessBoundMs}ms after the faults stopped: ${detail}`;
  world.violations.push({ invariant, name, step: world.scheduler.stepCount, atMs: world.scheduler.nowMs, message });
  world.note('CHECKER', `VIOLATION ${invariant} ${name}: ${detail}`);
}

function finish(world: SafeWorld, convergedAfterMs: number | null): RunResult {
  world.releaseLog();
  // A run in which nothing was ever published tested nothing: that is a broken simulator, not a pass.
  if (world.violations.length === 0 && world.storeState.generationLast === 0) {
    const { stepCount: step, nowMs: atMs } = world.scheduler;
    world.violations.push({ invariant: 'internal', name: '*', step, atMs, message: 'no plan was ever published' });
  }
  const stats = world.stats;
  stats.generations = world.storeState.generationLast;
  stats.lostAcks = world.faults.lostAcks;
  stats.transientErrors = world.faults.transientErrors;
  stats.fencedPublishes = world.storeState.fencedPublishes;
  stats.supersededWrites = world.providerState.supersededWrites;
  stats.floorRefusedWrites = world.providerState.floorRefusedWrites;
  stats.compactedRemovals = world.providerState.compactedRemovals;
  stats.redundantWrites = world.checker.redundantWrites;
  stats.applies = world.checker.applies;
  stats.capacityHolds = world.storeState.counters.get('planner_capacity_holds') ?? 0;
  stats.secondaryServed = world.healthWorld?.secondaryServed(world.providerState) ?? 0;
  return {
    seed: world.seed, mode: 'safe', mutant: world.options.mutant ?? null, removals: world.options.removals !== false,
    violations: world.violations.slice(0, 1),
    steps: world.scheduler.stepCount, virtualMs: world.scheduler.nowMs - simulationStartMs, convergedAfterMs, stats,
    trace: world.trace === null ? null : world.trace.lines,
  };
}
