// Goal: the enactment protocol of DESIGN.md §3 on the real SQLite store and
// built-in provider — the decision and the write are one conditional step,
// re-applying changes nothing (S5), a stale enactor can never roll a name
// back (S2), and a 1% generation costs about 1% of a full apply.
// Method: real Planner and Enactor instances in-process, with a provider
// wrapper that lets a competing write land between an enactor's read and
// its write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpoints, makeEnactor, makePlanner, manualClock, openInstallation, records } from '../helpers/fixtures.js';
import { heldMessage, compareAndSwapAll } from '../../src/enactor/protocol.js';
import { seededRng } from '../../src/util/clock.js';
import type { ApplyChange, Provider, ServedState } from '../../src/providers/types.js';
import { InvariantViolation } from '../../src/util/assert.js';

test('an enactor applies the newest plan; applying again changes nothing (S5)', async () => {
  const install = openInstallation();
  try {
    const inventory = endpoints(20);
    const planner = makePlanner('p', install.store, () => inventory);
    assert.equal((await planner.tick()).kind, 'published');
    const enactor = makeEnactor('az1', install.store, install.provider);
    const first = await enactor.step();
    assert.equal(first!.applied, 20);
    const served = await install.provider.list(null, 100);
    assert.equal(served.length, 20);
    assert.ok(served.every((s) => s.generation === 1 && s.records.length === 3));
    const again = makeEnactor('az2', install.store, install.provider);
    const second = await again.step();
    assert.equal(second!.applied, 0, 'a second enactor on the same plan writes nothing');
    const after = await install.provider.list(null, 100);
    assert.deepEqual(after.map((s) => s.version), served.map((s) => s.version), 'versions unchanged: nothing was rewritten');
    assert.equal(await enactor.step(), null, 'no newer plan: nothing to do');
  } finally {
    await install.close();
  }
});

test('a competing write between read and write is a conflict, re-read, and never rolled back (S2)', async () => {
  const install = openInstallation();
  try {
    const inventory = endpoints(1);
    const planner = makePlanner('p', install.store, () => inventory);
    await planner.tick(); // generation 1
    await install.store.setHealth('t0-0', 'down', 'test');
    await planner.tick(); // generation 2: t0-0 withdrawn
    // The slow enactor works on generation 1 only: it sees the store as of generation 1.
    const viewOne = (await install.store.readPlan(1))!;
    let interfered = false;
    const racing: Provider = {
      ...install.provider,
      kind: 'racing',
      read: (names) => install.provider.read(names),
      list: (after, limit) => install.provider.list(after, limit),
      readRemovals: (names) => install.provider.readRemovals(names),
      servedChangeFeed: () => null,
      removalCompaction: () => null,
      close: async () => undefined,
      apply: async (changes: readonly ApplyChange[]) => {
        if (!interfered) {
          interfered = true;
          // Another enactor applies generation 2 after the slow one read but before it writes.
          const fast = makeEnactor('fast', install.store, install.provider);
          await fast.step();
        }
        return install.provider.apply(changes);
      },
    };
    const slow = makeEnactor('slow', install.store, racing);
    const outcome = await slow.applyBatch(viewOne.entries, 1, new Set());
    assert.equal(outcome.applied, 0, 'the stale write was refused');
    assert.equal(outcome.conflicts, 1, 'it saw one conflict');
    assert.ok(outcome.skipped >= 1, 'after re-reading it skipped the newer name');
    const state = (await install.provider.read(['svc0.dnsplane.test'])).get('svc0.dnsplane.test')!;
    assert.equal(state.generation, 2, 'the name stays on the newer generation');
    assert.equal(state.records.length, 2);
  } finally {
    await install.close();
  }
});

