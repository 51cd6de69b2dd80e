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
 * one at once). Without a watch (`watching` false) it is the plain sleep: polling alone.
 */
export class WakeablePause {
  private woken = new AbortController();

  constructor(
    private readonly clock: Clock, private readonly signal: AbortSignal, private readonly watching: boolean,
  ) {}

  wake(): void {
    this.woken.abort();
  }

  async pause(ms: number): Promise<void> {
    const until = this.watching ? AbortSignal.any([this.signal, this.woken.signal]) : this.signal;
    await this.clock.sleep(ms, until);
    if (this.woken.signal.aborted) this.woken = new AbortController();
  }
}
