import {
  capacityRefusal, computePlan, safetyRefusal, servedCapacity, type PlanComputation, type SafetyPolicy,
} from './compute.js';
import { runLoop, WakeablePause } from '../util/loop.js';
import {
  recordSetKey, type EndpointSpec, type Generation, type HealthState, type PlanHeader, type ServiceSpec,
} from '../domain/types.js';
import { validatePlanChanges } from '../domain/validate.js';
import type { ZoneSet } from '../domain/zones.js';
import { assert } from '../util/assert.js';
import type { Clock } from '../util/clock.js';
import type { SelfDependency } from '../graph/self-dependency.js';
import { impactSummary } from '../graph/format.js';
import { buildGraph, nameId, targetId, type DependencyGraph } from '../graph/graph.js';
import { impact } from '../graph/impact.js';
import type { Logger } from '../util/log.js';
import type {
  Adoptions, Alarms, Controls, Counters, HealthStore, LeaseGrant, Leases, PlanPublisher, PlanReader,
} from '../store/types.js';

export const plannerLeaseName = 'planner';
/** How the reason of a grant made for `adopt: true` begins (and how the planner knows its own grants). */
export const plannerGrantPrefix = 'adopt: true in ';
/** Even with nothing changed, every name is re-evaluated at least this often. */
const fullIntervalMs = 60_000;

export interface PlannerOptions {
  id: string;
  /** The zone, or the installation's zones (`zones:`): every name planned is in one of them. */
  zone: string | ZoneSet;
  intervalMs: number;
  leaseTtlMs: number;
  /** The name threshold for edits, and the share of served capacity one plan may withdraw on failed checks. */
  safety: SafetyPolicy & { maxWithdrawnCapacityFraction: number };
}

export interface PlannerDeps {
  /** Controls: the operators' force requests (drains come through `drained`). */
  store: PlanReader & PlanPublisher & Leases & HealthStore & Alarms & Counters & Controls
    & Pick<Adoptions, 'grantAdoption' | 'revokeAdoption' | 'listAdoptions'>;
  clock: Clock;
  log: Logger;
  /** The inventory; a function so that a new inventory version (or a test) can change it between ticks. */
  inventory: () => readonly EndpointSpec[];
  /** The stored inventory version `inventory` returns (recorded in each plan); absent: 0. */
  inventoryVersion?: () => number;
  /** Drained targets (operator action); defaults to none. */
  drained?: () => Promise<ReadonlySet<string>>;
  /**
   * dnsplane's own dependencies on names of an inventory (src/graph/self-dependency.ts), checked on every inventory
   * version: each one found is a standing `self-dependency` alarm. Absent: none (the simulator's roles).
   */
  selfDependencies?: (inventory: readonly EndpointSpec[]) => readonly SelfDependency[];
  /**
   * The dependency graph's services of the inventory version `inventory` returns: a held plan's alarm states what
   * forcing it would lose (names and services). Absent, or returning undefined: none.
   */
  services?: () => readonly ServiceSpec[] | undefined;
}

export const selfDependencyAlarm = 'self-dependency';
/** The services of an installation that has none (one array, so the graph built on it is reused). */
const noServices: readonly ServiceSpec[] = Object.freeze([]);
/** Cycles one self-dependency alarm spells out (the rest are counted). */
const cyclesListedMax = 5;

export type TickResult =
  | { kind: 'published'; header: PlanHeader; evaluated: number }
  | { kind: 'unchanged'; generation: Generation; evaluated: number }
  | { kind: 'follower'; holder: string | null }
  | { kind: 'refused'; reason: string }
  /** The capacity guard held health withdrawals back; the rest of the plan (if any) was published. */
  | { kind: 'held'; reason: string; held: string[]; header: PlanHeader | null }
  | { kind: 'lost-race'; detail: string };

/**
 * The planner: health + inventory → the next immutable plan, published only
 * while holding the leader lease, with the lease's fencing token checked by
 * the store inside the publishing transaction (S6).
 */
