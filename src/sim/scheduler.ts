import { assert, InvariantViolation } from '../util/assert.js';
import type { Clock } from '../util/clock.js';

/**
 * A deterministic scheduler over virtual time.
 *
 * Every await point of a simulated actor (a store or provider call, a sleep)
 * is a call to `wait`, which registers an event and returns a promise that
 * only the scheduler resolves. The scheduler pops the earliest event
 * (ties in registration order), resolves it, and waits until the woken actor
 * is blocked again — on its next `wait`, or because its promise chain ended.
 * Only one actor runs at a time, and which one is decided by the event queue
 * alone, so a run is a pure function of its seed. No timers, no real I/O.
 */

export interface ActorSlot {
  readonly id: string;
  /** Bumped by a crash: events of older incarnations are dropped, and with them the actor's promise chain. */
  incarnation: number;
  /** Extra delay added to the actor's next wait (a pause: GC, a stalled process, a lost lock streak). */
  pauseNextMs: number;
}

interface SimEvent {
  atMs: number;
  seq: number;
  actor: ActorSlot | null;
  incarnation: number;
  label: string;
  resolve: (() => void) | null;
  callback: (() => void) | null;
}

/** What one step did, for the invariant checker and the trace. */
export interface StepInfo {
  step: number;
  atMs: number;
  actor: string | null;
  label: string;
}

export const simulationStartMs = 1_000_000;

export class Scheduler {
  private virtualNowMs = simulationStartMs;
  private readonly queue: SimEvent[] = [];
  private sequence = 0;
  private steps = 0;
  private yieldSignal: (() => void) | null = null;
  private readonly actors = new Map<string, ActorSlot>();

  get nowMs(): number {
    return this.virtualNowMs;
  }

  get stepCount(): number {
    return this.steps;
  }

  actor(id: string): ActorSlot {
    let slot = this.actors.get(id);
    if (slot === undefined) {
      slot = { id, incarnation: 0, pauseNextMs: 0 };
      this.actors.set(id, slot);
    }
    return slot;
  }

  /** Blocks the calling actor for `delayMs` of virtual time (plus any pending pause). */
  wait(actor: ActorSlot, delayMs: number, label: string): Promise<void> {
    assert(Number.isFinite(delayMs) && delayMs >= 0, 'internal', () => `${actor.id}: wait of ${delayMs} ms`);
    const pauseMs = actor.pauseNextMs;
    actor.pauseNextMs = 0;
    const promise = new Promise<void>((resolve) => {
      this.push({
        atMs: this.virtualNowMs + Math.round(delayMs) + pauseMs,
        seq: 0,
        actor,
        incarnation: actor.incarnation,
        label,
        resolve,
        callback: null,
      });
    });
    this.signalYield();
    return promise;
  }

  /** A scheduler-side event (a fault, a health flip): runs synchronously at `atMs`. */
  at(atMs: number, label: string, callback: () => void): void {
    assert(
      atMs >= this.virtualNowMs,
      'internal',
      `event "${label}" scheduled in the past (${atMs} < ${this.virtualNowMs})`,
    );
    this.push({ atMs, seq: 0, actor: null, incarnation: 0, label, resolve: null, callback });
  }

  /** Starts an actor's promise chain; it runs until its first wait. Its rejection is reported through `onSettled`. */
  start(actor: ActorSlot, body: () => Promise<void>, onSettled: (error: unknown) => void): void {
    const incarnation = actor.incarnation;
    body().then(
      () => this.settled(actor, incarnation, onSettled, null),
      (error: unknown) => this.settled(actor, incarnation, onSettled, error ?? new Error('rejected')),
    );
  }

  /** Crashes an actor: its pending events are dropped, so its in-flight promise chain never resumes. */
  crash(actor: ActorSlot): void {
    actor.incarnation += 1;
    actor.pauseNextMs = 0;
  }