test('the provider itself refuses a lower generation and an empty set (assertions at the write)', async () => {
  const install = openInstallation();
  try {
    const [applied] = await install.provider.apply([{ name: 'a.dnsplane.test', records: records('192.0.2.1'), generation: 5, expectedVersion: null }]);
    assert.equal(applied!.outcome, 'applied');
    const version = applied!.outcome === 'applied' ? applied!.version : '';
    await assert.rejects(install.provider.apply([{ name: 'a.dnsplane.test', records: records('192.0.2.2'), generation: 4, expectedVersion: version }]), (e: unknown) => e instanceof InvariantViolation && e.invariant === 'S2');
    await assert.rejects(install.provider.apply([{ name: 'a.dnsplane.test', records: [], generation: 6, expectedVersion: version }]), (e: unknown) => e instanceof InvariantViolation && e.invariant === 'S1');
    await assert.rejects(install.provider.apply([{ name: 'a.dnsplane.test', records: null, generation: 4, expectedVersion: version }]), (e: unknown) => e instanceof InvariantViolation && e.invariant === 'S2', 'a removal below the served generation is as loud');
    const [conflict] = await install.provider.apply([{ name: 'a.dnsplane.test', records: records('192.0.2.2'), generation: 6, expectedVersion: 'stale' }]);
    assert.equal(conflict!.outcome, 'conflict');
    const state = (await install.provider.read(['a.dnsplane.test'])).get('a.dnsplane.test')!;
    assert.deepEqual([state.generation, state.records[0]!.address], [5, '192.0.2.1'], 'refused writes changed nothing');
  } finally {
    await install.close();
  }
});

test('a generation changing 1% of names reads and writes only those names', async () => {
  const install = openInstallation();
  try {
    const inventory = endpoints(1000);
    const planner = makePlanner('p', install.store, () => inventory);
    await planner.tick();
    let namesRead = 0;
    const counting: Provider = {
      kind: 'counting',
      read: (names) => { namesRead += names.length; return install.provider.read(names); },
      list: (after, limit) => install.provider.list(after, limit),
      readRemovals: (names) => install.provider.readRemovals(names),
      apply: (changes) => install.provider.apply(changes),
      servedChangeFeed: () => null,
      removalCompaction: () => null,
      close: async () => undefined,
    };
    const enactor = makeEnactor('az1', install.store, counting);
    assert.equal((await enactor.step())!.applied, 1000);
    for (let n = 0; n < 10; n += 1) await install.store.setHealth(`t${n * 100}-0`, 'down', 'test');
    await planner.tick();
    namesRead = 0;
    const step = (await enactor.step())!;
    assert.equal(step.applied, 10);
    assert.equal(namesRead, 10, 'only the 10 changed names were read from the provider');
  } finally {
    await install.close();
  }
});

test('removing an endpoint from the inventory removes it from DNS explicitly', async () => {
  const install = openInstallation();
  try {
    let inventory = endpoints(3);
    const planner = makePlanner('p', install.store, () => inventory);
    await planner.tick();
    const enactor = makeEnactor('az1', install.store, install.provider);
    await enactor.step();
    inventory = inventory.slice(0, 2);
    await planner.tick();
    await enactor.step();
    const served = await install.provider.list(null, 10);
    assert.deepEqual(served.map((s) => s.name), ['svc0.dnsplane.test', 'svc1.dnsplane.test']);
    assert.deepEqual((await install.store.readHistory('svc2.dnsplane.test', 10)).map((h) => h.kind), ['enact', 'remove']);
  } finally {
    await install.close();
  }
});

