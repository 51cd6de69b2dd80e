/**
 * etcd benchmarks (issue 8: running across machines on etcd):
 * - publishing a full 100,000-name plan (8 targets per name) to etcd: the
 *   staged, fenced publication in bounded transactions, then the flip;
 * - one enactor applying that full plan through etcd (plan read, served
 *   records written by compare-and-swap, history), in names per second;
 * - a generation changing 1% of the names: publication, then enactment.
 * Against a three-member etcd 3.4 cluster (Debian etcd-server) on loopback
 * with its data on the local disk, so every write waits for a quorum's
 * fsync as it would in production. Figures are medians where repeated.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Planner } from '../src/planner/planner.js';
import { Enactor } from '../src/enactor/enactor.js';
import { EtcdStore } from '../src/store/etcd/store.js';
import { BuiltinEtcdProvider } from '../src/providers/builtin/etcd.js';
import { silentLogger } from '../src/util/log.js';
import { seededRng, systemClock } from '../src/util/clock.js';
import type { EndpointSpec } from '../src/domain/types.js';
import { startEtcdCluster } from '../test/helpers/etcd.js';
import { nowMs, percentile, writeSection, safetyOff } from './common.js';

const namesCount = 100_000;
const targetsPerName = 8;
const deltaRounds = 5;

function inventory(): EndpointSpec[] {
  return Array.from({ length: namesCount }, (_, n) => ({
    name: `svc${n}.dnsplane.test`,
    targets: Array.from({ length: targetsPerName }, (_, t) => ({ id: `t${n}-${t}`, address: `127.${1 + (n >> 16)}.${(n >> 8) & 255}.${(n & 255) ^ t}`, az: `az${t % 3}`, capacity: 100 + t })),
  }));
}

function enactor(store: EtcdStore, provider: BuiltinEtcdProvider, id: string): Enactor {
  return new Enactor(
    { id, pollIntervalMs: 10, batchNamesMax: 5000, retriesMax: 10, backoffBaseMs: 1, backoffMaxMs: 50, heartbeatIntervalMs: 1000, heartbeatTtlMs: 60_000 },
    { store, provider, clock: systemClock, rng: seededRng(1), log: silentLogger },
  );
}

function rate(names: number, ms: number): string {
  return `${Math.round(names / (ms / 1000)).toLocaleString('en')} names/s (${ms.toFixed(0)} ms)`;
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const endpoints = inventory();
  const dataDir = mkdtempSync(join(tmpdir(), 'dnsplane-bench-etcd-'));
  const cluster = await startEtcdCluster({ dir: dataDir });
  const settings = { endpoints: cluster.endpoints, prefix: '/bench/' };
  const store = new EtcdStore(settings);
  const provider = new BuiltinEtcdProvider(settings);
  try {
    const planner = new Planner(
      { id: 'bench', zone: 'dnsplane.test', intervalMs: 1, leaseTtlMs: 600_000, safety: safetyOff },
      { store, clock: systemClock, log: silentLogger, inventory: () => endpoints },
    );
    let started = nowMs();
    const first = await planner.tick();
    const publishFullMs = nowMs() - started;
    if (first.kind !== 'published' || first.header.namesChanged !== namesCount) throw new Error(`full publish ${JSON.stringify(first)}`);

    const az1 = enactor(store, provider, 'az1');
    started = nowMs();
    const full = await az1.step();
    const fullMs = nowMs() - started;
    if (full?.applied !== namesCount) throw new Error(`full apply applied ${full?.applied}`);

    const publishDeltaTimes: number[] = [];
    const deltaTimes: number[] = [];
    for (let round = 0; round < deltaRounds; round += 1) {
      await store.setHealthMany(Array.from({ length: namesCount / 100 }, (_, n) => ({ target: `t${n * 100}-0`, state: round % 2 === 0 ? 'down' : 'up' })), 'bench');
      started = nowMs();
      const published = await planner.tick();
      publishDeltaTimes.push(nowMs() - started);
      if (published.kind !== 'published' || published.header.namesChanged !== namesCount / 100) throw new Error(`delta publish ${JSON.stringify(published)}`);
      started = nowMs();
      const step = await az1.step();
      deltaTimes.push(nowMs() - started);
      if (step?.applied !== namesCount / 100) throw new Error(`delta applied ${step?.applied}`);
    }
    const deltaMs = percentile(deltaTimes, 50);
    writeSection('etcd', 'etcd: publication and enactment across machines', 'npm run bench -- etcd', [
      { metric: `publish the full plan, ${namesCount.toLocaleString('en')} names x ${targetsPerName} targets (staged, fenced, one flip)`, value: `${publishFullMs.toFixed(0)} ms` },
      { metric: 'one enactor applying the full plan through etcd', value: rate(namesCount, fullMs) },
      { metric: `publish a 1% generation (${(namesCount / 100).toLocaleString('en')} names, median of ${deltaRounds})`, value: `${percentile(publishDeltaTimes, 50).toFixed(0)} ms` },
      { metric: `enact a 1% generation (median of ${deltaRounds})`, value: `${rate(namesCount / 100, deltaMs)}` },
    ], [
      'Three etcd 3.4 members (Debian etcd-server) on loopback of this one machine, data on the local disk (every write waits for a quorum\'s fsync); the client is the `etcd3` npm package. Across real machines, add the network round trip to every transaction.',
      'A publication writes one key per changed name plus 512 KiB delta chunks, in transactions of at most 120 operations and 1 MiB (etcd\'s defaults are 128 and 1.5 MiB), 8 in flight, all fenced by the leader key\'s create revision and the generation pointer; readers see the plan only when one last transaction flips the pointer.',
      'Enactment per name: the served record and its marker in one key, written by a compare on its mod revision (a first write also on the removal tombstone of the name; nested transactions, 100 names per etcd transaction, 8 in flight), plus one history entry.',
      'The same figures for the embedded SQLite store are in the core section (bench/results/core.md).',
      `The machine's 1-minute load average was ${loadAtStart.toFixed(1)} when this run started (the three etcd members, the benchmark and any other work share its cores).`,
    ]);
  } finally {
    await provider.close();
    await store.close();
    await cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
