import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4),
 * written from the format's rules rather than trusting the library that
 * produced the text: names and label names by their grammar, label values
 * with only the three escapes, numeric values (or NaN/±Inf), a TYPE given
 * once and before its family's samples, each family's samples contiguous,
 * no series twice.
 */

export interface Exposition {
  /** "name{a=\"1\",b=\"2\"}" (labels sorted) -> value. */
  samples: Map<string, number>;
  types: Map<string, string>;
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const types = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function familyOf(name: string, declared: Map<string, string>): string {
  if (declared.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && ['histogram', 'summary'].includes(declared.get(base) ?? '')) return base;
  }
  return name;
}

function parseLabels(text: string, line: string): [string, string][] {
  const labels: [string, string][] = [];
  let position = 0;
  while (position < text.length) {
    const match = /^([^=]+)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(text.slice(position));
    assert.ok(match, `bad labels in: ${line}`);
    assert.match(match[1]!, labelName, `bad label name in: ${line}`);
    assert.ok(!labels.some(([name]) => name === match[1]), `label twice in: ${line}`);
    labels.push([match[1]!, match[2]!]);
    position += match[0].length;
  }
  return labels.sort(([a], [b]) => (a < b ? -1 : 1));
}

/**
 * A value as Go's strconv.ParseFloat reads it (the format's definition): a decimal or
 * exponent float, or NaN / Inf / Infinity with an optional sign, case-insensitive
 * (prom-client writes "Nan", which Prometheus accepts).
 */
function parseValue(text: string, line: string): number {
  if (/^nan$/i.test(text)) return Number.NaN;
  const infinity = /^([+-]?)inf(inity)?$/i.exec(text);
  if (infinity !== null) return infinity[1] === '-' ? -Infinity : Infinity;
  assert.match(text, /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, `bad value in: ${line}`);
  return Number(text);
}

export function parseExposition(text: string, prefix = 'dnsplane_'): Exposition {
  const samples = new Map<string, number>();
  const declared = new Map<string, string>();
  const helped = new Set<string>();
  const finished = new Set<string>();
  let current: string | null = null;
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta !== null) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      assert.match(name, metricName, line);
      assert.ok(name.startsWith(prefix), `${name} lacks the ${prefix} prefix`);
      if (kind === 'TYPE') {
        assert.ok(types.has(rest), `unknown type in: ${line}`);
        assert.ok(!declared.has(name), `TYPE twice for ${name}`);
        declared.set(name, rest);
      } else {
        assert.ok(!helped.has(name), `HELP twice for ${name}`);
        helped.add(name);
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    assert.ok(sample, `not a sample: ${line}`);
    const [, name, labelText, valueText] = sample as unknown as [string, string, string | undefined, string];
    assert.ok(name.startsWith(prefix), `${name} lacks the ${prefix} prefix`);
    const family = familyOf(name, declared);
    assert.ok(declared.has(family), `sample before its TYPE: ${line}`);
    if (family !== current) {
      assert.ok(!finished.has(family), `samples of ${family} are not contiguous`);
      if (current !== null) finished.add(current);
      current = family;
    }
    const value = parseValue(valueText, line);
    const labels = labelText === undefined || labelText === '' ? [] : parseLabels(labelText, line);
    const key = `${name}{${labels.map(([k, v]) => `${k}="${v}"`).join(',')}}`;
    assert.ok(!samples.has(key), `series twice: ${key}`);
    samples.set(key, value);
  }
  return { samples, types: declared };
}

/** The value of one series, e.g. value(e, 'dnsplane_names', { state: 'converged' }). */
export function value(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const sorted = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1));
  return exposition.samples.get(`${name}{${sorted.map(([k, v]) => `${k}="${v}"`).join(',')}}`);
}

/** Installs promtool (Debian's prometheus package) through scripts/install-test-packages.sh when it is missing. */
function ensurePromtool(): void {
  if (spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).status === 0) return;
  execFileSync('bash', [fileURLToPath(new URL('../../scripts/install-test-packages.sh', import.meta.url))], { stdio: 'inherit' });
}

/**
 * What `promtool check metrics`, Prometheus' own linter, finds wrong in an
 * exposition: one "name problem" line each, none when it passes. A text it
 * cannot parse fails the assertion.
 */
export function promtoolProblems(text: string): string[] {
  ensurePromtool();
  const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.ok(result.status === 0 || result.status === 3, `promtool could not read the exposition (exit ${result.status}): ${result.stderr}${result.error?.message ?? ''}`);
  const problems = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.trim() !== '');
  assert.equal(result.status === 0, problems.length === 0, `promtool's exit ${result.status} and its output agree: ${problems.join('; ')}`);
  return problems;
}
