// Goal (issue 16): a reconciler pass costs what changed since the last pass plus a bounded slice of a rolling sweep
// of the whole plan, and the sweep still finds a hand edit anywhere in the zone and repairs it within maxLag — at the
// first name, the last, or any between, whenever the edit lands, with passes that take no time or a good part of the
// interval. Method: the real planner, enactor and reconciler on a real SQLite file with 3,000 names; the reconciler's
// clock is moved by hand, one interval between passes (and, for slow passes, a further stretch inside each pass, by
// wrapping the provider's read); edits are SQL written straight into the served table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reconciler, startSweep, sweepOverrunAlarm, sweepPasses, sweepSlice } from '../../src/enactor/reconciler.js';
import { silentLogger } from '../../src/util/log.js';
import { seededRng } from '../../src/util/clock.js';
import type { Provider } from '../../src/providers/types.js';
import { endpoints, makeEnactor, makePlanner, manualClock, openInstallation, type Installation } from '../helpers/fixtures.js';

const namesCount = 3000;
const intervalMs = 1000;
const maxLagMs = 10_000;

/**
 * The built-in provider, with the pass's bulk read (one a pass with pages of 5,000) moving the clock by `passCostMs`:
 * a slow pass. The repair's reads of the few names it writes take no time, so every pass takes the same.
 */
function slowReads(provider: Provider, clock: ReturnType<typeof manualClock>, passCostMs: () => number): Provider {
  return Object.assign(Object.create(provider) as Provider, {
    async read(names: readonly string[]) {
      if (names.length > 100) clock.advance(passCostMs());
      return provider.read(names);
    },
  });
}

async function converged(install: Installation) {
  const inventory = endpoints(namesCount, 2);
  const planner = makePlanner('p', install.store, () => inventory);
  assert.equal((await planner.tick()).kind, 'published');
  const enactor = makeEnactor('az1', install.store, install.provider);
  assert.equal((await enactor.step())?.complete, true);
  return { planner, enactor, names: inventory.map((endpoint) => endpoint.name).sort() };
}

function reconciler(install: Installation, clock: ReturnType<typeof manualClock>, passCostMs: () => number = () => 0) {
  const provider = slowReads(install.provider, clock, passCostMs);
  return new Reconciler(
    { id: 'reconciler', intervalMs, maxLagMs, pageSize: 5000, sweepNamesMin: 1, retriesMax: 5, backoffBaseMs: 1, backoffMaxMs: 20 },
    { store: install.store, provider, clock, rng: seededRng(1), log: silentLogger },
  );
}

test('rolling sweep: the slice arithmetic covers the plan within maxLag and catches up when passes slow down', () => {
  assert.equal(sweepPasses(10_000, 1000), 9);
  assert.equal(sweepPasses(1500, 1000), 1, 'under two periods: the whole plan every pass');
  assert.equal(sweepPasses(0, 1000), 1);
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 2_000_000 }), fc.integer({ min: 10, max: 5000 }), fc.integer({ min: 0, max: 120_000 }),
    fc.integer({ min: 1, max: 50_000 }),
    (entries, periodMs, maxLag, namesMin) => {
      const sweep = startSweep(0, { maxLagMs: maxLag, periodMs, entries, namesMin });
      const passes = sweepPasses(maxLag, periodMs);
      // On schedule (one pass a period), the sweep reads every expected entry in `passes` passes, ending in the budget.
      let seen = 0;
      for (let pass = 0; pass < passes && seen < sweep.expected; pass += 1) {
        seen += sweepSlice({ ...sweep, seen }, pass * periodMs, periodMs, namesMin);
      }
      assert.ok(seen >= sweep.expected, `${seen} of ${sweep.expected} in ${passes} passes`);
      assert.ok(sweep.budgetMs <= Math.max(periodMs, maxLag - periodMs), 'the budget leaves a period for the repair');
      // Late (past its budget), a pass reads everything left.
      const late = sweepSlice({ ...sweep, seen: 0 }, sweep.budgetMs + 1, periodMs, namesMin);
      assert.ok(late >= sweep.expected);
    },
  ), { numRuns: 500 });
});

