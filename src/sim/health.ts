import type { ProbeResult, ProbeSpec } from '../health/probe.js';
import { capacityRefusal, type PlanComputation } from '../planner/compute.js';
import { parseRoleSettings } from '../roles/build.js';
import type { Planner } from '../planner/planner.js';
import type { EndpointSpec, HealthState } from '../domain/types.js';
import type { CheckerView, Store } from '../store/types.js';
import { assert } from '../util/assert.js';
import type { Violation } from './checker.js';
import type { FaultInjector } from './faults.js';
import type { MemoryProviderState } from './memory-provider.js';
import { createRandom, type SimRandom } from './random.js';
import type { Scheduler, StepInfo } from './scheduler.js';
import type { RunStats } from './types.js';

/**
 * Health in a safe-mode run. In 'direct' mode (most seeds, and every seed
 * before checkers existed) a health flip is written into the store at once.
 * In 'checkers' mode the simulator keeps only the true health of each target;
 * production `Checker`s (src/health/checker.ts, the class itself) probe it on
 * virtual time, vote (src/health/quorum.ts) and write what they decide, and
 * the planner guards health withdrawals with the production default
 * maxWithdrawnCapacityFraction. Its events: an availability zone lost at once
 * (recovered later, or still lost when the faults stop), one checker cut off
 * from the targets (every probe fails, or every probe passes), and endpoints
 * with a secondary (failover) pool. Two invariants come with it:
 *
 * - H1, a lone checker's false view withdraws nothing: when the checkers
 *   write a truly-up target T down at time t, and the checkers whose 'down' of
 *   T may be made up (cut off with failing probes; after the partition heals,
 *   until a real failure of T or a view without T) are a strict minority of
 *   the checkers certainly live for the aggregator, then a view not made up
 *   listed T down at t or at most 2 × delayBaseMs before t (the aggregator's
 *   two store calls from reading the views to writing the health). The
 *   scenario never cuts off more than one checker of three.
 * - H2, an AZ loss converges without an operator: when an AZ is still lost as
 *   the faults stop (every other target is then truly up; nothing is forced),
 *   within the liveness bound no name serves a target of that AZ.
 */

export type HealthMode = 'direct' | 'checkers';
export type PartitionKind = 'all-fail' | 'all-pass';

export interface PartitionEvent {
  /** Index of the checker cut off, 0-based. */
  checker: number;
  atMs: number;
  durationMs: number;
  /** What the cut-off checker's probes answer while it lasts. */
  kind: PartitionKind;
}

export interface AzLossEvent {
  az: string;
  atMs: number;
  /** Null: the AZ is still lost when the faults stop (H2 then applies). */
  recoverAfterMs: number | null;
}

export interface HealthScenario {
  mode: HealthMode;
  checkers: number;
  checker: SimCheckerSettings;
  /** The planner's capacity guard: 1 (off) in direct mode, the production default in checkers mode. */
  maxWithdrawnCapacityFraction: number;
  azLoss: AzLossEvent | null;
  partition: PartitionEvent | null;
}

/**
 * What a run chooses of the checkers' settings (src/sim/settings.ts makes them config settings; the others keep the
 * config's defaults). The view TTL is passed to the role builder apart: production derives it from the interval
 * with a floor of seconds, longer than a whole run.
 */
export interface SimCheckerSettings {
  intervalMs: number;
  timeoutMs: number;
  viewTtlMs: number;
  concurrency: number;
  rise: number;
  fall: number;
}

export const directHealth: HealthScenario = {
  mode: 'direct', checkers: 0, maxWithdrawnCapacityFraction: 1, azLoss: null, partition: null,
  checker: { intervalMs: 60, timeoutMs: 10, viewTtlMs: 250, concurrency: 4, rise: 2, fall: 2 },
};

/** Share of seeds whose health comes from production checkers rather than direct store writes. */
const checkersModeProbability = 0.25;
const checkersPerRun = 3;
/** The production default of safety.maxWithdrawnCapacityFraction, read from the config schema. */
const capacityFractionDefault = parseRoleSettings({}).safety.maxWithdrawnCapacityFraction;
/** Checkers may be cut off from the targets at most this many at a time: a minority (H1's premise). */
const partitionedMax = 1;

/**
 * The health draws come from their own stream of the run's seed, so that a seed in direct mode replays exactly the
 * run it gave before checkers existed (and the default scenario's figures keep their meaning).
 */
