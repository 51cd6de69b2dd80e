import type { Command } from 'commander';
import { hostname, userInfo } from 'node:os';
import { openContext, type Context, type OpenContextOptions, type PathOptions } from './context.js';
import type { EndpointSpec, Inventory } from '../domain/types.js';
import { assert, UserError } from '../util/assert.js';

/** Small helpers shared by the command modules of src/cli. */

/**
 * The config and inventory loader, imported when a command reads a file rather than when `dnsplane` starts: it brings
 * zod and yaml, a large part of the start-up time of `dnsplane --help` otherwise (src/cli/main.ts).
 */
export function configLoader(): Promise<typeof import('../config/load.js')> {
  return import('../config/load.js');
}

/** Adds the `--config` and `--data` options that every command touching state accepts (DESIGN.md §5). */
export function withPaths(command: Command): Command {
  return command
    .option('--config <file>', 'config file (default: <data>/config.yaml written by `dnsplane up`)')
    .option('--data <dir>', 'data directory', '.dnsplane');
}

/** The bounds of a whole number the CLI reads: from `min`, up to `max` when given (else any safe integer). */
export interface WholeNumberRange {
  readonly min: number;
  readonly max?: number;
}

/** Every port a flag names: 0 lets the server pick a free one. */
export const portRange: WholeNumberRange = { min: 0, max: 65_535 };

/** The most rows a listing flag (`--limit`) asks the store for. */
export const listLimitMax = 10_000;

/**
 * The one rule for a whole number the CLI reads as text (a flag, an argument, a pid file, the supervisor's pid):
 * ASCII digits only — no sign, blank, exponent, fraction or hex, all of which `Number` would take — within `range`.
 * Null for anything else, so that no caller falls back to a default on bad input (`Number(x) || 50` did).
 */
export function parseWholeNumber(text: string, range: WholeNumberRange): number | null {
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  assert(Number.isSafeInteger(range.min) && range.min >= 0, 'internal', `bad lower bound ${range.min}`);
  assert(Number.isSafeInteger(max) && max >= range.min, 'internal', `bad upper bound ${max}`);
  if (!/^\d{1,16}$/.test(text)) return null;
  const value = Number(text);
  return value >= range.min && value <= max ? value : null;
}

/**
 * A commander argParser for a flag or argument whose text `parse` turns into a value (null: not one). A bad value is
 * a UserError naming the flag, one line: `main` prints it as `error: …` and exits 2, as for every other bad input.
 * Commander calls it while it parses the command line, before any command opens a store, so nothing is changed.
 */
export function checkedOption<T>(
  flag: string, expected: string, parse: (text: string) => T | null,
): (text: string) => T {
  return (text) => {
    const value = parse(text);
    if (value === null) throw new UserError(`${flag} must be ${expected}, not "${text}"`);
    return value;
  };
}

function wholeNumberText(range: WholeNumberRange): string {
  if (range.max !== undefined) return `a whole number from ${range.min} to ${range.max}`;
  return range.min === 0 ? 'a whole number' : `a whole number of ${range.min} or more`;
}

/** The argParser of every whole-number flag and argument (`--limit`, `--runs`, `VERSION`): see `parseWholeNumber`. */
export function integerOption(
  flag: string, range: WholeNumberRange, expected = wholeNumberText(range),
): (text: string) => number {
  return checkedOption(flag, expected, (text) => parseWholeNumber(text, range));
}

/** The argParser of every port flag (`--dns-port`, `--http-port`). */
export function portOption(flag: string): (text: string) => number {
  return integerOption(flag, portRange, 'a port number');
}

/**
 * A role started by `dnsplane up` stops itself when its supervisor is gone,
 * even if the supervisor was killed with SIGKILL and could not stop it: it
 * sends itself SIGTERM, so each command's own clean shutdown runs.
 */
export function exitWhenOrphaned(checkIntervalMs = 500): void {
  // Not set (or not a pid): this process was not started by `up`, and nothing watches for its end.
  const supervisor = parseWholeNumber(process.env.DNSPLANE_SUPERVISOR_PID ?? '', { min: 1 });
  if (supervisor === null) return;
  const timer = setInterval(() => {
    if (process.ppid !== supervisor) {
      clearInterval(timer);
      process.kill(process.pid, 'SIGTERM');
    }
  }, checkIntervalMs);
  timer.unref();
}

/**
 * The first SIGINT or SIGTERM, for a long-running command to shut down cleanly. Call it before the command says it is
 * ready (its banner, its "listening" line): until a handler is installed a signal has its default action and kills
 * the process on the spot, children and open files as they are. Later signals are ignored (`on`, not `once`): a
 * terminal and a supervisor both sending one must not kill the process half-way through its shutdown.
 */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolveSignal) => {
    for (const name of ['SIGINT', 'SIGTERM'] as const) process.on(name, () => resolveSignal(name));
  });
}

/** Opens the installation (config, store, provider), runs `body`, and closes it whatever happens. */
export async function withContext<T>(
  options: PathOptions, body: (context: Context) => Promise<T>, open: OpenContextOptions = {},
): Promise<T> {
  const context = await openContext(options, open);
  try {
    return await body(context);
  } finally {
    await context.close();
  }
}

/** `withContext` for the commands that only read (status, records, plans, history): the store is opened read-only. */
export async function withReadContext<T>(options: PathOptions, body: (context: Context) => Promise<T>): Promise<T> {
  return withContext(options, body, { readOnly: true });
}

/** A command's result: JSON with --json, else the text. */
export function print(json: boolean | undefined, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

/** The inventory served: the store's newest version, or the config's before any is stored. */
export async function storedInventory(context: Context): Promise<Inventory> {
  const stored = await context.store.readInventory();
  if (stored === null) return { endpoints: context.inventory, services: context.services };
  return { endpoints: stored.endpoints, services: stored.services };
}

/** The names and targets of `storedInventory`. */
export async function servedInventory(context: Context): Promise<EndpointSpec[]> {
  return (await storedInventory(context)).endpoints;
}

/** Who an operator is, for the history: user@host. */
export function operatorName(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (a container's arbitrary uid): keep "unknown" rather than fail the apply.
  }
  return `${user}@${hostname()}`;
}

/** The --reason an operator command records: required, one line of at most 500 characters. */
export function requireReason(options: { reason?: string }): string {
  const reason = options.reason?.trim() ?? '';
  if (reason.length === 0) throw new UserError('--reason TEXT is required: say why (it goes into the history)');
  if (reason.length > 500) throw new UserError('--reason must be at most 500 characters');
  return reason;
}