for (const passCostMs of [0, 600]) {
  test(`rolling sweep: a hand edit anywhere is found and repaired within maxLag; a pass reads a slice, not the plan (passes of ${passCostMs} ms)`, async () => {
    const install = openInstallation();
    const clock = manualClock();
    try {
      const { names } = await converged(install);
      const r = reconciler(install, clock, () => passCostMs);
      const rng = seededRng(passCostMs + 7);
      // Edit positions: the first name, the last, and random ones; each lands after a random pass.
      const positions = [0, namesCount - 1, ...Array.from({ length: 10 }, () => Math.floor(rng.next() * namesCount))];
      const pending = new Map<string, number>(); // name -> clock time of its edit
      const foundAfterMs: number[] = [];
      let sweepNames = 0;
      let sweeps = 0;
      // Slices of the sweeps after the first (the first is sized before any pass was timed, and catches up).
      const slices: number[] = [];
      for (let pass = 0; pass < 200 && (positions.length > 0 || pending.size > 0); pass += 1) {
        if (positions.length > 0 && rng.next() < 0.3) {
          const name = names[positions.shift()!]!;
          if (!pending.has(name)) {
            install.store.db.prepare("UPDATE served SET records = '192.0.2.99/1/x' WHERE name = ?").run(name);
            pending.set(name, clock.nowMs());
          }
        }
        const result = await r.tick();
        if (sweeps > 0) slices.push(result.sweep.names);
        // A pass reads its slice and the names it watches (a drift alarmed on the pass before), never the plan.
        assert.ok(result.checked <= result.sweep.names + 2, `pass ${pass}: ${result.checked} checked, slice ${result.sweep.names}`);
        for (const drift of result.drifts) {
          assert.equal(drift.kind, 'edited', `${drift.name}: ${drift.detail}`);
          const editedAt = pending.get(drift.name);
          assert.ok(editedAt !== undefined, `${drift.name}: drift without an edit`);
          foundAfterMs.push(clock.nowMs() - editedAt);
          pending.delete(drift.name);
        }
        assert.equal(result.repaired, result.drifts.length, 'every edit found is repaired in the same pass');
        sweepNames += result.sweep.names;
        if (result.sweep.completed) {
          assert.equal(sweepNames, namesCount, 'a sweep reads every name of the plan once');
          sweepNames = 0;
          sweeps += 1;
        }
        clock.advance(intervalMs);
      }
      assert.equal(pending.size, 0, `edits never found: ${[...pending.keys()].join(', ')}`);
      assert.equal(foundAfterMs.length, 12);
      const worst = Math.max(...foundAfterMs);
      assert.ok(worst <= maxLagMs, `an edit was found ${worst} ms after it was made (maxLag ${maxLagMs})`);
      assert.ok(sweeps >= 2, `${sweeps} sweeps`);
      // The slices are a fraction of the plan: with passes of a period p, it is covered in floor(maxLag / p) - 1 of them.
      const largest = Math.max(...slices);
      const passes = sweepPasses(maxLagMs, intervalMs + passCostMs);
      assert.ok(largest <= Math.ceil((namesCount + 1) / passes), `a slice of ${largest} of ${namesCount} names (${passes} passes)`);
      // Every edit is repaired: the served set is the plan's again.
      const served = await install.provider.read(names);
      const edited = [...served.values()].filter((state) => state.records.some((record) => record.address === '192.0.2.99'));
      assert.deepEqual(edited.map((state) => state.name), []);
    } finally {
      await install.close();
    }
  });
}

