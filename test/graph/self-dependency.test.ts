// Goal: dnsplane never silently depends on a name it manages. Every way the config or the inventory can make it
// do so — etcd endpoints, the RFC 2136 server, the Route 53 endpoint, the DNS server's and the API's listen
// hosts, a health check's host — is found, with the cycle in words, and only an exact managed name counts (case
// and a trailing dot aside; not an address, not a name under one). Refused unless acknowledged; acknowledged, the
// planner keeps one standing alarm per name on every inventory version and clears it when the version no longer
// has it, even one a previous planner left. Method: configs through the real schema; the real planner, built as
// the role commands build it (src/roles/installation.ts), on a real SQLite store in a temporary directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inventoryOf, parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { EndpointSpec } from '../../src/domain/types.js';
import {
  refuseSelfDependencies, selfDependencies, selfDependencyRefusal,
} from '../../src/graph/self-dependency.js';
import { selfDependencyAlarm } from '../../src/planner/planner.js';
import { makePlanner } from '../../src/roles/installation.js';
import { UserError } from '../../src/util/assert.js';
import { silentLogger } from '../../src/util/log.js';
import { openInstallation } from '../helpers/fixtures.js';
import { sampleConfig } from '../helpers/env.js';

const tsig = { name: 'dnsplane-key', secret: 'c2VjcmV0c2VjcmV0' };

function config(extra: Record<string, unknown>): Config {
  return parseConfig(sampleConfig(3, 2, extra));
}

const settings = (found: ReturnType<typeof selfDependencies>) => found.map((d) => [d.setting, d.name]);

test('each dependency of dnsplane on a managed name is found, with its cycle', () => {
  const endpoints = ['http://SVC0.dnsplane.test.:2379', 'http://10.0.0.1:2379'];
  const etcd = config({ store: { kind: 'etcd', endpoints } });
  const [found] = selfDependencies(etcd, { endpoints: inventoryOf(etcd) });
  assert.deepEqual(found, {
    setting: 'store.endpoints[0]', value: 'http://SVC0.dnsplane.test.:2379', name: 'svc0.dnsplane.test',
    path: 'store.endpoints[0] http://SVC0.dnsplane.test.:2379 → name svc0.dnsplane.test → served by dnsplane\'s'
      + ' enactors → which need the store',
  });
  const rfc2136 = config({ provider: { kind: 'rfc2136', server: 'svc1.dnsplane.test:53', tsig } });
  assert.deepEqual(settings(selfDependencies(rfc2136, { endpoints: inventoryOf(rfc2136) })),
    [['provider.server', 'svc1.dnsplane.test']]);
  const route53 = config({
    provider: { kind: 'route53', hostedZoneId: 'Z123', endpoint: 'https://svc2.dnsplane.test/route53' },
  });
  assert.deepEqual(settings(selfDependencies(route53, { endpoints: inventoryOf(route53) })),
    [['provider.endpoint', 'svc2.dnsplane.test']]);
  const listen = config({ dns: { listen: 'svc0.dnsplane.test:5353' }, api: { listen: 'svc1.dnsplane.test:8080' } });
  assert.deepEqual(settings(selfDependencies(listen, { endpoints: inventoryOf(listen) })),
    [['dns.listen', 'svc0.dnsplane.test'], ['api.listen', 'svc1.dnsplane.test']]);
  // The DNS server's listen address matters only where dnsplane's own server answers (the built-in provider).
  const elsewhere = config({ dns: { listen: 'svc0.dnsplane.test:5353' }, provider: { kind: 'rfc2136', server:
    '10.0.0.9:53', tsig } });
  assert.deepEqual(selfDependencies(elsewhere, { endpoints: inventoryOf(elsewhere) }), []);
});

test('a health check through a managed name is a checker needing the DNS it steers', () => {
  const checked = config({});
  const checks = [{ http: 'http://SVC1.DNSPLANE.TEST./healthz' }, { tcp: 'svc2.dnsplane.test:443' },
    { https: 'https://10.1.2.3/healthz' }];
  const endpoints: EndpointSpec[] = inventoryOf(checked).map((endpoint, index) => ({
    ...endpoint, targets: endpoint.targets.map((target) => ({ ...target, check: checks[index] })),
  }));
  const found = selfDependencies(checked, { endpoints });
  assert.deepEqual(settings(found), [
    ['check of target t0-0 (svc0.dnsplane.test)', 'svc1.dnsplane.test'],
    ['check of target t0-1 (svc0.dnsplane.test)', 'svc1.dnsplane.test'],
    ['check of target t1-0 (svc1.dnsplane.test)', 'svc2.dnsplane.test'],
    ['check of target t1-1 (svc1.dnsplane.test)', 'svc2.dnsplane.test'],
  ]);
  assert.match(found[2]!.path, /^check of target t1-0 \(svc1\.dnsplane\.test\) svc2\.dnsplane\.test:443 → name svc2/);
});

