// Goal: the `provider: { kind: route53 }` section of a config file selects the
// Route 53 provider with the settings the user wrote (and AWS's limits as the
// defaults) and the installation's owner id, and mistakes in it are errors
// naming their path.
// Method: parseConfig on small documents, then createProvider; no request is
// sent, since creating the provider opens no connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/load.js';
import { createProvider, route53Settings } from '../../../src/providers/index.js';

function document(provider: Record<string, unknown>): Record<string, unknown> {
  return {
    zone: 'Example.TEST.',
    provider,
    dns: { ttl: 30 },
    endpoints: [{ name: 'www', targets: [{ id: 'lb-1', address: '192.0.2.1' }] }],
  };
}

test('a route53 section selects the Route 53 provider, with the zone, the TTL and AWS limits as defaults', async () => {
  const config = parseConfig(document({ kind: 'route53', hostedZoneId: 'Z0123456789ABCDEFGHIJ' }));
  const owner = { owner: 'inst-a', former: ['inst-0'] };
  assert.deepEqual(route53Settings(config, owner), {
    hostedZoneId: 'Z0123456789ABCDEFGHIJ', zone: 'example.test', ttl: 30, timeoutMs: 10_000, requestsPerSecond: 5,
    retriesMax: 10, backoffBaseMs: 100, backoffMaxMs: 10_000, syncTimeoutMs: 600_000, syncPollMs: 2000,
    readRequestsMax: 10_000, batchRecordsMax: 1000, owner,
  });
  assert.equal(route53Settings(config, null).owner, null, 'a reader that writes nothing has no owner id');
  const provider = await createProvider(config, '/nonexistent', { owner: null });
  try {
    assert.equal(provider.kind, 'route53');
  } finally {
    await provider.close();
  }
  const explicit = parseConfig(document({
    kind: 'route53', hostedZoneId: '/hostedzone/Z1', endpoint: 'http://127.0.0.1:4566', region: 'eu-central-1',
    timeout: '2s', requestsPerSecond: 2.5, syncPollInterval: '500ms', batchRecordsMax: 200,
  }));
  const settings = route53Settings(explicit, null);
  assert.equal(settings.endpoint, 'http://127.0.0.1:4566');
  assert.equal(settings.region, 'eu-central-1');
  assert.equal(settings.timeoutMs, 2000);
  assert.equal(settings.requestsPerSecond, 2.5);
  assert.equal(settings.syncPollMs, 500);
  assert.equal(settings.batchRecordsMax, 200);
});

test('mistakes in the route53 section are errors naming their path', () => {
  const zone = { kind: 'route53', hostedZoneId: 'Z1' };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ kind: 'route53' }, /provider\.hostedZoneId/],
    [{ ...zone, hostedZoneId: 'example.com' }, /provider\.hostedZoneId: hostedZoneId is the hosted zone's id/],
    [{ ...zone, region: 'Virginia' }, /provider\.region: region is an AWS region name/],
    [{ ...zone, endpoint: 'ftp://127.0.0.1' }, /provider\.endpoint: endpoint is an http:\/\/ or https:\/\/ URL/],
    [{ ...zone, requestsPerSecond: 0 }, /provider\.requestsPerSecond/],
    [{ ...zone, batchRecordsMax: 1001 }, /provider\.batchRecordsMax/],
    [{ ...zone, syncTimeout: '2h' }, /provider\.syncTimeout/],
    [{ ...zone, zoneId: 'Z1' }, /provider\.zoneId: unknown key/],
  ];
  for (const [provider, message] of cases) assert.throws(() => parseConfig(document(provider)), message);
});