export class Planner {
  private lease: LeaseGrant | null = null;
  /** The newest plan as record-set keys by name, and its generation. */
  private current = new Map<string, string>();
  private currentGeneration: Generation = 0;
  /** The inventory version the newest plan was computed from. */
  private currentInventoryVersion = 0;
  private readonly failOpenAlarmed = new Set<string>();
  // Incremental planning state: what the last successful pass saw.
  private lastInventory: readonly EndpointSpec[] | null = null;
  /** Target id → indices of the endpoints it serves in `indexedInventory` (apart: a refused pass indexes too). */
  private targetIndex = new Map<string, number[]>();
  private indexedInventory: readonly EndpointSpec[] | null = null;
  private lastHealth = new Map<string, HealthState>();
  private lastDrainedKey = '';
  private lastFullAtMs = -Infinity;
  private cacheFromOthers = true;
  /** The inventory the self-dependency alarms were last computed for, and the names alarmed. */
  private selfDependencyInventory: readonly EndpointSpec[] | null = null;
  /** The inventory whose adoption grants were stored last, and the names this planner has granted. */
  private adoptionInventory: readonly EndpointSpec[] | null = null;
  private readonly granted = new Set<string>();
  private selfDependencyAlarmed = new Set<string>();
  /** The dependency graph of the inventory version last held against (forcingImpact). */
  private graphOf: {
    endpoints: readonly EndpointSpec[]; services: readonly ServiceSpec[]; graph: DependencyGraph;
    /** The failed nodes last summarized, and their summary (a held plan is re-alarmed every tick). */
    key: string; summary: string;
  } | null = null;
  /**
   * servedCapacity(inventory, current) at `generation`, kept up to date by each plan this planner publishes, so the
   * capacity guard does not go through every name (a million, issue 16) on each health change. Checked against the
   * whole computation on every full pass.
   */
  private served: { inventory: readonly EndpointSpec[]; generation: Generation; capacity: number } | null = null;
  /** The capacity guard held withdrawals on the last pass (its alarm is up). */
  private capacityHeld = true; // so the first pass clears an alarm a previous planner left up

  constructor(private readonly options: PlannerOptions, private readonly deps: PlannerDeps) {
    assert(options.leaseTtlMs > 0, 'internal', 'lease TTL must be positive');
    assert(options.intervalMs > 0, 'internal', 'intervalMs must be positive');
    const { maxChangedFraction, maxWithdrawnCapacityFraction } = options.safety;
    assert(maxChangedFraction >= 0, 'internal', `safety.maxChangedFraction ${maxChangedFraction}`);
    const withdrawn = `safety.maxWithdrawnCapacityFraction ${maxWithdrawnCapacityFraction}`;
    assert(maxWithdrawnCapacityFraction >= 0, 'internal', withdrawn);
  }

  get leaseGrant(): LeaseGrant | null {
    return this.lease;
  }

  /** Brings the cached newest plan up to `latest`, reading only what changed. */
  private async refreshCurrent(latest: Generation): Promise<boolean> {
    if (latest === this.currentGeneration) return true;
    const delta = this.currentGeneration > 0 && latest > this.currentGeneration;
    const view = await this.deps.store.readPlan(latest, delta ? { sinceAfter: this.currentGeneration } : {});
    if (view === null) return false;
    assert(view.header.generation === latest, 'internal', `asked for plan ${latest}, read ${view.header.generation}`);
    if (!delta) this.current = new Map();
    this.currentInventoryVersion = view.header.inventoryVersion ?? 0;
    // Someone else published (or this is the first read): the next pass re-evaluates every name.
    this.cacheFromOthers = true;
    for (const entry of view.entries) {
      if (entry.records === null) this.current.delete(entry.name);
      else this.current.set(entry.name, recordSetKey(entry.records));
    }
    this.currentGeneration = latest;
    // S1: the newest plan never holds an empty set; the planner plans from it, so check what it read.
    const empty = view.entries.find((entry) => entry.records !== null && entry.records.length === 0);
    assert(empty === undefined, 'S1', `${empty?.name}: plan ${latest} holds an empty set`);
    return true;
  }

