// Goal: `dnsplane impact` and `dnsplane graph` answer from the config before anything runs and from the stored
// inventory once there is one; on the demo, DynamoDB's name failing prints the 2025 chain to S3 with each path;
// bad input exits 2 naming it; and a config that makes dnsplane depend on a name it manages is refused at start
// (exit 2, the cycle named, nothing started) unless acknowledged, when the planner raises the standing alarm.
// Method: the real CLI as child processes against configs in a temporary directory (the demo's own config for
// the chain); the store read back with the real SQLite store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { demoConfig } from '../../src/demo/demo.js';
import type { ImpactReport } from '../../src/graph/types.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { runCli, sampleConfig, tempDir, writeConfig } from '../helpers/env.js';
import { parseDot } from './dot.js';

const dynamodb = 'dynamodb.us-east-1.dnsplane.test';
const chain = `${dynamodb} → service:dwfm → service:ec2-launch → service:nlb-health`;

test('impact on the demo: DynamoDB empty loses dwfm, ec2-launch, nlb-health, lb-4/lb-5 and s3', async () => {
  const dir = tempDir('dnsplane-impact-');
  try {
    const paths = ['--config', writeConfig(dir.path, demoConfig(8081)), '--data', join(dir.path, 'data')];
    const text = await runCli(['impact', 'dynamodb.us-east-1', ...paths]);
    assert.equal(text.code, 0, text.stderr);
    assert.deepEqual(text.stdout.split('\n'), [
      `if ${dynamodb} fails: 2 names lost, 0 degraded, 2 targets lost, 3 services lost and 0 degraded`
        + ' (paths: failed → affected)',
      'names lost (2):',
      `  ${dynamodb}  capacity lost 100%: failed`,
      `  s3.us-east-1.dnsplane.test  capacity lost 100%: ${chain} → lb-4 → s3.us-east-1.dnsplane.test`,
      'names degraded: none',
      'targets lost (2):',
      `  lb-4: ${chain} → lb-4`,
      `  lb-5: ${chain} → lb-5`,
      'services, most critical first (3):',
      `  critical dwfm lost: ${dynamodb} → service:dwfm`,
      `  critical ec2-launch lost: ${dynamodb} → service:dwfm → service:ec2-launch`,
      `  high     nlb-health lost: ${chain}`,
      '(inventory: the config file (no inventory stored yet))',
      '',
    ]);
    assert.ok(!existsSync(join(dir.path, 'data')), 'a what-if creates no store');
    const json = await runCli(['impact', 'az:az1', 'lb-5', '--json', ...paths]);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as ImpactReport & { inventoryVersion: number };
    assert.deepEqual(report.failed, ['az:az1', 'target:lb-5']);
    // Both of s3's targets are gone; the shortest path is through the one failed directly.
    assert.deepEqual(report.namesLost.map((name) => [name.name, name.path]),
      [['s3.us-east-1.dnsplane.test', ['target:lb-5', 'name:s3.us-east-1.dnsplane.test']]]);
    assert.deepEqual(report.targets.map((entry) => entry.path),
      [['az:az1', 'target:lb-1'], ['az:az1', 'target:lb-4'], ['target:lb-5'], ['az:az1', 'target:lb-6']]);
    assert.deepEqual(report.namesDegraded.map((name) => name.name),
      ['api.eu-west-1.dnsplane.test', dynamodb], 'half of api, a third of dynamodb');
    assert.equal(report.inventoryVersion, 0);
  } finally {
    dir.cleanup();
  }
});

