import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { IWatchResponse } from 'etcd3';
import { keys } from '../../src/store/etcd/keys.js';
import { revisionOf, type EtcdConnection } from '../../src/store/etcd/client.js';
import { decodeServed } from '../../src/providers/builtin/etcd.js';
import type { Provider } from '../../src/providers/types.js';
import type { Store } from '../../src/store/types.js';
import { randomInt, type Rng } from '../../src/util/clock.js';
import { pollUntil, repoRoot, spawnProcess, type Child } from './env.js';

/**
 * Test enactors with the provider faults of test/helpers/fault-provider.ts, and what the tests read back: the
 * lines those faults print (what really happened in each process) and, on etcd, every write of a served name
 * replayed from etcd's own history.
 */

export interface ProviderFaults {
  delayMs?: number;
  hangMidApply?: number;
  loseAcks?: number;
  logApplied?: boolean;
}

/** test/helpers/test-enactor.ts with these faults around its provider. */
export function spawnFaultEnactor(id: string, paths: { configPath: string; data: string }, faults: ProviderFaults): Child {
  const script = join(repoRoot, 'test', 'helpers', 'test-enactor.ts');
  const args = ['--import', 'tsx', script, '--id', id, '--config', paths.configPath, '--data', paths.data];
  if (faults.delayMs !== undefined) args.push('--delay-ms', String(faults.delayMs));
  if (faults.hangMidApply !== undefined) args.push('--hang-mid-apply', String(faults.hangMidApply));
  if (faults.loseAcks !== undefined) args.push('--lose-acks', String(faults.loseAcks));
  if (faults.logApplied === true) args.push('--log-applied');
  return spawnProcess(process.execPath, args);
}

function lines(stdout: string, word: string): string[][] {
  return stdout.split('\n').filter((line) => line.startsWith(`${word} `)).map((line) => line.split(' ').slice(1));
}

export interface AppliedWrite {
  name: string;
  generation: number;
  version: string;
}

/** The `applied` lines of a process: every write its provider reported applied, lost answers included. */
export function appliedWrites(stdout: string): AppliedWrite[] {
  return lines(stdout, 'applied').map(([name, generation, version]) => ({ name: name!, generation: Number(generation), version: version! }));
}

/** The `inside-apply` line of a hanging incarnation: the plan it applied, the names written and those never sent. */
export function insideApply(stdout: string): { generation: number; wrote: string[]; pending: string[] } | null {
  const found = lines(stdout, 'inside-apply')[0];
  if (found === undefined) return null;
  return { generation: Number(found[1]), wrote: found[2]!.split(','), pending: found[3]!.split(',') };
}

/** The `lost-ack` lines: each apply whose writes were made and whose answer was then lost. */
export function lostAcks(stdout: string): { generation: number; names: string[] }[] {
  return lines(stdout, 'lost-ack').map(([generation, names]) => ({ generation: Number(generation), names: names!.split(',') }));
}

/**
 * Asserts that every lost answer was followed by a read of each of its names (the retry decided again from what is
 * served), in the order the process printed them.
 */
export function assertRereadAfterLoss(stdout: string): void {
  const owed = new Set<string>();
  for (const line of stdout.split('\n')) {
    const [word, ...rest] = line.split(' ');
    if (word === 'lost-ack') for (const name of rest[1]!.split(',')) owed.add(name);
    if (word === 'reread') for (const name of rest[0]!.split(',')) owed.delete(name);
  }
  assert.deepEqual([...owed], [], 'every name whose answer was lost was read again before the next decision on it');
}

/**
 * No double apply: each (name, generation) was written once over all processes' applied outcomes. Returns the
 * version each write made, by "name@generation".
 */
export function assertEachGenerationWrittenOnce(writes: readonly AppliedWrite[]): Map<string, string> {
  const versions = new Map<string, string>();
  const twice: string[] = [];
  for (const write of writes) {
    const key = `${write.name}@${write.generation}`;
    if (versions.has(key)) twice.push(`${key} (versions ${versions.get(key)} and ${write.version})`);
    versions.set(key, write.version);
  }
  assert.deepEqual(twice.slice(0, 10), [], 'no generation of a name was written twice');
  return versions;
}

/**
 * What is served now, read through `provider`, was written by one of the counted writes: each name's version at its
 * generation is the version that write reported (a second, unreported write at the same generation would show here).
 */
