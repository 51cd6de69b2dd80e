/**
 * Differential testing of Store + Provider implementations: one seeded random
 * generator of calls (publish with fresh and stale leases and bases, every
 * kind of plan read, clean-up, leases and heartbeats under a moving clock,
 * conditional applies with current, stale and missing versions, inventory
 * versions put with current and stale bases and read back, adoption grants,
 * the owner identity and its migrations), run against a
 * reference side and a candidate side, every answer required equal. The
 * simulator's memory store and provider are compared with the SQLite ones
 * (memory.test.ts) and with the etcd ones (memory-etcd.test.ts) by this one
 * generator.
 *
 * What each implementation may legitimately answer differently is mapped
 * here, in one place: provider versions and lease fencing tokens are opaque
 * (the contracts only say they change / strictly increase), so both are
 * compared by the order in which they first appear on their side.
 */
import assert from 'node:assert/strict';
import { createRandom, type SimRandom } from '../../src/sim/random.js';
import type { Clock } from '../../src/util/clock.js';
import type { EndpointSpec, PlanHeader, RecordEntry } from '../../src/domain/types.js';
import type { Provider } from '../../src/providers/types.js';
import type { InventoryStore, LeaseGrant, PublishResult, Store } from '../../src/store/types.js';

export const names = ['a.dnsplane.test', 'b.dnsplane.test', 'c.dnsplane.test', 'd.dnsplane.test'];

export class ManualClock implements Clock {
  now = 1_000_000;
  nowMs(): number {
    return this.now;
  }
  async sleep(): Promise<void> {}
}

/**
 * The TTLs the generator draws. Stores whose leases and heartbeats expire by
 * the (manual) clock get short ones that the moving clock outlives; a store
 * whose expiry is real time (etcd) gets ones that outlive the whole run.
 */
export interface Timing {
  leaseTtlsMs: readonly number[];
  heartbeatTtlsMs: readonly number[];
}

export const clockTiming: Timing = { leaseTtlsMs: [50, 500], heartbeatTtlsMs: [10, 1000] };

/** Maps each implementation's opaque versions (or tokens) to the order in which they first appeared. */
export class Versions {
  private readonly canonical = new Map<string, number>();
  private readonly actual: string[] = [];
  of(version: string | number): number {
    const key = String(version);
    if (!this.canonical.has(key)) {
      this.canonical.set(key, this.actual.length);
      this.actual.push(key);
    }
    return this.canonical.get(key)!;
  }
  actualOf(canonical: number): string | undefined {
    return this.actual[canonical];
  }
}

export interface Side {
  store: Store & InventoryStore;
  provider: Provider;
  /** Provider versions. */
  versions: Versions;
  /** Lease fencing tokens. */
  tokens: Versions;
  leases: Map<string, LeaseGrant | null>;
}

export function newSide(store: Store & InventoryStore, provider: Provider): Side {
  return { store, provider, versions: new Versions(), tokens: new Versions(), leases: new Map() };
}

type Operation = (side: Side) => Promise<unknown>;

/** Calls `body` on a side and returns a comparable answer (thrown errors become their invariant name). */
async function answer(side: Side, body: Operation): Promise<unknown> {
  try {
    return JSON.parse(JSON.stringify((await body(side)) ?? null)) as unknown;
  } catch (error) {
    return { threw: (error as { invariant?: string }).invariant ?? (error as Error).message };
  }
}

function grantOf(side: Side, grant: LeaseGrant | null): unknown {
  return grant === null ? null : { ...grant, token: side.tokens.of(grant.token) };
}

function headerOf(side: Side, header: PlanHeader): PlanHeader {
  return { ...header, fencingToken: side.tokens.of(header.fencingToken) };
}

function publishResultOf(side: Side, result: PublishResult): unknown {
  if (result.ok) return { ok: true, header: headerOf(side, result.header) };
  return { ...result, detail: result.detail.replace(/token (\d+)/g, (_, token: string) => `token #${side.tokens.of(token)}`) };
}

function randomRecords(random: SimRandom): RecordEntry[] | null {
  if (random.chance(0.1)) return null;
  const count = random.between(1, 3);
  return Array.from({ length: count }, (_, index) => ({ target: `t${index}`, address: `10.0.0.${index + 1}`, weight: random.between(1, 255) }));
}

