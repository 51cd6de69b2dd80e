// Goal: the inventory changes while everything runs. On SQLite and on etcd (three members), with `up` running over
// 100 names, `dnsplane apply`
// adds 50 names and removes 20: every role follows within a planner interval plus enactment, the new names answer
// in DNS and the removed ones are NXDOMAIN, no role restarted (the same process ids), and each name's history
// names the inventory version; then SIGHUP re-reads the config and applies it the same way. On etcd (three
// members), roles of two "hosts" started with different local config files all plan from the one stored
// inventory, including after leadership moves to the host whose file is stale. Method: real processes (`up`, the
// roles), dig, the store read directly.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { digA, digStatus } from '../helpers/dig.js';
import { freeDualPort, freeTcpPort, pollUntil, runCli, sampleConfig, spawnCli, tempDir, writeConfig, type Child } from '../helpers/env.js';
import { startEtcdCluster, startEtcdInstallation, type EtcdInstallation } from '../helpers/etcd.js';
import { EtcdStore } from '../../src/store/etcd/store.js';
import { BuiltinEtcdProvider } from '../../src/providers/builtin/etcd.js';
import type { InventoryStore, Store } from '../../src/store/types.js';
import { childrenOf } from '../helpers/procs.js';

const fast = { planner: { interval: '100ms' }, enactor: { pollInterval: '20ms' } };

/** The endpoints svc<from>..svc<to - 1> of sampleConfig's numbering. */
function endpointsRange(from: number, to: number): unknown[] {
  return (sampleConfig(to).endpoints as unknown[]).slice(from);
}

/** Where an installation's store and served records live, for reading them back in the test. */
interface Backend {
  kind: 'sqlite' | 'etcd';
  extra: Record<string, unknown>;
  open(data: string): Promise<{ store: Store & InventoryStore; servedNames(): Promise<Set<string>>; close(): Promise<void> }>;
  stop(): Promise<void>;
}

function sqliteBackend(): Backend {
  return {
    kind: 'sqlite', extra: {},
    async open(data) {
      const store = new SqliteStore(join(data, 'state.db'));
      const servedNames = async () => new Set((store.db.prepare('SELECT name FROM served').all() as { name: string }[]).map((row) => row.name));
      return { store, servedNames, close: () => store.close() };
    },
    async stop() {},
  };
}

async function etcdBackend(): Promise<Backend> {
  const cluster = await startEtcdCluster();
  const prefix = `/inventory-e2e-${process.pid}-${Date.now()}/`;
  return {
    kind: 'etcd', extra: { store: { kind: 'etcd', endpoints: cluster.localEndpoints, prefix } },
    async open() {
      const store = new EtcdStore({ endpoints: cluster.localEndpoints, prefix });
      const provider = new BuiltinEtcdProvider({ endpoints: cluster.localEndpoints, prefix });
      const servedNames = async () => new Set((await provider.list(null, 10_000)).map((state) => state.name));
      return { store, servedNames, close: async () => { await provider.close(); await store.close(); } };
    },
    stop: () => cluster.stop(),
  };
}

/**
 * `up` over 100 names; `apply` adds 50 and removes 20; then SIGHUP applies the config file with 10 names back.
 * Returns nothing; asserts throughout.
 */
async function applyUnderUp(t: TestContext, backend: Backend): Promise<void> {
  const dir = tempDir(`dnsplane-inventory-up-${backend.kind}-`);
  let up: Child | null = null;
  let opened: Awaited<ReturnType<Backend['open']>> | null = null;
  try {
    const configPath = writeConfig(dir.path, sampleConfig(100, 3, { ...fast, ...backend.extra }));
    const data = join(dir.path, 'data');
    const paths = ['--config', configPath, '--data', data];
    const [dnsPort, httpPort] = [await freeDualPort(), await freeTcpPort()];
    up = spawnCli(['up', ...paths, '--dns-port', String(dnsPort), '--http-port', String(httpPort)]);
    const running = up;
    await pollUntil(() => running.stdout().includes('dnsplane DNS serving'), `up to serve (stderr: ${running.stderr().slice(-500)})`, 60_000);
    opened = await backend.open(data);
    const { store, servedNames } = opened;
    await pollUntil(async () => (await servedNames()).size === 100, 'the first 100 names served', 30_000);
    const rolesBefore = childrenOf(running.process.pid!).map((child) => child.pid).sort();
    assert.ok(rolesBefore.length >= 11, `up's roles: ${rolesBefore.length}`);

    const next = writeConfig(dir.path, { endpoints: endpointsRange(20, 150) }, 'next.yaml');
    const applied = await runCli(['apply', '-f', next, '--reason', 'fifty new services, twenty retired', ...paths]);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    assert.match(applied.stdout, /50 added, 20 removed, 0 changed \(100 → 130 names\)/);
    const stored = (await store.listInventoryVersions(1))[0]!.createdAtMs;
    await pollUntil(async () => {
      const served = await servedNames();
      if (served.size === 130 && served.has('svc149.dnsplane.test') && !served.has('svc0.dnsplane.test')) return true;
      const plan = (await store.listPlans(1))[0];
      throw new Error(`${served.size} names served; newest plan ${plan?.generation} from inventory v${plan?.inventoryVersion}; alarms ${JSON.stringify((await store.listAlarms(true)).map((a) => `${a.kind}:${a.name}:${a.message}`).slice(0, 3))}; up stderr: ${running.stderr().slice(-600)}`);
    }, 'the new inventory served', 60_000);
    t.diagnostic(`${backend.kind}: from the version stored to every name served or removed: at most ${Date.now() - stored} ms`);
    for (let n = 100; n < 150; n += 1) assert.equal((await digA(dnsPort, `svc${n}.dnsplane.test`)).length, 3, `svc${n} answers`);
    for (let n = 0; n < 20; n += 1) assert.equal(await digStatus(dnsPort, `svc${n}.dnsplane.test`), 'NXDOMAIN', `svc${n} is gone`);
    const latest = (await store.listPlans(1))[0]!;
    assert.equal(latest.inventoryVersion, 2, 'the plan records the inventory version it came from');
    const history = await runCli(['history', 'svc120', ...paths]);
    assert.match(history.stdout, /inventory v2 added: fifty new services, twenty retired/);

    // SIGHUP: the config file now holds svc0..svc9 again on top of the rest; up applies it (10 added: under the threshold).
    writeConfig(dir.path, { ...sampleConfig(150, 3, { ...fast, ...backend.extra }), endpoints: [...endpointsRange(0, 10), ...endpointsRange(20, 150)] });
    process.kill(running.process.pid!, 'SIGHUP');
    await pollUntil(async () => (await store.latestInventoryVersion()) === 3, `SIGHUP to store version 3 (stderr: ${running.stderr().slice(-500)})`, 20_000);
    await pollUntil(async () => (await digA(dnsPort, 'svc5.dnsplane.test')).length === 3, 'svc5 back in DNS', 30_000);
    assert.match((await store.listInventoryVersions(1))[0]!.reason, /^SIGHUP: reloaded .*config\.yaml$/);

    assert.deepEqual(childrenOf(running.process.pid!).map((child) => child.pid).sort(), rolesBefore, 'no role restarted');
    assert.equal(await running.stop(10_000), 0, running.stderr().slice(-500));
  } finally {
    await up?.stop();
    await opened?.close();
    dir.cleanup();
  }
}