export async function assertServedIsCounted(provider: Provider, names: readonly string[], versions: ReadonlyMap<string, string>): Promise<number> {
  const states = await provider.read(names);
  const stray: string[] = [];
  for (const state of states.values()) {
    const counted = versions.get(`${state.name}@${state.generation}`);
    if (counted !== state.version) stray.push(`${state.name}@${state.generation} serves version ${state.version}, the counted write made ${counted}`);
  }
  assert.deepEqual(stray.slice(0, 10), [], 'every served version is one counted write');
  return states.size;
}

/**
 * Every write of a served name on etcd since revision 1, from etcd's own history (a watch replayed from revision 1;
 * dnsplane never compacts): name, generation, revision. Each apply transaction also puts served-meta, whose mod
 * revision is therefore the last write's: the replay stops there.
 */
export async function etcdServedWrites(etcd: EtcdConnection): Promise<{ name: string; generation: number; revision: number }[]> {
  const last = await etcd.get(keys.servedMeta);
  assert.ok(last !== null, 'an apply has run');
  const until = revisionOf(last.mod_revision);
  const writes: { name: string; generation: number; revision: number }[] = [];
  let reached = 0;
  const watcher = await etcd.client.watch().prefix(etcd.key('served')).startRevision('1').create();
  try {
    watcher.on('data', (response: IWatchResponse) => {
      for (const event of response.events) {
        const revision = revisionOf(event.kv.mod_revision);
        reached = Math.max(reached, revision);
        const path = etcd.path(event.kv.key);
        if (event.type !== 'Put' || !path.startsWith(keys.servedPrefix)) continue;
        const name = path.slice(keys.servedPrefix.length);
        writes.push({ name, generation: decodeServed(name, event.kv).generation, revision });
      }
    });
    await pollUntil(() => reached >= until, `etcd's history to be replayed up to revision ${until}`, 30_000, 20);
  } finally {
    await watcher.cancel();
  }
  return writes;
}

/**
 * Health changes on about `flips` random targets (t<name>-<0..2> of sampleConfig), then one plan from `churnOnce`: several
 * names change in one plan, so one apply of an enactor holds several changes (and a cut in its middle leaves some).
 */
export function churnSeveral(
  store: Pick<Store, 'setHealthMany'>, churnOnce: () => Promise<unknown>, namesCount: number, rng: Rng, flips = 6,
): () => Promise<void> {
  const targets = Array.from({ length: namesCount * 3 }, (_, index) => `t${Math.floor(index / 3)}-${index % 3}`);
  return async () => {
    const changes = new Map<string, 'up' | 'down'>();
    for (let flip = 0; flip < flips; flip += 1) changes.set(targets[randomInt(rng, targets.length)]!, rng.next() < 0.5 ? 'down' : 'up');
    await store.setHealthMany([...changes].map(([target, state]) => ({ target, state })), 'test');
    await churnOnce();
  };
}

export interface Cut {
  generation: number;
  wrote: string[];
  pending: string[];
}

/**
 * One kill in the middle of a batch: `spawnVictim()` starts an incarnation with `hangMidApply`; plans are published
 * (`churn`) until it says it is inside an apply, half of it written; it is SIGKILLed there. Asserts that it died of
 * the kill, that what the first half wrote is served (through `provider`) at the batch's plan or a newer one (or was
 * removed by a newer one), and
 * that changes of the batch were left unsent; returns the cut.
 */
export async function killMidApply(spawnVictim: () => Child, churn: () => Promise<void>, provider: Provider): Promise<Cut> {
  const victim = spawnVictim();
  await pollUntil(async () => {
    if (insideApply(victim.stdout()) !== null) return true;
    assert.equal(victim.process.exitCode, null, `the victim exited before hanging in an apply: ${victim.stderr().slice(-1500)}`);
    await churn();
    return false;
  }, 'the victim to hang in the middle of a batch', 60_000, 100);
  victim.process.kill('SIGKILL');
  await victim.exited;
  assert.equal(victim.process.signalCode, 'SIGKILL', 'the victim died of the kill');
  const cut = insideApply(victim.stdout())!;
  // Served at that plan or a newer one, or removed since by a newer plan (its tombstone's generation).
  const states = await provider.read(cut.wrote);
  const removals = await provider.readRemovals(cut.wrote.filter((name) => !states.has(name)));
  for (const name of cut.wrote) {
    const generation = states.get(name)?.generation ?? removals.get(name) ?? 0;
    assert.ok(generation >= cut.generation, `${name} was written at ${cut.generation} before the kill (now at ${generation})`);
  }
  assert.ok(cut.pending.length > 0, 'the kill left changes of the batch unsent');
  return cut;
}