test('bad subjects and formats exit 2 naming them; graph prints dot and JSON, from the store once stored', async () => {
  const dir = tempDir('dnsplane-graph-');
  try {
    const paths = ['--config', writeConfig(dir.path, demoConfig(8081)), '--data', join(dir.path, 'data')];
    const unknown = await runCli(['impact', 'dynamodb.us-east-2', ...paths]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, 'error: unknown subject "dynamodb.us-east-2": no name, target, AZ or service is'
      + ' called that; did you mean "dynamodb.us-east-1"?\n');
    const format = await runCli(['graph', '--format', 'svg', ...paths]);
    assert.equal(format.code, 2);
    assert.match(format.stderr, /--format must be dot or json, not "svg"/);
    const dot = await runCli(['graph', '--format', 'dot', ...paths]);
    assert.equal(dot.code, 0, dot.stderr);
    const parsed = parseDot(dot.stdout);
    assert.ok(parsed.edges.some(([from, to]) => from === 'target:lb-4' && to === 'service:nlb-health'));
    // Once the planner has stored the config's inventory, both commands read the stored version.
    const seeded = await runCli(['planner', '--once', ...paths]);
    assert.equal(seeded.code, 0, seeded.stderr);
    const json = await runCli(['graph', '--format', 'json', ...paths]);
    assert.equal(json.code, 0, json.stderr);
    const graph = JSON.parse(json.stdout) as { nodes: { id: string }[]; edges: unknown[] };
    assert.deepEqual(new Set(graph.nodes.map((node) => node.id)), parsed.nodes);
    assert.equal(graph.edges.length, parsed.edges.length);
    const stored = await runCli(['impact', 'service:dwfm', ...paths]);
    assert.equal(stored.code, 0, stored.stderr);
    assert.match(stored.stdout, /^if service:dwfm fails: 1 names lost, /);
    assert.match(stored.stdout, /\(inventory: v1\)\n$/);
  } finally {
    dir.cleanup();
  }
});

const tsig = { name: 'dnsplane-key', secret: 'c2VjcmV0c2VjcmV0' };

test('a config whose RFC 2136 server or etcd is a managed name is refused at start, naming the cycle', async () => {
  const dir = tempDir('dnsplane-self-');
  try {
    const data = join(dir.path, 'data');
    const rfc2136 = writeConfig(dir.path, sampleConfig(2, 2, {
      provider: { kind: 'rfc2136', server: 'svc1.dnsplane.test:5300', tsig },
    }), 'rfc2136.yaml');
    const planner = await runCli(['planner', '--once', '--config', rfc2136, '--data', data]);
    assert.equal(planner.code, 2);
    assert.match(planner.stderr, /^error: dnsplane would depend on names it manages itself/);
    assert.match(planner.stderr, /\n {2}provider\.server svc1\.dnsplane\.test:5300 → name svc1\.dnsplane\.test → /);
    assert.match(planner.stderr, /set safety\.acknowledgeSelfDependency: true to run anyway/);
    assert.ok(!existsSync(data), 'a refused role creates nothing (no data directory, no state.db)');
    const etcd = writeConfig(dir.path, sampleConfig(2, 2, {
      store: { kind: 'etcd', endpoints: ['http://svc0.dnsplane.test:2379'] },
    }), 'etcd.yaml');
    const enactor = await runCli(['enactor', '--id', 'az1', '--config', etcd, '--data', data]);
    assert.equal(enactor.code, 2);
    assert.match(enactor.stderr, /store\.endpoints\[0\] http:\/\/svc0\.dnsplane\.test:2379 → name svc0\.dnsplane/);
    assert.match(enactor.stderr, /→ which need the store\n/);
    const up = await runCli(['up', '--config', etcd, '--data', data]);
    assert.equal(up.code, 2);
    assert.match(up.stderr, /store\.endpoints\[0\]/);
    assert.ok(!existsSync(join(data, 'up.pid')), 'up started nothing');
  } finally {
    dir.cleanup();
  }
});

