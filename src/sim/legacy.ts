import { assert } from '../util/assert.js';
import type { RecordEntry } from '../domain/types.js';
import type { Violation } from './checker.js';
import { createRandom, longTailDelayMs, type SimRandom } from './random.js';
import { endpointsFor, nextIntervalMs } from './scenario.js';
import { Scheduler, guardAgainstStall, simulationStartMs, type ActorSlot } from './scheduler.js';
import { Trace } from './trace.js';
import { emptyStats, type RunResult } from './types.js';

/**
 * Legacy mode: a model of the 2025 design (DESIGN.md §1), which is not the
 * production code and so is necessarily a separate model. It keeps what the
 * published accounts describe:
 * - each plan is a tree of records under a per-plan name (plan-7.<endpoint>);
 *   a root alias points at the active plan's tree, and a rollback record,
 *   changed in the same change batch as the alias, must point at the active
 *   plan (a batch whose active plan no longer exists fails);
 * - per endpoint a TXT lock record (holder, expiry): every change batch
 *   deletes the exact lock record and re-creates it, so a batch fails if the
 *   lock moved — a compare-and-swap on the lock, never on the generation;
 * - an enactor checks once, up front, that its plan is newer than the one
 *   applied, then walks the endpoints (losing the lock over and over when
 *   contended, with long-tailed delays at every call);
 * - after applying, the clean-up deletes the trees of plans more than a
 *   fixed number of generations older than the plan just applied;
 * - nothing repairs anything.
 * The checker looks for the incident: a rollback (S2), an empty answer (S1),
 * and a dead end where no later plan can be enacted (L3).
 */

interface LockRecord { holder: string; expiresAtMs: number; serial: number }

type BatchOp =
  | { kind: 'swap-lock'; endpoint: string; expect: LockRecord | null; next: LockRecord | null }
  | { kind: 'upsert-tree'; endpoint: string; generation: number; records: RecordEntry[] }
  | { kind: 'set-alias'; endpoint: string; expectRollback: number | null; generation: number }
  | { kind: 'delete-tree'; endpoint: string; generation: number };

type BatchResult =
  | { ok: true }
  | { ok: false; reason: 'lock-moved' | 'rollback-mismatch' | 'active-plan-missing'; detail: string };

/** The DNS service (Route53 in the incident): records, and atomic change batches that fail whole. */
class LegacyDns {
  readonly trees = new Map<string, RecordEntry[]>();
  readonly alias = new Map<string, number>();
  readonly rollback = new Map<string, number>();
  readonly locks = new Map<string, LockRecord>();
  lockSerial = 0;

  tree(endpoint: string, generation: number): RecordEntry[] | undefined {
    return this.trees.get(`plan-${generation}.${endpoint}`);
  }

  /** What a resolver gets for the endpoint: the records of the tree the alias points at (none if it is gone). */
  resolve(endpoint: string): RecordEntry[] | null {
    const generation = this.alias.get(endpoint);
    if (generation === undefined) return null;
    return this.tree(endpoint, generation) ?? [];
  }

  changeBatch(ops: readonly BatchOp[]): BatchResult {
    for (const op of ops) {
      const problem = this.validate(op);
      if (problem !== null) return problem;
    }
    for (const op of ops) this.execute(op);
    return { ok: true };
  }

  private validate(op: BatchOp): BatchResult | null {
    if (op.kind === 'swap-lock') {
      const current = this.locks.get(op.endpoint) ?? null;
      if (current?.serial !== op.expect?.serial) {
        return { ok: false, reason: 'lock-moved', detail: `lost the lock (it is now ${current?.holder ?? 'free'})` };
      }
    }
    if (op.kind === 'set-alias') {
      const active = this.alias.get(op.endpoint);
      if ((this.rollback.get(op.endpoint) ?? null) !== op.expectRollback) {
        return { ok: false, reason: 'rollback-mismatch', detail: `rollback record moved` };
      }
      // The rollback record must point at the active plan: with the active plan's tree gone, every batch fails.
      if (active !== undefined && this.tree(op.endpoint, active) === undefined) {
        return { ok: false, reason: 'active-plan-missing', detail: `the active plan-${active} no longer exists` };
      }
    }
    return null;
  }

