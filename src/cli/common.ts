import type { Command } from 'commander';
import { openContext, type Context, type OpenContextOptions, type PathOptions } from './context.js';
import type { EndpointSpec } from '../domain/types.js';

/** Small helpers shared by the command modules of src/cli. */

/** Adds the `--config` and `--data` options that every command touching state accepts (DESIGN.md §5). */
export function withPaths(command: Command): Command {
  return command
    .option('--config <file>', 'config file (default: <data>/config.yaml written by `dnsplane up`)')
    .option('--data <dir>', 'data directory', '.dnsplane');
}

/**
 * A role started by `dnsplane up` stops itself when its supervisor is gone,
 * even if the supervisor was killed with SIGKILL and could not stop it: it
 * sends itself SIGTERM, so each command's own clean shutdown runs.
 */
export function exitWhenOrphaned(checkIntervalMs = 500): void {
  const supervisor = Number(process.env.DNSPLANE_SUPERVISOR_PID ?? 0);
  if (!(supervisor > 0)) return;
  const timer = setInterval(() => {
    if (process.ppid !== supervisor) {
      clearInterval(timer);
      process.kill(process.pid, 'SIGTERM');
    }
  }, checkIntervalMs);
  timer.unref();
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

/** The inventory served: the store's newest version, or the config's endpoints before any is stored. */
export async function servedInventory(context: Context): Promise<EndpointSpec[]> {
  return (await context.store.readInventory())?.endpoints ?? context.inventory;
}
