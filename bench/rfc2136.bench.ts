/**
 * RFC 2136 provider benchmark (issue 7): names per second enacted into a
 * real Knot DNS server — and, for comparison, BIND 9 and PowerDNS (issue 14)
 * — through signed UPDATEs with the compare-and-swap prerequisite:
 * - one enactor applying a full 10,000-name plan to an empty zone;
 * - a generation changing 1% of the names (100), enacted (median of 5).
 * The real Planner and Enactor run in-process on a SQLite store; the server
 * runs as a child process on loopback (test/helpers/dns-servers.ts).
 */
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { Planner } from '../src/planner/planner.js';
import { Enactor } from '../src/enactor/enactor.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { bulkReadNamesMin, Rfc2136Provider, type Rfc2136Settings } from '../src/providers/rfc2136/provider.js';
import { silentLogger } from '../src/util/log.js';
import { seededRng, systemClock } from '../src/util/clock.js';
import type { EndpointSpec } from '../src/domain/types.js';
import { dnsServerKinds, startDnsServer, testOwner as benchOwner, type DnsServerKind } from '../test/helpers/dns-servers.js';
import { nowMs, percentile, writeSection, type ResultRow, safetyOff } from './common.js';

const namesCount = 10_000;
const targetsPerName = 4;
const deltaRounds = 5;
const deltaNames = namesCount / 100;
/** The enactor's default batch (config enactor.batchNamesMax). */
const batchNamesMax = 1000;

function inventory(): EndpointSpec[] {
  return Array.from({ length: namesCount }, (_, n) => ({
    name: `svc${n}.dnsplane.test`,
    targets: Array.from({ length: targetsPerName }, (_, t) => ({ id: `t${n}-${t}`, address: `10.${n >> 8}.${n & 255}.${t + 1}`, az: `az${t % 3}`, capacity: 100 + t })),
  }));
}

interface Figures {
  fullMs: number;
  fullNamesPerSecond: number;
  deltaMs: number;
  deltaNamesPerSecond: number;
  reads: ReadFigures;
}

/** Names per read in the comparison of reading ways (the provider's threshold, bulkReadNamesMin, among them). */
const readSizes = [16, bulkReadNamesMin, 256, 1000];
const readRounds = 5;

/** Median milliseconds of one read of n names, each way (the zone holding the 10,000 names). */
interface ReadFigures {
  perName: Map<number, number>;
  axfr: number;
  ixfrCurrent: number;
  ixfrDelta: number;
}

async function medianMs(rounds: number, work: (round: number) => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const started = nowMs();
    await work(round);
    times.push(nowMs() - started);
  }
  return percentile(times, 50);
}

/**
 * Where a bulk read pays: reads of n names by signed queries per name (batches just below the threshold, in
 * parallel, as several enactor batches would), against a bulk read by a whole transfer (a provider without an image)
 * and by an incremental one (no change since, and a 1% generation since).
 */
async function measureReads(settings: Rfc2136Settings, names: readonly string[], writer: Rfc2136Provider): Promise<ReadFigures> {
  const perName = new Map<number, number>();
  const batch = bulkReadNamesMin - 1;
  for (const size of readSizes) {
    const reader = new Rfc2136Provider(settings);
    try {
      perName.set(size, await medianMs(readRounds, () => Promise.all(Array.from({ length: Math.ceil(size / batch) }, (_, index) => reader.read(names.slice(index * batch, Math.min(size, (index + 1) * batch)))))));
    } finally {
      await reader.close();
    }
  }
  const axfr = await medianMs(readRounds, async () => {
    const fresh = new Rfc2136Provider(settings);
    await fresh.read(names.slice(0, bulkReadNamesMin));
    await fresh.close();
  });
  const bulk = new Rfc2136Provider(settings);
  try {
    await bulk.read(names.slice(0, bulkReadNamesMin));
    const ixfrCurrent = await medianMs(readRounds, () => bulk.read(names.slice(0, bulkReadNamesMin)));
    const times: number[] = [];
    for (let round = 0; round < readRounds; round += 1) {
      const changed = names.slice(round * deltaNames, (round + 1) * deltaNames);
      const states = await writer.read(changed);
      await writer.apply([...states.values()].map((state) => ({ name: state.name, records: state.records.slice(1), generation: state.generation + 1, expectedVersion: state.version })));
      const started = nowMs();
      await bulk.read(names.slice(0, bulkReadNamesMin));
      times.push(nowMs() - started);
    }
    return { perName, axfr, ixfrCurrent, ixfrDelta: percentile(times, 50) };
  } finally {
    await bulk.close();
  }
}

