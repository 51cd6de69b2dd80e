// Goal: the API lists alarms ranked by blast radius (issue 19): an alarm on a name many critical services depend
// on comes before a newer one on a name nothing depends on, with the dependents in the item and in words — in
// /api/alarms and /api/status.
// Method: the real API on a real SQLite store (test/api/helpers.ts) with services in the config; alarms raised
// on the store as the reconciler would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiFixture, get } from './helpers.js';

interface Item { kind: string; name: string; blastRadius?: string | null; dependents?: { services: number } | null }

test('alarms come ranked by the services behind the alarmed name, most critical first', async () => {
  const fixture = await apiFixture(6, {
    services: [
      { id: 'dwfm', criticality: 'critical', dependsOn: ['svc3'] },
      { id: 'ec2-launch', criticality: 'critical', dependsOn: ['service:dwfm'] },
      { id: 'reports', criticality: 'low', dependsOn: ['svc1'] },
    ],
  });
  try {
    const { store } = fixture.install;
    await store.raiseAlarm('drift', 'svc3.dnsplane.test', 'edited: by hand');
    await store.raiseAlarm('drift', 'svc1.dnsplane.test', 'edited: by hand');
    await store.raiseAlarm('drift', 'svc5.dnsplane.test', 'edited: by hand');
    const listed = await get<{ total: number; items: Item[] }>(fixture.app, '/api/alarms');
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.items.map((item) => item.name),
      ['svc3.dnsplane.test', 'svc1.dnsplane.test', 'svc5.dnsplane.test']);
    assert.equal(listed.body.items[0]!.blastRadius, '2 services depend on it (2 critical: dwfm, ec2-launch)');
    assert.equal(listed.body.items[2]!.dependents?.services, 0);
    const status = await get<{ alarms: Item[] }>(fixture.app, '/api/status');
    assert.deepEqual(status.body.alarms.map((item) => item.name)[0], 'svc3.dnsplane.test');
  } finally {
    await fixture.close();
  }
});
