// Goal: history stays bounded (issue 16: a busy installation's history would grow until etcd's quota stops writes).
// The janitor deletes what config `history` lets go — older than retainAge, beyond retainPerName a name — at most
// once per pruneInterval, counted, and nothing else. Method: the janitor built from config settings, as `dnsplane
// janitor` builds it, over a real SQLite store, with a clock moved by hand (the store contract shows the rule itself on
// SQLite, etcd and the simulator's store).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildJanitor, parseRoleSettings } from '../../src/roles/build.js';
import { silentLogger } from '../../src/util/log.js';
import { manualClock, openInstallation } from '../helpers/fixtures.js';

test('janitor: history older than retainAge or beyond retainPerName goes, once per pruneInterval, and is counted', async () => {
  const install = openInstallation();
  const clock = manualClock(10_000_000);
  try {
    const settings = parseRoleSettings({ history: { retainPerName: 2, retainAge: '1h', pruneInterval: '1m' } });
    const janitor = buildJanitor(settings, { store: install.store, provider: install.provider, clock, log: silentLogger });
    const entry = (name: string, to: number, atMs: number) =>
      ({ name, fromGeneration: to - 1, toGeneration: to, actor: 'az1', kind: 'enact' as const, detail: '', atMs });
    const now = clock.nowMs();
    await install.store.appendHistory([
      entry('old', 1, now - 2 * 3_600_000), // older than an hour
      entry('busy', 1, now - 3000), entry('busy', 2, now - 2000), entry('busy', 3, now - 1000), // one beyond two
      entry('quiet', 1, now - 1000),
    ]);
    assert.equal(await janitor.pruneHistory(), 2);
    const left = (await install.store.readHistory(null, 100)).map((h) => [h.name, h.toGeneration]);
    assert.deepEqual(left, [['busy', 2], ['busy', 3], ['quiet', 1]]);
    const counters = Object.fromEntries((await install.store.readCounters()).map((c) => [c.name, c.value]));
    assert.equal(counters.history_entries_pruned, 2);

    // Within the interval nothing is looked at; past it, what has aged since goes.
    clock.advance(3_600_000 - 1999);
    assert.equal(await janitor.pruneHistory(), 1, 'busy@2 is now older than an hour');
    clock.advance(30_000);
    assert.equal(await janitor.pruneHistory(), 0, 'within pruneInterval of the last prune');
    clock.advance(30_000);
    assert.equal(await janitor.pruneHistory(), 2, 'busy@3 and quiet@1 aged past the hour');
    assert.deepEqual(await install.store.readHistory(null, 100), []);
  } finally {
    await install.close();
  }
});