test('addresses, unmanaged names and names under a managed one are no self-dependency', () => {
  const clean = config({
    store: { kind: 'etcd', endpoints: ['http://etcd.example.com:2379', 'http://a.svc0.dnsplane.test:2379'] },
    api: { listen: '[::1]:8080' },
  });
  assert.deepEqual(selfDependencies(clean, { endpoints: inventoryOf(clean) }), []);
  assert.equal(selfDependencyRefusal(clean, { endpoints: inventoryOf(clean) }), null);
});

test('refused unless acknowledged: the message lists each cycle and says how to acknowledge', () => {
  const extra = {
    store: { kind: 'etcd', endpoints: ['http://svc0.dnsplane.test:2379'] },
    provider: { kind: 'rfc2136', server: 'svc1.dnsplane.test:53', tsig },
  };
  const refused = config(extra);
  const message = selfDependencyRefusal(refused, { endpoints: inventoryOf(refused) });
  assert.ok(message !== null);
  const lines = message.split('\n');
  assert.match(lines[0]!, /depend on names it manages itself/);
  assert.match(lines[1]!, /^ {2}store\.endpoints\[0\] http:\/\/svc0\.dnsplane\.test:2379 → name svc0\.dnsplane/);
  assert.match(lines[2]!, /^ {2}provider\.server svc1\.dnsplane\.test:53 → name svc1\.dnsplane\.test →/);
  assert.match(lines[3]!, /set safety\.acknowledgeSelfDependency: true/);
  assert.throws(() => refuseSelfDependencies(refused, { endpoints: inventoryOf(refused) }), UserError);
  const acknowledged = config({ ...extra, safety: { acknowledgeSelfDependency: true } });
  assert.equal(selfDependencyRefusal(acknowledged, { endpoints: inventoryOf(acknowledged) }), null);
  assert.equal(refuseSelfDependencies(acknowledged, { endpoints: inventoryOf(acknowledged) }).length, 2);
});

test('acknowledged: the planner keeps a standing alarm per name, on every inventory version', async () => {
  const install = openInstallation();
  try {
    const loaded = config({
      provider: { kind: 'rfc2136', server: 'svc1.dnsplane.test:53', tsig }, safety: { acknowledgeSelfDependency: true },
    });
    const installation = {
      config: loaded, zone: 'dnsplane.test', store: install.store, provider: install.provider,
      inventory: inventoryOf(loaded), inventoryVersion: 0,
    };
    // A previous planner's alarm for a name this installation no longer depends on.
    await install.store.raiseAlarm(selfDependencyAlarm, 'svc2.dnsplane.test', 'left by another planner');
    const planner = makePlanner(installation, 'p1', { log: silentLogger });
    assert.equal((await planner.tick()).kind, 'published');
    const standing = async () => (await install.store.listAlarms(true))
      .filter((alarm) => alarm.kind === selfDependencyAlarm).map((alarm) => [alarm.name, alarm.message]);
    assert.deepEqual(await standing(), [['svc1.dnsplane.test', 'dnsplane depends on this name it manages:'
      + ' provider.server svc1.dnsplane.test:53 → name svc1.dnsplane.test → served by dnsplane\'s enactors'
      + ' → which write through provider.server']]);
    assert.equal((await planner.tick()).kind, 'unchanged');
    assert.equal((await install.store.listAlarms(true)).find((a) => a.name === 'svc1.dnsplane.test')?.count, 1,
      'the same version is not checked again');
    // A new version without that name: the alarm clears.
    installation.inventory = installation.inventory.filter((endpoint) => endpoint.name !== 'svc1.dnsplane.test');
    installation.inventoryVersion = 0;
    await planner.tick(true);
    assert.deepEqual(await standing(), []);
    await planner.release();
  } finally {
    await install.close();
  }
});
