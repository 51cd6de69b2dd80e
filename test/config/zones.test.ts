// Goal: `zones:` (several zones per installation, issue 13) is checked like every other key: each mistake names its
// path, the single `zone:` form keeps working and reads the same, and inventory files follow the installation's
// zones. Method: parseConfig / parseInventory on documents, and the real CLI for `validate` and a refused start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inventoryOf, parseConfig, parseInventory } from '../../src/config/load.js';
import { UserError } from '../../src/util/assert.js';
import { runCli, tempDir, writeConfig } from '../helpers/env.js';

const rfc2136 = {
  kind: 'rfc2136', server: '127.0.0.1:5300',
  tsig: { name: 'key.', algorithm: 'hmac-sha256', secret: 'c2VjcmV0c2VjcmV0c2VjcmV0' },
};
const target = (id: string, address: string) => ({ id, address });

function twoZones(): any {
  return {
    zones: [{ name: 'builtin.test.', provider: { kind: 'builtin' } }, { name: 'corp.example.', provider: rfc2136 }],
    endpoints: [
      { name: 'web', targets: [target('w1', '127.0.0.2')] },
      { name: 'api.corp.example.', targets: [target('a1', '127.0.0.3')] },
    ],
  };
}

function rejects(document: unknown, expected: RegExp): void {
  assert.throws(() => parseConfig(document), (error: unknown) => {
    assert.ok(error instanceof UserError);
    assert.match(error.message, expected);
    return true;
  });
}

test('zones: each zone with its provider; relative names in the first zone, qualified ones in theirs', () => {
  const config = parseConfig(twoZones());
  assert.deepEqual(config.zones.map((zone) => [zone.name, zone.provider.kind]),
    [['builtin.test.', 'builtin'], ['corp.example.', 'rfc2136']]);
  // The one-zone readers see the first zone.
  assert.equal(config.zone, 'builtin.test.');
  assert.equal(config.provider.kind, 'builtin');
  assert.deepEqual(inventoryOf(config).map((endpoint) => endpoint.name), ['web.builtin.test', 'api.corp.example']);
});

test('zone: (one zone) keeps working, as one entry of zones', () => {
  const config = parseConfig({ zone: 'dnsplane.test.', provider: rfc2136, endpoints: [{ name: 'a', targets: [target('t', '127.0.0.2')] }] });
  assert.deepEqual(config.zones.map((zone) => [zone.name, zone.provider.kind]), [['dnsplane.test.', 'rfc2136']]);
  const defaulted = parseConfig({ zone: 'dnsplane.test.', endpoints: [{ name: 'a', targets: [target('t', '127.0.0.2')] }] });
  assert.equal(defaulted.provider.kind, 'builtin');
});

test('zones: every mistake is refused with its path', () => {
  rejects({ ...twoZones(), zone: 'builtin.test.' }, /zones: give zone: \(one zone\) or zones: \(several\), not both/);
  rejects({ endpoints: twoZones().endpoints }, /zone: zone is required \(or zones:/);
  rejects({ ...twoZones(), provider: { kind: 'builtin' } }, /provider: with zones:, each zone names its own provider/);
  rejects({ ...twoZones(), zones: [] }, /zones: zones: needs at least one zone/);
  const repeated = twoZones();
  repeated.zones.push({ name: 'Corp.Example', provider: rfc2136 });
  rejects(repeated, /zones\[2\]\.name: zone corp\.example\. appears twice \(zones\[1\]\)/);
  const nested = twoZones();
  nested.zones.push({ name: 'eu.corp.example.', provider: rfc2136 });
  rejects(nested, /zones: eu\.corp\.example\. is inside corp\.example\.: the zones of one installation do not nest/);
  const twoBuiltin = twoZones();
  twoBuiltin.zones[1].provider = { kind: 'builtin' };
  rejects(twoBuiltin, /zones: builtin\.test\., corp\.example\. all use the built-in provider/);
  const otherZone = twoZones();
  otherZone.zones[1].provider = { ...rfc2136, zone: 'other.example.' };
  rejects(otherZone, /zones\[1\]\.provider\.zone: is not corp\.example\./);
  const outside = twoZones();
  outside.endpoints[1].name = 'api.elsewhere.example.';
  rejects(outside, /endpoints\[1\]\.name: "api\.elsewhere\.example\." .* not in any of the zones \(builtin\.test\., corp\.example\.\)/);
  const nameServer = twoZones();
  nameServer.endpoints[1].name = 'ns1.corp.example.';
  rejects(nameServer, /endpoints\[1\]\.name: .*name-server host \(ns1\.corp\.example\)/);
  const missingProviderKey = twoZones();
  missingProviderKey.zones[1].provider = { kind: 'rfc2136' };
  rejects(missingProviderKey, /zones\[1\]\.provider\.server/);
});

test('inventory files follow the installation\'s zones; a file for other zones is refused', () => {
  const installation = parseConfig(twoZones());
  const body = { endpoints: [{ name: 'shop', targets: [target('s1', '127.0.0.4')] },
    { name: 'db.corp.example.', targets: [target('d1', '127.0.0.5')] }] };
  assert.deepEqual(parseInventory(body, installation, 'file').endpoints.map((e) => e.name),
    ['shop.builtin.test', 'db.corp.example']);
  assert.deepEqual(parseInventory({ ...body, zones: twoZones().zones }, installation, 'file').endpoints.length, 2);
  // A file may name the zones without their providers (and secrets): the installation's are used.
  const named = parseInventory({ ...body, zones: [{ name: 'builtin.test.' }, { name: 'corp.example.' }] }, installation, 'f');
  assert.deepEqual(named.endpoints.map((e) => e.name), ['shop.builtin.test', 'db.corp.example']);
  assert.throws(() => parseInventory({ ...body, zone: 'builtin.test.' }, installation, 'file'),
    /file is for zone builtin\.test, this installation's zones are builtin\.test, corp\.example; drop its zone: and write its names fully qualified/);
  assert.throws(() => parseInventory({ endpoints: [{ name: 'x.nowhere.', targets: [target('x', '127.0.0.6')] }] },
    installation, 'file'), /endpoints\[0\]\.name/);
});

test('the CLI: validate judges a file by the installation\'s zones; a bad zones: starts nothing (exit 2)', async () => {
  const dir = tempDir('dnsplane-zones-config-');
  try {
    const configPath = writeConfig(dir.path, twoZones());
    const file = writeConfig(dir.path, { endpoints: [{ name: 'db.corp.example.', targets: [target('d1', '127.0.0.5')] }] }, 'inventory.yaml');
    const valid = await runCli(['validate', '-f', file, '--config', configPath]);
    assert.equal(valid.code, 0, valid.stderr);
    assert.match(valid.stdout, /valid \(1 names, 1 targets\)/);
    const bad = twoZones();
    bad.zone = 'builtin.test.';
    const badPath = writeConfig(dir.path, bad, 'bad.yaml');
    const started = await runCli(['planner', '--once', '--config', badPath, '--data', `${dir.path}/data`]);
    assert.equal(started.code, 2, started.stderr);
    assert.match(started.stderr, /zones: give zone: \(one zone\) or zones: \(several\), not both/);
  } finally {
    dir.cleanup();
  }
});
