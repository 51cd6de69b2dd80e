const unitsMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "500ms", "2s", "1.5m", "1h" or a plain number of milliseconds. Returns null when malformed. */
export function parseDurationMs(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  if (match === null) return null;
  return Math.round(Number(match[1]) * unitsMs[match[2]!]!);
}
