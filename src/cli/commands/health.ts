import type { Command } from 'commander';
import { UserError } from '../../util/assert.js';
import { print, servedInventory, withContext, withPaths } from '../common.js';
import type { Context, PathOptions } from '../context.js';

type HealthOptions = PathOptions & { json?: boolean };

/** Refuses a target no endpoint of the served inventory has: an override or a lookup for it would do nothing. */
async function requireKnownTarget(context: Context, target: string): Promise<void> {
  const inventory = await servedInventory(context);
  if (!inventory.some((endpoint) => endpoint.targets.some((t) => t.id === target))) {
    throw new UserError(`unknown target "${target}" (not in the served inventory)`);
  }
}

async function clearOverride(target: string, options: HealthOptions): Promise<void> {
  await withContext(options, async (context) => {
    await requireKnownTarget(context, target);
    // Only an operator's row is an override: the checkers' row is their verdict and must stay. The store has no
    // "delete if operator", so the row is read first; if another operator cleared it and a checker wrote its row
    // between this read and the delete, that checker row would be deleted (a store-side delete-if-operator would
    // close this).
    const row = (await context.store.readHealth()).find((record) => record.target === target);
    if (row === undefined || row.source !== 'operator') {
      const health = row === undefined ? '' : ` (its health is ${row.state}, from ${row.source})`;
      process.stdout.write(`no override on ${target}${health}\n`);
      return;
    }
    const removed = await context.store.clearHealth(target);
    process.stdout.write(removed ? `${target}: override cleared (was ${row.state})\n` : `no override on ${target}\n`);
  });
}

/** `dnsplane health set|clear|list`: operator overrides of target health, which win over the checkers until cleared. */
export function registerHealthCommand(program: Command): void {
  const health = program.command('health').description('target health (operator overrides)');
  withPaths(health.command('set <target> <state>').description('set a target up or down'))
    .action(async (target: string, state: string, options: HealthOptions) => {
      if (state !== 'up' && state !== 'down') throw new UserError(`state must be "up" or "down", not "${state}"`);
      await withContext(options, async (context) => {
        await requireKnownTarget(context, target);
        await context.store.setHealth(target, state, 'operator');
        process.stdout.write(`${target} ${state}\n`);
      });
    });
  withPaths(health.command('clear <target>').description('remove an operator override'))
    .action(async (target: string, options: HealthOptions) => clearOverride(target, options));
  withPaths(health.command('list').description('health of every target'))
    .option('--json', 'machine-readable output')
    .action(async (options: HealthOptions) => {
      await withContext(options, async (context) => {
        const records = await context.store.readHealth();
        print(options.json, records, () => records.map((r) => `${r.target} ${r.state} (${r.source})`).join('\n'));
      });
    });
}