  private async holdLease(): Promise<boolean> {
    const { store } = this.deps;
    const { leaseTtlMs } = this.options;
    const before = this.lease;
    if (before !== null && before.expiresAtMs - this.deps.clock.nowMs() > leaseTtlMs / 2) return true;
    this.lease = before === null ? null : await store.renewLease(before, leaseTtlMs);
    if (this.lease === null) this.lease = await store.acquireLease(plannerLeaseName, this.options.id, leaseTtlMs);
    if (this.lease === null) return false;
    const { holder } = this.lease;
    assert(holder === this.options.id, 'S6', `the lease is held by ${holder}, not ${this.options.id}`);
    // S6: a fencing token never goes back; a lease that changed hands in between has a higher one.
    const token = `token ${this.lease.token} after ${before?.token}`;
    assert(before === null || this.lease.token >= before.token, 'S6', token);
    return true;
  }

  private async updateFailOpenAlarms(
    evaluated: readonly string[], failOpen: readonly string[], full: boolean,
  ): Promise<void> {
    const failing = new Set(failOpen);
    const seen = new Set(evaluated);
    assert(failOpen.every((name) => seen.has(name)), 'internal', 'a name fails open without being evaluated');
    for (const name of evaluated) {
      if (failing.has(name) && !this.failOpenAlarmed.has(name)) {
        await this.deps.store.raiseAlarm('fail-open', name, 'every target is down: serving all targets (fail open)');
        this.deps.log.warn({ name }, 'every target is down: failing open to all targets');
        this.failOpenAlarmed.add(name);
      } else if (!failing.has(name) && this.failOpenAlarmed.has(name)) {
        await this.deps.store.clearAlarm('fail-open', name);
        this.failOpenAlarmed.delete(name);
      }
    }
    if (full) {
      for (const name of this.failOpenAlarmed) {
        if (seen.has(name)) continue;
        await this.deps.store.clearAlarm('fail-open', name);
        this.failOpenAlarmed.delete(name);
      }
    }
    // Every name failing open is alarmed, and after a full pass only those are.
    assert(failOpen.every((name) => this.failOpenAlarmed.has(name)), 'internal', 'a name fails open without an alarm');
    assert(!full || this.failOpenAlarmed.size === failing.size, 'internal', 'a fail-open alarm outlived its name');
  }

  /**
   * The standing self-dependency alarms, one per managed name dnsplane depends on, raised and cleared as inventory
   * versions come and go. The first pass also clears those a previous planner left for names no longer involved.
   */
  private async updateSelfDependencyAlarms(inventory: readonly EndpointSpec[]): Promise<void> {
    const find = this.deps.selfDependencies;
    if (find === undefined || inventory === this.selfDependencyInventory) return;
    const { store } = this.deps;
    if (this.selfDependencyInventory === null) {
      const standing = (await store.listAlarms(true)).filter((alarm) => alarm.kind === selfDependencyAlarm);
      this.selfDependencyAlarmed = new Set(standing.map((alarm) => alarm.name));
    }
    const paths = new Map<string, string[]>();
    for (const { name, path } of find(inventory)) paths.set(name, [...(paths.get(name) ?? []), path]);
    for (const [name, cycles] of paths) {
      const more = cycles.length > cyclesListedMax ? `; and ${cycles.length - cyclesListedMax} more` : '';
      const listed = cycles.slice(0, cyclesListedMax).join('; ');
      await store.raiseAlarm(selfDependencyAlarm, name, `dnsplane depends on this name it manages: ${listed}${more}`);
    }
    for (const name of this.selfDependencyAlarmed) {
      if (!paths.has(name)) await store.clearAlarm(selfDependencyAlarm, name);
    }
    this.selfDependencyAlarmed = new Set(paths.keys());
    this.selfDependencyInventory = inventory;
    assert(this.selfDependencyAlarmed.size === paths.size, 'internal', 'a self-dependency without its alarm');
  }

