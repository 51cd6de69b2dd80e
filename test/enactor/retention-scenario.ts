// The retention scenario of issue 16, shared by test/enactor/retention.test.ts (1,000 generations, in CI) and
// bench/retention.bench.ts (100,000 generations, the figure): a busy installation's store stays bounded by
// its retention settings. The real planner, enactor and janitor (built from config settings) on a real SQLite file;
// each generation changes 1% of the names (one health flip among 100 names), and every tenth generation the
// inventory drops one name and puts back the one it dropped before, so removals leave tombstones to compact.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { buildJanitor, parseRoleSettings } from '../../src/roles/build.js';
import { silentLogger } from '../../src/util/log.js';
import { systemClock } from '../../src/util/clock.js';
import { endpoints, makeEnactor, makePlanner, openInstallation } from '../helpers/fixtures.js';

/** The retention settings of the scenario, through the config's schema. */
export const retention = { retainGenerations: 20, retainPerName: 5 };
export const namesTotal = 100;
/** The janitor runs (a clean-up tick and a history prune, as its loop does) every this many generations. */
export const janitorEvery = 10;
const removeEvery = 10;

/** Rows of every table that grows with generations, and the file's size. */
export interface StoreSize {
  generation: number;
  plans: number;
  planVersions: number;
  history: number;
  removalTombstones: number;
  feedTombstones: number;
  fileBytes: number;
}

/**
 * The bound each count must stay under at every checkpoint, from the retention settings alone: plans since the
 * floor (retained ones and those published since the janitor last ran); a version per name plus the superseded ones
 * above the floor (at most two a generation: the flipped name, and a removed or returning one); retainPerName history
 * entries a name, plus those written since the last prune; removal tombstones of the removals since the floor.
 */
export function bounds(): Omit<StoreSize, 'generation' | 'fileBytes'> {
  const { retainGenerations, retainPerName } = retention;
  const sinceFloor = retainGenerations + janitorEvery + 1;
  return {
    plans: sinceFloor,
    planVersions: namesTotal + 2 * sinceFloor,
    history: namesTotal * retainPerName + 2 * janitorEvery,
    removalTombstones: Math.ceil(sinceFloor / removeEvery) + 1,
    feedTombstones: namesTotal,
  };
}

export async function runRetentionScenario(
  generations: number, checkpointEvery: number, onCheckpoint: (size: StoreSize) => void,
): Promise<void> {
  const install = openInstallation();
  const reader = new Database(install.dbPath, { readonly: true });
  try {
    const all = endpoints(namesTotal, 2);
    let inventory = all;
    let dropped = -1;
    const down = new Set<string>();
    const planner = makePlanner('planner', install.store, () => inventory);
    const enactor = makeEnactor('az1', install.store, install.provider);
    const settings = parseRoleSettings({
      safety: { retainGenerations: retention.retainGenerations },
      history: { retainPerName: retention.retainPerName, pruneInterval: '10ms' },
      janitor: { compactInterval: '10ms' },
    });
    const janitor = buildJanitor(settings, {
      store: install.store, provider: install.provider, clock: systemClock, log: silentLogger,
    });
    const count = (table: string) => reader.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
    for (let generation = 1; generation <= generations; generation += 1) {
      if (generation > 1 && generation % removeEvery === 0) {
        // Drop the next name, put back the one dropped before.
        dropped = (dropped + 1) % namesTotal;
        inventory = all.filter((_, index) => index !== dropped);
      } else if (generation > 1) {
        // Flip one target of a name in the inventory: the plan changes that name alone.
        const index = generation % namesTotal === dropped ? (dropped + 1) % namesTotal : generation % namesTotal;
        const target = `t${index}-0`;
        const wasDown = down.delete(target);
        if (!wasDown) down.add(target);
        await install.store.setHealth(target, wasDown ? 'up' : 'down', 'scenario');
      }
      assert.equal((await planner.tick()).kind, 'published', `generation ${generation} published`);
      const step = await enactor.step();
      assert.ok(step !== null && step.complete && step.generation === generation, `generation ${generation} enacted`);
      if (generation % janitorEvery === 0) {
        await janitor.tick();
        await janitor.pruneHistory();
      }
      if (generation % checkpointEvery === 0 || generation === generations) {
        onCheckpoint({
          generation,
          plans: count('plans'),
          planVersions: count('plan_versions'),
          history: count('history'),
          removalTombstones: count('served_removals'),
          feedTombstones: count('served_tombstones'),
          fileBytes: statSync(install.dbPath).size + walBytes(install.dbPath),
        });
      }
    }
  } finally {
    reader.close();
    await install.close();
  }
}

function walBytes(path: string): number {
  const wal = `${path}-wal`;
  return existsSync(wal) ? statSync(wal).size : 0;
}
