import type { Command } from 'commander';
import { assert } from '../util/assert.js';
import { version } from '../util/version.js';

/**
 * `--version`, and the exit codes at the end of every command's `--help`
 * (commander lists the flags itself). The codes are those `main` returns;
 * a command with codes of its own names them in `exitCodesOwn`.
 */

const exitCodesCommon: readonly (readonly [number, string])[] = [
  [0, 'success (a long-running role: stopped by SIGINT or SIGTERM and shut down cleanly)'],
  [1, 'an unexpected error (its message and stack on stderr)'],
  [2, 'bad input: an unknown command or flag, a bad value, an invalid config (nothing was changed)'],
  [70, 'an invariant was violated: a bug in dnsplane; the step was refused and the message names the rule'],
];

/** Codes beyond the common ones, by command path ("planner", "health set"). */
const exitCodesOwn: Record<string, readonly (readonly [number, string])[]> = {
  planner: [
    [3, 'with --once: the safety threshold refused the plan, or health withdrawals were held (--force publishes it)'],
  ],
  sim: [[1, 'a run broke an invariant (the output gives the seed that reproduces it)']],
  serve: [[1, 'the DNS server gave up (it could not listen or serve)']],
  diff: [[0, 'no change'], [1, 'changes: FILE differs from the stored inventory']],
  'plan': [[0, 'no change'], [1, 'changes: the next plan would change names']],
  apply: [
    [0, 'applied, or nothing to change'],
    [1, 'another apply stored a version first: run diff again'],
    [3, 'refused: above safety.maxChangedFraction (--force applies it, audited)'],
  ],
  import: [
    [1, 'the zone transfer failed (refused, TSIG rejected, timed out, no connection); nothing was written'],
    [2, 'bad flags, or a zone with no A/AAAA name to import; nothing was written'],
  ],
  'inventory rollback': [
    [0, 'applied, or nothing to change'],
    [1, 'another apply stored a version first'],
    [3, 'refused: above safety.maxChangedFraction (--force applies it, audited)'],
  ],
};

/** Most subcommands visited (a bound on the walk; dnsplane has a few dozen). */
const commandsMax = 500;

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at = command; at.parent !== null; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/** The "Exit codes:" section of one command's help. */
export function exitCodesHelp(path: string): string {
  const meanings = new Map<number, string[]>();
  for (const [code, meaning] of [...(exitCodesOwn[path] ?? []), ...exitCodesCommon]) {
    meanings.set(code, [...(meanings.get(code) ?? []), meaning]);
  }
  const lines = [...meanings]
    .sort(([a], [b]) => a - b)
    .map(([code, texts]) => `  ${String(code).padEnd(4)}${texts.join('; or ')}`);
  return `\nExit codes:\n${lines.join('\n')}`;
}

/** Adds `-V, --version` to the program and the exit codes to the help of the program and every command under it. */
export function describeProgram(program: Command): void {
  program.version(version, '-V, --version', 'print the version of dnsplane and exit');
  const queue: Command[] = [program];
  for (let visited = 0; queue.length > 0; visited += 1) {
    assert(visited < commandsMax, 'internal', `more than ${commandsMax} commands`);
    const command = queue.shift()!;
    command.addHelpText('after', exitCodesHelp(commandPath(command)));
    queue.push(...command.commands);
  }
}