async function measure(kind: DnsServerKind): Promise<Figures> {
  const server = await startDnsServer(kind);
  const dir = mkdtempSync(join(tmpdir(), 'dnsplane-bench-rfc2136-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  // The longest provider.timeout: PowerDNS takes tens of seconds for one UPDATE that rewrites 100 names of this zone.
  const settings: Rfc2136Settings = { server: server.server, zone: server.zone, timeoutMs: 60_000, tsig: server.key, ttl: 5, maxAnswers: 8, owner: benchOwner };
  const provider = new Rfc2136Provider(settings);
  try {
    const endpoints = inventory();
    const planner = new Planner(
      { id: 'bench', zone: 'dnsplane.test', intervalMs: 1, leaseTtlMs: 600_000, safety: safetyOff },
      { store, clock: systemClock, log: silentLogger, inventory: () => endpoints },
    );
    const enactor = new Enactor(
      { id: 'az1', pollIntervalMs: 10, batchNamesMax, retriesMax: 10, backoffBaseMs: 1, backoffMaxMs: 50, heartbeatIntervalMs: 1000, heartbeatTtlMs: 60_000 },
      { store, provider, clock: systemClock, rng: seededRng(1), log: silentLogger },
    );
    await planner.tick();
    let started = nowMs();
    const full = await enactor.step();
    const fullMs = nowMs() - started;
    if (full?.applied !== namesCount || !full.complete) throw new Error(`${kind}: full apply applied ${full?.applied}`);
    const deltaTimes: number[] = [];
    for (let round = 0; round < deltaRounds; round += 1) {
      const flips = Array.from({ length: deltaNames }, (_, n) => ({ target: `t${n * 100}-0`, state: round % 2 === 0 ? 'down' as const : 'up' as const }));
      await store.setHealthMany(flips, 'bench');
      const published = await planner.tick();
      if (published.kind !== 'published' || published.header.namesChanged !== deltaNames) throw new Error(`${kind}: delta publish ${JSON.stringify(published)}`);
      started = nowMs();
      const step = await enactor.step();
      deltaTimes.push(nowMs() - started);
      if (step?.applied !== deltaNames) throw new Error(`${kind}: delta applied ${step?.applied}`);
    }
    const deltaMs = percentile(deltaTimes, 50);
    const reads = await measureReads(settings, endpoints.map((endpoint) => endpoint.name), provider);
    return { fullMs, fullNamesPerSecond: namesCount / (fullMs / 1000), deltaMs, deltaNamesPerSecond: deltaNames / (deltaMs / 1000), reads };
  } finally {
    await provider.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    await server.stop();
  }
}

function rows(kind: string, figures: Figures): ResultRow[] {
  return [
    { metric: `${kind}: one enactor applying a full ${namesCount.toLocaleString('en')}-name plan to an empty zone`, value: `${Math.round(figures.fullNamesPerSecond).toLocaleString('en')} names/s (${(figures.fullMs / 1000).toFixed(2)} s)` },
    { metric: `${kind}: enacting a 1% generation (${deltaNames} names, median of ${deltaRounds})`, value: `${Math.round(figures.deltaNamesPerSecond).toLocaleString('en')} names/s (${figures.deltaMs.toFixed(0)} ms)` },
    { metric: `${kind}: reading n names by signed queries per name (median of ${readRounds})`, value: [...figures.reads.perName].map(([size, ms]) => `${size}: ${ms.toFixed(0)} ms`).join(', ') },
    { metric: `${kind}: a bulk read from a whole transfer (AXFR of the ${namesCount.toLocaleString('en')}-name zone) / an IXFR, nothing changed / an IXFR after a 1% generation`, value: `${figures.reads.axfr.toFixed(0)} / ${figures.reads.ixfrCurrent.toFixed(0)} / ${figures.reads.ixfrDelta.toFixed(0)} ms` },
  ];
}

/** The versions Debian 12 ships, as the rows name them. */
const serverLabels: Record<DnsServerKind, string> = { knot: 'Knot DNS 3.2', bind: 'BIND 9.18', powerdns: 'PowerDNS 4.7' };

/** DNSPLANE_BENCH_SERVERS=knot,bind measures only those servers (all three by default). */
const wantedServers = process.env.DNSPLANE_BENCH_SERVERS?.split(',') ?? dnsServerKinds;
const servers = dnsServerKinds.filter((kind) => wantedServers.includes(kind));
const loadBefore = loadavg()[0]!;
const results: ResultRow[] = [];
for (const kind of servers) results.push(...rows(serverLabels[kind], await measure(kind)));
const title = 'RFC 2136 provider: enactment into Knot DNS, BIND 9 and PowerDNS';
writeSection('rfc2136', title, 'npm run bench -- rfc2136', results, [
  `Each name has ${targetsPerName} targets (so ${targetsPerName} A records and a marker TXT); the enactor reads and writes ${batchNamesMax} names per step. A read of ${bulkReadNamesMin} names or more is a bulk read: the provider keeps an image of the zone from one signed AXFR and brings it forward by signed IXFRs from its serial (RFC 1995; PowerDNS answers an IXFR with the whole zone); a smaller read is 3 TSIG-signed queries per name (marker, A, AAAA) pipelined over TCP. Each write is a signed (hmac-sha256) UPDATE of up to 200 names with one marker prerequisite per name.`,
  'The server runs on loopback with the settings of test/helpers/dns-servers.ts (Knot: zonefile-sync -1, journal of changes; BIND: journal, default settings; PowerDNS: gsqlite3 backend with its default synchronous writes, caches off), sharing the machine\'s cores with the benchmark.',
  'PowerDNS is slow where an UPDATE deletes: after deleting an RRset it looks for names below it (to keep empty non-terminals right) with a `name LIKE \'%.<name>\'` query that SQLite answers by scanning every record of the zone, so each name rewritten costs time in proportion to the zone\'s size; a first write deletes nothing. Enactor, provider and zone are the same for all three servers; provider.timeout is 60 s here so that one 100-name UPDATE to PowerDNS completes.',
  `The figures are wall-clock and depend on what else the machine runs: the 1-minute load average was ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after this run.`,
]);