test('a removed name stays removed: a stale first write below the removal is superseded, a newer plan may add it back (S2)', async () => {
  const install = openInstallation();
  try {
    let inventory = endpoints(2);
    const planner = makePlanner('p', install.store, () => inventory);
    await planner.tick(); // generation 1: svc0, svc1
    const viewOne = (await install.store.readPlan(1))!;
    const fast = makeEnactor('fast', install.store, install.provider);
    await fast.step();
    inventory = inventory.slice(0, 1);
    await planner.tick(); // generation 2: svc1 removed
    await fast.step();
    // A slow enactor still on generation 1 reads svc1 as absent and would create it at generation 1.
    const slow = makeEnactor('slow', install.store, install.provider);
    const stale = await slow.applyBatch(viewOne.entries.filter((entry) => entry.name === 'svc1.dnsplane.test'), 1, new Set());
    assert.deepEqual([stale.applied, stale.conflicts, stale.skipped], [0, 0, 1], 'its first write was superseded by the removal: skipped, not retried');
    assert.equal((await install.provider.read(['svc1.dnsplane.test'])).size, 0, 'the removed name did not come back');
    // Directly at the provider: a first write at or below the removal generation is refused, above it is allowed.
    const [atRemoval] = await install.provider.apply([{ name: 'svc1.dnsplane.test', records: records('192.0.2.9'), generation: 2, expectedVersion: null }]);
    assert.deepEqual(atRemoval, { name: 'svc1.dnsplane.test', outcome: 'superseded', generation: 2 });
    inventory = endpoints(2);
    await planner.tick(); // generation 3: svc1 back
    await fast.step();
    const back = (await install.provider.read(['svc1.dnsplane.test'])).get('svc1.dnsplane.test');
    assert.equal(back?.generation, 3, 'a newer plan brings the name back');
    assert.deepEqual((await install.store.readHistory('svc1.dnsplane.test', 10)).map((h) => [h.kind, h.toGeneration]), [['enact', 1], ['remove', 2], ['enact', 3]]);
    // A hand delete leaves no tombstone: any plan may write the name again (the reconciler's repair, L2).
    install.provider.db.prepare("DELETE FROM served WHERE name = 'svc1.dnsplane.test'").run();
    const [repaired] = await install.provider.apply([{ name: 'svc1.dnsplane.test', records: records('192.0.2.9'), generation: 3, expectedVersion: null }]);
    assert.equal(repaired!.outcome, 'applied');
  } finally {
    await install.close();
  }
});

