import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordEntry } from '../../src/domain/types.js';
import type { ApplyChange, ApplyOutcome, Provider, ServedState } from '../../src/providers/types.js';
import { InvariantViolation } from '../../src/util/assert.js';

/**
 * The provider contract: what every Provider must do, whatever serves its
 * records (DESIGN.md §3). `providerContract(family)` runs every case below on
 * one family; a new provider gets all of them by adding one line to the list
 * in contract.test.ts. The cases drive the provider only through the
 * Provider interface, so the S1/S2 refusals they see are the guard's
 * (src/providers/guard.ts), which every provider's `apply` goes through.
 */

export interface ProviderFamily {
  /** As the test names it: "builtin on SQLite", "rfc2136 on Knot DNS". */
  name: string;
  /** Starts what the provider writes to (once for all cases) and returns how to open providers on it. */
  start(): Promise<ProviderBackend>;
}

export interface ProviderBackend {
  /** A provider on the backend; every case opens its own, and may open a second as another enactor process. */
  open(): Provider;
  /** The zone every name lies in (no trailing dot). */
  zone: string;
  stop(): Promise<void>;
}

/** A small valid set; sorted by address as every provider reads it back. */
export function recordSet(...addresses: string[]): RecordEntry[] {
  return addresses
    .map((address, index) => ({ target: `lb-${index}`, address, weight: 10 + index }))
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

type Records = RecordEntry[] | null;

function change(name: string, records: Records, generation: number, expectedVersion: string | null): ApplyChange {
  return { name, records, generation, expectedVersion };
}

function state(name: string, generation: number, version: string, records: RecordEntry[]): ServedState {
  return { name, generation, version, records };
}

function versionOf(outcome: ApplyOutcome | undefined): string {
  assert.ok(outcome !== undefined && outcome.outcome === 'applied', `applied, got ${JSON.stringify(outcome)}`);
  return outcome.version;
}

async function applyOne(provider: Provider, change: ApplyChange): Promise<ApplyOutcome> {
  const outcomes = await provider.apply([change]);
  assert.equal(outcomes.length, 1);
  return outcomes[0]!;
}

async function readOne(provider: Provider, name: string): Promise<ServedState | undefined> {
  return (await provider.read([name])).get(name);
}

function byInvariant(invariant: string) {
  return (error: unknown) => error instanceof InvariantViolation && error.invariant === invariant;
}

type Case = (context: { provider: Provider; other: Provider; name: (label: string) => string }) => Promise<void>;

/** The cases, each on names of its own. */
export const contractCases: Record<string, Case> = {
  'a first write creates the name; a second first write of it is a conflict': async ({ provider, name }) => {
    const served = name('first');
    assert.equal(await readOne(provider, served), undefined, 'not served yet');
    const version = versionOf(await applyOne(provider, change(served, recordSet('127.0.1.1', '127.0.1.2'), 3, null)));
    assert.deepEqual(await readOne(provider, served), state(served, 3, version, recordSet('127.0.1.1', '127.0.1.2')));
    const again = await applyOne(provider, change(served, recordSet('127.0.1.9'), 4, null));
    assert.deepEqual(again, { name: served, outcome: 'conflict' }, 'a name that exists is not created twice');
    assert.equal((await readOne(provider, served))?.version, version, 'the refused write changed nothing');
  },

  'a stale version is a conflict, also from another process': async ({ provider, other, name }) => {
    const served = name('cas');
    const first = versionOf(await applyOne(provider, change(served, recordSet('127.0.2.1'), 1, null)));
    const second = versionOf(await applyOne(provider, change(served, recordSet('127.0.2.2'), 2, first)));
    assert.notEqual(second, first, 'every write changes the version');
    for (const writer of [provider, other]) {
      const stale = await applyOne(writer, change(served, recordSet('127.0.2.3'), 3, first));
      assert.deepEqual(stale, { name: served, outcome: 'conflict' });
    }
    assert.deepEqual(await readOne(other, served), state(served, 2, second, recordSet('127.0.2.2')));
  },

  'applying a change again, as after a lost acknowledgement, changes nothing (S5)': async ({ provider, name }) => {
    const served = name('again');
    const created = versionOf(await applyOne(provider, change(served, recordSet('127.0.3.1'), 1, null)));
    const retried = change(served, recordSet('127.0.3.2'), 2, created);
    const applied = versionOf(await applyOne(provider, retried));
    for (let attempt = 0; attempt < 2; attempt += 1) {
      assert.deepEqual(await applyOne(provider, retried), { name: served, outcome: 'conflict' }, 'a retry is refused');
    }
    assert.deepEqual(await readOne(provider, served), state(served, 2, applied, recordSet('127.0.3.2')));
  },

  'never a lower generation over a higher one (S2), never an empty set (S1)': async ({ provider, name }) => {
    const served = name('back');
    const version = versionOf(await applyOne(provider, change(served, recordSet('127.0.4.1'), 5, null)));
    const lower = change(served, recordSet('127.0.4.2'), 4, version);
    await assert.rejects(provider.apply([lower]), byInvariant('S2'), 'below the version read: loud');
    await assert.rejects(provider.apply([{ ...lower, records: null }]), byInvariant('S2'), 'so is a removal below it');
    await assert.rejects(provider.apply([{ ...lower, generation: 6, records: [] }]), byInvariant('S1'), 'an empty set');
    const stale = await applyOne(provider, { ...lower, expectedVersion: `${version}0` });
    assert.deepEqual(stale, { name: served, outcome: 'conflict' }, 'with a stale version it is a plain conflict');
    assert.deepEqual(await readOne(provider, served), state(served, 5, version, recordSet('127.0.4.1')));
    const same = versionOf(await applyOne(provider, { ...lower, generation: 5, records: recordSet('127.0.4.3') }));
    assert.equal((await readOne(provider, served))?.version, same, 'the same generation again (a repair)');
  },

  'removal: a stale first write is superseded, a newer one comes back (S2)': async ({ provider, other, name }) => {
    const served = name('tomb');
    const version = versionOf(await applyOne(provider, change(served, recordSet('127.0.5.1'), 2, null)));
    const blind = await applyOne(provider, change(served, null, 4, null));
    assert.deepEqual(blind, { name: served, outcome: 'conflict' }, 'a removal without the version read is refused');
    assert.equal((await readOne(provider, served))?.version, version, 'and removes nothing');
    versionOf(await applyOne(provider, change(served, null, 4, version)));
    // Another enactor process, on a stale plan, reads the name as absent and tries to create it, as the protocol does.
    assert.equal(await readOne(other, served), undefined, 'a removed name reads as absent');
    for (const generation of [3, 4]) {
      const refused = await applyOne(other, change(served, recordSet('127.0.5.2'), generation, null));
      const superseded = { name: served, outcome: 'superseded', generation: 4 };
      assert.deepEqual(refused, superseded, `a first write at generation ${generation}`);
    }
    const removals = await other.readRemovals([served, name('never')]);
    assert.deepEqual(removals, new Map([[served, 4]]), 'the janitor sees the removal');
    const back = versionOf(await applyOne(other, change(served, recordSet('127.0.5.3'), 5, null)));
    assert.deepEqual(await readOne(provider, served), state(served, 5, back, recordSet('127.0.5.3')));
    assert.equal((await provider.readRemovals([served])).size, 0, 'a served name has no removal');
  },

  'read, list and readRemovals agree, and list pages in name order': async ({ provider, name }) => {
    const names = ['list-a', 'list-b', 'list-c', 'list-d'].map(name);
    const created = await provider.apply(names.map((served, index) => ({
      name: served, records: recordSet(`127.0.6.${index + 1}`), generation: 7, expectedVersion: null,
    })));
    const removed = names[1]!;
    versionOf(await applyOne(provider, change(removed, null, 8, versionOf(created[1]))));
    const read = await provider.read(names);
    assert.deepEqual([...read.keys()].sort(), names.filter((served) => served !== removed));
    const listed = (await provider.list(null, 10_000)).filter((state) => names.includes(state.name));
    const readInOrder = [...read.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(listed, readInOrder, 'list holds what read holds');
    const paged: ServedState[] = [];
    let afterName = names[0]!;
    for (let pages = 0; pages < names.length; pages += 1) {
      const page = await provider.list(afterName, 1);
      if (page.length === 0 || page[0]!.name > names[3]!) break;
      paged.push(...page);
      afterName = page[0]!.name;
    }
    assert.deepEqual(paged, listed.slice(1), 'pages of one, after a name, in order');
    const removals = await provider.readRemovals(names);
    assert.deepEqual(removals, new Map([[removed, 8]]), 'only the removed name has a removal');
  },

  'a batch with one stale name applies the others, one outcome per change in order': async ({ provider, name }) => {
    const names = ['batch-a', 'batch-b', 'batch-c', 'batch-d'].map(name);
    const created = await provider.apply(names.slice(0, 3).map((served) => ({
      name: served, records: recordSet('127.0.7.1'), generation: 1, expectedVersion: null,
    })));
    const versions = created.map(versionOf);
    const outcomes = await provider.apply([
      change(names[0]!, recordSet('127.0.7.2'), 2, versions[0]!),
      { name: names[1]!, records: recordSet('127.0.7.2'), generation: 2, expectedVersion: `${versions[1]!}0` },
      change(names[2]!, null, 2, versions[2]!),
      change(names[3]!, recordSet('127.0.7.2'), 2, null),
    ]);
    assert.deepEqual(outcomes.map((outcome) => [outcome.name, outcome.outcome]), [
      [names[0], 'applied'], [names[1], 'conflict'], [names[2], 'applied'], [names[3], 'applied'],
    ]);
    const read = await provider.read(names);
    assert.deepEqual(names.map((served) => read.get(served)?.generation), [2, 1, undefined, 2]);
    assert.deepEqual(read.get(names[1]!)?.records, recordSet('127.0.7.1'), 'the stale name kept its records');
  },
};

/** Registers every contract case for `family`, on one backend shared by its cases. */
export function providerContract(family: ProviderFamily): void {
  describe(`provider contract: ${family.name}`, () => {
    let backend: ProviderBackend;
    const opened: Provider[] = [];
    before(async () => {
      backend = await family.start();
    });
    after(async () => {
      for (const provider of opened) await provider.close();
      await backend?.stop();
    });
    let caseIndex = 0;
    for (const [title, body] of Object.entries(contractCases)) {
      caseIndex += 1;
      const prefix = `c${caseIndex}`;
      test(title, async () => {
        const provider = backend.open();
        const other = backend.open();
        opened.push(provider, other);
        await body({ provider, other, name: (label) => `${prefix}-${label}.${backend.zone}` });
      });
    }
  });
}