  /** Runs the next event; null when the queue is empty or the next event is after `untilMs`. */
  async step(untilMs: number): Promise<StepInfo | null> {
    for (;;) {
      const event = this.queue[0];
      if (event === undefined || event.atMs > untilMs) return null;
      this.pop();
      // An event of a crashed incarnation is dropped without a step.
      if (event.actor !== null && event.incarnation !== event.actor.incarnation) continue;
      const forward = event.atMs >= this.virtualNowMs;
      assert(forward, 'internal', () => `time went backwards: ${event.atMs} < ${this.virtualNowMs}`);
      this.virtualNowMs = event.atMs;
      this.steps += 1;
      if (event.callback !== null) event.callback();
      else await this.resume(event);
      return { step: this.steps, atMs: event.atMs, actor: event.actor?.id ?? null, label: event.label };
    }
  }

  /** Moves virtual time forward to `atMs` without running anything (the end of a phase). */
  advanceTo(atMs: number): void {
    if (atMs > this.virtualNowMs) this.virtualNowMs = atMs;
  }

  private async resume(event: SimEvent): Promise<void> {
    const blocked = new Promise<void>((resolve) => {
      this.yieldSignal = resolve;
    });
    event.resolve!();
    await blocked;
  }

  private settled(actor: ActorSlot, incarnation: number, onSettled: (error: unknown) => void, error: unknown): void {
    // A chain of a crashed incarnation cannot settle: its events were dropped before they resumed it.
    assert(incarnation === actor.incarnation, 'internal', () => `${actor.id}: a crashed incarnation ran on`);
    onSettled(error);
    this.signalYield();
  }

  private signalYield(): void {
    const signal = this.yieldSignal;
    this.yieldSignal = null;
    if (signal !== null) signal();
  }

  // A binary min-heap on (atMs, seq).
  private push(event: SimEvent): void {
    event.seq = this.sequence;
    this.sequence += 1;
    const queue = this.queue;
    queue.push(event);
    let index = queue.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(queue[index]!, queue[parent]!)) break;
      [queue[index], queue[parent]] = [queue[parent]!, queue[index]!];
      index = parent;
    }
  }

  private pop(): void {
    const queue = this.queue;
    const last = queue.pop()!;
    if (queue.length === 0) return;
    queue[0] = last;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < queue.length && before(queue[left]!, queue[smallest]!)) smallest = left;
      if (right < queue.length && before(queue[right]!, queue[smallest]!)) smallest = right;
      if (smallest === index) return;
      [queue[index], queue[smallest]] = [queue[smallest]!, queue[index]!];
      index = smallest;
    }
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

/**
 * The Clock the production classes get: virtual time plus a fixed per-actor
 * offset (clock skew); `sleep` is a scheduler wait, so it resolves only when
 * the scheduler reaches that virtual time.
 */
export class VirtualClock implements Clock {
  constructor(private readonly scheduler: Scheduler, private readonly actor: ActorSlot, readonly offsetMs: number) {}

  nowMs(): number {
    return this.scheduler.nowMs + this.offsetMs;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) return Promise.resolve();
    return this.scheduler.wait(this.actor, Math.max(0, ms), 'sleep');
  }
}

/**
 * A run is one chain of microtasks: the scheduler resolves an event and the
 * woken actor runs until its next wait. If an actor ever awaited something
 * outside the simulator (a timer, real I/O, a promise nobody resolves), the
 * chain would stop and the run would hang silently. A run never yields to
 * the event loop, so a single `setImmediate` — a watchdog, not part of the
 * run, and unable to change its order — fires only after the run ended, or
 * when it stalled, which it reports.
 */
export function guardAgainstStall<T>(run: Promise<T>, describe: () => string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    run.then(
      (value) => {
        settled = true;
        resolve(value);
      },
      (error: unknown) => {
        settled = true;
        reject(error as Error);
      },
    );
    setImmediate(() => {
      if (!settled) {
        reject(new InvariantViolation(
          'internal',
          `the simulated run stalled: ${describe()} awaits something outside the simulator`,
        ));
      }
    });
  });
}
