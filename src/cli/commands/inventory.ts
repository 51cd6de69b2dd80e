import { Argument, type Command } from 'commander';
import type { Config } from '../../config/schema.js';
import { applyInventory, currentInventory, type ApplyOutcome } from '../../inventory/apply.js';
import { diffInventories, formatDiff, isEmptyDiff, type InventoryDiff } from '../../inventory/diff.js';
import { dryRunPlan, formatDryRun } from '../../inventory/dry-run.js';
import type { Inventory } from '../../domain/types.js';
import type { InventoryVersionInfo } from '../../store/types.js';
import { UserError } from '../../util/assert.js';
import {
  configLoader, integerOption, listLimitMax, operatorName, print, requireReason, withContext, withPaths,
} from '../common.js';
import { resolveConfigPath, type Context, type PathOptions } from '../context.js';

type Options = PathOptions & { json?: boolean; file?: string; force?: boolean; reason?: string };

/** Exit codes of diff-like commands (terraform plan -detailed-exitcode): 0 no change, 1 changes. */
const exitChanges = 1;
/** A safety rule refused the change (DESIGN §5). */
const exitRefused = 3;

function requireFile(options: Options): string {
  if (options.file === undefined) throw new UserError('-f FILE is required (an inventory or config file)');
  return options.file;
}

/** The installation's zone when there is one to read (`validate` works without), else null. */
async function installationConfig(options: PathOptions): Promise<Config | null> {
  const { loadConfigFile } = await configLoader();
  try {
    return loadConfigFile(resolveConfigPath(options));
  } catch (error) {
    if (options.config !== undefined) throw error;
    return null;
  }
}

function diffJson(diff: InventoryDiff): Record<string, unknown> {
  return {
    added: diff.added, removed: diff.removed, changed: diff.changed,
    namesBefore: diff.namesBefore, namesAfter: diff.namesAfter, names: diff.names, services: diff.services,
  };
}

function reportApply(json: boolean | undefined, outcome: ApplyOutcome): void {
  const lines = formatDiff(outcome.diff);
  switch (outcome.kind) {
    case 'unchanged':
      print(json, { outcome: 'unchanged', version: outcome.version },
        () => `no change: the inventory is already version ${outcome.version}`);
      return;
    case 'refused': {
      const { version, reason } = outcome;
      print(json, { outcome: 'refused', version, reason, diff: diffJson(outcome.diff) },
        () => [...lines, `refused: ${outcome.reason}; review the diff and apply with --force to override`].join('\n'));
      process.exitCode = exitRefused;
      return;
    }
    case 'stale':
      print(json, { outcome: 'stale', current: outcome.current }, () => `not applied: the inventory changed meanwhile`
        + ` (now version ${outcome.current}); run diff again and re-apply`);
      process.exitCode = exitChanges;
      return;
    case 'applied': {
      const version = outcome.info.version;
      const forcedOver = outcome.forcedOver === null ? '' : ` (forced over: ${outcome.forcedOver})`;
      const value = { outcome: 'applied', version, forced: outcome.info.forced, diff: diffJson(outcome.diff) };
      print(json, value, () => [...lines, `applied as inventory version ${version}${forcedOver}`].join('\n'));
    }
  }
}

async function applyEndpoints(
  context: Context, inventory: Inventory, options: Options, baseVersion?: number,
): Promise<void> {
  const outcome = await applyInventory(context.store, inventory, {
    actor: operatorName(), reason: requireReason(options), force: options.force ?? false, policy: context.config.safety,
    config: context.config,
    ...(baseVersion === undefined ? {} : { baseVersion }),
  });
  reportApply(options.json, outcome);
}

function versionLine(v: InventoryVersionInfo): string {
  return `v${v.version}  ${new Date(v.createdAtMs).toISOString()}  ${v.actor}  ${v.names} names  ${v.summary}`
    + `${v.forced ? '  (forced)' : ''}  — ${v.reason}`;
}

