// Goal: the inventory through the API — GET /api/inventory (newest version, endpoints paged, what it changed),
// GET /api/inventory/versions, and POST /api/inventory with the token and the same validation and threshold as
// `dnsplane apply`: a bad endpoint is a 400 naming its key and changes nothing; over the threshold is a 409 until
// forced; a stale base version is a 409; an applied version is followed by the API itself (names appear) and by
// the planner. Method: the API in-process (app.inject) over a real SQLite installation with the real roles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seedInventory } from '../../src/inventory/apply.js';
import { sampleConfig } from '../helpers/env.js';
import { apiFixture, get, post, readToken } from './helpers.js';

test('inventory routes: read, apply with validation and threshold, audit, and the API follows the new version', async () => {
  const fixture = await apiFixture(10, { safety: { maxChangedFraction: 0.3, minNamesForThreshold: 10, retainGenerations: 20 } });
  try {
    const { store } = fixture.install;
    assert.deepEqual((await get<{ version: number; info: unknown }>(fixture.app, '/api/inventory')).body, { version: 0, info: null, total: 0, endpoints: [], services: [], lastChange: null });
    await seedInventory(store, { endpoints: fixture.context.inventory, services: [] }, 'test');
    const first = await get<{ version: number; total: number; endpoints: { name: string }[]; lastChange: { added: number } }>(fixture.app, '/api/inventory?offset=2&limit=3');
    assert.deepEqual([first.body.version, first.body.total, first.body.endpoints.map((e) => e.name), first.body.lastChange.added], [1, 10, ['svc2.dnsplane.test', 'svc3.dnsplane.test', 'svc4.dnsplane.test'], 10]);

    const endpoints = (sampleConfig(14).endpoints as Record<string, unknown>[]);
    const bad = await post(fixture.app, '/api/inventory', { reason: 'typo', endpoints: [...endpoints.slice(0, 13), { name: 'x', targets: [{ id: 'x1', address: '300.1.1.1' }] }] });
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.message), /endpoints\[13\]\.targets\[0\]\.address: "300\.1\.1\.1" is not an IPv4 or IPv6 address/);
    assert.equal((await post(fixture.app, '/api/inventory', { reason: 'no token', endpoints }, readToken)).status, 403);
    assert.equal(await store.latestInventoryVersion(), 1, 'nothing stored');

    // Adding four names: under the threshold (additions never count).
    const added = await post(fixture.app, '/api/inventory', { reason: 'four more services', endpoints });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.deepEqual([added.body.outcome, added.body.version, (added.body.diff as { added: number }).added], ['applied', 2, 4]);
    const names = await get<{ total: number }>(fixture.app, '/api/names');
    assert.equal(names.body.total, 10, 'this fixture\'s context follows nothing by itself');
    fixture.context.inventory = (await store.readInventory())!.endpoints;
    fixture.context.inventoryVersion = 2;
    assert.equal((await get<{ total: number }>(fixture.app, '/api/names')).body.total, 14, 'the API serves the version its process follows');
    assert.equal((await get<{ inventoryVersion: number }>(fixture.app, '/api/status')).body.inventoryVersion, 2);

    // Retiring 5 of 14 names is over 30 %: 409 until forced.
    const retire = { reason: 'retire five', endpoints: endpoints.slice(5) };
    const refused = await post(fixture.app, '/api/inventory', retire);
    assert.deepEqual([refused.status, refused.body.error], [409, 'refused']);
    assert.match(String(refused.body.message), /removes or edits 5 of 14 names/);
    const stale = await post(fixture.app, '/api/inventory', { ...retire, force: true, baseVersion: 1 });
    assert.deepEqual([stale.status, stale.body.error], [409, 'stale']);
    const forced = await post(fixture.app, '/api/inventory', { ...retire, force: true, baseVersion: 2 });
    assert.deepEqual([forced.status, forced.body.version, forced.body.forced], [200, 3, true]);
    const versions = await get<{ versions: { version: number; forced: boolean; actor: string }[] }>(fixture.app, '/api/inventory/versions');
    assert.deepEqual(versions.body.versions.map((v) => [v.version, v.forced]), [[3, true], [2, false], [1, false]]);
    assert.match(versions.body.versions[0]!.actor, /^api-token:[0-9a-f]{8}$/, 'the token\'s fingerprint, never the token');
    const latest = await get<{ lastChange: { removed: number; names: { name: string; kind: string }[] } }>(fixture.app, '/api/inventory');
    assert.equal(latest.body.lastChange.removed, 5);
    assert.deepEqual(latest.body.lastChange.names[0], { name: 'svc0.dnsplane.test', kind: 'removed' });
  } finally {
    await fixture.close();
  }
});
