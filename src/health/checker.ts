import type { EndpointSpec, HealthState } from '../domain/types.js';
import { runLoop } from '../util/loop.js';
import type { Clock, Rng } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { Alarms, CheckerViews, Counters, HealthStore } from '../store/types.js';
import { observeHistogram } from '../store/counter-histogram.js';
import { assert } from '../util/assert.js';
import {
  limitWithdrawals, observe, suspectChecker, type SelfDoubtPolicy, type TargetHealth, type Thresholds,
} from './policy.js';
import { probe as realProbe, runBounded, type ProbeResult, type ProbeSpec } from './probe.js';
import { aggregatorOf, decideByQuorum } from './quorum.js';

export interface CheckerOptions extends Thresholds {
  /** This checker's id; several checkers (in different places) vote on each target (quorum.ts). */
  id: string;
  intervalMs: number;
  timeoutMs: number;
  /** A view counts in the quorum for this long after it was published. */
  viewTtlMs: number;
  /** Probes in flight at once. */
  concurrency: number;
  /** Each interval is stretched or shrunk by up to this share, so checkers do not beat in step. */
  jitterFraction: number;
  selfDoubt: SelfDoubtPolicy;
  /** Share of a name's capacity that may be withdrawn per interval. */
  maxWithdrawFraction: number;
}

export interface CheckerDeps {
  store: HealthStore & CheckerViews & Alarms & Counters;
  clock: Clock;
  rng: Rng;
  log: Logger;
  inventory: () => readonly EndpointSpec[];
  probe?: (spec: ProbeSpec, timeoutMs: number) => Promise<ProbeResult>;
}

export interface RoundResult {
  probed: number;
  failed: number;
  suspect: boolean;
  /** This checker wrote the decided health this round (it is the live checker with the smallest id). */
  aggregated: boolean;
  /** Checkers whose views were counted. */
  voters: string[];
  /** Targets whose published state changed this round. */
  changed: { target: string; state: HealthState }[];
  /** Withdrawals held back by the velocity limit. */
  deferred: string[];
}

/**
 * The health checker: probes every target once per interval, turns results into up/down through rise/fall
 * hysteresis and publishes its own view with a heartbeat — marked suspect when it doubts itself (most targets
 * failing at once). The live checker with the smallest id then decides each target by a majority of the live,
 * non-suspect views and publishes the health snapshot the planner reads, withdrawing no name's capacity faster
 * than the velocity limit allows. One checker alone is its own majority.
 */
export class Checker {
  private readonly hysteresis = new Map<string, TargetHealth>();
  private seeded = false;
  private doubting = false;

  constructor(private readonly options: CheckerOptions, private readonly deps: CheckerDeps) {
    assert(options.concurrency >= 1, 'internal', 'checker concurrency must be positive');
    assert(options.rise >= 1, 'internal', 'checker rise threshold must be positive');
    assert(options.fall >= 1, 'internal', 'checker fall threshold must be positive');
    assert(options.viewTtlMs > options.intervalMs, 'internal', 'a checker view must outlive one interval');
  }

  /** Targets with a check, each once (a target may serve several names). */
  private targets(): Map<string, ProbeSpec> {
    const specs = new Map<string, ProbeSpec>();
    for (const endpoint of this.deps.inventory()) {
      for (const target of endpoint.targets) if (target.check !== undefined) specs.set(target.id, target.check);
    }
    return specs;
  }

  /** After a restart, continue from what the store holds rather than from "everything up". */
  private async seed(): Promise<void> {
    for (const record of await this.deps.store.readHealth()) {
      if (record.source === 'operator') continue;
      this.hysteresis.set(record.target, { state: record.state, passes: 0, failures: 0 });
    }
    this.seeded = true;
  }

  /** One probe per target; a probe that throws is that target's failure and never stops the others. */
  private async probeOne(spec: ProbeSpec): Promise<ProbeResult> {
    const probe = this.deps.probe ?? realProbe;
    try {
      return await probe(spec, this.options.timeoutMs);
    } catch (error) {
      return { ok: false, latencyMs: 0, error: `probe failed: ${(error as Error).message}` };
    }
  }

  /** The last probe error of each failing target, for the log line when this checker's view of it changes. */
  private readonly lastErrors = new Map<string, string>();

  private async probeAll(specs: Map<string, ProbeSpec>): Promise<Map<string, boolean>> {
    const entries = [...specs];
    const results = await runBounded(entries.map(([, spec]) => () => this.probeOne(spec)), this.options.concurrency);
    const outcome = new Map<string, boolean>();
    entries.forEach(([target], index) => {
      const result = results[index]!;
      outcome.set(target, result.ok);
      if (result.ok) this.lastErrors.delete(target);
      else this.lastErrors.set(target, result.error ?? 'failed');
    });
    const failed = [...outcome.values()].filter((ok) => !ok).length;
    await this.deps.store.incrementCounter('health_probes{result="ok"}', outcome.size - failed);
    await this.deps.store.incrementCounter('health_probes{result="fail"}', failed);
    const durations = results.map((result) => result.latencyMs / 1000);
    await observeHistogram(this.deps.store, 'health_probe_duration_seconds', durations);
    return outcome;
  }

