import { simulationStartMs } from './scheduler.js';

/**
 * A run's timeline, one line per event, in virtual time since the start of
 * the run. Only recorded when asked (`--trace`): building strings for every
 * step would cost more than the step.
 */
export class Trace {
  readonly lines: string[] = [];

  constructor(private readonly linesMax: number) {}

  add(atMs: number, actor: string, text: string): void {
    if (this.lines.length >= this.linesMax) {
      if (this.lines.length === this.linesMax) this.lines.push(`… trace truncated after ${this.linesMax} lines`);
      return;
    }
    const offset = `+${atMs - simulationStartMs}ms`.padStart(9);
    this.lines.push(`${offset}  ${actor.padEnd(12)} ${text}`);
  }

  text(): string {
    return this.lines.join('\n');
  }
}

/** A short, stable text form of a value for a trace line (no object identity, bounded length). */
export function brief(value: unknown, lengthMax = 120): string {
  const text = typeof value === 'string'
    ? value
    : JSON.stringify(value, (_key, inner: unknown) => (inner instanceof Map ? Object.fromEntries(inner) : inner));
  if (text === undefined) return 'undefined';
  return text.length > lengthMax ? `${text.slice(0, lengthMax - 1)}…` : text;
}
