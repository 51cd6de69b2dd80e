// Goal: every mistake in a config file is reported with its path
// (endpoints[0].targets[1].address) and a rejected config changes nothing.
// Method: parseConfig on mutated copies of a valid config, and the real CLI
// against a store to show a bad config exits non-zero and writes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, loadConfigFile } from '../../src/config/load.js';
import { UserError } from '../../src/util/assert.js';
import { runCli, tempDir, writeConfig } from '../helpers/env.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';

function valid(): any {
  return {
    zone: 'dnsplane.test.',
    store: { kind: 'sqlite', path: '.dnsplane/state.db' },
    provider: { kind: 'builtin' },
    dns: { listen: '127.0.0.1:5353', ttl: 5, maxAnswers: 8 },
    health: { interval: '500ms', timeout: '300ms', rise: 2, fall: 2 },
    safety: { maxChangedFraction: 0.3, minNamesForThreshold: 10, retainGenerations: 20 },
    endpoints: [
      {
        name: 'dynamodb.us-east-1',
        targets: [
          { id: 'lb-1', address: '127.0.0.2', az: 'az1', capacity: 100, check: { http: 'http://127.0.0.2:8081/healthz' } },
          { id: 'lb-2', address: '127.0.0.3', az: 'az2', capacity: 100, check: { tcp: '127.0.0.3:8081' } },
        ],
      },
    ],
  };
}

function rejects(mutate: (config: any) => void, expected: RegExp): void {
  const config = valid();
  mutate(config);
  assert.throws(() => parseConfig(config), (error: unknown) => {
    assert.ok(error instanceof UserError, 'a config mistake is a UserError');
    assert.match(error.message, expected);
    return true;
  });
}

test('the example config of DESIGN.md §6 is valid and defaults are filled in', () => {
  const config = parseConfig(valid());
  assert.equal(config.health.interval, 500);
  assert.equal(config.enactor.batchNamesMax, 1000);
  assert.equal(config.safety.retainGenerations, 20);
});

const mistakes: [string, (config: any) => void, RegExp][] = [
  ['bad address', (c) => { c.endpoints[0].targets[1].address = '127.0.0.300'; }, /endpoints\[0\]\.targets\[1\]\.address: "127\.0\.0\.300" is not an IPv4 or IPv6 address/],
  ['unknown key', (c) => { c.endpoints[0].targets[0].weigth = 3; }, /endpoints\[0\]\.targets\[0\]\.weigth: unknown key/],
  ['bad duration', (c) => { c.health.interval = 'soon'; }, /health\.interval: "soon" is not a duration/],
  ['negative capacity', (c) => { c.endpoints[0].targets[0].capacity = -1; }, /endpoints\[0\]\.targets\[0\]\.capacity/],
  ['no targets', (c) => { c.endpoints[0].targets = []; }, /endpoints\[0\]\.targets: an endpoint needs at least one target/],
  ['no endpoints', (c) => { c.endpoints = []; }, /endpoints: at least one endpoint is required/],
  ['bad zone', (c) => { c.zone = 'bad..zone'; }, /zone: DNS name "bad\.\.zone"/],
  ['duplicate endpoint', (c) => { c.endpoints.push(structuredClone(c.endpoints[0])); }, /endpoints\[1\]\.name: duplicate endpoint/],
  ['duplicate address', (c) => { c.endpoints[0].targets[1].address = '127.0.0.2'; }, /endpoints\[0\]\.targets\[1\]\.address: address 127\.0\.0\.2 appears twice/],
  ['check with both http and tcp', (c) => { c.endpoints[0].targets[0].check.tcp = '127.0.0.2:1'; }, /endpoints\[0\]\.targets\[0\]\.check: a check needs exactly one/],
  ['unknown store kind', (c) => { c.store = { kind: 'mysql' }; }, /store\.kind/],
  ['fraction above 1', (c) => { c.safety.maxChangedFraction = 2; }, /safety\.maxChangedFraction/],
  ['all capacity zero', (c) => { for (const t of c.endpoints[0].targets) t.capacity = 0; }, /endpoints\[0\]\.targets: at least one target needs a capacity above 0/],
  ['bad listen', (c) => { c.dns.listen = 'localhost'; }, /dns\.listen: "localhost" is not host:port/],
];
for (const [label, mutate, expected] of mistakes) test(`rejects ${label} with its path`, () => rejects(mutate, expected));

test('all problems are reported at once', () => {
  rejects((c) => { c.endpoints[0].targets[0].address = 'x'; c.health.rise = 0; }, /health\.rise: Too small[\s\S]*targets\[0\]\.address/);
});

test('a YAML syntax error and a missing file are clear errors', () => {
  const dir = tempDir();
  try {
    const broken = join(dir.path, 'broken.yaml');
    writeFileSync(broken, 'zone: [unclosed\n');
    assert.throws(() => loadConfigFile(broken), /broken\.yaml is not valid YAML/);
    assert.throws(() => loadConfigFile(join(dir.path, 'missing.yaml')), /cannot read config .*missing\.yaml/);
  } finally {
    dir.cleanup();
  }
});

test('CLI: a bad config exits non-zero naming the path, and nothing is written to the store', async () => {
  const dir = tempDir();
  try {
    const good = writeConfig(dir.path, { ...valid(), store: { kind: 'sqlite' } }, 'good.yaml');
    const data = join(dir.path, 'data');
    assert.equal((await runCli(['planner', '--once', '--config', good, '--data', data])).code, 0);
    const bad = valid();
    bad.store = { kind: 'sqlite' };
    bad.endpoints[0].targets[0].address = 'not-an-ip';
    const badPath = writeConfig(dir.path, bad, 'bad.yaml');
    const result = await runCli(['planner', '--once', '--config', badPath, '--data', data]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /endpoints\[0\]\.targets\[0\]\.address: "not-an-ip" is not an IPv4 or IPv6 address/);
    const store = new SqliteStore(join(data, 'state.db'));
    try {
      assert.equal(await store.latestGeneration(), 1, 'the rejected config published nothing');
    } finally {
      await store.close();
    }
    const missingData = join(dir.path, 'never');
    const noConfig = await runCli(['status', '--data', missingData]);
    assert.equal(noConfig.code, 2);
    assert.match(noConfig.stderr, /no config: pass --config FILE/);
    assert.equal(existsSync(missingData), false, 'a failed command created nothing');
  } finally {
    dir.cleanup();
  }
});

test('CLI: bad command input is rejected and changes nothing', async () => {
  const dir = tempDir();
  try {
    const config = writeConfig(dir.path, { ...valid(), store: { kind: 'sqlite' } });
    const data = join(dir.path, 'data');
    const badState = await runCli(['health', 'set', 'lb-1', 'sideways', '--config', config, '--data', data]);
    assert.equal(badState.code, 2);
    assert.match(badState.stderr, /state must be "up" or "down", not "sideways"/);
    const unknown = await runCli(['health', 'set', 'lb-9', 'down', '--config', config, '--data', data]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown target "lb-9"/);
    const list = await runCli(['health', 'list', '--json', '--config', config, '--data', data]);
    assert.deepEqual(JSON.parse(list.stdout), []);
    const noId = await runCli(['enactor', '--config', config, '--data', data]);
    assert.notEqual(noId.code, 0);
    assert.match(noId.stderr, /--id/);
  } finally {
    dir.cleanup();
  }
});
