// Goal: the store stays bounded by its retention settings however many generations pass (issue 16): plans and
// record-set versions by the janitor's floor (safety.retainGenerations), history by history.retainPerName, removal
// tombstones by their compaction into the removal floor. Method: the retention scenario (retention-scenario.ts) for
// 1,000 generations of 1% churn with a removal every tenth, the row counts read every 50 generations from the SQLite
// file and held to bounds computed from the settings alone; `npm run bench -- retention` runs the same for 100,000
// generations and records the file size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bounds, runRetentionScenario, type StoreSize } from './retention-scenario.js';

test('retention: 1,000 generations of 1% churn, every table that grows with generations stays under its bound', async () => {
  const limit = bounds();
  const sizes: StoreSize[] = [];
  await runRetentionScenario(1000, 50, (size) => {
    sizes.push(size);
    for (const key of Object.keys(limit) as (keyof typeof limit)[]) {
      assert.ok(size[key] <= limit[key], `generation ${size.generation}: ${key} ${size[key]} above its bound ${limit[key]}`);
    }
  });
  assert.equal(sizes.length, 20);
  const last = sizes.at(-1)!;
  // Not vacuous: every bounded table was in use, and removals were compacted rather than never made.
  assert.ok(last.history >= 100 && last.planVersions >= 100 && last.plans > 1, JSON.stringify(last));
  assert.ok(sizes.some((size) => size.removalTombstones > 0), 'removals left tombstones before they were compacted');
  assert.ok(last.feedTombstones >= 90, `names were removed across the run (${last.feedTombstones})`);
});