  /**
   * Adoption grants for the endpoints that say `adopt: true`, stored before any plan holding them is published, so an
   * enactor that finds such a name unmanaged takes it over (store/types.ts: Adoptions). Once per inventory version;
   * the store keeps a name's first grant, so granting again is harmless.
   */
  private async grantAdoptions(inventory: readonly EndpointSpec[], inventoryVersion: number): Promise<void> {
    if (inventory === this.adoptionInventory) return;
    const reason = inventoryVersion === 0
      ? `${plannerGrantPrefix}the config`
      : `${plannerGrantPrefix}inventory v${inventoryVersion}`;
    // A grant `adopt: true` made is withdrawn once no endpoint says it any more (an operator who saw the records the
    // alarm listed and took the flag back); grants given with `dnsplane adopt` are the operator's to revoke.
    const wanted = new Set(inventory.filter((endpoint) => endpoint.adopt === true).map((endpoint) => endpoint.name));
    for (const grant of await this.deps.store.listAdoptions()) {
      if (!grant.reason.startsWith(plannerGrantPrefix) || wanted.has(grant.name)) continue;
      await this.deps.store.revokeAdoption(grant.name);
      this.granted.delete(grant.name);
      this.deps.log.info({ name: grant.name }, 'adoption grant withdrawn: no endpoint says adopt: true any more');
    }
    // A name granted once stays granted in the store: each is sent once per planner, not once per inventory version.
    for (const endpoint of inventory) {
      if (endpoint.adopt !== true || this.granted.has(endpoint.name)) continue;
      await this.deps.store.grantAdoption(endpoint.name, this.options.id, reason);
      this.granted.add(endpoint.name);
    }
    this.adoptionInventory = inventory;
  }

  /**
   * Which endpoints to evaluate: all of them after a change of inventory or
   * drains, after another planner published, and at least every
   * `fullIntervalMs`; otherwise only those with a target whose health changed.
   * Planning 100,000 names twice a second would otherwise keep a core busy.
   */
  private endpointsToEvaluate(
    inventory: readonly EndpointSpec[], health: ReadonlyMap<string, HealthState>, drainedKey: string,
  ): number[] | undefined {
    if (inventory !== this.indexedInventory) this.indexTargets(inventory);
    if (inventory !== this.lastInventory) return undefined;
    const now = this.deps.clock.nowMs();
    const due = now - this.lastFullAtMs >= fullIntervalMs;
    const stale = this.cacheFromOthers || drainedKey !== this.lastDrainedKey || due;
    if (stale) return undefined;
    const indices = new Set<number>();
    const add = (target: string) => {
      for (const index of this.targetIndex.get(target) ?? []) indices.add(index);
    };
    for (const [target, state] of health) if (this.lastHealth.get(target) !== state) add(target);
    for (const [target, state] of this.lastHealth) if (health.get(target) !== state) add(target);
    // An incremental pass plans from the same inventory it indexed, so every index is one of its endpoints.
    const outside = [...indices].find((index) => index < 0 || index >= inventory.length);
    assert(outside === undefined, 'internal', `endpoint index ${outside} outside ${inventory.length} endpoints`);
    return [...indices];
  }

  /** Which endpoints (indices of `inventory`) each target serves. */
  private indexTargets(inventory: readonly EndpointSpec[]): void {
    this.targetIndex = new Map();
    inventory.forEach((endpoint, index) => {
      for (const target of endpoint.targets) {
        this.targetIndex.set(target.id, [...(this.targetIndex.get(target.id) ?? []), index]);
      }
    });
    this.indexedInventory = inventory;
  }