const healthSeedSalt = 0x9e3779b97f4a7c15n;

function healthRandom(seed: bigint): SimRandom {
  return createRandom(BigInt.asUintN(64, seed ^ healthSeedSalt));
}

/** Where the health of a seed's run comes from: its first health draw. */
export function healthModeOf(seed: bigint): HealthMode {
  return healthRandom(seed).chance(checkersModeProbability) ? 'checkers' : 'direct';
}

export function deriveHealth(
  seed: bigint, endpoints: readonly EndpointSpec[], safetyPhaseMs: number,
): { health: HealthScenario; endpoints: EndpointSpec[] } {
  const random = healthRandom(seed);
  if (!random.chance(checkersModeProbability)) return { health: directHealth, endpoints: [...endpoints] };
  const zones = [...new Set(endpoints.flatMap((endpoint) => endpoint.targets.map((target) => target.az)))].sort();
  // The draws keep their order (checker thresholds, AZ loss, partition, pools): a seed replays as it always did.
  const health: HealthScenario = {
    mode: 'checkers',
    checkers: checkersPerRun,
    checker: { ...directHealth.checker, rise: random.between(1, 3), fall: random.between(1, 3) },
    maxWithdrawnCapacityFraction: capacityFractionDefault,
    azLoss: random.chance(0.75) ? drawAzLoss(random, zones, safetyPhaseMs) : null,
    partition: random.chance(0.75) ? drawPartition(random, safetyPhaseMs) : null,
  };
  const minority = `at most a minority of the checkers may be cut off (${partitionedMax} of ${health.checkers})`;
  assert(partitionedMax * 2 < health.checkers, 'H1', minority);
  return { health, endpoints: withChecksAndPools(random, endpoints) };
}

function drawAzLoss(random: SimRandom, zones: readonly string[], safetyPhaseMs: number): AzLossEvent {
  const az = random.pick(zones);
  const atMs = random.int(Math.round(safetyPhaseMs * 0.6));
  const recoverAfterMs = random.chance(0.5) ? null : random.between(150, 400);
  return { az, atMs, recoverAfterMs };
}

function drawPartition(random: SimRandom, safetyPhaseMs: number): PartitionEvent {
  const checker = random.int(checkersPerRun);
  const atMs = random.int(Math.round(safetyPhaseMs * 0.75));
  const durationMs = random.between(100, 400);
  const kind: PartitionKind = random.chance(0.7) ? 'all-fail' : 'all-pass';
  return { checker, atMs, durationMs, kind };
}

/**
 * Each target gets a check (the probe finds its target by the check's address), a name's targets one capacity
 * (so one AZ of three is at most half of any name's capacity: an AZ loss must pass the guard), and half of the
 * names a secondary pool of one target.
 */
function withChecksAndPools(random: SimRandom, endpoints: readonly EndpointSpec[]): EndpointSpec[] {
  return endpoints.map((endpoint) => {
    const capacity = endpoint.targets[0]!.capacity;
    const secondary = random.chance(0.5) ? random.int(endpoint.targets.length) : -1;
    const targets = endpoint.targets.map((target, index) => ({
      ...target, capacity, check: { tcp: `${target.address}:80` },
      ...(index === secondary ? { pool: 'secondary' as const } : {}),
    }));
    return { name: endpoint.name, targets };
  });
}

/** A checker publishes at most once per round; the newest view older than the read-to-write lag is among these. */
const publishTimesKept = 4;

const probePassed: ProbeResult = { ok: true, latencyMs: 0 };
const probeFailed: ProbeResult = { ok: false, latencyMs: 0, error: 'simulated: target down' };

/** What a health world needs from its run. */
export interface HealthHost {
  /** The true health by target (a target without an entry is up); the run's flips change it too. */
  truth: Map<string, HealthState>;
  stats: RunStats;
  /** Disabled: from the aggregator's reading of the views to its write, two store calls of at most delayBaseMs each. */
  faults: FaultInjector;
  note: (actor: string, text: string) => void;
  tracing: boolean;
  /** Largest clock offset of any actor: a view's expiry is judged on the aggregator's clock. */
  skewMaxMs: number;
}

interface DownWrite {
  writer: string;
  target: string;
  atMs: number;
}