test('held names: a foreign or ungranted unmanaged name is never written; a granted one is adopted at the version read; a lost adoption is held, not retried', async () => {
  // Goal: the ownership rules of the one compare-and-swap loop (protocol.ts), whatever provider holds the names.
  // Method: the real loop over a provider double (pure logic) that reads names as held and records every write.
  const held: Record<string, ServedState> = {
    'foreign.dnsplane.test': { name: 'foreign.dnsplane.test', generation: 0, version: 'v-foreign', records: [], held: { kind: 'foreign', owner: 'other' } },
    'hand.dnsplane.test': { name: 'hand.dnsplane.test', generation: 0, version: 'unmanaged-1', records: [], held: { kind: 'unmanaged', records: ['A 192.0.2.1'] } },
    'granted.dnsplane.test': { name: 'granted.dnsplane.test', generation: 0, version: 'unmanaged-2', records: [], held: { kind: 'unmanaged', records: ['A 192.0.2.2'] } },
    'raced.dnsplane.test': { name: 'raced.dnsplane.test', generation: 0, version: 'unmanaged-3', records: [], held: { kind: 'unmanaged', records: ['A 192.0.2.3'] } },
    // A CNAME is never deleted, and no address can stand beside one: granted or not, the name is held.
    'alias.dnsplane.test': { name: 'alias.dnsplane.test', generation: 0, version: 'unmanaged-4', records: [], held: { kind: 'unmanaged', records: ['CNAME www.example.org'] } },
  };
  const writes: ApplyChange[] = [];
  const provider: Provider = {
    kind: 'double',
    read: async (names) => new Map(names.filter((name) => held[name] !== undefined).map((name) => [name, held[name]!])),
    list: async () => [],
    readRemovals: async () => new Map(),
    servedChangeFeed: () => null,
    removalCompaction: () => null,
    close: async () => undefined,
    apply: async (changes) => {
      writes.push(...changes);
      return changes.map((change) => (change.name === 'raced.dnsplane.test'
        ? { name: change.name, outcome: 'conflict' as const }
        : { name: change.name, outcome: 'applied' as const, version: `w-${change.name}` }));
    },
  };
  const grants = new Set(['granted.dnsplane.test', 'raced.dnsplane.test', 'alias.dnsplane.test']);
  const store = { readAdoptions: async (names: readonly string[]) => new Map(names.filter((name) => grants.has(name)).map((name) => [name, { name, actor: 'op', reason: 'r', grantedAtMs: 0 }])) };
  const items = ['foreign', 'hand', 'granted', 'raced', 'alias', 'fresh'].map((label) => ({ name: `${label}.dnsplane.test` }));
  const decide = (item: { name: string }, state: ServedState | undefined) => ({ name: item.name, records: records('127.0.0.1'), generation: 3, expectedVersion: state?.version ?? null });
  const outcome = await compareAndSwapAll(items, decide, { retriesMax: 5, backoffBaseMs: 1, backoffMaxMs: 1 }, { provider, clock: manualClock(), rng: seededRng(1), store });
  assert.deepEqual(writes.map((change) => [change.name, change.expectedVersion]), [
    ['granted.dnsplane.test', 'unmanaged-2'], ['raced.dnsplane.test', 'unmanaged-3'], ['fresh.dnsplane.test', null],
  ], 'one write each: the adoptions at the unmanaged version read, the free name as a first write; no retry');
  assert.deepEqual(outcome.held.map(({ item, held: why, raced }) => [item.name, why.kind, raced]), [
    ['foreign.dnsplane.test', 'foreign', false], ['hand.dnsplane.test', 'unmanaged', false], ['alias.dnsplane.test', 'unmanaged', false],
    ['raced.dnsplane.test', 'unmanaged', true],
  ]);
  assert.match(heldMessage('alias.dnsplane.test', held['alias.dnsplane.test']!.held!, false), /CNAME www\.example\.org.*never deletes a CNAME/);
  assert.deepEqual(outcome.applied.map(({ item, adopted }) => [item.name, adopted?.kind ?? null]), [
    ['granted.dnsplane.test', 'unmanaged'], ['fresh.dnsplane.test', null],
  ]);
  assert.deepEqual([outcome.unfinished, outcome.conflicts], [[], 0], 'a lost adoption is held, not a conflict to retry');
});

test('a batch that fails after some of its writes were made records those writes in the history before the error', async () => {
  // Goal: history loses no write (found by a full run: a write with no history entry broke the race test's chain).
  // Method: the real enactor on SQLite; its provider wrapped so that the first apply writes one name and loses the
  // race for the other, and the retry round's read then fails.
  const install = openInstallation();
  try {
    const planner = makePlanner('p', install.store, () => endpoints(2));
    assert.equal((await planner.tick()).kind, 'published');
    let applies = 0;
    let reads = 0;
    const flaky: Provider = Object.assign(Object.create(install.provider) as Provider, {
      read: async (names: readonly string[]) => {
        reads += 1;
        if (reads === 2) throw new Error('the store went away');
        return install.provider.read(names);
      },
      apply: async (changes: readonly ApplyChange[]) => {
        applies += 1;
        const [first, ...rest] = changes;
        const written = await install.provider.apply([first!]);
        return [...written, ...rest.map((change) => ({ name: change.name, outcome: 'conflict' as const }))];
      },
    });
    const enactor = makeEnactor('az1', install.store, flaky);
    await assert.rejects(enactor.step(), /the store went away/);
    assert.equal(applies, 1);
    const history = await install.store.readHistory(null, 10);
    assert.deepEqual(history.map((entry) => [entry.name, entry.fromGeneration, entry.toGeneration, entry.kind]),
      [['svc0.dnsplane.test', 0, 1, 'enact']], 'the write made is in the history');
  } finally {
    await install.close();
  }
});