test('rolling sweep: what changed since the last pass is read whatever the slice; a lagging name is watched until maxLag, then repaired', async () => {
  const install = openInstallation();
  const clock = manualClock();
  try {
    const base = endpoints(namesCount, 2);
    let inventory = base;
    const planner = makePlanner('p', install.store, () => inventory);
    await planner.tick();
    const enactor = makeEnactor('az1', install.store, install.provider);
    await enactor.step();
    const r = reconciler(install, clock);
    const first = await r.tick();
    assert.deepEqual(first.drifts, []);
    // A generation that changes 1% (30 names: one target each drained to weight 0 by its removal), enacted.
    const changed = new Set(inventory.slice(0, 30).map((endpoint) => endpoint.name));
    inventory = inventory.map((endpoint) => (changed.has(endpoint.name) ? { ...endpoint, targets: endpoint.targets.slice(0, 1) } : endpoint));
    assert.equal((await planner.tick()).kind, 'published');
    await enactor.step();
    clock.advance(intervalMs);
    const afterChange = await r.tick();
    assert.deepEqual(afterChange.drifts, []);
    assert.ok(afterChange.checked >= 30 && afterChange.checked <= afterChange.sweep.names + 30,
      `${afterChange.checked} checked: the 30 changed names and a slice of ${afterChange.sweep.names}`);
    // The next generation (the 30 names' second targets back) is published and not enacted: its 30 names lag. Each pass reads them (watched), whatever
    // its slice; once maxLag has passed they are drift and repaired — by the reconciler, not by any sweep luck.
    inventory = base;
    assert.equal((await planner.tick()).kind, 'published');
    const latest = await install.store.latestGeneration();
    let repairedAt = -1;
    for (let pass = 0; pass < 20 && repairedAt < 0; pass += 1) {
      clock.advance(intervalMs);
      const result = await r.tick();
      assert.ok(result.checked >= 30, `pass ${pass}: the lagging names are read (${result.checked})`);
      if (result.drifts.length > 0) {
        assert.deepEqual(result.drifts.map((drift) => drift.kind), Array(30).fill('lagging'));
        assert.equal(result.repaired, 30);
        repairedAt = pass;
      }
    }
    assert.ok(repairedAt >= 0, 'the lagging names were repaired');
    assert.ok((repairedAt + 1) * intervalMs >= maxLagMs && (repairedAt + 1) * intervalMs <= maxLagMs + intervalMs,
      `repaired ${(repairedAt + 1) * intervalMs} ms after the plan (maxLag ${maxLagMs})`);
    const served = await install.provider.read([...changed]);
    assert.ok([...served.values()].every((state) => state.generation === latest));
  } finally {
    await install.close();
  }
});

test('rolling sweep: a zone too large to read within maxLag raises an alarm saying how long an edit may go unfound; a sweep in time clears it', async () => {
  const install = openInstallation();
  const clock = manualClock();
  try {
    await converged(install);
    // Each pass's bulk read takes 12 s: no slicing can read 3,000 names within a maxLag of 10 s.
    let passCostMs = 12_000;
    const r = reconciler(install, clock, () => passCostMs);
    const overrun = async () => (await install.store.listAlarms(true)).filter((alarm) => alarm.kind === sweepOverrunAlarm);
    let completed = 0;
    for (let pass = 0; pass < 10 && completed < 2; pass += 1) {
      if ((await r.tick()).sweep.completed) completed += 1;
      clock.advance(intervalMs);
    }
    assert.equal(completed, 2, 'the sweeps still end: each pass reads what is left');
    const [alarm] = await overrun();
    assert.ok(alarm !== undefined, 'the overrun is alarmed');
    assert.match(alarm.message, /read 3000 names in \d+ ms, above reconciler\.maxLag 10000 ms/);
    const counters = Object.fromEntries((await install.store.readCounters()).map((counter) => [counter.name, counter.value]));
    assert.ok(counters.reconciler_sweep_overruns! >= 1, 'counted');
    // Reads get fast again: the next sweep ends within maxLag and the alarm clears.
    passCostMs = 0;
    completed = 0;
    for (let pass = 0; pass < 30 && completed < 2; pass += 1) {
      if ((await r.tick()).sweep.completed) completed += 1;
      clock.advance(intervalMs);
    }
    assert.equal(completed, 2);
    assert.deepEqual(await overrun(), [], 'cleared by a sweep in time');
  } finally {
    await install.close();
  }
});