/** The true health of the targets, the events that change it, what the checkers see of it, and H1 and H2. */
export class HealthWorld {
  private readonly targetOfCheck = new Map<string, string>();
  private partitioned: { id: string; kind: PartitionKind } | null = null;
  /**
   * By checker: the targets whose 'down' it may have made up — all of them from the moment its probes all fail;
   * after the partition heals, a target's taint clears once a probe of it fails for real (it is down now) or once
   * the checker's view no longer lists it down (its hysteresis let go of what it made up).
   */
  private readonly tainted = new Map<string, Set<string>>();
  /** By checker: the untainted part of its down list, as last published. */
  private readonly honestDown = new Map<string, ReadonlySet<string>>();
  /** By target: when the last honest 'down' of it (in any checker's view) was replaced or tainted. */
  private readonly honestDownUntilMs = new Map<string, number>();
  private partitions = 0;
  /** By checker: the true times of its last few views (H1's premise counts the checkers certainly live). */
  private readonly publishedAtMs = new Map<string, number[]>();
  private readonly downWrites: DownWrite[] = [];
  /** The AZ truly lost now, if any. */
  azLost: string | null = null;

  private readonly scheduler: Scheduler;
  private readonly truth: Map<string, HealthState>;

  constructor(
    readonly scenario: HealthScenario,
    private readonly endpoints: readonly EndpointSpec[],
    private readonly host: HealthHost,
  ) {
    assert(scenario.mode === 'checkers', 'internal', 'a health world drives checkers');
    const bounded = 'H1 bounds the delay from reading the views to writing the health';
    assert(!host.faults.enabled, 'H1', `the checkers' store calls must not fail or stall: ${bounded}`);
    this.scheduler = host.faults.scheduler;
    this.truth = host.truth;
    for (const target of endpoints.flatMap((endpoint) => endpoint.targets)) {
      if (target.check?.tcp !== undefined) this.targetOfCheck.set(target.check.tcp, target.id);
    }
  }

  /** The injector of the checkers' store calls: short delays only, never a failure. */
  get faults(): FaultInjector {
    return this.host.faults;
  }

  private note(actor: string, text: string): void {
    this.host.note(actor, text);
  }

  checkerId(index: number): string {
    return `checker-${index + 1}`;
  }

  /** The probe a checker gets: the true health, unless that checker is cut off. */
  probeFor(id: string): (spec: ProbeSpec) => Promise<ProbeResult> {
    return (spec) => {
      const target = this.targetOfCheck.get(spec.tcp ?? '');
      assert(target !== undefined, 'internal', `probe of an unknown check ${JSON.stringify(spec)}`);
      const cut = this.partitioned?.id === id ? this.partitioned.kind : null;
      const ok = cut === null ? this.truth.get(target) !== 'down' : cut === 'all-pass';
      if (cut === null && !ok) this.tainted.get(id)?.delete(target);
      return Promise.resolve(ok ? probePassed : probeFailed);
    };
  }

  /** A checker's store, watched: the views it publishes and the health it writes (H1); the mutant's views. */
  checkerStore(id: string, store: Store, anyDownWins: boolean): Store {
    const watched = Object.create(store) as Store;
    watched.publishCheckerView = async (view, ttlMs) => {
      await store.publishCheckerView(view, ttlMs);
      this.viewPublished(view.id, view.down);
      if (!this.host.tracing) return;
      this.note(id, `view: down [${view.down.join(',')}]${view.suspect ? ' SUSPECT (does not vote)' : ''}`);
    };
    watched.setHealthMany = async (records, source) => {
      await store.setHealthMany(records, source);
      const atMs = this.scheduler.nowMs;
      for (const record of records) {
        if (record.state !== 'down' || source !== 'checker') continue;
        this.downWrites.push({ writer: id, target: record.target, atMs });
      }
      if (!this.host.tracing) return;
      const written = records.map((record) => `${record.target} ${record.state}`).join(', ');
      this.note(id, `health written (${source}): ${written}`);
    };
    if (anyDownWins) watched.listCheckerViews = async () => unionOfDown(await store.listCheckerViews());
    return watched;
  }

  private viewPublished(id: string, down: readonly string[]): void {
    const times = this.publishedAtMs.get(id) ?? [];
    times.push(this.scheduler.nowMs);
    if (times.length > publishTimesKept) times.shift();
    this.publishedAtMs.set(id, times);
    const taint = this.tainted.get(id);
    if (taint !== undefined && this.partitioned?.id !== id) {
      for (const target of taint) if (!down.includes(target)) taint.delete(target);
    }
    const next = new Set(taint === undefined ? down : down.filter((target) => !taint.has(target)));
    for (const target of this.honestDown.get(id) ?? []) {
      if (!next.has(target)) this.honestDownUntilMs.set(target, this.scheduler.nowMs);
    }
    this.honestDown.set(id, next);
  }

