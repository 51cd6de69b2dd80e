import { Command } from 'commander';
import { exitWhenOrphaned } from './common.js';
import { registerRoleCommands } from './commands/roles.js';
import { registerStatusCommands } from './commands/status.js';
import { registerHealthCommand } from './commands/health.js';
import { registerServeCommand } from './commands/serve.js';
import { registerApiCommand } from './commands/api.js';
import { registerSimCommand } from './commands/sim.js';
import { registerUpCommand } from './commands/up.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerInventoryCommands } from './commands/inventory.js';
import { registerGraphCommands } from './commands/graph.js';
import { registerSchemaCommand } from './commands/schema.js';
import { registerImportCommand } from './commands/import.js';
import { registerOwnershipCommands } from './commands/ownership.js';
import { describeProgram } from './help.js';
import { InvariantViolation, UserError } from '../util/assert.js';

/**
 * The program: every command is defined in its module under commands/ and only registered here, in the order
 * `dnsplane --help` lists them. A command module imports, when `dnsplane` starts, only what defining its commands
 * needs; what an action needs (config loader, store, provider, server, API, simulator, logger) it imports when it runs,
 * so `dnsplane --help` starts in a tenth of a second rather than loading zod, SQLite, etcd, Fastify and pino first
 * (test/cli/start.test.ts checks which modules it loads).
 */
export function buildProgram(): Command {
  const program = new Command('dnsplane')
    .description('DNS control plane for load-balanced services: planner, racing enactors with compare-and-swap,'
      + ' safe clean-up, self-repair')
    .showHelpAfterError()
    .exitOverride();
  registerRoleCommands(program);
  registerStatusCommands(program);
  registerHealthCommand(program);
  registerServeCommand(program);
  registerApiCommand(program);
  registerSimCommand(program);
  registerUpCommand(program);
  registerDemoCommand(program);
  registerInventoryCommands(program);
  registerGraphCommands(program);
  registerSchemaCommand(program);
  registerImportCommand(program);
  registerOwnershipCommands(program);
  for (const command of program.commands) command.exitOverride();
  describeProgram(program);
  return program;
}

/**
 * Runs one command line and returns its exit code (DESIGN.md §5): 2 for bad input — commander's own usage errors
 * (it has printed them) and every UserError, among them a bad number from an option's parser (see common.ts).
 */
export async function main(argv: string[]): Promise<number> {
  exitWhenOrphaned();
  const program = buildProgram();
  // The level of every logger a command creates; the logger (pino) is loaded before an action runs, not for --help.
  program.hook('preAction', async () => {
    const { setLogLevel } = await import('../util/log.js');
    setLogLevel(process.env.DNSPLANE_LOG_LEVEL ?? 'info');
  });
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
