/**
 * Route 53 provider benchmark (issue 14): names per second enacted into a
 * hosted zone through the official SDK — against the Route 53 API emulator
 * of test/providers/route53/emulator.ts, not AWS:
 * - one enactor applying a full 10,000-name plan to an empty zone, with the
 *   emulator unthrottled (what the provider itself costs), and again at AWS's
 *   five requests per second with the provider's production settings;
 * - generations changing 1% of the names (100) with the emulator throttled
 *   at five requests per second, the provider pacing itself (median of 3),
 *   and once without pacing, left to Throttling and its retries;
 * - for those generations, the time until every batch is accepted and until
 *   GetChange says INSYNC, with the emulator's propagation delay set to 5 s.
 * The real Planner and Enactor run in-process on a SQLite store; the emulator
 * runs in this process too, on a loopback port.
 */
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { Planner } from '../src/planner/planner.js';
import { Enactor } from '../src/enactor/enactor.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { Route53Provider, type Route53Settings } from '../src/providers/route53/provider.js';
import type { Provider } from '../src/providers/types.js';
import { silentLogger } from '../src/util/log.js';
import { seededRng, systemClock } from '../src/util/clock.js';
import type { EndpointSpec } from '../src/domain/types.js';
import { Route53Emulator } from '../test/providers/route53/emulator.js';
import { emulatorSettings } from '../test/providers/route53/helpers.js';
import { nowMs, percentile, writeSection, type ResultRow, safetyOff } from './common.js';

const namesCount = 10_000;
const targetsPerName = 4;
const deltaRounds = 3;
const deltaNames = namesCount / 100;
/** The enactor's default batch (config enactor.batchNamesMax). */
const batchNamesMax = 1000;
/** AWS's documented limit: five requests per second per account. */
const awsRequestsPerSecond = 5;
/** The emulator's PENDING-to-INSYNC delay for the 1% generations (AWS: "generally within 60 seconds"). */
const propagationMs = 5000;
/** Six record sets a name (4 weighted, the marker, the claim): AWS's default quota of 10,000 sets holds 1,666 names. */
const recordSetsMax = 100_000;

function inventory(): EndpointSpec[] {
  return Array.from({ length: namesCount }, (_, n) => ({
    name: `svc${n}.dnsplane.test`,
    targets: Array.from({ length: targetsPerName }, (_, t) => ({
      id: `t${n}-${t}`, address: `10.${n >> 8}.${n & 255}.${t + 1}`, az: `az${t % 3}`, capacity: 100 + t,
    })),
  }));
}

/** A provider whose calls go to `current`, so one enactor can be switched between two providers' settings. */
function switchable(initial: Provider): { provider: Provider; use(next: Provider): void } {
  let current = initial;
  const provider: Provider = {
    get kind() {
      return current.kind;
    },
    read: (names) => current.read(names),
    list: (afterName, limit) => current.list(afterName, limit),
    readRemovals: (names) => current.readRemovals(names),
    apply: (changes) => current.apply(changes),
    servedChangeFeed: () => null,
    removalCompaction: () => null,
    close: async () => undefined,
  };
  return { provider, use: (next) => void (current = next) };
}

interface Setup {
  emulator: Route53Emulator;
  store: SqliteStore;
  planner: Planner;
  enactor: Enactor;
  open(extra: Partial<Route53Settings>): Route53Provider;
  use(provider: Provider): void;
  stop(): Promise<void>;
}