  private execute(op: BatchOp): void {
    switch (op.kind) {
      case 'swap-lock':
        if (op.next === null) this.locks.delete(op.endpoint);
        else this.locks.set(op.endpoint, op.next);
        return;
      case 'upsert-tree':
        this.trees.set(`plan-${op.generation}.${op.endpoint}`, op.records);
        return;
      case 'set-alias':
        this.alias.set(op.endpoint, op.generation);
        this.rollback.set(op.endpoint, op.generation);
        return;
      case 'delete-tree':
        this.trees.delete(`plan-${op.generation}.${op.endpoint}`);
        return;
    }
  }
}

export interface LegacyScenario {
  endpoints: { name: string; targets: { id: string; address: string }[] }[];
  enactors: number;
  /** The clean-up deletes plans more than this many generations older than the one just applied. */
  cleanupDistance: number;
  planIntervalMs: number;
  runMs: number;
  delayBaseMs: number;
  tailProbability: number;
  tailMaxMs: number;
  lockTtlMs: number;
  lockAttemptsMax: number;
  pollMs: number;
}

function deriveLegacyScenario(random: SimRandom): LegacyScenario {
  return {
    endpoints: endpointsFor(random, random.between(1, 3), 2, 3),
    enactors: 3,
    cleanupDistance: random.between(2, 5),
    planIntervalMs: random.between(8, 30),
    runMs: 1500,
    delayBaseMs: random.between(1, 5),
    tailProbability: random.pick([0.02, 0.05, 0.1]),
    tailMaxMs: random.pick([200, 500, 1000]),
    lockTtlMs: 50,
    lockAttemptsMax: 40,
    pollMs: 10,
  };
}

const legacyStepsMax = 200_000;

class LegacyWorld {
  readonly scheduler = new Scheduler();
  readonly dns = new LegacyDns();
  /** The plan store: generation → records per endpoint. */
  readonly plans = new Map<number, Map<string, RecordEntry[]>>();
  latest = 0;
  readonly random: SimRandom;
  readonly scenario: LegacyScenario;
  readonly trace: Trace | null;
  readonly violations: Violation[] = [];
  private readonly aliasSeen = new Map<string, number>();
  deadEnd = false;

  constructor(readonly seed: bigint, tracing: boolean) {
    this.random = createRandom(seed);
    this.scenario = deriveLegacyScenario(this.random.fork());
    this.trace = tracing ? new Trace(20_000) : null;
  }

  note(actor: string, text: string): void {
    this.trace?.add(this.scheduler.nowMs, actor, text);
  }

  /** An await point of the legacy enactor: a long-tailed delay before each call to DNS or the plan store. */
  call(actor: ActorSlot, label: string): Promise<void> {
    const { scenario } = this;
    return this.scheduler.wait(
      actor,
      longTailDelayMs(this.random, scenario.delayBaseMs, scenario.tailProbability, scenario.tailMaxMs),
      label,
    );
  }

  publish(): void {
    const generation = this.latest + 1;
    const plan = new Map<string, RecordEntry[]>();
    for (const endpoint of this.scenario.endpoints) {
      // A random non-empty subset of the targets: the planner never emits an empty set, in either design.
      const chosen = endpoint.targets.filter(() => this.random.chance(0.6));
      const targets = chosen.length > 0 ? chosen : [this.random.pick(endpoint.targets)];
      plan.set(endpoint.name, targets.map((target) => ({
        target: target.id,
        address: target.address,
        weight: 1 + this.random.int(255),
      })));
    }
    this.plans.set(generation, plan);
    this.latest = generation;
    this.note('planner', `published plan ${generation}`);
  }

  violation(invariant: string, name: string, message: string): void {
    if (this.violations.some((found) => found.invariant === invariant)) return;
    this.violations.push({ invariant, name, step: this.scheduler.stepCount, atMs: this.scheduler.nowMs, message });
    this.note('CHECKER', `VIOLATION ${invariant} ${name}: ${message}`);
  }

  /** After every step: a rollback (S2) and an empty answer (S1). */
  check(): void {
    for (const endpoint of this.scenario.endpoints) {
      const name = endpoint.name;
      const active = this.dns.alias.get(name);
      if (active === undefined) continue;
      const seen = this.aliasSeen.get(name) ?? 0;
      if (active < seen) {
        this.violation(
          'S2',
          name,
          `rolled back from plan ${seen} to plan ${active}: an enactor's up-front check was stale`,
        );
      }
      this.aliasSeen.set(name, Math.max(seen, active));
      const answer = this.dns.resolve(name);
      if (answer !== null && answer.length === 0) {
        this.violation(
          'S1',
          name,
          `EMPTY ANSWER: the root alias points at plan-${active}, whose records the clean-up deleted`,
        );
      }
    }
  }
}

