// Goal: `dnsplane --version` prints the package's version, and `--help` of
// every command (subcommands included) lists its flags and the exit codes
// `main` returns. Method: the real binary for the version and one help, then
// every command of the program built in-process, its help captured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';

const binary = fileURLToPath(new URL('../../bin/dnsplane.mjs', import.meta.url));
const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function run(...args: string[]) {
  return spawnSync(process.execPath, [binary, ...args], { encoding: 'utf8' });
}

function helpOf(command: Command): string {
  let text = '';
  command.configureOutput({ writeOut: (chunk) => { text += chunk; }, writeErr: (chunk) => { text += chunk; } });
  command.outputHelp();
  return text;
}

test('--version and -V print the version and exit 0', () => {
  for (const flag of ['--version', '-V']) {
    const result = run(flag);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `${packageVersion}\n`);
  }
});

test('every command\'s --help lists its flags and the exit codes', () => {
  const result = run('planner', '--help');
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /--once/);
  assert.match(result.stdout, /Exit codes:\n {2}0 {3}success/);
  assert.match(result.stdout, /\n {2}3 {3}with --once/, 'the planner\'s own code');

  const queue: Command[] = [buildProgram()];
  let checked = 0;
  while (queue.length > 0) {
    const command = queue.shift()!;
    queue.push(...command.commands);
    const help = helpOf(command);
    for (const option of command.options) assert.ok(help.includes(option.flags), `${command.name()} --help lists ${option.flags}`);
    assert.ok(help.includes('--help'), `${command.name()} --help lists --help`);
    for (const code of ['0', '1', '2', '70']) assert.match(help, new RegExp(`Exit codes:[\\s\\S]*\\n  ${code} +\\S`), `${command.name()} --help gives exit code ${code}`);
    checked += 1;
  }
  assert.ok(checked >= 15, `every command visited (${checked})`);
});