  /** Updates this checker's own view from one round of results, unless it suspects itself. */
  private async observeRound(results: ReadonlyMap<string, boolean>): Promise<boolean> {
    const { store, log } = this.deps;
    const doubt = suspectChecker(results, this.hysteresis, this.options.selfDoubt);
    if (doubt.suspect) {
      if (!this.doubting) {
        const why = 'most targets failed at once: suspecting this checker; its view does not count';
        log.error({ failingFraction: doubt.failingFraction }, why);
      }
      this.doubting = true;
      const failing = `${(doubt.failingFraction * 100).toFixed(0)}% of targets failed at once`;
      const message = `${failing}; this checker's view does not count until its probes agree again`;
      await store.raiseAlarm('checker-self-doubt', this.options.id, message);
      return true;
    }
    if (this.doubting) await store.clearAlarm('checker-self-doubt', this.options.id);
    this.doubting = false;
    for (const [target, ok] of results) {
      const before = this.hysteresis.get(target)?.state ?? 'up';
      const after = observe(this.hysteresis.get(target), ok, this.options);
      this.hysteresis.set(target, after);
      if (after.state !== before) {
        const error = this.lastErrors.get(target);
        log.info({ target, state: after.state, error }, `this checker sees ${target} ${after.state}`);
      }
    }
    return false;
  }

  async round(): Promise<RoundResult> {
    const { store, clock } = this.deps;
    if (!this.seeded) await this.seed();
    const specs = this.targets();
    const results = await this.probeAll(specs);
    const failed = [...results.values()].filter((ok) => !ok).length;
    const suspect = await this.observeRound(results);
    const down = [...specs.keys()].filter((target) => this.hysteresis.get(target)?.state === 'down').sort();
    await store.publishCheckerView({ id: this.options.id, probed: specs.size, down, suspect }, this.options.viewTtlMs);
    const views = await store.listCheckerViews();
    const now = clock.nowMs();
    const base = { probed: results.size, failed, suspect };
    if (aggregatorOf(views, now) !== this.options.id) {
      return { ...base, aggregated: false, voters: [], changed: [], deferred: [] };
    }
    const decision = decideByQuorum(views, specs.keys(), now);
    const { changed, deferred } = await this.publish(decision.states);
    return { ...base, aggregated: true, voters: decision.voters, changed, deferred };
  }

  /**
   * Writes the decided states that differ from the stored health, withdrawing no faster than the velocity limit,
   * and re-writes any checker row that went missing (an operator cleared an override). Operator rows are never
   * replaced (the store's rule).
   */
  private async publish(
    decided: ReadonlyMap<string, HealthState>,
  ): Promise<{ changed: RoundResult['changed']; deferred: string[] }> {
    const stored = new Map((await this.deps.store.readHealth()).map((record) => [record.target, record]));
    const published = (target: string): HealthState | undefined => {
      const row = stored.get(target);
      return row === undefined || row.source === 'operator' ? undefined : row.state;
    };
    const wantDown = [...decided]
      .filter(([target, state]) => state === 'down' && published(target) !== 'down')
      .map(([target]) => target);
    const allowed = limitWithdrawals(wantDown, this.deps.inventory(), this.options.maxWithdrawFraction);
    const changed: RoundResult['changed'] = [];
    for (const [target, state] of decided) {
      const row = stored.get(target);
      if (row?.source === 'operator' || row?.state === state) continue;
      if (state === 'down' && !allowed.has(target)) continue;
      changed.push({ target, state });
    }
    if (changed.length > 0) await this.deps.store.setHealthMany(changed, 'checker');
    for (const { target, state } of changed) {
      if (state === 'down' || stored.has(target)) this.deps.log.info({ target, state }, `target ${state}`);
    }
    return { changed, deferred: wantDown.filter((target) => !allowed.has(target)) };
  }

  async run(signal: AbortSignal): Promise<void> {
    let started = this.deps.clock.nowMs();
    await runLoop(signal, { log: this.deps.log, what: 'health round' }, async () => {
      started = this.deps.clock.nowMs();
      await this.round();
    }, async () => {
      const jitter = 1 + (this.deps.rng.next() * 2 - 1) * this.options.jitterFraction;
      const waitMs = Math.max(0, this.options.intervalMs * jitter - (this.deps.clock.nowMs() - started));
      await this.deps.clock.sleep(waitMs, signal);
    });
  }
}