  /** Schedules the scenario's AZ loss and partition; `faultsOn` is false once the liveness phase began. */
  schedule(startMs: number, faultsOn: () => boolean): void {
    const { azLoss, partition } = this.scenario;
    if (azLoss !== null) {
      this.scheduler.at(startMs + azLoss.atMs, 'AZ loss', () => {
        if (!faultsOn()) return;
        this.setAz(azLoss.az, 'down');
        if (azLoss.recoverAfterMs === null) return;
        // Due after the faults stopped, the recovery already happened when they did (settle).
        this.scheduler.at(this.scheduler.nowMs + azLoss.recoverAfterMs, 'AZ recovery', () => {
          if (faultsOn()) this.setAz(azLoss.az, 'up');
        });
      });
    }
    if (partition !== null) {
      this.scheduler.at(startMs + partition.atMs, 'checker partition', () => {
        if (faultsOn()) this.cut(this.checkerId(partition.checker), partition.kind);
        this.scheduler.at(this.scheduler.nowMs + partition.durationMs, 'partition heals', () => this.heal());
      });
    }
  }

  private setAz(az: string, state: HealthState): void {
    if (state === 'down' && this.azLost !== az) this.host.stats.azLosses += 1;
    this.azLost = state === 'down' ? az : null;
    for (const endpoint of this.endpoints) {
      for (const target of endpoint.targets) if (target.az === az) this.truth.set(target.id, state);
    }
    this.note('operator', state === 'down' ? `AZ LOSS: every target of ${az} truly down` : `AZ ${az} recovered`);
  }

  private cut(id: string, kind: PartitionKind): void {
    const once = `at most ${partitionedMax} checker(s) cut off in a run`;
    assert(this.partitioned === null, 'H1', once);
    assert(this.partitions < partitionedMax, 'H1', once);
    this.partitioned = { id, kind };
    this.partitions += 1;
    if (kind === 'all-fail') {
      // From now on it makes up failures; what it saw before the cut was honest until now. A checker whose probes
      // all pass makes up no failure: the downs it still lists are ones it saw (its hysteresis keeps them a while).
      this.tainted.set(id, new Set(this.targetOfCheck.values()));
      for (const target of this.honestDown.get(id) ?? []) this.honestDownUntilMs.set(target, this.scheduler.nowMs);
      this.honestDown.set(id, new Set());
    }
    this.host.stats.checkerPartitions += 1;
    const probes = kind === 'all-fail' ? 'every probe fails' : 'every probe passes';
    this.note(id, `PARTITION: cut off from every target (${probes})`);
  }

  private heal(): void {
    if (this.partitioned === null) return;
    this.note(this.partitioned.id, 'partition heals: probes see the true health again');
    this.partitioned = null;
  }

  /**
   * The liveness phase: the partition heals, a loss due to recover recovers, every other target is truly up but an
   * AZ still lost.
   */
  settle(): void {
    this.heal();
    if (this.azLost !== null && this.scenario.azLoss?.recoverAfterMs !== null) this.setAz(this.azLost, 'up');
    for (const endpoint of this.endpoints) {
      for (const target of endpoint.targets) this.truth.set(target.id, target.az === this.azLost ? 'down' : 'up');
    }
    this.note('sim', `true health restored${this.azLost === null ? '' : `, except the lost ${this.azLost}`}`);
  }

  /**
   * The checkers whose view the aggregator certainly counted as live when it read the views for a write at
   * `atMs`: a view published before the read (at most `lagMaxMs` before the write) that the aggregator's clock,
   * however skewed, still saw unexpired.
   */
  private certainlyLive(atMs: number, lagMaxMs: number): string[] {
    const { viewTtlMs } = this.scenario.checker;
    const skewMs = 2 * this.host.skewMaxMs;
    const live: string[] = [];
    for (const [id, times] of this.publishedAtMs) {
      const before = times.filter((publishedMs) => publishedMs <= atMs - lagMaxMs).at(-1);
      if (before !== undefined && before + viewTtlMs - skewMs > atMs) live.push(id);
    }
    return live;
  }

