// Goal: one place for each command. Every command is defined in a module of src/cli/commands/ and src/cli/main.ts
// only registers them. Method: main.ts's source has no `.command(` call, and the program it builds has exactly the
// commands (and subcommands) that the `register*` functions of the command modules add to an empty program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';

const cliDir = join(import.meta.dirname, '..', '..', 'src', 'cli');
const commandsDir = join(cliDir, 'commands');

test('src/cli/main.ts defines no command: every one comes from a module of commands/', async () => {
  const main = readFileSync(join(cliDir, 'main.ts'), 'utf8');
  assert.doesNotMatch(main, /\.command\(/, 'main.ts calls .command(');
  assert.doesNotMatch(main, /\.addCommand\(/, 'main.ts calls .addCommand(');

  const registered = new Command('dnsplane');
  const modules = readdirSync(commandsDir).filter((name) => name.endsWith('.ts')).sort();
  for (const name of modules) {
    const module = (await import(join(commandsDir, name))) as Record<string, unknown>;
    for (const [exported, value] of Object.entries(module)) {
      if (!/^register[A-Z]/.test(exported) || typeof value !== 'function') continue;
      assert.ok(main.includes(`import { ${exported} } from './commands/${name.replace(/\.ts$/, '.js')}';`),
        `main.ts registers ${exported} of commands/${name}`);
      (value as (program: Command) => void)(registered);
    }
  }
  const names = (command: Command) => command.commands.map((sub) => sub.name());
  const built = buildProgram();
  assert.deepEqual(names(built).sort(), names(registered).sort(), 'the program has the commands the modules define');
  for (const command of built.commands) {
    const twin = registered.commands.find((candidate) => candidate.name() === command.name())!;
    assert.deepEqual(names(command), names(twin), `the subcommands of ${command.name()}`);
  }
  assert.ok(built.commands.length >= 20, `every command is there (${built.commands.length})`);
});
