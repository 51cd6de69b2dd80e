import { writeSync } from 'node:fs';
import type { ApplyChange, ApplyOutcome, Provider, ServedState } from '../../src/providers/types.js';

/**
 * Faults wrapped around any provider (built-in on etcd, RFC 2136, ...) for the test enactor
 * (test/helpers/test-enactor.ts), never switches in src/. Each wrapper forwards to the real provider and prints one
 * line per event on stdout, which the test reads (test/helpers/fault-lines.ts) to count what really happened:
 *
 * - `applied NAME GENERATION VERSION`: an apply outcome `applied`, printed before the apply returns or its answer is
 *   lost (loggingApplied);
 * - `inside-apply K GENERATION WROTE PENDING`: the K-th apply of two changes or more, cut in the middle: the first
 *   half was applied (WROTE names, comma-separated, at least one really written), the second half (PENDING) is never
 *   sent, and the process waits to be killed (hangingMidApply);
 * - `lost-ack GENERATION NAMES`: an apply that wrote NAMES and then threw as if its answer had been lost
 *   (losingAcks);
 * - `reread NAMES`: the first read after a lost answer that asks again for names whose answer was lost.
 */

/** A hang the test never ends (it did not kill) stops here, loudly, instead of holding on for ever. */
const hangMaxMs = 120_000;

export function printLine(line: string): void {
  writeSync(1, `${line}\n`);
}

type Apply = (changes: readonly ApplyChange[]) => Promise<ApplyOutcome[]>;

/** `inner` with another apply (and read); every other method is the inner provider's. */
export function withApply(inner: Provider, apply: (next: Apply) => Apply, read?: Provider['read']): Provider {
  const next = inner.apply.bind(inner);
  return Object.assign(Object.create(inner) as Provider, {
    apply: apply(next),
    ...(read === undefined ? {} : { read }),
  });
}

/** Prints every applied outcome with the generation and version it wrote. */
export function loggingApplied(inner: Provider): Provider {
  return withApply(inner, (next) => async (changes) => {
    const outcomes = await next(changes);
    const generations = new Map(changes.map((change) => [change.name, change.generation]));
    for (const outcome of outcomes) {
      if (outcome.outcome === 'applied') printLine(`applied ${outcome.name} ${generations.get(outcome.name)} ${outcome.version}`);
    }
    return outcomes;
  });
}

function appliedNames(outcomes: readonly ApplyOutcome[]): string[] {
  return outcomes.filter((outcome) => outcome.outcome === 'applied').map((outcome) => outcome.name);
}

/**
 * From the `hangAt`-th apply of two changes or more on: applies the first half, and if it wrote at least one name,
 * prints `inside-apply` and waits to be killed without sending the second half (with the built-in provider on etcd,
 * one transaction of the batch committed and the next not sent; with RFC 2136 and a small `updateNamesMax`, the
 * UPDATE messages of the first half answered and those of the second never sent). A first half that wrote nothing
 * (others were faster) is followed by the second, and the next apply is tried.
 */
export function hangingMidApply(inner: Provider, hangAt: number): Provider {
  let applies = 0;
  return withApply(inner, (next) => async (changes) => {
    if (changes.length < 2) return next(changes);
    applies += 1;
    if (applies < hangAt) return next(changes);
    const half = Math.floor(changes.length / 2);
    const first = await next(changes.slice(0, half));
    const wrote = appliedNames(first);
    if (wrote.length === 0) return [...first, ...(await next(changes.slice(half)))];
    const pending = changes.slice(half).map((change) => change.name);
    printLine(`inside-apply ${applies} ${changes[0]!.generation} ${wrote.join(',')} ${pending.join(',')}`);
    await new Promise((resolve) => setTimeout(resolve, hangMaxMs));
    writeSync(2, `test-enactor: not killed within ${hangMaxMs} ms of hanging inside an apply\n`);
    process.exit(1);
  });
}

/**
 * Loses the answer of every other apply that wrote something (the 1st, 3rd, 5th, ...), `count` times in all: the
 * writes are made, then the apply throws as a lost answer would (a timeout, a connection reset). The caller (the
 * enactor) must retry from a fresh read: the first read after a loss that asks for one of its names prints `reread`.
 */
export function losingAcks(inner: Provider, count: number): Provider {
  let writing = 0;
  let lost = 0;
  const unanswered = new Set<string>();
  const read = async (names: readonly string[]): Promise<Map<string, ServedState>> => {
    const again = names.filter((name) => unanswered.has(name));
    if (again.length > 0) {
      printLine(`reread ${again.join(',')}`);
      for (const name of again) unanswered.delete(name);
    }
    return inner.read(names);
  };
  return withApply(inner, (next) => async (changes) => {
    const outcomes = await next(changes);
    const wrote = appliedNames(outcomes);
    if (wrote.length === 0 || lost >= count) return outcomes;
    writing += 1;
    if (writing % 2 === 0) return outcomes;
    lost += 1;
    for (const name of wrote) unanswered.add(name);
    printLine(`lost-ack ${changes[0]!.generation} ${wrote.join(',')}`);
    throw new Error(`test-enactor: the answer to an apply of ${changes.length} changes was lost (${lost} of ${count})`);
  }, read);
}
