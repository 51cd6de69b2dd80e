import { pino } from 'pino';
import type { Logger } from '../util/log.js';

/**
 * The production classes log errors they catch and carry on (a failed tick is
 * retried on the next one). In a simulated run the only errors that may reach
 * those logs are the injected ones; anything else — a TypeError, a store
 * method that does not exist — would otherwise be swallowed and leave a run
 * that silently does nothing. So the simulator's logger is silent below
 * "warn", and routes every warn and error line to the run that logged it,
 * which turns an unexpected one into a violation. Warn lines matter only when
 * they carry an error: a loop that logs a failed call at warn and retries
 * (the inventory follower) must not hide a TypeError either.
 *
 * One pino instance per process (creating one costs ~0.1 ms, a run ~2 ms);
 * each run gets a child bound to its id.
 */

type Sink = (line: ErrorLine) => void;

export interface ErrorLine {
  level: 'warn' | 'error';
  message: string;
  errorType: string | null;
  errorMessage: string | null;
}

const sinks = new Map<number, Sink>();
let nextRunId = 1;

/** pino's number for "error"; "warn" is below it. */
const errorLevel = 50;

const root: Logger = pino({ level: 'warn', base: null, timestamp: false }, {
  write(text: string): void {
    const parsed = JSON.parse(text) as {
      run?: number;
      level?: number;
      msg?: string;
      err?: { type?: string; message?: string };
    };
    const sink = parsed.run === undefined ? undefined : sinks.get(parsed.run);
    const level = (parsed.level ?? errorLevel) >= errorLevel ? 'error' : 'warn';
    sink?.({
      level,
      message: parsed.msg ?? '',
      errorType: parsed.err?.type ?? null,
      errorMessage: parsed.err?.message ?? null,
    });
  },
});

/** A logger for one run; `release` it when the run ends. */
export function runLogger(sink: Sink): { log: Logger; release: () => void } {
  const run = nextRunId;
  nextRunId += 1;
  sinks.set(run, sink);
  return { log: root.child({ run }), release: () => sinks.delete(run) };
}