/** One legacy enactor: an endless loop of (pick newest plan, check once, walk endpoints, clean up). */
async function legacyEnactor(world: LegacyWorld, actor: ActorSlot): Promise<void> {
  for (;;) {
    await world.call(actor, 'read newest plan');
    const generation = world.latest;
    await world.call(actor, 'read applied plan');
    const applied = Math.max(0, ...world.scenario.endpoints.map((endpoint) => world.dns.alias.get(endpoint.name) ?? 0));
    // The up-front staleness check: made once, never again at the write.
    if (generation <= applied || !world.plans.has(generation)) {
      await world.scheduler.wait(actor, world.scenario.pollMs, 'poll');
      continue;
    }
    const plan = world.plans.get(generation)!;
    world.note(actor.id, `picks plan ${generation} (up-front check: ${generation} > applied ${applied})`);
    let complete = true;
    for (const endpoint of world.scenario.endpoints) {
      if (!(await applyEndpoint(world, actor, generation, endpoint.name, plan.get(endpoint.name)!))) complete = false;
    }
    if (complete) await cleanUp(world, actor, generation);
  }
}

async function acquireLock(world: LegacyWorld, actor: ActorSlot, endpoint: string): Promise<LockRecord | null> {
  for (let attempt = 1; attempt <= world.scenario.lockAttemptsMax; attempt += 1) {
    await world.call(actor, 'read lock');
    const current = world.dns.locks.get(endpoint) ?? null;
    if (current === null || current.holder === actor.id || current.expiresAtMs <= world.scheduler.nowMs) {
      world.dns.lockSerial += 1;
      const mine: LockRecord = {
        holder: actor.id,
        expiresAtMs: world.scheduler.nowMs + world.scenario.lockTtlMs,
        serial: world.dns.lockSerial,
      };
      await world.call(actor, 'swap lock');
      if (world.dns.changeBatch([{ kind: 'swap-lock', endpoint, expect: current, next: mine }]).ok) return mine;
    }
    if (attempt % 5 === 0) {
      world.note(
        actor.id,
        `lost the lock on ${endpoint} ${attempt} times in a row `
          + `(held by ${world.dns.locks.get(endpoint)?.holder ?? 'nobody'})`,
      );
    }
    await world.scheduler.wait(actor, 1 + world.random.int(8 * Math.min(attempt, 6)), 'backoff');
  }
  return null;
}

/** Applies one endpoint of a plan: win the lock, then one change batch; a batch that lost the lock starts over. */
async function applyEndpoint(
  world: LegacyWorld,
  actor: ActorSlot,
  generation: number,
  endpoint: string,
  records: RecordEntry[],
): Promise<boolean> {
  for (let attempt = 1; attempt <= world.scenario.lockAttemptsMax; attempt += 1) {
    const lock = await acquireLock(world, actor, endpoint);
    if (lock === null) break;
    const result = await writeEndpoint(world, actor, generation, endpoint, records, lock);
    if (result.ok) return true;
    if (result.reason === 'active-plan-missing') {
      world.deadEnd = true;
      world.violation(
        'L3',
        endpoint,
        `dead end: plan ${generation} cannot be enacted because ${result.detail}; `
          + 'every later plan fails the same way and nothing repairs it',
      );
      return false;
    }
  }
  world.note(actor.id, `gave up on ${endpoint} for plan ${generation}: the lock was never won`);
  return false;
}

