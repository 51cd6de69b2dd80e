// Goal: the `provider: { kind: rfc2136 }` section of a config file selects the
// RFC 2136 provider with the settings the user wrote (and the defaults they
// did not), and mistakes in it are errors naming their path.
// Method: parseConfig on small documents, then createProvider; no server is
// needed, since creating the provider opens no connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/load.js';
import { createProvider, rfc2136Settings } from '../../../src/providers/index.js';

const secret = Buffer.alloc(32, 1).toString('base64');

function document(provider: Record<string, unknown>): Record<string, unknown> {
  return {
    zone: 'Example.TEST.',
    provider,
    dns: { ttl: 30, maxAnswers: 4 },
    endpoints: [{ name: 'www', targets: [{ id: 'lb-1', address: '192.0.2.1' }] }],
  };
}

test('an rfc2136 section selects the RFC 2136 provider, with the zone, TTL and answer count it needs', async () => {
  const config = parseConfig(document({ kind: 'rfc2136', server: '[::1]:5300', tsig: { name: 'dnsplane.', secret } }));
  const owner = { owner: 'dp-test', former: ['dp-old'] };
  assert.deepEqual(rfc2136Settings(config, owner), {
    server: '[::1]:5300', zone: 'example.test', timeoutMs: 2000, messageBytesMax: 65_535, updateNamesMax: 200,
    tsig: { name: 'dnsplane.', algorithm: 'hmac-sha256', secret }, ttl: 30, maxAnswers: 4, owner,
  });
  const provider = await createProvider(config, '/nonexistent', { owner });
  try {
    assert.equal(provider.kind, 'rfc2136');
  } finally {
    await provider.close();
  }
  const explicit = parseConfig(document({ kind: 'rfc2136', server: '127.0.0.1:53', zone: 'sub.example.test', timeout: '500ms', updateNamesMax: 10, tsig: { name: 'k', algorithm: 'hmac-sha512', secret } }));
  assert.equal(rfc2136Settings(explicit, null).zone, 'sub.example.test');
  assert.equal(rfc2136Settings(explicit, null).timeoutMs, 500);
  assert.equal(rfc2136Settings(explicit, null).updateNamesMax, 10);
});

test('mistakes in the rfc2136 section are errors naming their path', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ kind: 'rfc2136', server: 'localhost', tsig: { name: 'k', secret } }, /provider\.server: "localhost" is not host:port/],
    [{ kind: 'rfc2136', server: '127.0.0.1:53', tsig: { name: 'k', secret: 'not base64!' } }, /provider\.tsig\.secret: tsig\.secret must be base64/],
    [{ kind: 'rfc2136', server: '127.0.0.1:53', tsig: { name: 'k', algorithm: 'hmac-md5', secret } }, /provider\.tsig\.algorithm/],
    [{ kind: 'rfc2136', server: '127.0.0.1:53', messageBytesMax: 100_000, tsig: { name: 'k', secret } }, /provider\.messageBytesMax/],
    [{ kind: 'rfc2136', server: '127.0.0.1:53', tsig: { name: 'k', secret }, port: 53 }, /provider\.port: unknown key/],
  ];
  for (const [provider, message] of cases) assert.throws(() => parseConfig(document(provider)), message);
});