  /** Records what a pass that reached a conclusion (published or nothing to publish) was based on. */
  private remember(
    inventory: readonly EndpointSpec[], health: Map<string, HealthState>, drainedKey: string, full: boolean,
  ): void {
    // An incremental pass follows a full one on the same inventory (a new inventory re-evaluates every endpoint).
    const whole = 'an incremental pass on an inventory never planned whole';
    assert(full || this.lastInventory === inventory, 'internal', whole);
    this.lastInventory = inventory;
    this.lastHealth = health;
    this.lastDrainedKey = drainedKey;
    this.cacheFromOthers = false;
    if (full) this.lastFullAtMs = this.deps.clock.nowMs();
    assert(this.lastFullAtMs > -Infinity, 'internal', 'a pass remembered before any full pass');
  }

  /** One planning step. `force` publishes a plan the safety threshold would refuse. */
  async tick(force = false): Promise<TickResult> {
    const { store, log } = this.deps;
    if (!(await this.holdLease())) return { kind: 'follower', holder: null };
    assert(this.lease !== null, 'S6', 'planning without the lease');
    const latest = await store.latestGeneration();
    if (!(await this.refreshCurrent(latest))) {
      return { kind: 'lost-race', detail: `plan ${latest} vanished while reading` };
    }
    assert(this.currentGeneration === latest, 'internal', `planning from ${this.currentGeneration}, newest ${latest}`);
    const health = new Map<string, HealthState>();
    for (const record of await store.readHealth()) health.set(record.target, record.state);
    const drained = this.deps.drained === undefined ? new Set<string>() : await this.deps.drained();
    const drainedKey = [...drained].sort().join(',');
    const inventory = this.deps.inventory();
    const inventoryVersion = this.deps.inventoryVersion?.() ?? 0;
    // A planner whose inventory follower is behind the newest plan's version (a pause, a fresh lease) must not
    // plan from the older one: that would bring back names a newer version removed (found by the simulator, I1).
    if (inventoryVersion < this.currentInventoryVersion) {
      const detail = `inventory v${inventoryVersion} is older than v${this.currentInventoryVersion} of plan ${latest}`;
      return { kind: 'lost-race', detail: `${detail}: waiting to follow it` };
    }
    await this.updateSelfDependencyAlarms(inventory);
    await this.grantAdoptions(inventory, inventoryVersion);
    const only = this.endpointsToEvaluate(inventory, health, drainedKey);
    const failingOpen = this.failOpenAlarmed;
    const input = { endpoints: inventory, health, drained, current: this.current, only, failingOpen };
    let plan = computePlan(input);
    const guard = this.capacityGuard(plan, inventory, health, force);
    let plannedHealth = health;
    if (guard !== null) {
      assert(!force, 'internal', 'a forced plan was held');
      assert(guard.held.length > 0, 'internal', 'the capacity guard held no target');
      // Hold the withdrawals: plan as if the held targets were still up, so edits and restorations still go out.
      plannedHealth = guard.health;
      plan = computePlan({ ...input, health: plannedHealth });
      const held = `held ${guard.held.length} target(s) (${guard.held.slice(0, 10).join(', ')})`;
      const forcing = this.forcingImpact(inventory, guard.held.map(targetId));
      await store.raiseAlarm(
        'capacity-guard',
        '*',
        `${guard.reason}; ${held}; forcing it: ${forcing}; force to publish`,
      );
      await store.incrementCounter('planner_capacity_holds');
      log.error({ held: guard.held.length }, guard.reason);
    } else if (this.capacityHeld) await store.clearAlarm('capacity-guard', '*');
    this.capacityHeld = guard !== null;
    const base = { latest, inventoryVersion };
    const full = only === undefined;
    const outcome = await this.publishComputed(plan, base, force, inventory, plannedHealth, drainedKey, full);
    if (guard === null) return outcome;
    const header = outcome.kind === 'published' ? outcome.header : null;
    return { kind: 'held', reason: guard.reason, held: guard.held, header };
  }

