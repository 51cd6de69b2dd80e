// Goal: every mistake in a config file is reported with its path
// (endpoints[0].targets[1].address) and a rejected config changes nothing.
// Method: parseConfig on mutated copies of a valid config, and the real CLI
// against a store to show a bad config exits non-zero and writes nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inventoryOf, parseConfig, loadConfigFile, servicesOf } from '../../src/config/load.js';
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

test('services and check dependencies are qualified like endpoint names', () => {
  const config = valid();
  config.services = [
    { id: 'dwfm', criticality: 'critical', dependsOn: ['dynamodb.us-east-1'] },
    { id: 'ec2-launch', dependsOn: ['service:dwfm', 'dynamodb.us-east-1.dnsplane.test.'], description: 'launches' },
  ];
  config.endpoints[0].targets[1].check.dependsOn = ['service:ec2-launch', 'dynamodb.us-east-1'];
  const parsed = parseConfig(config);
  assert.deepEqual(servicesOf(parsed), [
    { id: 'dwfm', criticality: 'critical', names: ['dynamodb.us-east-1.dnsplane.test'], services: [] },
    {
      id: 'ec2-launch', criticality: 'medium', names: ['dynamodb.us-east-1.dnsplane.test'], services: ['dwfm'],
      description: 'launches',
    },
  ]);
  assert.deepEqual(inventoryOf(parsed)[0]!.targets[1]!.check!.dependsOn, ['service:ec2-launch', 'dynamodb.us-east-1.dnsplane.test']);
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
  ['service on an unknown name', (c) => { c.services = [{ id: 'dwfm', dependsOn: ['dynamo'] }]; },
    /services\[0\]\.dependsOn\[0\]: "dynamo" is dynamo\.dnsplane\.test, which is not one of the endpoints' names/],
  ['service calling an unknown service', (c) => { c.services = [{ id: 'ec2', dependsOn: ['service:dwfm'] }]; },
    /services\[0\]\.dependsOn\[0\]: "service:dwfm": no service has the id "dwfm"/],
  ['duplicate service', (c) => { c.services = [{ id: 'a' }, { id: 'a' }]; }, /services\[1\]\.id: duplicate service id "a"/],
  ['bad criticality', (c) => { c.services = [{ id: 'a', criticality: 'urgent' }]; }, /services\[0\]\.criticality/],
  ['check on an unknown service', (c) => { c.endpoints[0].targets[0].check.dependsOn = ['service:nlb']; },
    /endpoints\[0\]\.targets\[0\]\.check\.dependsOn\[0\]: "service:nlb": no service has the id "nlb"/],
  ['dns.markers tsig-only without a key', (c) => { c.dns.markers = 'tsig-only'; },
    /dns\.tsig: dns\.markers tsig-only shows markers only to queries signed with a key of dns\.tsig, and there is none/],
  ['dns.markers tsig-only with an empty key list', (c) => { c.dns.markers = 'tsig-only'; c.dns.tsig = []; }, /dns\.tsig: dns\.markers tsig-only/],
  ['unknown dns.markers', (c) => { c.dns.markers = 'private'; }, /dns\.markers/],
  ['a dns.tsig key of an unknown algorithm', (c) => { c.dns.tsig = [{ name: 'k', algorithm: 'hmac-md5', secret: 'c2VjcmV0' }]; },
    /dns\.tsig\[0\]\.algorithm/],
  ['a dns.tsig secret not in base64', (c) => { c.dns.tsig = [{ name: 'k', secret: 'not base64!' }]; },
    /dns\.tsig\[0\]\.secret: tsig\.secret must be base64/],
  ['two dns.tsig keys of one name', (c) => { c.dns.tsig = [{ name: 'k', secret: 'c2VjcmV0' }, { name: 'K.', secret: 'b3RoZXI=' }]; },
    /dns\.tsig\[1\]\.name: duplicate TSIG key name "K\.", as is dns\.tsig\[0\]/],
];
for (const [label, mutate, expected] of mistakes) test(`rejects ${label} with its path`, () => rejects(mutate, expected));

test('dns.markers is public with no key by default; tsig-only takes keys in the provider\'s tsig form', () => {
  const defaults = parseConfig(valid());
  assert.equal(defaults.dns.markers, 'public');
  assert.deepEqual(defaults.dns.tsig, []);
  const config = valid();
  config.dns.markers = 'tsig-only';
  config.dns.tsig = [{ name: 'markers-key.', secret: 'c2VjcmV0' }, { name: 'other', algorithm: 'hmac-sha512', secret: 'b3RoZXI=' }];
  const parsed = parseConfig(config);
  assert.equal(parsed.dns.markers, 'tsig-only');
  assert.deepEqual(parsed.dns.tsig, [
    { name: 'markers-key.', algorithm: 'hmac-sha256', secret: 'c2VjcmV0' },
    { name: 'other', algorithm: 'hmac-sha512', secret: 'b3RoZXI=' },
  ]);
});

// A CA file for the checks that need a readable one (made by openssl, as an operator would).
const caDir = tempDir('dnsplane-config-ca-');
after(() => caDir.cleanup());
const caPath = join(caDir.path, 'ca.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(caDir.path, 'ca.key'), '-out', caPath, '-days', '1', '-subj', '/CN=dnsplane config test CA'], { stdio: 'ignore' });

/** The issue lines of a rejected config (after its "config is invalid:" heading). */
function issueLines(mutate: (config: any) => void): string[] {
  const config = valid();
  mutate(config);
  try {
    parseConfig(config);
  } catch (error) {
    assert.ok(error instanceof UserError, 'a config mistake is a UserError');
    return error.message.split('\n').slice(1).map((line) => line.trim());
  }
  assert.fail('the config was accepted');
}

test('every kind of check, with every key, is accepted and parsed into the probe\'s units', () => {
  // Goal: the check shape of the README is what the schema accepts. Method: one target per kind with all its keys.
  const config = parseConfig({
    ...valid(),
    endpoints: [{
      name: 'checks',
      targets: [
        { id: 'h', address: '127.0.0.2', check: { http: 'http://127.0.0.2:8081/healthz', host: 'api.example.com', port: 8082, method: 'GET', expectStatus: '200-299', match: 'OK', timeout: '200ms' } },
        { id: 's', address: '127.0.0.3', check: { https: 'https://127.0.0.3/healthz', host: 'api.example.com', expectStatus: 204, ca: caPath } },
        { id: 'i', address: '127.0.0.4', check: { https: 'https://[::1]:8443/', insecure: true } },
        { id: 't', address: '127.0.0.5', check: { tcp: '[::1]:8081', port: 8080, timeout: 100 } },
      ],
    }],
  });
  const [h, s, i, t] = config.endpoints[0]!.targets.map((target) => target.check);
  assert.deepEqual(h, { http: 'http://127.0.0.2:8081/healthz', host: 'api.example.com', port: 8082, method: 'GET', expectStatus: { min: 200, max: 299 }, match: 'OK', timeout: 200 });
  assert.deepEqual(s, { https: 'https://127.0.0.3/healthz', host: 'api.example.com', expectStatus: { min: 204, max: 204 }, ca: caPath });
  assert.deepEqual(i, { https: 'https://[::1]:8443/', insecure: true });
  assert.deepEqual(t, { tcp: '[::1]:8081', port: 8080, timeout: 100 });
});

// Each mistake gives exactly one line, naming its key: the operator fixes that key, not a cascade of follow-up errors.
const check = (c: any) => c.endpoints[0].targets[0];
const oneLineMistakes: [string, (config: any) => void, RegExp][] = [
  ['an ftp:// check', (c) => { check(c).check = { http: 'ftp://127.0.0.2/' }; }, /^endpoints\[0\]\.targets\[0\]\.check\.http: "ftp:\/\/127\.0\.0\.2\/" is not an http:\/\/ URL \(use https: for TLS\)$/],
  ['http: given an https URL', (c) => { check(c).check = { http: 'https://127.0.0.2/' }; }, /^endpoints\[0\]\.targets\[0\]\.check\.http: "https:\/\/127\.0\.0\.2\/" is not an http:\/\/ URL \(use https: for TLS\)$/],
  ['https: given an http URL', (c) => { check(c).check = { https: 'http://127.0.0.2/' }; }, /^endpoints\[0\]\.targets\[0\]\.check\.https: .* is not an https:\/\/ URL \(use http: for plain HTTP\)$/],
  ['a URL that does not parse', (c) => { check(c).check = { http: 'http://' }; }, /^endpoints\[0\]\.targets\[0\]\.check\.http: "http:\/\/" is not a URL/],
  ['ca on an http check', (c) => { check(c).check.ca = caPath; }, /^endpoints\[0\]\.targets\[0\]\.check\.ca: ca applies to https: checks only, not http:$/],
  ['insecure on an http check', (c) => { check(c).check.insecure = true; }, /^endpoints\[0\]\.targets\[0\]\.check\.insecure: insecure applies to https: checks only, not http:$/],
  ['ca and insecure together', (c) => { check(c).check = { https: 'https://127.0.0.2/', ca: caPath, insecure: true }; }, /^endpoints\[0\]\.targets\[0\]\.check\.insecure: insecure skips the verification that ca is for/],
  ['an unreadable ca', (c) => { check(c).check = { https: 'https://127.0.0.2/', ca: join(caDir.path, 'missing.pem') }; }, /^endpoints\[0\]\.targets\[0\]\.check\.ca: cannot read CA file ".*missing\.pem" \(ENOENT\)$/],
  ['a ca file without a certificate', (c) => { check(c).check = { https: 'https://127.0.0.2/', ca: join(caDir.path, 'ca.key') }; }, /^endpoints\[0\]\.targets\[0\]\.check\.ca: CA file ".*ca\.key" holds no PEM certificate$/],
  ['a tcp check without a port', (c) => { c.endpoints[0].targets[1].check = { tcp: '127.0.0.3' }; }, /^endpoints\[0\]\.targets\[1\]\.check\.tcp: "127\.0\.0\.3" is not host:port/],
  ['a tcp check with a bad host', (c) => { c.endpoints[0].targets[1].check = { tcp: 'bad..host:80' }; }, /^endpoints\[0\]\.targets\[1\]\.check\.tcp: "bad\.\.host:80": "bad\.\.host" is neither an IP address nor a DNS name$/],
  ['a tcp check on port 0', (c) => { c.endpoints[0].targets[1].check = { tcp: '127.0.0.3:0' }; }, /^endpoints\[0\]\.targets\[1\]\.check\.tcp: "127\.0\.0\.3:0": port 0 is not 1-65535$/],
  ['port 70000', (c) => { check(c).check.port = 70_000; }, /^endpoints\[0\]\.targets\[0\]\.check\.port: a port is 1-65535$/],
  ['match on a tcp check', (c) => { c.endpoints[0].targets[1].check.match = 'OK'; }, /^endpoints\[0\]\.targets\[1\]\.check\.match: match applies to http: and https: checks only, not tcp:$/],
  ['host on a tcp check', (c) => { c.endpoints[0].targets[1].check.host = 'api.example.com'; }, /^endpoints\[0\]\.targets\[1\]\.check\.host: host applies to http: and https: checks only, not tcp:$/],
  ['match with HEAD', (c) => { Object.assign(check(c).check, { method: 'HEAD', match: 'OK' }); }, /^endpoints\[0\]\.targets\[0\]\.check\.match: a HEAD response has no body to match/],
  ['an empty match', (c) => { check(c).check.match = ''; }, /^endpoints\[0\]\.targets\[0\]\.check\.match: match must not be empty$/],
  ['a match over 255 characters', (c) => { check(c).check.match = 'x'.repeat(256); }, /^endpoints\[0\]\.targets\[0\]\.check\.match: match is at most 255 characters/],
  ['a status out of range', (c) => { check(c).check.expectStatus = 700; }, /^endpoints\[0\]\.targets\[0\]\.check\.expectStatus: 700 is not a status 100-599 or a range like "200-299"$/],
  ['an inverted status range', (c) => { check(c).check.expectStatus = '299-200'; }, /^endpoints\[0\]\.targets\[0\]\.check\.expectStatus: "299-200": the range runs from 299 down to 200$/],
  ['a bad Host name', (c) => { check(c).check.host = 'bad host'; }, /^endpoints\[0\]\.targets\[0\]\.check\.host: "bad host" is neither an IP address nor a DNS name/],
  ['a check timeout not below the interval', (c) => { c.endpoints[0].targets[1].check.timeout = '500ms'; }, /^endpoints\[0\]\.targets\[1\]\.check\.timeout: 500ms must be below health\.interval \(500ms\)$/],
  ['a check timeout of 0ms', (c) => { check(c).check.timeout = '0ms'; }, /^endpoints\[0\]\.targets\[0\]\.check\.timeout: "0ms" must be between 10ms and 1m$/],
  ['health.interval 0ms', (c) => { c.health.interval = '0ms'; }, /^health\.interval: "0ms" must be between 50ms and 10m$/],
  ['health.interval 1000h', (c) => { c.health.interval = '1000h'; }, /^health\.interval: "1000h" must be between 50ms and 10m$/],
  ['health.interval as 0 ms', (c) => { c.health.interval = 0; }, /^health\.interval: 0 must be between 50ms and 10m$/],
  ['health.timeout not below the interval', (c) => { c.health.timeout = '1s'; }, /^health\.timeout: 1s must be below health\.interval \(500ms\)/],
  ['health.timeout 0ms', (c) => { c.health.timeout = '0ms'; }, /^health\.timeout: "0ms" must be between 10ms and 1m$/],
  ['planner.interval 0ms', (c) => { c.planner = { interval: '0ms' }; }, /^planner\.interval: "0ms" must be between 5ms and 10m$/],
  ['enactor.pollInterval 1000h', (c) => { c.enactor = { pollInterval: '1000h' }; }, /^enactor\.pollInterval: "1000h" must be between 5ms and 1m$/],
  ['dns.refreshInterval 0ms', (c) => { c.dns.refreshInterval = '0ms'; }, /^dns\.refreshInterval: "0ms" must be between 5ms and 1m$/],
  ['a heartbeat not below its TTL', (c) => { c.enactor = { heartbeatInterval: '5s', heartbeatTtl: '5s' }; }, /^enactor\.heartbeatInterval: 5s must be below enactor\.heartbeatTtl \(5s\)/],
];
for (const [label, mutate, expected] of oneLineMistakes) {
  test(`rejects ${label} in one line naming the key`, () => {
    const lines = issueLines(mutate);
    assert.equal(lines.length, 1, `one line, not ${JSON.stringify(lines)}`);
    assert.match(lines[0]!, expected);
  });
}

test('the bounds of every duration hold its default, and the values tests and the demo use', () => {
  // Goal: bounding durations broke no existing config. Method: the defaults, then the shortest and longest values the
  // tests, harnesses and deploy files set (grep test/ src/demo deploy/ for interval:).
  const defaults = parseConfig(valid());
  assert.deepEqual([defaults.dns.refreshInterval, defaults.dns.tcp.idleTimeout, defaults.planner.interval, defaults.planner.leaseTtl], [25, 5000, 200, 5000]);
  assert.deepEqual([defaults.enactor.pollInterval, defaults.enactor.backoffBase, defaults.enactor.backoffMax, defaults.enactor.heartbeatInterval, defaults.enactor.heartbeatTtl], [50, 5, 500, 500, 5000]);
  assert.deepEqual([defaults.janitor.interval, defaults.reconciler.interval, defaults.reconciler.maxLag], [2000, 2000, 10_000]);
  const used = parseConfig({
    ...valid(),
    dns: { listen: '127.0.0.1:5353', refreshInterval: '10ms', tcp: { idleTimeout: '1000ms' } },
    planner: { interval: '5ms', leaseTtl: '400ms' },
    enactor: { pollInterval: '5ms', backoffBase: '1ms', backoffMax: '20ms', heartbeatInterval: '20ms', heartbeatTtl: '2s' },
    janitor: { interval: '20ms' },
    reconciler: { interval: '10ms', maxLag: '0ms' },
  });
  assert.equal(used.reconciler.maxLag, 0, 'maxLag 0ms: any lag is drift at once');
  assert.equal(used.planner.interval, 5);
});

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

test('CLI: a bad check exits 2 with one line naming its key', async () => {
  // Goal: the ftp:// check that once logged a stack trace every interval is refused before anything starts.
  // Method: `dnsplane status` (which loads the config) on a file with that check; the issue lines of stderr are counted.
  const dir = tempDir();
  try {
    const bad = { ...valid(), store: { kind: 'sqlite' } };
    bad.endpoints[0].targets[0].check = { http: 'ftp://127.0.0.2/healthz' };
    const path = writeConfig(dir.path, bad, 'bad-check.yaml');
    const result = await runCli(['status', '--config', path, '--data', join(dir.path, 'data')]);
    assert.equal(result.code, 2, result.stderr);
    const issues = result.stderr.split('\n').filter((line) => /^\s+\S+: /.test(line));
    assert.deepEqual(issues.map((line) => line.trim()), ['endpoints[0].targets[0].check.http: "ftp://127.0.0.2/healthz" is not an http:// URL (use https: for TLS)']);
    assert.equal(existsSync(join(dir.path, 'data')), false, 'nothing was created');
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
