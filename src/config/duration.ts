import { assert } from '../util/assert.js';

const unitsMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
// Largest unit first, so that a bound or a value in a message reads as it would be written ("10m", not "600000ms").
const unitsDescending = Object.entries(unitsMs).sort(([, a], [, b]) => b - a);

/** Parses "500ms", "2s", "1.5m", "1h" or a plain number of milliseconds. Returns null when malformed. */
export function parseDurationMs(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  if (match === null) return null;
  return Math.round(Number(match[1]) * unitsMs[match[2]!]!);
}

/** Writes `ms` in the largest unit that divides it: 600000 is "10m", 1500 is "1500ms". */
export function formatDurationMs(ms: number): string {
  assert(Number.isFinite(ms) && ms >= 0, 'internal', `a duration is a finite, non-negative number of ms, not ${ms}`);
  for (const [unit, unitMs] of unitsDescending) {
    if (ms >= unitMs && ms % unitMs === 0) return `${ms / unitMs}${unit}`;
  }
  return `${ms}ms`;
}

/** Inclusive bounds of one duration setting. */
export interface DurationBounds {
  minMs: number;
  maxMs: number;
}

/** Bounds written as durations ("50ms", "10m"); a malformed or inverted pair is a bug in the schema, caught at load. */
export function durationBounds(min: string, max: string): DurationBounds {
  const minMs = parseDurationMs(min);
  const maxMs = parseDurationMs(max);
  assert(minMs !== null && maxMs !== null, 'internal', `duration bounds "${min}" and "${max}" must parse`);
  assert(minMs <= maxMs, 'internal', `duration bounds inverted: ${min} > ${max}`);
  return { minMs, maxMs };
}

/**
 * Milliseconds of a configured duration, or the one-line problem with it: not
 * a duration, or outside `bounds` (an interval of 0ms or 1000h is a typo that
 * would flood targets or stall a loop, never a setting).
 */
export function checkDurationMs(value: string | number, bounds: DurationBounds): number | string {
  const ms = parseDurationMs(value);
  const written = typeof value === 'string' ? `"${value}"` : String(value);
  if (ms === null) return `${written} is not a duration (use e.g. 500ms, 2s, 1m)`;
  if (ms < bounds.minMs || ms > bounds.maxMs) {
    return `${written} must be between ${formatDurationMs(bounds.minMs)} and ${formatDurationMs(bounds.maxMs)}`;
  }
  return ms;
}