test('acknowledged, the planner starts and raises the standing self-dependency alarm', async () => {
  const dir = tempDir('dnsplane-self-ack-');
  try {
    const data = join(dir.path, 'data');
    const config = writeConfig(dir.path, sampleConfig(2, 2, {
      provider: { kind: 'rfc2136', server: 'svc1.dnsplane.test:5300', tsig },
      safety: { acknowledgeSelfDependency: true },
    }));
    const planner = await runCli(['planner', '--once', '--config', config, '--data', data]);
    assert.equal(planner.code, 0, planner.stderr);
    assert.equal((JSON.parse(planner.stdout) as { kind: string }).kind, 'published');
    const store = new SqliteStore(join(data, 'state.db'));
    try {
      const alarms = (await store.listAlarms(true)).filter((alarm) => alarm.kind === 'self-dependency');
      assert.deepEqual(alarms.map((alarm) => alarm.name), ['svc1.dnsplane.test']);
      assert.match(alarms[0]!.message, /provider\.server svc1\.dnsplane\.test:5300 → name svc1\.dnsplane\.test/);
    } finally {
      await store.close();
    }
  } finally {
    dir.cleanup();
  }
});

test('apply of an inventory that would make dnsplane depend on a name it manages is refused; --force does not help', async () => {
  const dir = tempDir('dnsplane-self-apply-');
  try {
    const data = join(dir.path, 'data');
    // The RFC 2136 server is svc3: not a managed name yet, so the installation runs.
    const config = writeConfig(dir.path, sampleConfig(2, 2, {
      provider: { kind: 'rfc2136', server: 'svc3.dnsplane.test:5300', tsig },
    }));
    const planner = await runCli(['planner', '--once', '--config', config, '--data', data]);
    assert.equal(planner.code, 0, planner.stderr);
    const grown = writeConfig(dir.path, sampleConfig(4, 2), 'grown.yaml');
    const apply = ['apply', '-f', grown, '--reason', 'four names', '--config', config, '--data', data];
    for (const args of [apply, [...apply, '--force']]) {
      const refused = await runCli(args);
      assert.equal(refused.code, 2, refused.stdout);
      assert.match(refused.stderr, /provider\.server svc3\.dnsplane\.test:5300 → name svc3\.dnsplane\.test → /);
    }
    const store = new SqliteStore(join(data, 'state.db'));
    try {
      assert.equal(await store.latestInventoryVersion(), 1, 'nothing stored');
    } finally {
      await store.close();
    }
    const three = writeConfig(dir.path, sampleConfig(3, 2), 'three.yaml');
    const applied = await runCli(['apply', '-f', three, '--reason', 'three names', '--config', config, '--data', data]);
    assert.equal(applied.code, 0, applied.stderr);
  } finally {
    dir.cleanup();
  }
});

test('status lists alarms ranked by blast radius: the services behind each alarmed name, most critical first', async () => {
  const dir = tempDir('dnsplane-blast-');
  try {
    const data = join(dir.path, 'data');
    const config = writeConfig(dir.path, sampleConfig(3, 2, {
      services: [
        { id: 'reports', criticality: 'low', dependsOn: ['svc0'] },
        { id: 'app', criticality: 'critical', dependsOn: ['svc1'] },
      ],
    }));
    const planner = await runCli(['planner', '--once', '--config', config, '--data', data]);
    assert.equal(planner.code, 0, planner.stderr);
    const store = new SqliteStore(join(data, 'state.db'));
    try {
      for (const name of ['svc1', 'svc2', 'svc0']) await store.raiseAlarm('drift', `${name}.dnsplane.test`, 'by hand');
    } finally {
      await store.close();
    }
    const status = await runCli(['status', '--config', config, '--data', data]);
    assert.equal(status.code, 0, status.stderr);
    const lines = status.stdout.split('\n').filter((line) => line.startsWith('  [drift]'));
    assert.deepEqual(lines, [
      '  [drift] svc1.dnsplane.test: by hand (x1) — 1 service depends on it (1 critical: app)',
      '  [drift] svc0.dnsplane.test: by hand (x1) — 1 service depends on it (1 low: reports)',
      '  [drift] svc2.dnsplane.test: by hand (x1)',
    ]);
  } finally {
    dir.cleanup();
  }
});
