// Goal: changes are pushed, not polled (issue 16). A health decision, a drain and its end reach what DNS serves
// through the planner and an enactor that wait on the store's notices — commit notices on the SQLite file, watches on
// etcd — with their polling only the fallback. Method: the real planner and enactor run their own loops (as `up`
// runs them) with the longest intervals the config allows, 10 minutes and 1 minute, so that nothing in the test's
// 30-second deadlines can be explained by a poll: every change must be carried by a notice. Outcomes are polled for
// with generous deadlines; no speed is asserted (bench/convergence measures it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { buildEnactor, buildPlanner, parseRoleSettings } from '../../src/roles/build.js';
import { drainedFrom } from '../../src/roles/installation.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { EtcdStore } from '../../src/store/etcd/store.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { BuiltinEtcdProvider } from '../../src/providers/builtin/etcd.js';
import type { Provider } from '../../src/providers/types.js';
import type { Store } from '../../src/store/types.js';
import { seededRng, systemClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/log.js';
import { endpoints } from '../helpers/fixtures.js';
import { pollUntil, tempDir } from '../helpers/env.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';

const zone = 'dnsplane.test';
/** The longest intervals the config allows: a poll never happens within the test's deadlines. */
const settings = parseRoleSettings({ planner: { interval: '10m', leaseTtl: '10m' }, enactor: { pollInterval: '1m' } });
const deadlineMs = 30_000;

interface Backend {
  store: Store;
  provider: Provider;
  /** A second connection of the store, as another process (a checker, the CLI) writes through its own. */
  writer: Store;
}

async function pushedChanges(backend: Backend): Promise<void> {
  const { store, provider, writer } = backend;
  const inventory = endpoints(3, 3, zone);
  const name = inventory[1]!.name;
  const addresses = async () => {
    const state = (await provider.read([name])).get(name);
    return state === undefined ? [] : state.records.map((record) => record.target).sort();
  };
  const abort = new AbortController();
  const deps = { store, clock: systemClock, log: silentLogger };
  const planner = buildPlanner(settings, 'planner', zone, { ...deps, inventory: () => inventory, drained: drainedFrom(store) });
  const enactor = buildEnactor(settings, 'az1', { ...deps, provider, rng: seededRng(1) });
  const running = [planner.run(abort.signal), enactor.run(abort.signal)];
  try {
    // The first plan: the planner's first tick, the enactor's first step (both run at once when started).
    assert.deepEqual(await pollUntil(async () => ((await addresses()).length === 3 ? addresses() : null),
      'the first plan served', deadlineMs), ['t1-0', 't1-1', 't1-2']);
    await writer.setHealth('t1-0', 'down', 'checker');
    await pollUntil(async () => !(await addresses()).includes('t1-0'), 'the target down withdrawn', deadlineMs);
    await writer.setDrain('t1-1', true);
    await pollUntil(async () => !(await addresses()).includes('t1-1'), 'the drained target withdrawn', deadlineMs);
    assert.deepEqual(await addresses(), ['t1-2']);
    await writer.setDrain('t1-1', false);
    await writer.setHealth('t1-0', 'up', 'checker');
    await pollUntil(async () => (await addresses()).length === 3, 'both back', deadlineMs);
    assert.ok((await store.latestGeneration()) >= 4, 'each change was a plan of its own or shared one');
  } finally {
    abort.abort();
    await Promise.all(running);
  }
}

/** Runs the case on a backend, then closes its connections. */
async function withBackend(backend: Backend): Promise<void> {
  try {
    await pushedChanges(backend);
  } finally {
    await backend.writer.close();
    await backend.provider.close();
    await backend.store.close();
  }
}

describe('pushed changes', () => {
  test('on SQLite: commit notices wake the planner and the enactor', async () => {
    const dir = tempDir('dnsplane-push-');
    const path = join(dir.path, 'state.db');
    try {
      await withBackend({ store: new SqliteStore(path), provider: new BuiltinSqliteProvider(path), writer: new SqliteStore(path) });
    } finally {
      dir.cleanup();
    }
  });

  describe('on a three-member etcd cluster', () => {
    let cluster: EtcdCluster;
    before(async () => {
      cluster = await startEtcdCluster();
    });
    after(async () => {
      await cluster?.stop();
    });
    test('etcd watches wake the planner and the enactor', async () => {
      const options = { endpoints: cluster.endpoints, prefix: `/push-${randomUUID().slice(0, 8)}/` };
      await withBackend({ store: new EtcdStore(options), provider: new BuiltinEtcdProvider(options), writer: new EtcdStore(options) });
    });
  });
});