  /** H1 over the writes since the last step. */
  check(step: StepInfo): Violation | null {
    const lagMaxMs = 2 * this.host.faults.settings.delayBaseMs;
    for (const write of this.downWrites.splice(0)) {
      this.host.stats.checkerWithdrawals += 1;
      if (this.truth.get(write.target) === 'down') continue;
      if ([...this.honestDown.values()].some((down) => down.has(write.target))) continue;
      const until = this.honestDownUntilMs.get(write.target);
      if (until !== undefined && write.atMs - until <= lagMaxMs) continue;
      // The premise: the checkers that may have made this 'down' up are a minority of the live ones.
      const live = this.certainlyLive(write.atMs, lagMaxMs);
      const madeUp = live.filter((id) => this.tainted.get(id)?.has(write.target) === true);
      if (madeUp.length * 2 >= live.length) continue;
      const seen = until === undefined ? 'never' : `last at +${until - step.atMs}ms`;
      const only = `only ${madeUp.join(', ')} (cut off, failures made up) sees it down`;
      const of = `of ${live.length} live checkers (${live.join(', ')})`;
      const honest = `no honest view listed it down (${seen})`;
      const message = `${write.writer} wrote ${write.target} down while it is truly up: ${only}, ${of}; ${honest}`;
      return { invariant: 'H1', name: write.target, step: step.step, atMs: step.atMs, message };
    }
    return null;
  }

  /** H2, at the liveness bound: the first name that still serves a target of the AZ still lost, or null. */
  azLossUnconverged(
    inventory: readonly EndpointSpec[], provider: MemoryProviderState,
  ): { name: string; detail: string } | null {
    const az = this.azLost;
    if (az === null) return null;
    for (const endpoint of inventory) {
      const lost = new Set(endpoint.targets.filter((target) => target.az === az).map((target) => target.id));
      const othersUp = endpoint.targets.some((target) => !lost.has(target.id) && this.truth.get(target.id) !== 'down');
      const stuck = provider.served.get(endpoint.name)?.records.find((record) => lost.has(record.target));
      if (othersUp && stuck !== undefined) {
        return { name: endpoint.name, detail: `still serves ${stuck.target} of the lost ${az} without an operator` };
      }
    }
    return null;
  }

  /** Names that serve a target of their secondary pool (a failover), at the end of a run. */
  secondaryServed(provider: MemoryProviderState): number {
    const targets = this.endpoints.flatMap((endpoint) => endpoint.targets);
    const secondaries = new Set(targets.filter((target) => target.pool === 'secondary').map((target) => target.id));
    const rows = [...provider.served.values()];
    return rows.filter((row) => row.records.some((record) => secondaries.has(record.target))).length;
  }
}

/** Mutant 'quorum-any-down': every view lists what any view lists down, so a single checker's 'down' wins the vote. */
function unionOfDown(views: CheckerView[]): CheckerView[] {
  const down = [...new Set(views.flatMap((view) => view.down))].sort();
  return views.map((view) => ({ ...view, down }));
}

type CapacityGuard = (
  plan: PlanComputation, inventory: readonly EndpointSpec[], health: ReadonlyMap<string, HealthState>, force: boolean,
) => { reason: string; held: string[]; health: Map<string, HealthState> } | null;

/**
 * Mutant 'capacity-guard-counts-names': the planner's capacity guard counts the names that lose capacity against
 * the names of the inventory instead of capacity against capacity. One AZ of three touches every name, so an AZ
 * loss is held for ever (H2 must catch it). The production planner is wrapped, not changed: its guard is replaced
 * on this one instance.
 */
export function guardCountsNames(planner: Planner, maxFraction: number): Planner {
  const mutable = planner as unknown as { capacityGuard: CapacityGuard };
  const replaces = 'the mutant replaces Planner.capacityGuard, which must exist';
  assert(typeof mutable.capacityGuard === 'function', 'internal', replaces);
  mutable.capacityGuard = (plan, inventory, health, force) => {
    if (force || plan.withdrawals.length === 0) return null;
    const reason = capacityRefusal(plan.withdrawals.length, inventory.length, maxFraction);
    if (reason === null) return null;
    const held = [...new Set(plan.withdrawals.flatMap((withdrawal) => withdrawal.targets))].sort();
    const planned = new Map(health);
    for (const target of held) planned.set(target, 'up');
    return { reason, held, health: planned };
  };
  return planner;
}