  /**
   * The capacity guard (health changes): null when the plan's health withdrawals fit
   * safety.maxWithdrawnCapacityFraction of the capacity served now (or when forced); otherwise the reason, the
   * targets held and the health to plan with instead (those targets up).
   */
  private capacityGuard(
    plan: PlanComputation, inventory: readonly EndpointSpec[], health: ReadonlyMap<string, HealthState>, force: boolean,
  ): { reason: string; held: string[]; health: Map<string, HealthState> } | null {
    if (force || plan.withdrawals.length === 0) return null;
    const withdrawn = plan.withdrawals.reduce((sum, withdrawal) => sum + withdrawal.capacity, 0);
    assert(withdrawn > 0, 'internal', 'a withdrawal withdraws capacity');
    const served = this.servedCapacity(inventory, plan.evaluated.length === inventory.length);
    const reason = capacityRefusal(withdrawn, served, this.options.safety.maxWithdrawnCapacityFraction);
    if (reason === null) return null;
    const held = [...new Set(plan.withdrawals.flatMap((withdrawal) => withdrawal.targets))].sort();
    const planned = new Map(health);
    for (const target of held) planned.set(target, 'up');
    assert(held.length > 0, 'internal', 'a withdrawal of no target');
    return { reason, held, health: planned };
  }

  /**
   * The capacity the newest plan serves across `inventory`: kept from the last computation when it is of this
   * inventory and generation; computed whole otherwise, and on a full pass (`whole`), where the kept figure must
   * equal it.
   */
  private servedCapacity(inventory: readonly EndpointSpec[], whole: boolean): number {
    const kept = this.served;
    const current = kept !== null && kept.inventory === inventory && kept.generation === this.currentGeneration;
    if (current && !whole) return kept.capacity;
    const capacity = servedCapacity(inventory, this.current);
    assert(!current || kept.capacity === capacity, 'internal',
      () => `served capacity kept as ${kept?.capacity}, computed ${capacity}`);
    this.served = { inventory, generation: this.currentGeneration, capacity };
    return capacity;
  }

  /** The name threshold, then publication under the lease; `health` is what the plan was computed with. */
  private async publishComputed(
    plan: PlanComputation, base: { latest: Generation; inventoryVersion: number }, force: boolean,
    inventory: readonly EndpointSpec[], health: Map<string, HealthState>, drainedKey: string, full: boolean,
  ): Promise<TickResult> {
    const { store, log } = this.deps;
    const { latest, inventoryVersion } = base;
    await this.updateFailOpenAlarms(plan.evaluated, plan.failOpen, full);
    if (plan.changes.length === 0) {
      this.remember(inventory, health, drainedKey, full);
      return { kind: 'unchanged', generation: latest, evaluated: plan.evaluated.length };
    }
    const problems = validatePlanChanges(plan.changes, this.options.zone);
    if (problems.length > 0) {
      // The inventory is validated on load, so this is a bug: refuse loudly, publish nothing.
      await store.raiseAlarm('invalid-plan', '*', problems.slice(0, 5).join('; '));
      return { kind: 'refused', reason: problems.join('; ') };
    }
    // Only edits count against the name threshold: a health failover touching every name is the capacity guard's.
    // Edits that come with a new inventory version passed the same threshold at `apply` (or were forced there).
    const reviewed = inventoryVersion > this.currentInventoryVersion;
    const { safety } = this.options;
    const refusal = reviewed ? null : safetyRefusal(plan.operatorChanged, this.current.size, plan.namesTotal, safety);
    if (refusal !== null && !force) {
      const removed = plan.changes.filter((change) => change.records === null).map((change) => nameId(change.name));
      const forcing = removed.length === 0 ? 'no name removed' : this.forcingImpact(inventory, removed);
      const message = `${refusal}; forcing it: ${forcing}; publish with force to override`;
      await store.raiseAlarm('safety-threshold', '*', message);
      await store.incrementCounter('planner_safety_refusals');
      log.error({ changed: plan.operatorChanged }, refusal);
      return { kind: 'refused', reason: refusal };
    }
    const lease = this.lease;
    assert(lease !== null, 'S6', 'publishing without the lease');
    const result = await store.publishPlan({
      lease, baseGeneration: latest, changes: plan.changes, namesTotal: plan.namesTotal, inventoryVersion,
      forced: force && refusal !== null, note: refusal !== null ? `forced: ${refusal}` : '',
    });
    if (!result.ok) {
      if (result.reason === 'fenced') this.lease = null;
      log.warn({ reason: result.reason }, result.detail);
      return { kind: 'lost-race', detail: result.detail };
    }
    const { generation, fencingToken } = result.header;
    assert(generation > latest, 'S6', `published ${generation} after ${latest}`);
    const token = `plan ${generation} published under token ${fencingToken}, not ${lease.token}`;
    assert(fencingToken === lease.token, 'S6', token);
    if (refusal !== null) await store.clearAlarm('safety-threshold', '*');
    for (const change of plan.changes) {
      if (change.records === null) this.current.delete(change.name);
      else this.current.set(change.name, recordSetKey(change.records));
    }
    const served = this.served;
    const servedKept = served !== null && served.inventory === inventory && served.generation === latest;
    this.served = servedKept
      ? { inventory, generation, capacity: served.capacity + plan.servedCapacityDelta }
      : null;
    this.currentGeneration = generation;
    this.currentInventoryVersion = inventoryVersion;
    this.remember(inventory, health, drainedKey, full);
    await store.incrementCounter('planner_published');
    log.info({ generation, changed: plan.changes.length }, 'published plan');
    return { kind: 'published', header: result.header, evaluated: plan.evaluated.length };
  }

