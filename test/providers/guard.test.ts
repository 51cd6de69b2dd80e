// Goal: the guard (src/providers/guard.ts), not the provider, makes a broken
// provider loud: an empty set never reaches it (S1), a write that went below
// the served generation or a refusal that hides one throws (S2), and missing,
// reordered or misnamed outcomes throw. Method: a deliberately broken,
// test-only provider that writes whatever it is handed, with no compare at
// all, extends the guard like every real provider; its unguarded write is
// called directly to show that it would not have thrown by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Generation } from '../../src/domain/types.js';
import { GuardedProvider, type GuardedChange, type SwapOutcome } from '../../src/providers/guard.js';
import type { ApplyChange, ServedState } from '../../src/providers/types.js';
import { InvariantViolation } from '../../src/util/assert.js';
import { recordSet } from './contract.js';

/** Writes every change it is handed, whatever the version or generation; reports honestly what it replaced. */
class BrokenProvider extends GuardedProvider {
  readonly kind = 'broken';
  readonly served = new Map<string, ServedState>();
  versionLast = 0;
  swaps = 0;
  /** Lets a test damage the outcomes before the guard sees them. */
  damage: (outcomes: SwapOutcome[]) => SwapOutcome[] = (outcomes) => outcomes;

  async read(names: readonly string[]): Promise<Map<string, ServedState>> {
    return new Map(names.flatMap((name) => (this.served.has(name) ? [[name, this.served.get(name)!] as const] : [])));
  }

  async list(): Promise<ServedState[]> {
    return [...this.served.values()];
  }

  async readRemovals(): Promise<Map<string, Generation>> {
    return new Map();
  }

  async close(): Promise<void> {}

  /** The write without the guard, as the provider alone would do it. */
  unguarded(changes: readonly ApplyChange[]): Promise<SwapOutcome[]> {
    return this.compareAndSwap(changes as GuardedChange[]);
  }

  protected async compareAndSwap(changes: readonly GuardedChange[]): Promise<SwapOutcome[]> {
    this.swaps += 1;
    return this.damage(changes.map((change): SwapOutcome => {
      const replaced = this.served.get(change.name)?.generation ?? null;
      this.versionLast += 1;
      const version = String(this.versionLast);
      if (change.records === null) this.served.delete(change.name);
      else this.served.set(change.name, { ...change, version, records: change.records });
      return { name: change.name, outcome: 'applied', version, replaced };
    }));
  }
}

function throwsInvariant(invariant: string) {
  return (error: unknown) => error instanceof InvariantViolation && error.invariant === invariant;
}

const name = 'broken.dnsplane.test';

test('an empty set is refused by the guard before the broken provider can write it (S1)', async () => {
  const provider = new BrokenProvider();
  const empty = { name, records: [], generation: 1, expectedVersion: null };
  await assert.rejects(provider.apply([empty]), throwsInvariant('S1'));
  assert.equal(provider.swaps, 0, 'the provider was never called');
  assert.equal(provider.served.size, 0);
  await provider.unguarded([empty]);
  assert.deepEqual(provider.served.get(name)?.records, [], 'unguarded, it writes the empty set');
});

test('a write the broken provider took backwards is made loud by the guard (S2)', async () => {
  const provider = new BrokenProvider();
  const first = { name, records: recordSet('192.0.2.1'), generation: 5, expectedVersion: null };
  const [created] = await provider.apply([first]);
  assert.equal(created?.outcome, 'applied');
  const backwards = { name, records: recordSet('192.0.2.2'), generation: 4, expectedVersion: 'whatever' };
  const [alone] = await provider.unguarded([backwards]);
  assert.deepEqual(alone, { name, outcome: 'applied', version: '2', replaced: 5 }, 'by itself it does not notice');
  await assert.rejects(provider.apply([{ ...backwards, generation: 3 }]), throwsInvariant('S2'));
  const removal = { ...backwards, records: null, generation: 2 };
  await assert.rejects(provider.apply([removal]), throwsInvariant('S2'), 'a removal too');
});

test('a refusal although the version matched, and a superseded update, are caught (S2, internal)', async () => {
  const provider = new BrokenProvider();
  const change = { name, records: recordSet('192.0.2.1'), generation: 4, expectedVersion: '7' };
  provider.damage = () => [{ name, outcome: 'conflict', found: { generation: 6, version: '7' } }];
  await assert.rejects(provider.apply([change]), throwsInvariant('S2'), 'the version matched: a lower generation');
  provider.damage = () => [{ name, outcome: 'conflict', found: { generation: 6, version: '8' } }];
  assert.deepEqual(await provider.apply([change]), [{ name, outcome: 'conflict' }], 'a moved version: a conflict');
  provider.damage = () => [{ name, outcome: 'superseded', generation: 9 }];
  const removal = { ...change, records: null };
  await assert.rejects(provider.apply([removal]), throwsInvariant('internal'),
    'only a write of records (a first write, an adoption) is superseded');
  provider.damage = () => [{ name, outcome: 'superseded', generation: 3 }];
  const first = { ...change, expectedVersion: null };
  await assert.rejects(provider.apply([first]), throwsInvariant('S2'), 'and by a removal at or above it');
  provider.damage = () => [{ name, outcome: 'applied', version: '7', replaced: 4 }];
  await assert.rejects(provider.apply([change]), throwsInvariant('internal'), 'a write changes the version');
});

test('one outcome per change, in order, same names; distinct names; a blind removal is never sent', async () => {
  const provider = new BrokenProvider();
  const changes = ['a', 'b'].map((label) => ({
    name: `${label}.dnsplane.test`, records: recordSet('192.0.2.1'), generation: 1, expectedVersion: null,
  }));
  provider.damage = (outcomes) => outcomes.slice(1);
  await assert.rejects(provider.apply(changes), throwsInvariant('internal'), 'an outcome missing');
  provider.damage = (outcomes) => [...outcomes].reverse();
  await assert.rejects(provider.apply(changes), throwsInvariant('internal'), 'outcomes out of order');
  provider.damage = (outcomes) => outcomes;
  const twice = [changes[0]!, changes[0]!];
  await assert.rejects(provider.apply(twice), throwsInvariant('internal'), 'a name twice in one apply');
  const swaps = provider.swaps;
  const blind = { name: 'a.dnsplane.test', records: null, generation: 2, expectedVersion: null };
  assert.deepEqual(await provider.apply([blind]), [{ name: 'a.dnsplane.test', outcome: 'conflict' }]);
  assert.equal(provider.swaps, swaps, 'the broken provider never saw it');
  assert.ok(provider.served.has('a.dnsplane.test'), 'nothing was removed');
});
