import type { Command } from 'commander';
import { hostname } from 'node:os';
import { stopSignal, withContext, withPaths } from '../common.js';
import { followInventory, type Context, type PathOptions } from '../context.js';
import { checkSelfDependenciesAtStart } from '../../graph/self-dependency.js';

type RoleOptions = PathOptions & { id: string };

/** What a role's body is given besides its context: the role factories and the logger, loaded when a role runs. */
interface RoleKit {
  roles: typeof import('../../roles/installation.js');
  createLogger: typeof import('../../util/log.js').createLogger;
}

/** Runs a long-lived role until SIGINT/SIGTERM, then closes the store cleanly. */
async function runRole(
  options: PathOptions, role: string, body: (context: Context, signal: AbortSignal, kit: RoleKit) => Promise<void>,
): Promise<void> {
  // Before the store is opened: a signal while the role starts stops it once started, rather than killing it mid-open.
  const controller = new AbortController();
  void stopSignal().then(() => controller.abort());
  const [roles, { createLogger }] =
    await Promise.all([import('../../roles/installation.js'), import('../../util/log.js')]);
  await withContext(options, async (context) => {
    const log = createLogger(role);
    await checkSelfDependenciesAtStart(context.config, context.inventory, () => context.store.readInventory(), log);
    const stopFollowing = await followInventory(context, log);
    const started = { config: context.configPath, data: context.dataDir, inventoryVersion: context.inventoryVersion };
    log.info(started, `${role} started`);
    try {
      await body(context, controller.signal, { roles, createLogger });
    } finally {
      stopFollowing();
    }
  });
}

function registerPlanner(program: Command): void {
  withPaths(program.command('planner').description('compute and publish plans while holding the leader lease'))
    .option('--id <id>', 'planner id', `planner@${hostname()}:${process.pid}`)
    .option('--once', 'publish at most one plan and exit')
    .option('--force', 'with --once: publish even if the safety threshold refuses the plan')
    .action(async (options: RoleOptions & { once?: boolean; force?: boolean }) => {
      await runRole(options, 'planner', async (context, signal, { roles, createLogger }) => {
        const planner = roles.makePlanner(context, options.id, { log: createLogger('planner', { id: options.id }) });
        if (!options.once) return planner.run(signal);
        const result = await planner.tick(options.force ?? false);
        await planner.release();
        process.stdout.write(`${JSON.stringify(result)}\n`);
        // Held withdrawals are a refusal too (help: exit 3): the operator must look, or --force.
        if (result.kind === 'refused' || result.kind === 'held') process.exitCode = 3;
      });
    });
}

/**
 * `dnsplane planner|enactor|checker|janitor|reconciler`: the long-running roles (`dnsplane up` runs each as a
 * child), until SIGINT/SIGTERM.
 */
export function registerRoleCommands(program: Command): void {
  registerPlanner(program);

  withPaths(program.command('enactor').description('apply the newest plan with compare-and-swap writes'))
    .requiredOption('--id <id>', 'enactor id, unique per process (e.g. az1)')
    .action(async (options: RoleOptions) => {
      await runRole(options, 'enactor', async (context, signal, { roles, createLogger }) => {
        // One loop per zone (several with `zones:`): a zone whose provider fails does not hold up the others.
        const enactors = roles.makeEnactors(context, options.id, { log: createLogger('enactor', { id: options.id }) });
        await Promise.all(enactors.map((enactor) => enactor.run(signal)));
      });
    });

  const checkerText = 'probe every target and publish this checker\'s view; a majority of the live checkers decides'
    + ' the health the planner reads';
  withPaths(program.command('checker').description(checkerText))
    .option('--id <id>', 'checker id, unique per checker (run several, in different places)', 'checker')
    .action(async (options: RoleOptions) => {
      await runRole(options, 'checker', (context, signal, { roles, createLogger }) =>
        roles.makeChecker(context, options.id, { log: createLogger('checker', { id: options.id }) }).run(signal));
    });

  withPaths(program.command('janitor').description('delete old plans that nothing enacts or holds (S4)'))
    .action(async (options: PathOptions) => {
      await runRole(options, 'janitor', (context, signal, { roles, createLogger }) =>
        roles.makeJanitor(context, { log: createLogger('janitor') }).run(signal));
    });

  withPaths(program.command('reconciler').description('detect and repair drift between DNS and the plan (L2)'))
    .action(async (options: PathOptions) => {
      await runRole(options, 'reconciler', (context, signal, { roles, createLogger }) =>
        roles.makeReconciler(context, { log: createLogger('reconciler') }).run(signal));
    });
}
