import { InvariantViolation } from './assert.js';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';

/**
 * The run-until-signal loop of every role (planner, enactor, janitor, reconciler, checker, inventory follower):
 * one step, then a pause, until `signal` aborts. A step that throws is logged and the loop goes on — a role
 * survives a store that is down for a while — except an InvariantViolation, which is logged and stops the role
 * loudly (DESIGN §2: a broken invariant must never be retried into silence). Caught by type, not by name.
 */
export async function runLoop(
  signal: AbortSignal,
  options: { log: Logger; what: string; level?: 'error' | 'warn' },
  step: () => Promise<void>,
  pause: () => Promise<void>,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await step();
    } catch (error) {
      if (error instanceof InvariantViolation) {
        options.log.error({ err: error }, `${options.what} failed`);
        throw error;
      }
      options.log[options.level ?? 'error']({ err: error }, `${options.what} failed`);
    }
    await pause();
  }
}

/**
 * The pause of a role that polls and also watches a store that can push (etcd's watches, SQLite's commit notices):
 * `pause(ms)` sleeps `ms`, or less when `wake()` is called meanwhile (a wake with no pause under way ends the next
 * one at once). Without a watch (`watching` false) it is the plain sleep: polling alone. Each pause links its own
 * signal to the role's by a listener it removes: not AbortSignal.any, which on Node 20 keeps every signal it made
 * alive as long as the role's signal (about 1.6 kB a call; a role pausing 20 times a second would grow by
 * gigabytes a day).
 */
export class WakeablePause {
  private current: AbortController | null = null;
  private wakePending = false;

  constructor(
    private readonly clock: Clock, private readonly signal: AbortSignal, private readonly watching: boolean,
  ) {}

  wake(): void {
    if (this.current !== null) this.current.abort();
    else this.wakePending = true;
  }

  async pause(ms: number): Promise<void> {
    if (!this.watching) return this.clock.sleep(ms, this.signal);
    if (this.wakePending || this.signal.aborted) {
      this.wakePending = false;
      return;
    }
    const controller = new AbortController();
    const stop = () => controller.abort();
    this.signal.addEventListener('abort', stop, { once: true });
    this.current = controller;
    try {
      await this.clock.sleep(ms, controller.signal);
    } finally {
      this.signal.removeEventListener('abort', stop);
      this.current = null;
    }
  }
}
