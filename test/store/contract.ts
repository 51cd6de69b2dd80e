import assert from 'node:assert/strict';
import { InvariantViolation, UserError } from '../../src/util/assert.js';
import { checkOwnerId } from '../../src/domain/owner.js';
import type { InventoryStore, Store } from '../../src/store/types.js';
import type { ServiceSpec } from '../../src/domain/types.js';
import { records } from '../helpers/fixtures.js';
import { pollUntil } from '../helpers/env.js';

/**
 * The Store contract, written once and run against every implementation
 * (test/store/contract.test.ts runs it on SQLite and on a real etcd
 * cluster). It mirrors test/store/sqlite.test.ts, with the one difference
 * a distributed store forces: lease expiry is real time on etcd (the
 * fixture waits for it) where SQLite's tests move a hand-driven clock.
 */

export interface StoreFixture {
  store: Store;
  /** A second, independent connection to the same store (another process, another host). */
  other(): Promise<Store>;
  /** TTL to use for leases in these tests. */
  leaseTtlMs: number;
  /** Returns once a lease taken with leaseTtlMs has expired at the store. */
  expireLease(name: string): Promise<void>;
  close(): Promise<void>;
}

export type ContractCase = [title: string, body: (fixture: StoreFixture) => Promise<void>];

/** Asserts `promise` is refused with a UserError whose message matches `pattern`. */
async function refused(promise: Promise<unknown>, pattern: RegExp | string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof UserError, `a UserError, not ${String(error)}`);
    if (typeof pattern === 'string') assert.equal(error.message, pattern);
    else assert.match(error.message, pattern);
    return true;
  });
}

const publishSimple = (store: Store, lease: Parameters<Store['publishPlan']>[0]['lease'], base: number, changes: { name: string; records: ReturnType<typeof records> | null }[]) =>
  store.publishPlan({ lease, baseGeneration: base, changes, namesTotal: changes.length, forced: false, note: '' });

