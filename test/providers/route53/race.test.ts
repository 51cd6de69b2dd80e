// Goal: the core race of test/e2e/race.test.ts with the compare-and-swap in
// Route 53's own terms — three racing enactors and a janitor never leave a
// name of the hosted zone without an answer, never lower its generation,
// never serve a mix of plans, and every name ends on the newest plan (L1);
// endpoints leave the inventory and come back meanwhile, and a removed name
// never returns below its removal. Every lost race is seen by Route 53: each
// refused batch is an InvalidChangeBatch whose messages name the records
// whose compare failed, and nothing else.
// Method: `dnsplane enactor` x3 (random read-to-write delays via
// test/helpers/test-enactor.ts) and `dnsplane janitor` as child processes
// with `store: sqlite` and `provider: route53`, talking to the Route 53 API
// emulator in this process through the official SDK; the real Planner here
// publishes 200+ generations while churning health and the inventory; a
// checker samples the zone straight from the emulator (one moment per
// sample) and through the provider's read; the history is checked after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertRaced, checkHistory, churningPlanner, seeded, startCluster, waitConverged, waitForEnactors,
} from '../../e2e/harness.js';
import { spawnTestEnactor } from '../../helpers/env.js';
import { route53Section, shareCredentialsWithChildren, startEmulatedZone } from './helpers.js';
import { Route53InvariantChecker } from './checker.js';

const generationsMin = 200;
const samplesMin = 20;
const namesCount = 20;

shareCredentialsWithChildren();

// The messages of a lost compare, and only those: a marker, a weighted set or a slot (a removal's tombstone, a first
// write's claim) that moved or appeared. The name's label is group 1 (its own sets, its marker) or 2 (its slot).
const compareFailure = new RegExp("^Tried to (?:delete|create) resource record set \\[name='(?:(?:_dnsplane\\.)?"
  + "(svc\\d+)\\.dnsplane\\.test|(svc\\d+)\\._removed\\._dnsplane\\.dnsplane\\.test)\\.', type='(?:TXT|A|AAAA)'"
  + "(?:, set-identifier='[^']+')?\\] but "
  + '(?:it was not found|the values provided do not match the current values|it already exists)$');

/** Splits AWS's "[m1, m2]" message list (each message names its record in brackets). */
function messagesOf(refusal: readonly string[]): string[] {
  return refusal.flatMap((text) => text.replace(/^\[|\]$/g, '').split(/, (?=Tried to )/));
}

const title = 'three racing enactors, 200+ generations, janitor: S1-S5 at every sample, then L1';
test(`Route 53 (emulated): ${title}`, async () => {
  const zone = await startEmulatedZone({ insyncAfterMs: 5 });
  const cluster = startCluster(namesCount, { provider: route53Section(zone) });
  // The checker's reader: the role processes write under the installation's own owner id, which it does not judge.
  const provider = zone.open({ owner: null });
  const names = Array.from({ length: namesCount }, (_, index) => `svc${index}.dnsplane.test`);
  const checker = new Route53InvariantChecker(cluster.dbPath, zone.emulator, zone.hostedZoneId, provider, names);
  try {
    for (const id of ['az1', 'az2', 'az3']) cluster.children.push(spawnTestEnactor(id, cluster, { delayMs: 15 }));
    cluster.spawnRole(['janitor']);
    await waitForEnactors(cluster.store, ['az1', 'az2', 'az3']);
    const rng = seeded(20251022);
    const { churnOnce, stats } = churningPlanner(cluster, 'planner-under-test', rng, { removalChance: 0.3 });
    let published = 0;
    let running = true;
    const sampling = checker.sampleWhile(() => running);
    while (published < generationsMin || checker.readSamples < samplesMin) {
      if ((await churnOnce()) !== null) published += 1;
      // A random 0-7 ms pace (not synchronisation): the enactors see many distinct generations, and the sampler runs.
      await new Promise((resolve) => setTimeout(resolve, Math.floor(rng.next() * 8)));
    }
    const latest = await cluster.store.latestGeneration();
    assert.ok(latest >= generationsMin, `published ${latest} generations`);
    const convergedMs = await waitConverged(cluster.store, provider, 120_000);
    running = false;
    await sampling;
    checker.sampleZone();
    await checker.sampleRead();
    assert.deepEqual(checker.violations.slice(0, 10), [], 'no invariant broke at any sample');
    assert.ok(checker.zoneSamples >= samplesMin, `sampled the zone throughout (${checker.zoneSamples} samples)`);
    const history = await checkHistory(cluster.store);
    const churned = `endpoints were removed (${stats.removals}) and added back (${stats.readds})`;
    assert.ok(stats.removals > 5 && stats.readds > 5, churned);
    const counters = Object.fromEntries((await cluster.store.readCounters()).map((c) => [c.name, c.value]));
    assert.ok((counters.janitor_versions_deleted ?? 0) > 0, 'the janitor really cleaned up during the race');
    for (const child of cluster.children) {
      assert.equal(child.process.exitCode, null, `a role process died: ${child.stderr().slice(-2000)}`);
    }
    const conflicts = counters.enactor_cas_conflicts ?? 0;
    const raced = await assertRaced(cluster.store, conflicts, ['az1', 'az2', 'az3']);
    // Every conflict was Route 53 refusing a batch: each refusal names the records whose compare failed, nothing
    // else, and there are at least as many names named as conflicts counted.
    const refusals = zone.emulator.stats.invalidChangeBatches;
    const messages = refusals.flatMap(messagesOf);
    const others = messages.filter((message) => !compareFailure.test(message));
    assert.deepEqual(others.slice(0, 5), [], 'every InvalidChangeBatch was a lost compare');
    const namesOf = (refusal: readonly string[]) =>
      new Set(messagesOf(refusal).map((message) => {
        const match = compareFailure.exec(message)!;
        return `${match[1] ?? match[2]}.dnsplane.test`;
      }));
    const named = refusals.reduce((sum, refusal) => sum + namesOf(refusal).size, 0);
    assert.ok(conflicts <= named, `each of the ${conflicts} conflicts was a name a refusal named (${named})`);
    const samples = `${checker.zoneSamples} zone + ${checker.readSamples} read samples`;
    process.stdout.write(`# race on Route 53 (emulated): ${latest} generations, ${samples}, `
      + `${history.entries} history entries, ${raced}, ${refusals.length} InvalidChangeBatch naming ${named} names, `
      + `converged ${convergedMs} ms after the last\n`);
  } finally {
    checker.close();
    await cluster.stop();
    await zone.stop();
  }
});