test('SQLite: apply adds 50 and removes 20 names under a running up; SIGHUP applies the config the same way; no role restarts', async (t) => {
  await applyUnderUp(t, sqliteBackend());
});

test('etcd (three members): the same under up, with the inventory followed by watch', async (t) => {
  const backend = await etcdBackend();
  try {
    await applyUnderUp(t, backend);
  } finally {
    await backend.stop();
  }
});

test('etcd: two hosts\' roles with different config files plan from the one stored inventory, before and after the leader moves', async () => {
  let installation: EtcdInstallation | null = null;
  try {
    installation = await startEtcdInstallation(12, { planner: { interval: '50ms', leaseTtl: '2s' } });
    const install = installation;
    // Host A's file (12 names) seeds the store; host B's file is stale (only 5 names, and one of its own).
    const hostB = writeConfig(install.dir, {
      ...(parseYaml(readFileSync(install.configPath, 'utf8')) as Record<string, unknown>),
      endpoints: [...endpointsRange(0, 5), { name: 'only-on-b', targets: [{ id: 'b1', address: '127.9.9.9' }] }],
    }, 'host-b.yaml');
    const plannerA = install.spawnRole(['planner', '--id', 'planner-a']);
    await pollUntil(async () => (await install.store.latestGeneration()) >= 1, `host A's planner to publish (stderr: ${plannerA.stderr().slice(-300)})`, 30_000);
    install.spawnRole(['planner', '--id', 'planner-b'], {}, { configPath: hostB });
    for (const id of ['az1', 'az2']) install.spawnRole(['enactor', '--id', id], {}, { configPath: id === 'az2' ? hostB : install.configPath });
    await pollUntil(async () => (await install.provider.list(null, 100)).length === 12, 'the 12 stored names served', 30_000);
    // A new version, applied from host B: both hosts follow it.
    const next = writeConfig(install.dir, { endpoints: endpointsRange(2, 14) }, 'next.yaml');
    const applied = await runCli(['apply', '-f', next, '--reason', 'from host B', '--config', hostB, '--data', install.data]);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    const names = async () => (await install.provider.list(null, 100)).map((state) => state.name).sort();
    const want = (endpointsRange(2, 14) as { name: string }[]).map((endpoint) => `${endpoint.name}.dnsplane.test`).sort();
    await pollUntil(async () => JSON.stringify(await names()) === JSON.stringify(want), 'version 2 served', 30_000);
    // Host A's planner stops; host B's (with its stale file) takes the lease and keeps planning the stored inventory.
    assert.equal(await plannerA.stop(), 0);
    await install.store.setHealth('t3-0', 'down', 'operator');
    await pollUntil(async () => {
      const plan = (await install.store.listPlans(1))[0]!;
      return plan.plannerId === 'planner-b' && plan.inventoryVersion === 2;
    }, 'host B\'s planner to publish from inventory version 2', 30_000);
    const view = (await install.store.readPlan(await install.store.latestGeneration()))!;
    assert.deepEqual(view.entries.filter((entry) => entry.records !== null).map((entry) => entry.name).sort(), want, 'B plans the stored names, not its file\'s');
    assert.ok(!(await names()).includes('only-on-b.dnsplane.test'));
  } finally {
    await installation?.stop();
  }
});
