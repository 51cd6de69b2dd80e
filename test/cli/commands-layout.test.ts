// Goal: one place for each command and one parser for numbers in src/cli. Every command is defined in a module of
// src/cli/commands/ and src/cli/main.ts only registers them; and no module of src/cli turns text into a number
// except through src/cli/common.ts (`parseWholeNumber`, `integerOption`, `portOption`), so that no flag can again
// fall back to a default on bad input. Method: main.ts's source has no `.command(` call; the program it builds has
// exactly the commands (and subcommands) that the `register*` functions of the command modules add to an empty
// program; and the sources of src/cli hold no `Number(`, `parseInt`, `parseFloat` or unary `+` on an option outside
// common.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';

const cliDir = join(import.meta.dirname, '..', '..', 'src', 'cli');
const commandsDir = join(cliDir, 'commands');

/** The TypeScript files of a folder, recursively, as paths relative to `cliDir`. */
function sources(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isDirectory()) return sources(join(dir, entry.name), `${prefix}${entry.name}/`);
    return entry.name.endsWith('.ts') ? [`${prefix}${entry.name}`] : [];
  }).sort();
}

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

test('no module of src/cli turns text into a number except through common.ts', () => {
  const files = sources(cliDir);
  assert.ok(files.includes('commands/inventory.ts'), 'the walk reaches commands/');
  for (const file of files) {
    if (file === 'common.ts') continue;
    const text = readFileSync(join(cliDir, file), 'utf8');
    for (const pattern of [/\bNumber\(/, /\bparseInt\(/, /\bparseFloat\(/, /\bBigInt\(/, /[(=,:?]\s*\+\s*options\./]) {
      assert.doesNotMatch(text, pattern, `${file}: a number parsed outside src/cli/common.ts`);
    }
  }
});
