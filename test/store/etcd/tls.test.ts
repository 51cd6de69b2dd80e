// Goal: across machines etcd is reached over TLS, with a client certificate
// and etcd's own users: the store and the built-in provider work over such a
// connection, and each way it can be wrong (no client certificate, a CA that
// did not sign the members' certificate, a wrong password, a file that is
// missing, a config that mixes http and https) fails with an error that
// names it, and changes nothing.
// Method: certificates made with openssl; a one-member etcd cluster serving
// clients over TLS with --client-cert-auth; etcd users and roles created
// through the client, then auth enabled; connections built from the config
// schema the way every role builds them (etcdSettings).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { parseConfig } from '../../../src/config/load.js';
import { etcdSettings } from '../../../src/store/index.js';
import { EtcdStore } from '../../../src/store/etcd/store.js';
import { BuiltinEtcdProvider } from '../../../src/providers/builtin/etcd.js';
import type { EtcdConnectionOptions } from '../../../src/store/etcd/client.js';
import { UserError } from '../../../src/util/assert.js';
import { records } from '../../helpers/fixtures.js';
import { runCli, tempDir, writeConfig } from '../../helpers/env.js';
import { makeTestCertificates, startEtcdCluster, type EtcdCluster, type TestCertificates } from '../../helpers/etcd.js';

const prefix = '/tls-test/';
const password = 'correct horse battery staple';
let dir: { path: string; cleanup: () => void };
let certificates: TestCertificates;
let cluster: EtcdCluster;

function configWith(store: Record<string, unknown>) {
  return { zone: 'dnsplane.test', store: { kind: 'etcd', endpoints: cluster.endpoints, prefix, ...store }, endpoints: [{ name: 'svc0', targets: [{ id: 'a', address: '127.0.0.2' }] }] };
}

function settings(store: Record<string, unknown>): EtcdConnectionOptions {
  return etcdSettings(parseConfig(configWith(store)));
}

const mutualTls = () => ({ ca: certificates.ca, cert: certificates.clientCert, key: certificates.clientKey });

before(async () => {
  dir = tempDir('dnsplane-etcd-tls-');
  certificates = makeTestCertificates(dir.path);
  cluster = await startEtcdCluster({
    members: 1,
    tls: { ca: certificates.ca, cert: certificates.serverCert, key: certificates.serverKey, clientCert: certificates.clientCert, clientKey: certificates.clientKey },
  });
  writeFileSync(join(dir.path, 'password'), `${password}\n`);
  writeFileSync(join(dir.path, 'wrong-password'), 'not it\n');
  // Users and roles as an operator sets them up with etcdctl, then auth on: dnsplane may use its prefix only.
  const admin = new Etcd3({ hosts: cluster.endpoints, credentials: { rootCertificate: readFileSync(certificates.ca), certChain: readFileSync(certificates.clientCert), privateKey: readFileSync(certificates.clientKey) } });
  try {
    await admin.role('root').create().catch(() => undefined);
    await admin.user('root').create('root-password');
    await admin.user('root').addRole('root');
    await admin.role('dnsplane').create();
    await admin.role('dnsplane').grant({ permission: 'Readwrite', range: admin.range({ prefix }) });
    await admin.user('dnsplane').create(password);
    await admin.user('dnsplane').addRole('dnsplane');
    await admin.auth.authEnable({});
  } finally {
    admin.close();
  }
});

after(async () => {
  await cluster?.stop();
  dir?.cleanup();
});

test('over TLS with a client certificate and an etcd user, the store and the provider work', async () => {
  const options = settings({ tls: mutualTls(), auth: { username: 'dnsplane', passwordFile: join(dir.path, 'password') } });
  const store = new EtcdStore(options);
  const provider = new BuiltinEtcdProvider(options);
  try {
    await store.setHealth('t0', 'down', 'test');
    assert.deepEqual((await store.readHealth()).map((health) => [health.target, health.state]), [['t0', 'down']]);
    const [applied] = await provider.apply([{ name: 'svc0.dnsplane.test', records: records('127.0.0.2'), generation: 1, expectedVersion: null }]);
    assert.equal(applied!.outcome, 'applied');
    assert.equal((await provider.read(['svc0.dnsplane.test'])).get('svc0.dnsplane.test')?.generation, 1);
  } finally {
    await provider.close();
    await store.close();
  }
});