  /**
   * What publishing a held plan would lose, in one line (src/graph/format.ts): the impact of `failed` (targets
   * withdrawn, names removed) on the dependency graph of this inventory version, built once per version and
   * summarized once per set of failed nodes.
   */
  private forcingImpact(inventory: readonly EndpointSpec[], failed: readonly string[]): string {
    const services = this.deps.services?.() ?? noServices;
    const built = this.graphOf;
    const graph = built !== null && built.endpoints === inventory && built.services === services
      ? built.graph
      : buildGraph({ endpoints: [...inventory], services: [...services] });
    const key = failed.join('\n');
    if (built?.graph === graph && built.key === key) return built.summary;
    // A name removed with its inventory version is no longer in the graph, and nothing there depends on it.
    const known = failed.filter((id) => graph.has(id));
    const summary = known.length === 0 ? 'nothing in the dependency graph' : impactSummary(impact(graph, known));
    this.graphOf = { endpoints: inventory, services, graph, key, summary };
    return summary;
  }

  /** An operator's request to force-publish (from the API), taken only by the leader. */
  private async takeForceRequest(): Promise<boolean> {
    if (this.lease === null) return false;
    const requests = await this.deps.store.takeRequests('force', 1);
    assert(requests.length <= 1, 'internal', `${requests.length} requests taken, one asked for`);
    const [request] = requests;
    if (request === undefined) return false;
    assert(request.kind === 'force', 'internal', `a ${request.kind} request taken as force`);
    this.deps.log.warn({ actor: request.actor, reason: request.reason }, 'forced publication requested');
    return true;
  }

  /** Gives up leadership so another planner can take over at once. */
  async release(): Promise<void> {
    if (this.lease !== null) await this.deps.store.releaseLease(this.lease);
    this.lease = null;
  }

  async run(signal: AbortSignal): Promise<void> {
    // A store that can watch wakes the planner as soon as health, a drain, a freeze or a request changes (issue 16:
    // changes pushed); polling every interval stays the fallback, and carries lease renewal and the full passes.
    const watch = this.deps.store.watchablePlanInputs();
    const wakeable = new WakeablePause(this.deps.clock, signal, watch !== null);
    const stopWatching = watch?.watchPlanInputs(() => wakeable.wake());
    const tick = async () => void (await this.tick(await this.takeForceRequest()));
    try {
      const pause = () => wakeable.pause(this.options.intervalMs);
      await runLoop(signal, { log: this.deps.log, what: 'planner tick' }, tick, pause);
    } finally {
      stopWatching?.();
    }
    await this.release();
  }
}
