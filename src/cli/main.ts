import { Command, Option } from 'commander';
import { hostname } from 'node:os';
import { followInventory, type Context, type PathOptions } from './context.js';
import { exitWhenOrphaned, print, withContext, withPaths, withReadContext } from './common.js';
import { registerServeCommand } from './commands/serve.js';
import { registerApiCommand } from './commands/api.js';
import { registerSimCommand } from './commands/sim.js';
import { registerUpCommand } from './commands/up.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerInventoryCommands } from './commands/inventory.js';
import { registerSchemaCommand } from './commands/schema.js';
import { describeProgram } from './help.js';
import { makeChecker, makeEnactor, makeJanitor, makePlanner, makeReconciler } from './roles.js';
import { readAllServed, statusReport } from '../status/report.js';
import { createLogger, setLogLevel } from '../util/log.js';
import { InvariantViolation, UserError } from '../util/assert.js';
import { normalizeName } from '../domain/names.js';
import { recordSetKey, type EndpointSpec } from '../domain/types.js';

type Common = PathOptions & { json?: boolean };

/** Runs a long-lived role until SIGINT/SIGTERM, then closes the store cleanly. */
async function runRole(options: PathOptions, role: string, body: (context: Context, signal: AbortSignal) => Promise<void>): Promise<void> {
  await withContext(options, async (context) => {
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const log = createLogger(role);
    const stopFollowing = await followInventory(context, log);
    log.info({ config: context.configPath, data: context.dataDir, inventoryVersion: context.inventoryVersion }, `${role} started`);
    try {
      await body(context, controller.signal);
    } finally {
      stopFollowing();
    }
  });
}

/** The inventory the installation serves: the store's newest version, or the config's endpoints before any is stored. */
async function servedInventory(context: Context): Promise<EndpointSpec[]> {
  return (await context.store.readInventory())?.endpoints ?? context.inventory;
}

/** Refuses a target no endpoint of the served inventory has: an override or a lookup for it would do nothing. */
async function requireKnownTarget(context: Context, target: string): Promise<void> {
  const inventory = await servedInventory(context);
  if (!inventory.some((endpoint) => endpoint.targets.some((t) => t.id === target))) throw new UserError(`unknown target "${target}" (not in the served inventory)`);
}

