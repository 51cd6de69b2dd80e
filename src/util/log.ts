import { pino, type Logger } from 'pino';

export type { Logger };

let level = 'info';

/** The level of every logger created from now on; the CLI sets it from DNSPLANE_LOG_LEVEL (tests use "warn"). */
export function setLogLevel(value: string): void {
  level = value;
}

export function logLevel(): string {
  return level;
}

/** Structured JSON logs on stderr (stdout stays free for command output). */
export function createLogger(component: string, extra: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { component, pid: process.pid, ...extra } }, pino.destination(2));
}

export const silentLogger: Logger = pino({ level: 'silent' });