test('each wrong credential is refused with an error that says which, and nothing is written', async () => {
  const passwordFile = join(dir.path, 'password');
  const attempt = async (store: Record<string, unknown>) => {
    const connection = new EtcdStore(settings(store));
    try {
      await connection.setHealth('t1', 'down', 'test');
      return null;
    } catch (error) {
      return (error as Error).message;
    } finally {
      await connection.close();
    }
  };
  assert.match(await attempt({ tls: { ca: certificates.ca }, auth: { username: 'dnsplane', passwordFile } }) ?? 'written', /UNAVAILABLE|handshake|certificate|No connection/i, 'no client certificate');
  assert.match(await attempt({ tls: { ...mutualTls(), ca: certificates.otherCa }, auth: { username: 'dnsplane', passwordFile } }) ?? 'written', /UNAVAILABLE|certificate|No connection/i, 'a CA that did not sign the server');
  assert.match(await attempt({ tls: mutualTls(), auth: { username: 'dnsplane', passwordFile: join(dir.path, 'wrong-password') } }) ?? 'written', /authentication failed|invalid user ID or password/i, 'a wrong password');
  // The prefix is the only range the dnsplane user may touch.
  const outside = new EtcdStore({ ...settings({ tls: mutualTls(), auth: { username: 'dnsplane', passwordFile } }), prefix: '/elsewhere/' });
  await assert.rejects(outside.setHealth('t1', 'down', 'test'), /permission denied/i, 'another prefix is not this user\'s');
  await outside.close();
  const reader = new EtcdStore(settings({ tls: mutualTls(), auth: { username: 'dnsplane', passwordFile } }));
  try {
    assert.deepEqual((await reader.readHealth()).map((health) => health.target), ['t0'], 'none of the refused attempts wrote');
  } finally {
    await reader.close();
  }
});

test('bad TLS and auth settings are config errors naming the key or the file', async () => {
  const invalid = (store: Record<string, unknown>) => assert.throws(() => parseConfig(configWith(store)), UserError);
  invalid({ endpoints: ['https://127.0.0.1:1', 'http://127.0.0.1:2'], tls: mutualTls() });
  invalid({ endpoints: ['http://127.0.0.1:1'], tls: mutualTls() });
  invalid({ tls: { ca: certificates.ca, cert: certificates.clientCert } });
  invalid({ auth: { username: 'dnsplane' } });
  assert.throws(() => new EtcdStore(settings({ tls: { ...mutualTls(), key: join(dir.path, 'missing.key') } })), /store\.tls\.key: cannot read .*missing\.key/);
  assert.throws(() => new EtcdStore(settings({ tls: mutualTls(), auth: { username: 'dnsplane', passwordFile: join(dir.path, 'missing') } })), /store\.auth\.passwordFile: cannot read/);
  // Through the CLI: the mixed endpoints are named by path, the missing file by key, each with exit status 2.
  const mixed = writeConfig(dir.path, configWith({ endpoints: ['https://127.0.0.1:1', 'http://127.0.0.1:2'], tls: mutualTls() }), 'mixed.yaml');
  const mixedRun = await runCli(['janitor', '--config', mixed, '--data', join(dir.path, 'data')]);
  assert.equal(mixedRun.code, 2);
  assert.match(mixedRun.stderr, /store\.endpoints: either every etcd endpoint is https:\/\/ or none is/);
  const missing = writeConfig(dir.path, configWith({ tls: { ...mutualTls(), ca: join(dir.path, 'nope.pem') } }), 'missing.yaml');
  const missingRun = await runCli(['janitor', '--config', missing, '--data', join(dir.path, 'data')]);
  assert.equal(missingRun.code, 2);
  assert.match(missingRun.stderr, /store\.tls\.ca: cannot read .*nope\.pem/);
});
