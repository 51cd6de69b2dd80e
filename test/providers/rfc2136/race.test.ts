// Goal: the core race of test/e2e/race.test.ts, with the compare-and-swap in
// a real DNS server — three racing enactors and a janitor never make Knot DNS,
// BIND 9 or PowerDNS answer an empty set, a lower generation or a mix of plans, and
// every name ends on the newest plan (L1); endpoints leave the inventory and
// come back meanwhile, and a removed name never returns below its removal.
// Method: per server, `dnsplane enactor` x3 (random read-to-write delays via
// test/helpers/test-enactor.ts) and `dnsplane janitor` as child processes
// with `store: sqlite` and `provider: rfc2136`; the real Planner in this
// process publishes 200+ generations while churning health; a checker
// samples the server throughout, alternating `dig +tcp` runs (marker, A,
// marker per name) and the provider's read; the history is checked after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHistory, churningPlanner, seeded, startCluster, waitConverged, waitForEnactors } from '../../e2e/harness.js';
import {
  dnsServerKinds, dnsServerNames, providerSection, startDnsServer, type DnsServerKind,
} from '../../helpers/dns-servers.js';
import { Rfc2136Provider } from '../../../src/providers/rfc2136/provider.js';
import { DnsInvariantChecker } from './dns-checker.js';
import { spawnTestEnactor } from '../../helpers/env.js';

const generationsMin = 200;
/** Samples of each kind taken while plans are still being published (publication goes on until there are as many). */
const samplesMin = 20;
const namesCount = 20;
// Fewer answers than targets (3 per name), so the weight-to-address mapping is exercised too.
const maxAnswers = 2;

async function race(kind: DnsServerKind, seed: number): Promise<void> {
  const server = await startDnsServer(kind);
  const cluster = startCluster(namesCount, { provider: providerSection(server), dns: { maxAnswers } });
  const provider = new Rfc2136Provider({ server: server.server, zone: server.zone, timeoutMs: 5000, tsig: server.key, ttl: 5, maxAnswers, owner: null });
  const names = Array.from({ length: namesCount }, (_, index) => `svc${index}.dnsplane.test`);
  const checker = new DnsInvariantChecker(cluster.dbPath, server, provider, names, maxAnswers);
  try {
    for (const id of ['az1', 'az2', 'az3']) cluster.children.push(spawnTestEnactor(id, cluster, { delayMs: 15 }));
    cluster.spawnRole(['janitor']);
    await waitForEnactors(cluster.store, ['az1', 'az2', 'az3']);
    const rng = seeded(seed);
    const { churnOnce, stats } = churningPlanner(cluster, 'planner-under-test', rng, { removalChance: 0.3 });
    let published = 0;
    let running = true;
    const sampling = checker.sampleWhile(() => running);
    // The server's pace decides how fast samples come: publish until both the generations and the samples are there.
    while (published < generationsMin || checker.digSamples < samplesMin || checker.readSamples < samplesMin) {
      if ((await churnOnce()) !== null) published += 1;
      // A random 0-7 ms pace (not synchronisation): the enactors see many distinct generations, and the sampler runs.
      await new Promise((resolve) => setTimeout(resolve, Math.floor(rng.next() * 8)));
    }
    const latest = await cluster.store.latestGeneration();
    assert.ok(latest >= generationsMin, `published ${latest} generations`);
    const convergedMs = await waitConverged(cluster.store, provider, 60_000);
    running = false;
    await sampling;
    await checker.sampleDig();
    await checker.sampleRead();
    assert.deepEqual(checker.violations.slice(0, 10), [], 'no invariant broke at any sample');
    assert.deepEqual(checker.digFailures.slice(0, 3), [], 'every dig run answered');
    assert.ok(checker.digSamples >= samplesMin && checker.readSamples >= samplesMin, `sampled throughout (${checker.digSamples} dig, ${checker.readSamples} read samples)`);
    const history = await checkHistory(cluster.store);
    assert.ok(stats.removals > 5 && stats.readds > 5, `endpoints were removed (${stats.removals}) and added back (${stats.readds})`);
    const counters = Object.fromEntries((await cluster.store.readCounters()).map((c) => [c.name, c.value]));
    assert.ok((counters.janitor_versions_deleted ?? 0) > 0, 'the janitor really cleaned up during the race');
    for (const child of cluster.children) assert.equal(child.process.exitCode, null, `a role process died: ${child.stderr().slice(-2000)}`);
    const conflicts = counters.enactor_cas_conflicts ?? 0;
    assert.ok(conflicts > 0, 'the enactors really raced (some writes lost the compare-and-swap)');
    process.stdout.write(`# race on ${kind}: ${latest} generations, ${checker.digSamples} dig + ${checker.readSamples} read samples, ${history.entries} history entries, ${conflicts} CAS conflicts, converged ${convergedMs} ms after the last\n`);
  } finally {
    checker.close();
    await provider.close();
    await cluster.stop();
    await server.stop();
  }
}

const seeds: Record<DnsServerKind, number> = { knot: 20251019, bind: 20251020, powerdns: 20251021 };

for (const kind of dnsServerKinds) {
  const title = 'three racing enactors, 200+ generations, janitor: S1-S5 at every dig and read sample, then L1';
  test(`${dnsServerNames[kind]}: ${title}`, async () => {
    await race(kind, seeds[kind]);
  });
}