function formatAge(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`;
}

export function buildProgram(): Command {
  const program = new Command('dnsplane')
    .description('DNS control plane for load-balanced services: planner, racing enactors with compare-and-swap, safe clean-up, self-repair')
    .showHelpAfterError()
    .exitOverride();

  withPaths(program.command('planner').description('compute and publish plans while holding the leader lease'))
    .option('--id <id>', 'planner id', `planner@${hostname()}:${process.pid}`)
    .option('--once', 'publish at most one plan and exit')
    .option('--force', 'with --once: publish even if the safety threshold refuses the plan')
    .action(async (options: Common & { id: string; once?: boolean; force?: boolean }) => {
      await runRole(options, 'planner', async (context, signal) => {
        const planner = makePlanner(context, options.id, { log: createLogger('planner', { id: options.id }) });
        if (!options.once) return planner.run(signal);
        const result = await planner.tick(options.force ?? false);
        await planner.release();
        process.stdout.write(`${JSON.stringify(result)}\n`);
        if (result.kind === 'refused') process.exitCode = 3;
      });
    });

  withPaths(program.command('enactor').description('apply the newest plan with compare-and-swap writes'))
    .requiredOption('--id <id>', 'enactor id, unique per process (e.g. az1)')
    .action(async (options: Common & { id: string }) => {
      await runRole(options, 'enactor', (context, signal) => makeEnactor(context, options.id, { log: createLogger('enactor', { id: options.id }) }).run(signal));
    });

  withPaths(program.command('checker').description('probe every target and publish this checker\'s view; a majority of the live checkers decides the health the planner reads'))
    .option('--id <id>', 'checker id, unique per checker (run several, in different places)', 'checker')
    .action(async (options: Common & { id: string }) => {
      await runRole(options, 'checker', (context, signal) => makeChecker(context, options.id, { log: createLogger('checker', { id: options.id }) }).run(signal));
    });

  withPaths(program.command('janitor').description('delete old plans that nothing enacts or holds (S4)')).action(async (options: Common) => {
    await runRole(options, 'janitor', (context, signal) => makeJanitor(context, { log: createLogger('janitor') }).run(signal));
  });

  withPaths(program.command('reconciler').description('detect and repair drift between DNS and the plan (L2)')).action(async (options: Common) => {
    await runRole(options, 'reconciler', (context, signal) => makeReconciler(context, { log: createLogger('reconciler') }).run(signal));
  });

  withPaths(program.command('status').description('generations, convergence, enactors and alarms'))
    .option('--json', 'machine-readable output')
    .action(async (options: Common) => {
      await withReadContext(options, async (context) => {
        const report = await statusReport(context);
        print(options.json, report, () => [
          `zone ${report.zone}: newest generation ${report.generation.latest} (oldest kept ${report.generation.oldest})`,
          `names: ${report.names.converged}/${report.names.total} on the newest plan${report.names.behind.length > 0 ? `; behind: ${report.names.behind.join(', ')}` : ''}`,
          'enactors:',
          ...report.enactors.map((e) => `  ${e.id.padEnd(12)} held ${e.heldGeneration} enacted ${e.enactedGeneration} heartbeat ${formatAge(e.heartbeatAgeMs)} ago${e.alive ? '' : ' (dead)'}`),
          `checkers: ${report.health.checkers.length === 0 ? 'none has reported' : `${report.health.voters.length} voting`}`,
          ...report.health.checkers.map((c) => `  ${c.id.padEnd(12)} probed ${c.probed} down ${c.downTotal}${c.down.length > 0 ? ` (${c.down.join(', ')}${c.downTotal > c.down.length ? ', …' : ''})` : ''} heartbeat ${formatAge(c.heartbeatAgeMs)} ago${c.alive ? '' : ' (dead)'}${c.suspect ? ' (suspects itself: not counted)' : ''}`),
          ...report.health.disagreements.map((d) => `  disagree on ${d.target}: down for ${d.down.join(', ')}; up for ${d.up.join(', ')}`),
          `alarms: ${report.alarms.length === 0 ? 'none' : ''}`,
          ...report.alarms.map((a) => `  [${a.kind}] ${a.name}: ${a.message} (x${a.count})`),
        ].join('\n'));
      });
    });

  withPaths(program.command('records [name]').description('what DNS serves, with each name\'s enacted generation'))
    .option('--json', 'machine-readable output')
    .action(async (name: string | undefined, options: Common) => {
      await withReadContext(options, async (context) => {
        let states = await readAllServed(context);
        if (name !== undefined) {
          const wanted = normalizeName(name);
          states = states.filter((state) => state.name === wanted || state.name === `${wanted}.${context.zone}`);
          if (states.length === 0) throw new UserError(`no served records for "${name}"`);
        }
        print(options.json, states, () => states.map((s) => `${s.name}  gen ${s.generation}  ${recordSetKey(s.records)}`).join('\n'));
      });
    });

  withPaths(program.command('plans').description('published plans, newest first'))
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'machine-readable output')
    .action(async (options: Common & { limit: string }) => {
      await withReadContext(options, async (context) => {
        const plans = await context.store.listPlans(Math.max(1, Number(options.limit) || 50));
        print(options.json, plans, () => plans.map((p) => `gen ${p.generation}  ${new Date(p.createdAtMs).toISOString()}  ${p.namesChanged}/${p.namesTotal} changed  by ${p.plannerId} (token ${p.fencingToken})  inventory v${p.inventoryVersion ?? 0}${p.forced ? '  FORCED' : ''}`).join('\n'));
      });
    });

  withPaths(program.command('history <name>').description('every enacted change of a name'))
    .option('--limit <n>', 'how many', '100')
    .option('--json', 'machine-readable output')
    .action(async (name: string, options: Common & { limit: string }) => {
      await withReadContext(options, async (context) => {
        const wanted = normalizeName(name);
        const full = wanted.endsWith(context.zone) ? wanted : `${wanted}.${context.zone}`;
        // A name the inventory never had has no history; saying nothing would look like a name that never changed.
        if (!(await servedInventory(context)).some((endpoint) => endpoint.name === full)) throw new UserError(`unknown name "${name}" (${full} is not in the served inventory)`);
        const entries = await context.store.readHistory(full, Math.max(1, Number(options.limit) || 100));
        print(options.json, entries, () => entries.map((e) => `${new Date(e.atMs).toISOString()}  ${e.kind.padEnd(6)} ${e.fromGeneration} -> ${e.toGeneration}  by ${e.actor}${e.detail ? `  (${e.detail})` : ''}`).join('\n'));
      });
    });

  const health = program.command('health').description('target health (operator overrides)');
  withPaths(health.command('set <target> <state>').description('set a target up or down'))
    .action(async (target: string, state: string, options: Common) => {
      if (state !== 'up' && state !== 'down') throw new UserError(`state must be "up" or "down", not "${state}"`);
      await withContext(options, async (context) => {
        await requireKnownTarget(context, target);
        await context.store.setHealth(target, state, 'operator');
        process.stdout.write(`${target} ${state}\n`);
      });
    });
  withPaths(health.command('clear <target>').description('remove an operator override')).action(async (target: string, options: Common) => {
    await withContext(options, async (context) => {
      await requireKnownTarget(context, target);
      // Only an operator's row is an override: the checkers' row is their verdict and must stay. The store has no
      // "delete if operator", so the row is read first; if another operator cleared it and a checker wrote its row
      // between this read and the delete, that checker row would be deleted (a store-side delete-if-operator would close this).
      const row = (await context.store.readHealth()).find((record) => record.target === target);
      if (row === undefined || row.source !== 'operator') {
        process.stdout.write(`no override on ${target}${row === undefined ? '' : ` (its health is ${row.state}, from ${row.source})`}\n`);
        return;
      }
      const removed = await context.store.clearHealth(target);
      process.stdout.write(removed ? `${target}: override cleared (was ${row.state})\n` : `no override on ${target}\n`);
    });
  });
  withPaths(health.command('list').description('health of every target'))
    .option('--json', 'machine-readable output')
    .action(async (options: Common) => {
      await withContext(options, async (context) => {
        const records = await context.store.readHealth();
        print(options.json, records, () => records.map((r) => `${r.target} ${r.state} (${r.source})`).join('\n'));
      });
    });

  registerServeCommand(program);
  registerApiCommand(program);
  registerSimCommand(program);
  registerUpCommand(program);
  registerDemoCommand(program);
  registerInventoryCommands(program);
  registerSchemaCommand(program);
  for (const command of program.commands) command.exitOverride();
  describeProgram(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  setLogLevel(process.env.DNSPLANE_LOG_LEVEL ?? 'info');
  exitWhenOrphaned();
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    if (typeof code === 'string' && code.startsWith('commander.')) return 2;
    if (error instanceof UserError) {
      process.stderr.write(`error: ${error.message}\n`);
      return 2;
    }
    if (error instanceof InvariantViolation) {
      process.stderr.write(`FATAL ${error.message}\n`);
      return 70;
    }
    process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}
