import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stderr (stdout stays free for command output).
 * DNSPLANE_LOG_LEVEL overrides the level; tests default to "warn".
 */
export function createLogger(component: string, extra: Record<string, unknown> = {}): Logger {
  const level = process.env.DNSPLANE_LOG_LEVEL ?? 'info';
  return pino({ level, base: { component, pid: process.pid, ...extra } }, pino.destination(2));
}

export const silentLogger: Logger = pino({ level: 'silent' });