function randomInventory(random: SimRandom): EndpointSpec[] {
  const chosen = names.filter(() => random.chance(0.6));
  return (chosen.length > 0 ? chosen : [names[0]!]).map((name, index) => ({
    name, targets: [{ id: `t${index}`, address: `10.0.1.${index + 1}`, az: 'az1', capacity: random.pick([50, 100]) }],
  }));
}

/** An inventory operation: a put against the newest version (or a stale one), or one of the reads. */
function inventoryOperation(random: SimRandom): Operation {
  if (random.chance(0.5)) {
    const stale = random.chance(0.2);
    const endpoints = randomInventory(random);
    const forced = random.chance(0.2);
    return async (side) => {
      const current = await side.store.latestInventoryVersion();
      return side.store.putInventory({ baseVersion: stale ? Math.max(0, current - 1) : current, endpoints, services: [], actor: 'test', reason: 'a change', forced, summary: `${endpoints.length} names` });
    };
  }
  const version = random.chance(0.4) ? undefined : random.int(5);
  const limit = random.int(4);
  return async (side) => ({
    latest: await side.store.latestInventoryVersion(), read: await side.store.readInventory(version), listed: await side.store.listInventoryVersions(limit),
  });
}

/** Adoption grants and the owner identity: grants (the first kept), reads, and migrations (good, repeated, bad ids). */
function ownershipOperation(random: SimRandom): Operation {
  const name = random.pick(names);
  const owner = random.pick(['dp-one', 'dp-two', 'dp-three', 'Bad Id', '']);
  switch (random.int(5)) {
    case 0:
      return async (side) => {
        await side.store.grantAdoption(name, random.pick(['op1', 'op2']), random.pick(['r1', 'r2']));
        return side.store.listAdoptions();
      };
    case 1:
      return async (side) => Object.fromEntries(await side.store.readAdoptions([name, random.pick(names)]));
    case 2:
      return async (side) => side.store.ownerIdentity(owner);
    default:
      return async (side) => side.store.migrateOwner(owner);
  }
}

function chooseOperation(random: SimRandom, clock: ManualClock, timing: Timing, latest: number, servedVersions: number): Operation {
  const holder = random.pick(['p1', 'p2']);
  const generation = random.int(latest + 2);
  switch (random.int(13)) {
    case 0: {
      const base = random.chance(0.8) ? latest : random.int(latest + 1);
      const changes = random.chance(0.5) ? names.map((name) => ({ name, records: randomRecords(random) })) : [{ name: random.pick(names), records: randomRecords(random) }];
      const inventoryVersion = random.int(4);
      return async (side) => {
        const lease = side.leases.get(holder) ?? { name: 'planner', holder, token: 0, expiresAtMs: 0 };
        return publishResultOf(side, await side.store.publishPlan({ lease, baseGeneration: base, changes, namesTotal: 4, forced: false, note: '', inventoryVersion }));
      };
    }
    case 1: {
      const ttl = random.pick(timing.leaseTtlsMs);
      return async (side) => {
        const grant = await side.store.acquireLease('planner', holder, ttl);
        side.leases.set(holder, grant);
        return grantOf(side, grant);
      };
    }
    case 2: {
      const ttl = random.pick(timing.leaseTtlsMs);
      return async (side) => {
        const grant = side.leases.get(holder);
        if (grant === undefined || grant === null) return 'no grant';
        const renewed = await side.store.renewLease(grant, ttl);
        side.leases.set(holder, renewed);
        return grantOf(side, renewed);
      };
    }
    case 3: {
      const by = random.pick([2, 30, 400]);
      return async () => {
        clock.now += by / 2; // each side advances half: the clock is shared
        return null;
      };
    }
    case 4: {
      const sinceAfter = random.chance(0.5) ? random.int(latest + 1) : undefined;
      const paged = random.chance(0.5);
      const afterName = paged ? random.pick(['', ...names]) : undefined;
      const limit = paged ? random.between(1, 3) : undefined;
      const byName = !paged && random.chance(0.3) ? [random.pick(names), random.pick(names)] : undefined;
      return async (side) => {
        const view = await side.store.readPlan(generation, { sinceAfter, afterName, limit, names: byName });
        return view === null ? null : { header: headerOf(side, view.header), entries: [...view.entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.since - b.since)) };
      };
    }
    case 5:
      return async (side) => Object.fromEntries(await side.store.readEntriesAt(names, generation));
    case 6: {
      const floor = random.int(latest + 1);
      const keep = random.int(4);
      const below = random.int(Math.max(1, latest) + 1);
      return async (side) => {
        const candidates = await side.store.listSuperseded(floor, 10);
        const chosen = candidates.filter((_, index) => index % 4 !== keep);
        return { candidates, deleted: await side.store.deletePlanData(chosen, Math.min(below, latest)), oldest: await side.store.oldestGeneration() };
      };
    }
    case 7: {
      const id = random.pick(['e1', 'e2']);
      const held = random.int(latest + 1);
      const ttl = random.pick(timing.heartbeatTtlsMs);
      return async (side) => {
        await side.store.heartbeat({ id, heldGeneration: held, enactedGeneration: held }, ttl);
        return side.store.listEnactors();
      };
    }
    case 8:
    case 9: {
      const name = random.pick(names);
      const records = randomRecords(random);
      const expected = random.chance(0.2) ? null : random.int(servedVersions + 1);
      return async (side) => {
        const current = (await side.provider.read([name])).get(name);
        // Mostly the version just read; sometimes a stale one or none, so conflicts and the S2 guard are exercised.
        const expectedVersion = expected === null ? null : random.chance(0.7) && current !== undefined ? current.version : side.versions.actualOf(expected) ?? 'none';
        const outcomes = await side.provider.apply([{ name, records, generation, expectedVersion }]);
        return outcomes.map((outcome) => (outcome.outcome === 'applied' ? { name: outcome.name, outcome: 'applied', version: side.versions.of(outcome.version) } : outcome));
      };
    }
    case 10:
      return inventoryOperation(random);
    case 11:
      // A release hands the lease over without waiting for expiry (the next acquire gets a new token).
      return async (side) => {
        const grant = side.leases.get(holder);
        if (grant === undefined || grant === null) return 'no grant';
        await side.store.releaseLease(grant);
        return 'released';
      };
    default:
      // Half of these slots go to adoption grants and the owner identity (a draw of their own, so that the choice of
      // every other operation of a seed stays what it was).
      if (random.chance(0.5)) return ownershipOperation(random);
      return async (side) => {
        const served = await side.provider.list(null, 10);
        return { served: served.map((state) => ({ ...state, version: side.versions.of(state.version) })), removals: Object.fromEntries(await side.provider.readRemovals(names)) };
      };
  }
}