async function writeEndpoint(
  world: LegacyWorld,
  actor: ActorSlot,
  generation: number,
  endpoint: string,
  records: RecordEntry[],
  lock: LockRecord,
): Promise<BatchResult> {
  await world.call(actor, 'read rollback record');
  const rollback = world.dns.rollback.get(endpoint) ?? null;
  const before = world.dns.alias.get(endpoint);
  world.dns.lockSerial += 1;
  const renewed: LockRecord = { ...lock, serial: world.dns.lockSerial };
  await world.call(actor, 'change batch');
  // No generation anywhere in the batch: only the lock record is compared.
  const result = world.dns.changeBatch([
    { kind: 'swap-lock', endpoint, expect: lock, next: renewed },
    { kind: 'upsert-tree', endpoint, generation, records },
    { kind: 'set-alias', endpoint, expectRollback: rollback, generation },
  ]);
  if (result.ok) {
    const stale = before !== undefined && before > generation;
    world.note(
      actor.id,
      `applied plan ${generation} to ${endpoint} (alias plan-${before ?? '-'} → plan-${generation})`
        + `${stale ? ` ✗ STALE: plan ${before} was already active` : ''}`,
    );
  } else {
    world.note(actor.id, `plan ${generation} FAILED on ${endpoint}: ${result.detail}`);
  }
  await world.call(actor, 'release lock');
  const mine = result.ok ? renewed : lock;
  if (world.dns.locks.get(endpoint)?.serial === mine.serial) {
    world.dns.changeBatch([{ kind: 'swap-lock', endpoint, expect: mine, next: null }]);
  }
  return result;
}

/** The 2025 clean-up: delete every plan more than `cleanupDistance` generations older than the one just applied. */
async function cleanUp(world: LegacyWorld, actor: ActorSlot, applied: number): Promise<void> {
  const below = applied - world.scenario.cleanupDistance;
  const doomed = [...world.plans.keys()].filter((generation) => generation < below).sort((a, b) => a - b);
  if (doomed.length === 0) return;
  world.note(
    actor.id,
    `clean-up after plan ${applied}: deleting plans ${doomed[0]}..${doomed[doomed.length - 1]} `
      + `(older than ${applied} − ${world.scenario.cleanupDistance})`,
  );
  for (const generation of doomed) {
    await world.call(actor, 'delete plan');
    world.plans.delete(generation);
    for (const endpoint of world.scenario.endpoints) {
      if (world.dns.tree(endpoint.name, generation) === undefined) continue;
      const active = world.dns.alias.get(endpoint.name) === generation;
      world.dns.changeBatch([{ kind: 'delete-tree', endpoint: endpoint.name, generation }]);
      if (active) {
        world.note(actor.id, `deleted plan-${generation}.${endpoint.name} — the ACTIVE plan of ${endpoint.name}`);
      }
    }
  }
}

export function runLegacy(seed: bigint, options: { trace?: boolean } = {}): Promise<RunResult> {
  return guardAgainstStall(simulateLegacy(seed, options), () => `legacy seed ${seed}`);
}

async function simulateLegacy(seed: bigint, options: { trace?: boolean }): Promise<RunResult> {
  const world = new LegacyWorld(seed, options.trace === true);
  const { scenario, scheduler } = world;
  world.note(
    'sim',
    `legacy seed ${seed}: ${scenario.endpoints.length} endpoints, ${scenario.enactors} enactors, `
      + `clean-up distance ${scenario.cleanupDistance}, a plan every ~${scenario.planIntervalMs}ms`,
  );
  const planner = (): void => {
    world.publish();
    scheduler.at(scheduler.nowMs + nextIntervalMs(world.random, scenario.planIntervalMs), 'publish', planner);
  };
  scheduler.at(scheduler.nowMs, 'publish', planner);
  for (let index = 1; index <= scenario.enactors; index += 1) {
    const actor = scheduler.actor(`enactor-${index}`);
    scheduler.start(actor, () => legacyEnactor(world, actor), (error) => {
      world.violation('internal', actor.id, `legacy enactor stopped: ${(error as Error | null)?.stack ?? 'returned'}`);
    });
  }
  const endMs = simulationStartMs + scenario.runMs;
  for (;;) {
    assert(scheduler.stepCount < legacyStepsMax, 'internal', `legacy seed ${seed}: more than ${legacyStepsMax} steps`);
    const info = await scheduler.step(endMs);
    if (info === null || world.deadEnd) break;
    world.check();
  }
  const stats = emptyStats();
  stats.generations = world.latest;
  return {
    seed, mode: 'legacy', mutant: null, removals: false, violations: world.violations, steps: scheduler.stepCount,
    virtualMs: scheduler.nowMs - simulationStartMs, convergedAfterMs: null, stats, trace: world.trace?.lines ?? null,
  };
}