async function setup(emulatorRate: number, first: Partial<Route53Settings>): Promise<Setup> {
  const emulator = new Route53Emulator({ recordSetsMax, requestsPerSecond: emulatorRate });
  const endpoint = await emulator.start();
  const dir = mkdtempSync(join(tmpdir(), 'dnsplane-bench-route53-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  const opened: Route53Provider[] = [];
  const open = (extra: Partial<Route53Settings>) => {
    const provider = new Route53Provider(emulatorSettings(endpoint, emulator.zoneIds[0]!, extra));
    opened.push(provider);
    return provider;
  };
  const { provider, use } = switchable(open(first));
  const endpoints = inventory();
  const planner = new Planner(
    { id: 'bench', zone: 'dnsplane.test', intervalMs: 1, leaseTtlMs: 600_000, safety: safetyOff },
    { store, clock: systemClock, log: silentLogger, inventory: () => endpoints },
  );
  const enactor = new Enactor(
    {
      id: 'az1', pollIntervalMs: 10, batchNamesMax, retriesMax: 10, backoffBaseMs: 1, backoffMaxMs: 50,
      heartbeatIntervalMs: 1000, heartbeatTtlMs: 600_000,
    },
    { store, provider, clock: systemClock, rng: seededRng(1), log: silentLogger },
  );
  return {
    emulator, store, planner, enactor, open, use,
    async stop() {
      for (const opened_ of opened) await opened_.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
      await emulator.stop();
    },
  };
}

interface Full {
  ms: number;
  requests: number;
  batches: number;
  throttled: number;
}

/** Requests the emulator served (those it answered Throttling are counted apart). */
function served(target: Setup): number {
  return [...target.emulator.stats.requests.values()].reduce((sum, count) => sum + count, 0);
}

async function fullPlan(target: Setup): Promise<Full> {
  const { stats } = target.emulator;
  const before = { committed: stats.committed, requests: served(target), throttled: stats.throttled };
  await target.planner.tick();
  const started = nowMs();
  const step = await target.enactor.step();
  const ms = nowMs() - started;
  if (step?.applied !== namesCount || !step.complete) throw new Error(`full apply applied ${step?.applied}`);
  return {
    ms, requests: served(target) - before.requests, batches: stats.committed - before.committed,
    throttled: stats.throttled - before.throttled,
  };
}

interface Delta {
  committedMs: number;
  insyncMs: number;
  requests: number;
  throttled: number;
}

/** One generation flipping one target of every 100th name: time until the last batch is accepted, and until INSYNC. */
async function delta(target: Setup, round: number): Promise<Delta> {
  const state = round % 2 === 0 ? 'down' as const : 'up' as const;
  const flips = Array.from({ length: deltaNames }, (_, n) => ({ target: `t${n * 100}-0`, state }));
  await target.store.setHealthMany(flips, 'bench');
  const published = await target.planner.tick();
  if (published.kind !== 'published' || published.header.namesChanged !== deltaNames) {
    throw new Error(`delta publish ${JSON.stringify(published)}`);
  }
  const { stats } = target.emulator;
  const before = { requests: served(target), throttled: stats.throttled };
  let lastCommitMs = 0;
  target.emulator.onCommit = () => {
    lastCommitMs = nowMs();
  };
  const started = nowMs();
  const step = await target.enactor.step();
  const insyncMs = nowMs() - started;
  target.emulator.onCommit = null;
  if (step?.applied !== deltaNames) throw new Error(`delta applied ${step?.applied}`);
  return {
    committedMs: lastCommitMs - started, insyncMs, requests: served(target) - before.requests,
    throttled: stats.throttled - before.throttled,
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const rate = (names: number, ms: number) => `${Math.round(names / (ms / 1000)).toLocaleString('en')} names/s`;
const plan = `${namesCount.toLocaleString('en')}-name plan`;
const aws = `${awsRequestsPerSecond} requests/s`;

const loadBefore = loadavg()[0]!;
const results: ResultRow[] = [];

// The provider's own cost: no throttle, no propagation delay, polls every 10 ms.
const fast = await setup(Number.POSITIVE_INFINITY, { requestsPerSecond: 10_000, syncPollMs: 10 });
try {
  const full = await fullPlan(fast);
  results.push({
    metric: `one enactor applying a full ${plan} to an empty zone, emulator unthrottled`,
    value: `${rate(namesCount, full.ms)} (${seconds(full.ms)}, ${full.batches} change batches,`
      + ` ${full.requests} requests)`,
  });
} finally {
  await fast.stop();
}

// AWS's pace: the emulator at 5 requests/s; the provider with its production settings (5/s, GetChange every 2 s).
const production = {
  requestsPerSecond: awsRequestsPerSecond, syncPollMs: 2000, backoffBaseMs: 100, backoffMaxMs: 10_000,
};
const slow = await setup(awsRequestsPerSecond, production);
try {
  const full = await fullPlan(slow);
  results.push({
    metric: `the same full plan, emulator throttled at ${aws}, provider paced at ${awsRequestsPerSecond}/s`,
    value: `${rate(namesCount, full.ms)} (${seconds(full.ms)}, ${full.requests} requests,`
      + ` ${full.throttled} answered Throttling)`,
  });
  slow.emulator.setInsyncAfterMs(propagationMs);
  const rounds: Delta[] = [];
  for (let round = 0; round < deltaRounds; round += 1) rounds.push(await delta(slow, round));
  const median = (pick: (round: Delta) => number) => percentile(rounds.map(pick), 50);
  const committedMs = median((round) => round.committedMs);
  const insyncMs = median((round) => round.insyncMs);
  const requests = median((round) => round.requests);
  const throttled = rounds.reduce((sum, round) => sum + round.throttled, 0);
  results.push({
    metric: `a 1% generation (${deltaNames} names) at ${aws}, provider paced (median of ${deltaRounds})`,
    value: `${rate(deltaNames, committedMs)} until accepted (${seconds(committedMs)}, ${requests} requests, `
      + `${throttled} answered Throttling in all)`,
  });
  results.push({
    metric: `that generation until GetChange says INSYNC (propagation ${seconds(propagationMs)}, a poll every 2 s)`,
    value: `${seconds(insyncMs)} (${rate(deltaNames, insyncMs)})`,
  });
  slow.use(slow.open({ ...production, requestsPerSecond: 10_000, retriesMax: 50 }));
  const unpaced = await delta(slow, deltaRounds);
  results.push({
    metric: `a 1% generation at ${aws} with the provider's pacing off (Throttling retried)`,
    value: `INSYNC after ${seconds(unpaced.insyncMs)}, accepted after ${seconds(unpaced.committedMs)} `
      + `(${unpaced.requests} requests served, ${unpaced.throttled} more answered Throttling)`,
  });
} finally {
  await slow.stop();
}

const sets = (namesCount * (targetsPerName + 2)).toLocaleString('en');
const allowed = recordSetsMax.toLocaleString('en');
const quota = `AWS's default quota is 10,000 a hosted zone; the emulator here allows ${allowed}`;
writeSection('route53', 'Route 53 provider: enactment through the official SDK into the Route 53 API emulator',
  'npm run bench -- route53', results, [
    `Each name has ${targetsPerName} targets: ${targetsPerName} weighted A record sets (one per target) and a marker`
      + ` TXT at _dnsplane.<name> and the claim its first write leaves under _removed._dnsplane, so the full plan is`
      + ` ${sets} record sets (${quota}). The enactor reads and writes`
      + ` ${batchNamesMax} names per step; reads walk ListResourceRecordSets pages of 300 sets; writes are change`
      + ' batches of at most 1,000 records and 32,000 characters of values, each followed by GetChange until INSYNC.',
    `The 1% generations change one target of every 100th name, so the ${deltaNames} names are scattered across the zone`
      + ' and most cost one ListResourceRecordSets request each: at five requests per second the read, not the write,'
      + " takes the time. Pacing at 5/s keeps the provider under AWS's account-wide limit; without it, it spends"
      + ' requests on Throttling answers and waits out jittered backoffs (100 ms doubling to 10 s), and still'
      + ' converges.',
    'These are figures against the emulator in the same process (loopback HTTP, no network latency, its own CPU cost'
      + ' included), not against AWS, where each request also pays a round trip to route53.amazonaws.com and changes'
      + ' take seconds to tens of seconds to reach INSYNC.',
    'The figures are wall-clock and depend on what else the machine runs: the 1-minute load average was'
      + ` ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after this run.`,
  ]);
