import { InvariantViolation } from './assert.js';
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
