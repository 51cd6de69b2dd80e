// Goal: removal tombstones do not pile up (issue 16). The janitor folds those
// below its clean-up floor into the provider's removal floor, once per
// janitor.compactInterval, counted — never up to a live enactor's hold, so the
// newest plan stays enactable (L1) — and a stale first write of a compacted
// name stays refused (S2). Method: the real planner, enactor and janitor (built
// from config settings, as `dnsplane janitor` builds it) on a real SQLite
// file; the tombstones are counted with SQL in the provider's own table. The
// provider contract (test/providers/compaction.test.ts) shows the floor itself
// on SQLite, etcd and the simulator's provider; the simulator and the SPIN
// model show the protocol with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildJanitor, parseRoleSettings } from '../../src/roles/build.js';
import { silentLogger } from '../../src/util/log.js';
import { endpoints, makeEnactor, makePlanner, manualClock, openInstallation } from '../helpers/fixtures.js';

test('janitor: tombstones below the floor are compacted, never up to a live hold; stale first writes stay refused', async () => {
  const install = openInstallation();
  const clock = manualClock(Date.now());
  try {
    const all = endpoints(3);
    let inventory = all;
    const planner = makePlanner('p', install.store, () => inventory);
    const enactor = makeEnactor('az1', install.store, install.provider);
    const gone = all[2]!.name;
    const publish = async () => {
      assert.equal((await planner.tick()).kind, 'published');
      const step = await enactor.step();
      assert.ok(step?.complete, 'the enactor enacted the plan whole');
      return step.generation;
    };
    const tombstones = () => install.provider.db.prepare('SELECT count(*) FROM served_removals').pluck().get();
    const counter = async () => (await install.store.readCounters())
      .find((c) => c.name === 'janitor_tombstones_compacted')?.value ?? 0;

    await publish(); // generation 1: every name
    inventory = all.slice(0, 2);
    assert.equal(await publish(), 2, `generation 2 removes ${gone}`);
    assert.deepEqual(await install.provider.readRemovals([gone]), new Map([[gone, 2]]));
    for (let i = 0; i < 5; i += 1) {
      await install.store.setHealth('t0-0', i % 2 === 0 ? 'down' : 'up', 'test');
      await publish();
    } // generations 3-7; az1 holds 7
    // Another enactor, live, still holds generation 2 (paused mid-apply, say).
    await install.store.heartbeat({ id: 'paused', heldGeneration: 2, enactedGeneration: 1 }, 60_000);
    const settings = parseRoleSettings({ safety: { retainGenerations: 1 }, janitor: { compactInterval: '1m' } });
    const janitor = buildJanitor(settings, { store: install.store, provider: install.provider, clock, log: silentLogger });

    assert.equal((await janitor.tick()).floor, 2, 'the floor stops at the live hold');
    assert.equal(tombstones(), 1, 'the tombstone at 2 is not below the floor: it stays');
    assert.deepEqual(await install.provider.readRemovals([gone]), new Map([[gone, 2]]));

    // The paused enactor's heartbeat expires; the floor rises to 6 (7 less the one retained generation).
    await install.store.heartbeat({ id: 'paused', heldGeneration: 2, enactedGeneration: 1 }, -1);
    assert.equal((await janitor.tick()).floor, 2, 'within compactInterval of the last compaction nothing is compacted');
    assert.equal(tombstones(), 1);
    clock.advance(60_000);
    assert.equal((await janitor.tick()).floor, 6);
    assert.equal(tombstones(), 0, 'the tombstone at 2 went');
    assert.equal(await counter(), 1, 'and was counted');
    assert.deepEqual(await install.provider.readRemovals([gone]), new Map([[gone, 5]]), 'the floor stands for it');

    // The paused enactor wakes with generation 1's plan, in which the name was served, and finds it absent.
    const [stale] = await install.provider.apply([{
      name: gone, records: [{ target: 't2-0', address: '127.1.2.1', weight: 100 }], generation: 1, expectedVersion: null,
    }]);
    assert.deepEqual(stale, { name: gone, outcome: 'superseded', generation: 5 }, 'the removed name does not come back');

    // The newest plan stays enactable: the name put back is written above the floor.
    inventory = all;
    const back = await publish();
    assert.ok(back > 6);
    assert.equal((await install.provider.read([gone])).get(gone)?.generation, back, `${gone} serves generation ${back}`);
  } finally {
    await install.close();
  }
});