export interface DifferentialRun {
  seed: bigint;
  operations: number;
  clock: ManualClock;
  timing: Timing;
  reference: Side;
  candidate: Side;
  /** Names the sides in the failure message. */
  label: string;
}

/**
 * Runs `operations` seeded operations on both sides and requires equal answers. Both sides get identical streams:
 * the choice of an operation and the draws inside it come from one seed per operation. Returns the answers.
 */
export async function runDifferential(run: DifferentialRun): Promise<unknown[]> {
  const random = createRandom(run.seed);
  const answers: unknown[] = [];
  for (let index = 0; index < run.operations; index += 1) {
    const latest = await run.reference.store.latestGeneration();
    const operationSeed = BigInt(random.int(2 ** 31));
    const expected = await answer(run.reference, chooseOperation(createRandom(operationSeed), run.clock, run.timing, latest, 8));
    const actual = await answer(run.candidate, chooseOperation(createRandom(operationSeed), run.clock, run.timing, latest, 8));
    assert.deepEqual(actual, expected, `${run.label}: operation ${index} (seed ${run.seed}) differs`);
    answers.push(expected);
  }
  return answers;
}

/**
 * How often the answers reached each interesting outcome: publishes ("published", "fenced", "stale-base"), inventory
 * puts ("inventory put", "inventory stale-base"), apply outcomes
 * ("applied", "conflict", "superseded"), thrown errors ("threw"), and "tokens": the distinct fencing tokens granted
 * (two or more: the lease changed hands).
 */
export function reached(answers: readonly unknown[]): Map<string, number> {
  const counts = new Map<string, number>();
  const tokens = new Set<number>();
  const count = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(walk);
    if (value === null || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    if (record.ok === false && typeof record.reason === 'string') count('current' in record ? `inventory ${record.reason}` : record.reason);
    if (record.ok === true) count('header' in record ? 'published' : 'inventory put');
    if (typeof record.outcome === 'string') count(record.outcome);
    if ('threw' in record) count('threw');
    if (typeof record.holder === 'string' && typeof record.token === 'number') tokens.add(record.token);
    Object.values(record).forEach(walk);
  };
  answers.forEach(walk);
  counts.set('tokens', tokens.size);
  return counts;
}