function registerInventoryHistory(program: Command): void {
  const inventory = program.command('inventory')
    .description('the stored inventory: its versions, and rolling back to one');
  withPaths(inventory.command('history').description('every inventory version, newest first, with who, when and why'))
    .option('--limit <n>', 'versions to show', integerOption('--limit', { min: 1, max: listLimitMax }), 50)
    .option('--json', 'machine-readable output')
    .action(async (options: Options & { limit: number }) => {
      await withContext(options, async (context) => {
        const versions = await context.store.listInventoryVersions(options.limit);
        print(options.json, versions,
          () => (versions.length === 0 ? 'no inventory stored yet' : versions.map(versionLine).join('\n')));
      });
    });
  const rollbackText = 'store an old version\'s endpoints and services as a new version (the same threshold as apply)';
  withPaths(inventory.command('rollback').description(rollbackText))
    .addArgument(new Argument('<version>').argParser(integerOption('VERSION', { min: 1 })))
    .option('--reason <text>', 'why (recorded in the history)')
    .option('--force', 'apply even above safety.maxChangedFraction')
    .option('--json', 'machine-readable output')
    .action(async (version: number, options: Options) => {
      requireReason(options);
      await withContext(options, async (context) => {
        const old = await context.store.readInventory(version);
        if (old === null) {
          throw new UserError(`inventory version ${version} does not exist (see \`dnsplane inventory history\`)`);
        }
        const reason = `rollback to v${version}: ${options.reason}`;
        await applyEndpoints(context, { endpoints: old.endpoints, services: old.services }, { ...options, reason });
      });
    });
}

function registerValidateAndDiff(program: Command): void {
  const validateText = 'check an inventory or config file as loading does, changing nothing (exit 0, or 2 with one line'
    + ' per problem)';
  withPaths(program.command('validate').description(validateText))
    .option('-f, --file <file>', 'the file to check')
    .action(async (options: Options) => {
      const { loadInventoryFile } = await configLoader();
      const { endpoints, services } = loadInventoryFile(requireFile(options), await installationConfig(options));
      const targets = endpoints.reduce((sum, e) => sum + e.targets.length, 0);
      const graph = services.length === 0 ? '' : `, ${services.length} services`;
      process.stdout.write(`${requireFile(options)}: valid (${endpoints.length} names, ${targets} targets${graph})\n`);
    });

  const diffText = 'what applying FILE would change in the stored inventory, name by name; writes nothing (exit 0 no'
    + ' change, 1 changes, 2 bad input)';
  withPaths(program.command('diff').description(diffText))
    .option('-f, --file <file>', 'the inventory or config file')
    .option('--json', 'machine-readable output')
    .action(async (options: Options) => {
      const { loadInventoryFile } = await configLoader();
      await withContext(options, async (context) => {
        const inventory = loadInventoryFile(requireFile(options), context.config);
        const current = await currentInventory(context.store);
        const diff = diffInventories(current, inventory);
        print(options.json, { version: current.version, ...diffJson(diff) },
          () => [`against inventory version ${current.version}:`, ...formatDiff(diff)].join('\n'));
        if (!isEmptyDiff(diff)) process.exitCode = exitChanges;
      });
    });
}

/** `dnsplane validate|diff|apply|plan|inventory history|inventory rollback`: changing the stored inventory. */
export function registerInventoryCommands(program: Command): void {
  registerValidateAndDiff(program);

  const applyText = 'store FILE as the next inventory version; every role follows it without a restart (exit 3 when'
    + ' refused)';
  withPaths(program.command('apply').description(applyText))
    .option('-f, --file <file>', 'the inventory or config file')
    .option('--reason <text>', 'why (recorded in the history)')
    .option('--force', 'apply even above safety.maxChangedFraction (audited)')
    .option('--base-version <n>', 'apply only if the stored inventory is still this version (the one a reviewed diff'
      + ' was made against)', integerOption('--base-version', { min: 0 }))
    .option('--json', 'machine-readable output')
    .action(async (options: Options & { baseVersion?: number }) => {
      requireReason(options);
      const { loadInventoryFile } = await configLoader();
      await withContext(options, async (context) =>
        applyEndpoints(context, loadInventoryFile(requireFile(options), context.config), options, options.baseVersion));
    });

  const planText = 'what the next plan would change, name by name, from the stored inventory and health; with'
    + ' --dry-run nothing is written (exit 0 no change, 1 changes)';
  withPaths(program.command('plan').description(planText))
    .option('--dry-run', 'compute only (the only mode: publishing is the planner\'s job)')
    .option('--json', 'machine-readable output')
    .action(async (options: Options & { dryRun?: boolean }) => {
      if (options.dryRun !== true) {
        throw new UserError('plan only computes: pass --dry-run (the planner role publishes)');
      }
      await withContext(options, async (context) => {
        const stored = await context.store.readInventory();
        const result = await dryRunPlan(context.store, stored?.endpoints ?? context.inventory, context.config.safety);
        print(options.json, result, () => formatDryRun(result).join('\n'));
        if (result.names.length > 0) process.exitCode = exitChanges;
      });
    });

  registerInventoryHistory(program);
}
