import type { EndpointSpec, HealthState } from '../domain/types.js';
import type { Clock, Rng } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { Store } from '../store/types.js';
import { assert } from '../util/assert.js';
import { limitWithdrawals, observe, suspectChecker, type SelfDoubtPolicy, type TargetHealth, type Thresholds } from './policy.js';
import { probe as realProbe, runBounded, type ProbeResult, type ProbeSpec } from './probe.js';

export interface CheckerOptions extends Thresholds {
  intervalMs: number;
  timeoutMs: number;
  /** Probes in flight at once. */
  concurrency: number;
  /** Each interval is stretched or shrunk by up to this share, so checkers do not beat in step. */
  jitterFraction: number;
  selfDoubt: SelfDoubtPolicy;
  /** Share of a name's capacity that may be withdrawn per interval. */
  maxWithdrawFraction: number;
}

export interface CheckerDeps {
  store: Store;
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
  /** Targets whose published state changed this round. */
  changed: { target: string; state: HealthState }[];
  /** Withdrawals held back by the velocity limit. */
  deferred: string[];
}

/**
 * The health checker: probes every target once per interval, turns results
 * into up/down through rise/fall hysteresis, and publishes the snapshot the
 * planner reads — unless it suspects itself (most targets failing at once),
 * or a name would lose capacity too fast (velocity limit).
 */
export class Checker {
  private readonly hysteresis = new Map<string, TargetHealth>();
  private readonly published = new Map<string, HealthState>();
  private seeded = false;
  private doubting = false;

  constructor(private readonly options: CheckerOptions, private readonly deps: CheckerDeps) {
    assert(options.concurrency >= 1 && options.rise >= 1 && options.fall >= 1, 'internal', 'checker thresholds must be positive');
  }

  /** Targets with a check, each once (a target may serve several names). */
  private targets(): Map<string, ProbeSpec> {
    const specs = new Map<string, ProbeSpec>();
    for (const endpoint of this.deps.inventory()) for (const target of endpoint.targets) if (target.check !== undefined) specs.set(target.id, target.check);
    return specs;
  }

  /** After a restart, continue from what the store holds rather than from "everything up". */
  private async seed(): Promise<void> {
    for (const record of await this.deps.store.readHealth()) {
      if (record.source === 'operator') continue;
      this.published.set(record.target, record.state);
      this.hysteresis.set(record.target, { state: record.state, passes: 0, failures: 0 });
    }
    this.seeded = true;
  }

  private async probeAll(specs: Map<string, ProbeSpec>): Promise<Map<string, boolean>> {
    const probe = this.deps.probe ?? realProbe;
    const entries = [...specs];
    const results = await runBounded(entries.map(([, spec]) => () => probe(spec, this.options.timeoutMs)), this.options.concurrency);
    const outcome = new Map<string, boolean>();
    let latencyMs = 0;
    entries.forEach(([target], index) => {
      outcome.set(target, results[index]!.ok);
      latencyMs += results[index]!.latencyMs;
    });
    const failed = [...outcome.values()].filter((ok) => !ok).length;
    await this.deps.store.incrementCounter('health_probes{result="ok"}', outcome.size - failed);
    await this.deps.store.incrementCounter('health_probes{result="fail"}', failed);
    await this.deps.store.incrementCounter('health_probe_latency_ms_sum', Math.round(latencyMs));
    return outcome;
  }

  async round(): Promise<RoundResult> {
    const { store, log } = this.deps;
    if (!this.seeded) await this.seed();
    const specs = this.targets();
    const results = await this.probeAll(specs);
    const failed = [...results.values()].filter((ok) => !ok).length;
    const snapshot = new Map([...this.published].map(([target, state]) => [target, { state, passes: 0, failures: 0 }]));
    const doubt = suspectChecker(results, snapshot, this.options.selfDoubt);
    if (doubt.suspect) {
      if (!this.doubting) log.error({ failingFraction: doubt.failingFraction }, 'most targets failed at once: suspecting the checker, keeping the last snapshot');
      this.doubting = true;
      await store.raiseAlarm('checker-self-doubt', '*', `${(doubt.failingFraction * 100).toFixed(0)}% of targets failed at once; keeping the last health snapshot`);
      return { probed: results.size, failed, suspect: true, changed: [], deferred: [] };
    }
    if (this.doubting) await store.clearAlarm('checker-self-doubt', '*');
    this.doubting = false;
    for (const [target, ok] of results) this.hysteresis.set(target, observe(this.hysteresis.get(target), ok, this.options));
    const wantDown = [...results.keys()].filter((t) => this.hysteresis.get(t)!.state === 'down' && this.published.get(t) !== 'down');
    const allowed = limitWithdrawals(wantDown, this.deps.inventory(), this.options.maxWithdrawFraction);
    const changed: RoundResult['changed'] = [];
    for (const target of results.keys()) {
      const desired = this.hysteresis.get(target)!.state;
      if (desired === 'down' && this.published.get(target) !== 'down' && !allowed.has(target)) continue;
      if ((this.published.get(target) ?? 'up') !== desired || !this.published.has(target)) changed.push({ target, state: desired });
      this.published.set(target, desired);
    }
    await this.publish(changed);
    return { probed: results.size, failed, suspect: false, changed, deferred: wantDown.filter((t) => !allowed.has(t)) };
  }

  /** Writes what changed, and re-writes any checker row that went missing (an operator cleared an override). */
  private async publish(changed: RoundResult['changed']): Promise<void> {
    const stored = new Map((await this.deps.store.readHealth()).map((record) => [record.target, record]));
    const writes = new Map(changed.map((change) => [change.target, change.state]));
    for (const [target, state] of this.published) {
      const row = stored.get(target);
      if (row === undefined || (row.source !== 'operator' && row.state !== state)) writes.set(target, state);
    }
    if (writes.size === 0) return;
    await this.deps.store.setHealthMany([...writes].map(([target, state]) => ({ target, state })), 'checker');
    for (const [target, state] of writes) if (changed.some((c) => c.target === target)) this.deps.log.info({ target, state }, `target ${state}`);
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const started = this.deps.clock.nowMs();
      try {
        await this.round();
      } catch (error) {
        this.deps.log.error({ err: error }, 'health round failed');
      }
      const jitter = 1 + (this.deps.rng.next() * 2 - 1) * this.options.jitterFraction;
      const waitMs = Math.max(0, this.options.intervalMs * jitter - (this.deps.clock.nowMs() - started));
      await this.deps.clock.sleep(waitMs, signal);
    }
  }
}