export const contractCases: ContractCase[] = [
  ['publication needs the current lease token and the newest base generation', async ({ store, leaseTtlMs, expireLease }) => {
    const lease = (await store.acquireLease('planner', 'p1', leaseTtlMs))!;
    assert.ok(lease.token > 0);
    const again = (await store.acquireLease('planner', 'p1', leaseTtlMs))!;
    assert.equal(again.token, lease.token, 'the same holder asking again in time keeps its token');
    const first = await publishSimple(store, lease, 0, [{ name: 'a.dnsplane.test', records: records('192.0.2.1') }]);
    assert.ok(first.ok && first.header.generation === 1);
    const stale = await publishSimple(store, lease, 0, []);
    assert.deepEqual(stale.ok ? null : stale.reason, 'stale-base');
    assert.equal(await store.acquireLease('planner', 'p2', leaseTtlMs), null, 'a live lease is not taken');
    await expireLease('planner');
    const lease2 = (await store.acquireLease('planner', 'p2', leaseTtlMs))!;
    assert.ok(lease2.token > lease.token, 'a new holder gets a higher fencing token');
    const fenced = await publishSimple(store, lease, 1, []);
    assert.deepEqual(fenced.ok ? null : fenced.reason, 'fenced', 'the old holder is fenced at the write');
    assert.equal(await store.renewLease(lease, leaseTtlMs), null, 'the old holder cannot renew');
    const second = await publishSimple(store, lease2, 1, [{ name: 'b.dnsplane.test', records: records('192.0.2.2') }]);
    assert.ok(second.ok && second.header.generation === 2 && second.header.fencingToken === lease2.token);
    assert.equal(await store.latestGeneration(), 2);
    await store.releaseLease(lease2);
    assert.ok((await store.acquireLease('planner', 'p3', leaseTtlMs))!.token > lease2.token, 'a released lease is free at once, with a higher token');
  }],

  ['plans are versions: full views, deltas and per-name lookups see the right sets', async ({ store }) => {
    const lease = (await store.acquireLease('planner', 'p', 60_000))!;
    const publish = async (base: number, changes: { name: string; records: ReturnType<typeof records> | null }[]) => {
      const result = await publishSimple(store, lease, base, changes);
      assert.ok(result.ok, JSON.stringify(result));
    };
    await publish(0, [{ name: 'a', records: records('192.0.2.1') }, { name: 'b', records: records('192.0.2.2') }]);
    await publish(1, [{ name: 'a', records: records('192.0.2.3') }]);
    await publish(2, [{ name: 'b', records: null }]);
    const full3 = (await store.readPlan(3))!;
    assert.deepEqual(full3.entries.map((e) => [e.name, e.since, e.records?.[0]?.address ?? null]).sort(), [['a', 2, '192.0.2.3'], ['b', 3, null]]);
    const full1 = (await store.readPlan(1))!;
    assert.deepEqual(full1.entries.map((e) => [e.name, e.records![0]!.address]).sort(), [['a', '192.0.2.1'], ['b', '192.0.2.2']]);
    const delta = (await store.readPlan(3, { sinceAfter: 2 }))!;
    assert.deepEqual(delta.entries.map((e) => e.name), ['b'], 'a delta holds only what changed after the watermark');
    const delta1 = (await store.readPlan(3, { sinceAfter: 1 }))!;
    assert.deepEqual(delta1.entries.map((e) => [e.name, e.since]), [['a', 2], ['b', 3]]);
    const named = (await store.readPlan(2, { names: ['b', 'a', 'nope'] }))!;
    assert.deepEqual(named.entries.map((e) => [e.name, e.since]), [['b', 1], ['a', 2]]);
    const at1 = await store.readEntriesAt(['a', 'b', 'zzz'], 1);
    assert.equal(at1.get('a')!.records![0]!.address, '192.0.2.1');
    assert.equal(at1.has('zzz'), false);
    assert.equal(await store.readPlan(4), null, 'a plan never published does not exist');
    const superseded = await store.listSuperseded(3, 100);
    assert.deepEqual(superseded.map((v) => [v.name, v.since, v.supersededBy]).sort(), [['a', 1, 2], ['b', 1, 3]]);
    const deleted = await store.deletePlanData(superseded.filter((v) => v.name === 'a'), 2);
    assert.deepEqual(deleted, { versions: 1, headers: 1 });
    assert.equal(await store.readPlan(1), null, 'a cleaned-up plan reads as missing, never as a partial view');
    assert.equal(await store.oldestGeneration(), 2);
    assert.deepEqual((await store.listPlans(10)).map((p) => p.generation), [3, 2]);
    const deltaAfterCleanup = (await store.readPlan(3, { sinceAfter: 1 }))!;
    assert.deepEqual(deltaAfterCleanup.entries.map((e) => [e.name, e.since]), [['a', 2], ['b', 3]], 'a delta reaching below the oldest plan still holds every change');
    await assert.rejects(store.deletePlanData([], 4), (error: unknown) => error instanceof InvariantViolation && /S4/.test(error.message));
    assert.equal(await store.latestGeneration(), 3, 'the refused clean-up left the newest plan');
  }],

  ['plans page in name order, whole or as deltas', async ({ store }) => {
    const lease = (await store.acquireLease('planner', 'p', 60_000))!;
    const names = Array.from({ length: 25 }, (_, n) => `n${String(n).padStart(2, '0')}.dnsplane.test`);
    assert.ok((await publishSimple(store, lease, 0, names.map((name, n) => ({ name, records: records(`192.0.2.${n + 1}`) })))).ok);
    assert.ok((await publishSimple(store, lease, 1, names.filter((_, n) => n % 3 === 0).map((name, n) => ({ name, records: records(`198.51.100.${n + 1}`) })))).ok);
    for (const sinceAfter of [undefined, 1]) {
      const seen: string[] = [];
      let afterName = '';
      for (let page = 0; page < 20; page += 1) {
        const view = (await store.readPlan(2, { sinceAfter, afterName, limit: 4 }))!;
        assert.ok(view.entries.every((entry) => entry.name > afterName), 'pages move forward');
        seen.push(...view.entries.map((entry) => entry.name));
        if (view.entries.length < 4) break;
        afterName = view.entries[view.entries.length - 1]!.name;
      }
      const expected = sinceAfter === undefined ? names : names.filter((_, n) => n % 3 === 0);
      assert.deepEqual(seen, expected, `pages of ${sinceAfter === undefined ? 'the full plan' : 'the delta'}`);
    }
  }],

  ['a second connection sees the same state (several processes share one store)', async ({ store, other: openOther }) => {
    const other = await openOther();
    try {
      const lease = (await store.acquireLease('planner', 'p', 60_000))!;
      assert.equal(await other.acquireLease('planner', 'q', 60_000), null);
      await publishSimple(store, lease, 0, [{ name: 'a', records: records('192.0.2.1') }]);
      assert.equal(await other.latestGeneration(), 1);
      await other.heartbeat({ id: 'az1', heldGeneration: 1, enactedGeneration: 1 }, 5000);
      const enactors = await store.listEnactors();
      assert.deepEqual(enactors.map((e) => [e.id, e.heldGeneration]), [['az1', 1]]);
      assert.equal(enactors[0]!.enactedGeneration, 1);
    } finally {
      await other.close();
    }
  }],

  ['checker views: each checker\'s newest view with its heartbeat, seen from another connection', async ({ store, other: openOther }) => {
    const other = await openOther();
    try {
      await store.publishCheckerView({ id: 'c1', probed: 3, down: ['t1'], suspect: false }, 60_000);
      await other.publishCheckerView({ id: 'c2', probed: 3, down: [], suspect: true }, 60_000);
      await store.publishCheckerView({ id: 'c1', probed: 3, down: ['t1', 't2'], suspect: false }, 60_000);
      const views = await other.listCheckerViews();
      assert.deepEqual(views.map((view) => [view.id, view.probed, view.down, view.suspect]), [['c1', 3, ['t1', 't2'], false], ['c2', 3, [], true]]);
      assert.ok(views.every((view) => view.expiresAtMs > view.heartbeatAtMs), 'each view lives past its heartbeat');
    } finally {
      await other.close();
    }
  }],

  ['inventory versions: a compare-and-swap on the base version; versions are immutable, listed newest first, read whole', async ({ store: plain, other: openOther }) => {
    const store = plain as Store & InventoryStore;
    const other = (await openOther()) as Store & InventoryStore;
    try {
      assert.equal(await store.latestInventoryVersion(), 0);
      assert.equal(await store.readInventory(), null);
      const endpoints = (count: number) => Array.from({ length: count }, (_, n) => ({ name: `svc${n}.dnsplane.test`, targets: [{ id: `t${n}`, address: `192.0.2.${n + 1}`, az: 'az1', capacity: 100 }] }));
      // Services of the dependency graph travel with the version they were applied in (none in odd versions).
      const services = (count: number): ServiceSpec[] => (count % 2 === 0 ? [] : [{
        id: `svc-${count}`, criticality: 'critical' as const, names: ['svc0.dnsplane.test'], services: [],
      }, { id: 'caller', criticality: 'low' as const, names: [], services: [`svc-${count}`], description: 'calls it' }]);
      const put = (target: Store & InventoryStore, baseVersion: number, count: number, actor: string) =>
        target.putInventory({
          baseVersion, endpoints: endpoints(count), services: services(count), actor, reason: `r${count}`, forced: false,
          summary: `${count} names`,
        });
      const first = await put(store, 0, 3, 'alice');
      assert.ok(first.ok && first.info.version === 1);
      // Two writers from the same base: one wins, the other is told the version that won.
      const [a, b] = await Promise.all([put(store, 1, 4, 'alice'), put(other, 1, 5, 'bob')]);
      assert.equal([a, b].filter((result) => result.ok).length, 1, 'exactly one concurrent apply wins');
      const loser = a.ok ? b : a;
      assert.deepEqual(loser, { ok: false, reason: 'stale-base', current: 2 });
      const winner = (await other.readInventory())!;
      assert.equal(winner.version, 2);
      assert.equal(winner.endpoints.length, a.ok ? 4 : 5, 'the winner\'s endpoints, whole');
      assert.deepEqual((await store.readInventory(1))!.endpoints, endpoints(3), 'version 1 is unchanged');
      assert.deepEqual((await other.readInventory(1))!.services, services(3), 'version 1\'s services, read back whole');
      assert.deepEqual(winner.services, services(a.ok ? 4 : 5), 'the winner\'s services');
      assert.deepEqual((await other.listInventoryVersions(10)).map((v) => [v.version, v.names]), [[2, winner.endpoints.length], [1, 3]]);
      assert.equal(await store.readInventory(7), null);
      // A version larger than one etcd request (chunked there) reads back whole.
      const large = await put(store, 2, 10_000, 'carol');
      assert.ok(large.ok);
      assert.deepEqual((await other.readInventory(3))!.endpoints, endpoints(10_000));
    } finally {
      await other.close();
    }
  }],

  ['alarms count, clear and re-raise; counters add up; history keeps order', async ({ store }) => {
    await store.raiseAlarm('drift', 'a', 'empty');
    await store.raiseAlarm('drift', 'a', 'empty again');
    let alarms = await store.listAlarms(true);
    assert.equal(alarms.length, 1);
    assert.equal(alarms[0]!.count, 2);
    await store.clearAlarm('drift', 'a');
    assert.equal((await store.listAlarms(true)).length, 0);
    await store.raiseAlarm('drift', 'a', 'edited');
    alarms = await store.listAlarms(true);
    assert.equal(alarms[0]!.count, 3);
    const counters = Object.fromEntries((await store.readCounters()).map((c) => [c.name, c.value]));
    assert.equal(counters.alarms_drift, 3);
    await store.appendHistory([{ name: 'a', fromGeneration: 0, toGeneration: 1, actor: 'az1', kind: 'enact', detail: '' }, { name: 'a', fromGeneration: 1, toGeneration: 2, actor: 'az2', kind: 'enact', detail: '' }]);
    await store.appendHistory([{ name: 'b', fromGeneration: 0, toGeneration: 2, actor: 'az3', kind: 'enact', detail: 'x' }]);
    assert.deepEqual((await store.readHistory('a', 10)).map((h) => h.toGeneration), [1, 2]);
    const all = await store.readHistory(null, 10);
    assert.deepEqual(all.map((h) => [h.name, h.toGeneration]), [['a', 1], ['a', 2], ['b', 2]]);
    assert.ok(all[0]!.id < all[1]!.id && all[1]!.id < all[2]!.id, 'ids increase');
    assert.deepEqual((await store.readHistory(null, 1)).map((h) => h.name), ['b'], 'a limit keeps the newest');
  }],

  ['history retention: entries older than the cut-off and beyond the newest N of a name go, in bounded calls; the rest stays',
    async ({ store }) => {
    const entry = (name: string, to: number, atMs: number) =>
      ({ name, fromGeneration: to - 1, toGeneration: to, actor: 'az1', kind: 'enact' as const, detail: '', atMs });
    // a: 6 entries (t = 100..600), b: 2 old ones (t = 50, 60), c: 1 recent one.
    await store.appendHistory([1, 2, 3, 4, 5, 6].map((to) => entry('a', to, to * 100)));
    await store.appendHistory([entry('b', 1, 50), entry('b', 2, 60), entry('c', 1, 700)]);
    const rule = { beforeMs: 100, perNameMax: 3 };
    // Nothing to keep beyond the rule: b's two (older than 100) and a's three oldest (beyond 3) — 5 in all, 2 a call.
    const calls: number[] = [];
    for (let call = 0; call < 10; call += 1) {
      const deleted = await store.pruneHistory(rule, 2);
      calls.push(deleted);
      if (deleted < 2) break;
    }
    assert.deepEqual(calls, [2, 2, 1, 0].slice(0, calls.length));
    assert.equal(calls.reduce((sum, n) => sum + n, 0), 5);
    const left = (await store.readHistory(null, 100)).map((h) => [h.name, h.toGeneration]);
    assert.deepEqual(left, [['a', 4], ['a', 5], ['a', 6], ['c', 1]]);
    assert.equal(await store.pruneHistory(rule, 10), 0, 'a second prune finds nothing');
    // The newest entry of a name is kept whatever the per-name bound, unless it is older than the cut-off.
    assert.equal(await store.pruneHistory({ beforeMs: 0, perNameMax: 1 }, 10), 2);
    assert.deepEqual((await store.readHistory(null, 100)).map((h) => [h.name, h.toGeneration]), [['a', 6], ['c', 1]]);
    assert.equal(await store.pruneHistory({ beforeMs: 701, perNameMax: 1 }, 10), 2);
    assert.deepEqual(await store.readHistory(null, 100), []);
  }],

  ['optional capabilities: each accessor answers null or a capability that agrees with the plain reads',
    async ({ store: plain }) => {
    const store = plain as Store & InventoryStore;
    const health = [{ target: 'lb-1', state: 'up' }, { target: 'lb-2', state: 'down' }, { target: 'lb-3', state: 'down' }] as const;
    await store.setHealthMany(health, 'checker');
    const selective = store.selectiveHealthReads();
    if (selective !== null) {
      const whole = await store.readHealth();
      const some = (await selective.readHealthOf(['lb-3', 'lb-1', 'lb-9'])).sort((x, y) => x.target.localeCompare(y.target));
      assert.deepEqual(some, whole.filter((h) => h.target !== 'lb-2'), 'only the targets asked for, absent ones left out');
      assert.deepEqual((await selective.listHealth('down', 1, 5)).map((h) => h.target), ['lb-3']);
      assert.deepEqual(await selective.countHealth(), { up: 1, down: 2 });
    }
    const plans = store.watchablePlans();
    if (plans !== null) {
      const seen: number[] = [];
      const stop = plans.watchGeneration((generation) => seen.push(generation));
      try {
        const lease = (await store.acquireLease('planner', 'p', 60_000))!;
        // A watch is best effort and starts asynchronously: publish until one is seen.
        await pollUntil(async () => {
          const result = await publishSimple(store, lease, await store.latestGeneration(), []);
          assert.ok(result.ok);
          return seen.length > 0;
        }, 'a published generation reaches the watcher', 15_000, 100);
        assert.ok(seen[0]! >= 1);
      } finally {
        stop();
      }
    }
    const inventory = store.watchableInventory();
    if (inventory !== null) {
      const seen: number[] = [];
      const stop = inventory.watchInventory((version) => seen.push(version));
      try {
        const endpoints = [{ name: 'a', targets: [{ id: 'lb-1', address: '192.0.2.1', az: 'az1', capacity: 1 }] }];
        await pollUntil(async () => {
          const baseVersion = await store.latestInventoryVersion();
          const put = await store.putInventory({
            baseVersion, endpoints, services: [], actor: 't', reason: 'r', forced: false, summary: '',
          });
          assert.ok(put.ok);
          return seen.length > 0;
        }, 'a stored inventory version reaches the watcher', 15_000, 100);
      } finally {
        stop();
      }
    }
  }],

  ['adoption grants: the first grant of a name stays; reads of present and absent names, many at once; name order', async ({ store, other: openOther }) => {
    await store.grantAdoption('c.dnsplane.test', 'alice', 'hand-made record taken over');
    await store.grantAdoption('a.dnsplane.test', 'bob', 'adopt: true in the inventory');
    await store.grantAdoption('c.dnsplane.test', 'carol', 'granted again');
    const other = await openOther();
    try {
      const read = await other.readAdoptions(['c.dnsplane.test', 'absent.dnsplane.test', 'a.dnsplane.test', 'Not A Name']);
      assert.deepEqual([...read.keys()].sort(), ['a.dnsplane.test', 'c.dnsplane.test'], 'absent names are absent from the map');
      const c = read.get('c.dnsplane.test')!;
      assert.deepEqual([c.name, c.actor, c.reason], ['c.dnsplane.test', 'alice', 'hand-made record taken over'], 'the first grant stays');
      assert.ok(Number.isInteger(c.grantedAtMs) && c.grantedAtMs > 0);
      assert.deepEqual(await other.readAdoptions([]), new Map());
      assert.deepEqual((await other.listAdoptions()).map((a) => [a.name, a.actor]), [['a.dnsplane.test', 'bob'], ['c.dnsplane.test', 'alice']], 'listed in name order');
      // Bad grants are refused, naming the problem, and store nothing.
      await refused(store.grantAdoption('Upper.dnsplane.test', 'ops', 'r'), /name "Upper\.dnsplane\.test" is not normalized/);
      await refused(store.grantAdoption('bad..dnsplane.test', 'ops', 'r'), /adoption refused: name "bad\.\.dnsplane\.test" has an invalid label/);
      await refused(store.grantAdoption('', 'ops', 'r'), /adoption refused: name "" is empty/);
      await refused(store.grantAdoption('b.dnsplane.test', ' ', 'r'), /no actor/);
      await refused(store.grantAdoption('b.dnsplane.test', 'ops', ''), /no reason/);
      assert.deepEqual((await store.listAdoptions()).map((a) => a.name), ['a.dnsplane.test', 'c.dnsplane.test'], 'refused grants stored nothing');
      // A grant is withdrawn once; a new one can be given after.
      assert.equal(await other.revokeAdoption('a.dnsplane.test'), true);
      assert.equal(await store.revokeAdoption('a.dnsplane.test'), false, 'nothing left to revoke');
      assert.equal(await store.revokeAdoption('Not A Name'), false);
      assert.deepEqual((await store.readAdoptions(['a.dnsplane.test'])).size, 0);
      await store.grantAdoption('a.dnsplane.test', 'dave', 'granted after the revocation');
      assert.equal((await other.readAdoptions(['a.dnsplane.test'])).get('a.dnsplane.test')?.actor, 'dave');
      // Many names, fewer or more than the grants: on etcd point reads in one transaction or several, or a scan of the
      // grants; on SQLite a query per slice of names (more than one), never one statement of 40,000 names.
      const granted = Array.from({ length: 600 }, (_, n) => `g${String(n).padStart(3, '0')}.dnsplane.test`);
      for (let start = 0; start < granted.length; start += 100) {
        await Promise.all(granted.slice(start, start + 100).map((name) => store.grantAdoption(name, 'ops', 'bulk')));
      }
      const absent = Array.from({ length: 40_000 }, (_, n) => `absent-${n}.dnsplane.test`);
      const everyName = ['a.dnsplane.test', 'c.dnsplane.test', ...granted];
      const grantedNames = new Set(everyName);
      const askedSets = [
        granted.slice(0, 10), [...granted.slice(0, 550), ...absent.slice(0, 20)], [...granted, ...absent.slice(0, 60)],
        [...absent, ...everyName],
      ];
      for (const asked of askedSets) {
        const found = await other.readAdoptions(asked);
        const expected = asked.filter((name) => grantedNames.has(name));
        assert.deepEqual([...found.keys()].sort(), expected.sort(), `the grants among ${asked.length} names`);
        assert.ok([...found.values()].every((a) => a.name !== 'a.dnsplane.test' || a.actor === 'dave'));
      }
      assert.deepEqual((await other.listAdoptions()).map((a) => a.name), [...everyName].sort());
    } finally {
      await other.close();
    }
  }],

  ['owner identity: the first id proposed is stored, two connections at once get the same one, later proposals read it', async ({ store, other: openOther }) => {
    const other = await openOther();
    try {
      await refused(store.ownerIdentity('Not_An_Id'), checkOwnerId('Not_An_Id')!);
      const [mine, theirs] = await Promise.all([store.ownerIdentity('dp-one'), other.ownerIdentity('dp-two')]);
      assert.deepEqual(mine, theirs, 'both connections get the one stored identity');
      assert.ok(['dp-one', 'dp-two'].includes(mine.owner), 'the bad proposal stored nothing');
      assert.deepEqual(mine.former, []);
      assert.deepEqual(await store.ownerIdentity('dp-three'), mine, 'a later proposal reads the stored id');
      assert.deepEqual(await other.ownerIdentity('dp-four'), mine);
      await refused(other.ownerIdentity('-leading-dash'), checkOwnerId('-leading-dash')!);
    } finally {
      await other.close();
    }
  }],

  ['owner migration: the old id joins former; refused before an identity exists, for a bad, the same or a former id, changing nothing', async ({ store, other: openOther }) => {
    await refused(store.migrateOwner('dp-new'), /owner migration to "dp-new" refused: no owner id is stored yet/);
    assert.deepEqual(await store.ownerIdentity('dp-first'), { owner: 'dp-first', former: [] }, 'the refused migration stored nothing');
    const other = await openOther();
    try {
      assert.deepEqual(await other.migrateOwner('dp-second'), { owner: 'dp-second', former: ['dp-first'] });
      assert.deepEqual(await store.ownerIdentity('dp-other'), { owner: 'dp-second', former: ['dp-first'] }, 'seen from the other connection');
      await refused(store.migrateOwner('DP_BAD'), checkOwnerId('DP_BAD')!);
      await refused(store.migrateOwner('dp-second'), 'owner migration refused: "dp-second" is already the owner id');
      await refused(other.migrateOwner('dp-first'), 'owner migration refused: "dp-first" is a former owner id of this installation');
      assert.deepEqual(await other.ownerIdentity('dp-x'), { owner: 'dp-second', former: ['dp-first'] }, 'refusals changed nothing');
      assert.deepEqual(await store.migrateOwner('dp-third'), { owner: 'dp-third', former: ['dp-first', 'dp-second'] });
      // Two migrations at once from two connections: both happen, one after the other, neither lost.
      const [a, b] = await Promise.all([store.migrateOwner('dp-a'), other.migrateOwner('dp-b')]);
      const [firstDone, lastDone] = a.former.at(-1) === 'dp-third' ? [a, b] : [b, a];
      assert.deepEqual(firstDone.former, ['dp-first', 'dp-second', 'dp-third'], JSON.stringify([a, b]));
      assert.deepEqual(lastDone.former, ['dp-first', 'dp-second', 'dp-third', firstDone.owner], JSON.stringify([a, b]));
      assert.deepEqual(await store.ownerIdentity('dp-y'), lastDone);
    } finally {
      await other.close();
    }
  }],

  ['health overrides, drains, freezes and operator requests', async ({ store, other: openOther }) => {
    await store.setHealth('lb-1', 'down', 'operator');
    await store.setHealthMany([{ target: 'lb-1', state: 'up' }, { target: 'lb-2', state: 'down' }], 'checker');
    assert.deepEqual((await store.readHealth()).map((h) => [h.target, h.state, h.source]), [['lb-1', 'down', 'operator'], ['lb-2', 'down', 'checker']], 'a probe never replaces an operator override');
    assert.equal(await store.clearHealth('lb-1'), true);
    assert.equal(await store.clearHealth('lb-1'), false);
    await store.setDrain('lb-2', true);
    await store.setFreeze('*', true);
    await store.setFreeze('a', true);
    await store.setFreeze('a', false);
    assert.deepEqual([await store.listDrains(), await store.listFreezes()], [['lb-2'], ['*']]);
    const first = await store.addRequest('reenact', 'a', 'ops', 'why');
    const second = await store.addRequest('reenact', 'b', 'ops', 'why');
    assert.ok(second > first);
    const other = await openOther();
    try {
      // Two takers at once: each request goes to exactly one of them.
      const [mine, theirs] = await Promise.all([store.takeRequests('reenact', 10), other.takeRequests('reenact', 10)]);
      assert.deepEqual([...mine, ...theirs].map((r) => r.subject).sort(), ['a', 'b']);
      assert.deepEqual(await store.takeRequests('reenact', 10), []);
    } finally {
      await other.close();
    }
  }],
];
