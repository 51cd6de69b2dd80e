// Goal: a DNS server on an etcd store answers even when it (re)starts while
// etcd is down — it keeps a copy of the served records in its data
// directory and starts from it (fail static from the first tick), then
// follows etcd again once etcd answers. Without that copy, or with a damaged
// one, a start with etcd down fails with a clear error and a non-zero exit,
// never an empty zone.
// Method: a one-member etcd cluster, records written through the etcd
// provider, `dnsplane serve` processes asked with dig; the member is
// SIGKILLed by pid and restarted on its data directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordEntry } from '../../src/domain/types.js';
import { freeDualPort, pollUntil } from '../helpers/env.js';
import { digA } from '../helpers/dig.js';
import { startEtcdInstallation, type EtcdInstallation } from '../helpers/etcd.js';

const names = ['svc0.dnsplane.test', 'svc1.dnsplane.test', 'svc2.dnsplane.test'];

function set(...addresses: string[]): RecordEntry[] {
  return addresses.map((address, index) => ({ target: `t${index}`, address, weight: 1 }));
}

/** Writes `records` for `name` over whatever is there (read, then compare-and-swap). */
async function put(installation: EtcdInstallation, name: string, records: RecordEntry[], generation: number): Promise<void> {
  const current = (await installation.provider.read([name])).get(name);
  const [outcome] = await installation.provider.apply([{ name, records, generation, expectedVersion: current?.version ?? null }]);
  assert.equal(outcome!.outcome, 'applied', `write of ${name}`);
}

test('serve on etcd: restarted while etcd is down it answers from its snapshot file, then follows etcd again', async () => {
  const installation = await startEtcdInstallation(3, {}, { members: 1 });
  try {
    for (const [index, name] of names.entries()) await put(installation, name, set(`127.0.5.${index + 1}`, `127.0.6.${index + 1}`), 1);
    const snapshotFile = join(installation.data, 'dns-snapshot.json');
    const port = await freeDualPort();
    const first = installation.spawnRole(['serve', '--dns-port', String(port)]);
    await pollUntil(() => /serving zone/.test(first.stdout()), 'serve to start', 30_000);
    await pollUntil(async () => JSON.stringify(await digA(port, names[2]!)) === JSON.stringify(['127.0.5.3', '127.0.6.3']), 'DNS to answer from etcd', 10_000);
    await pollUntil(() => existsSync(snapshotFile) && readFileSync(snapshotFile, 'utf8').includes(names[2]!), 'the snapshot file to hold every name', 10_000);
    assert.equal(await first.stop(), 0, first.stderr());

    await installation.cluster.kill(0);
    const second = installation.spawnRole(['serve', '--dns-port', String(port)]);
    await pollUntil(() => /serving zone/.test(second.stdout()) || second.process.exitCode !== null, 'serve to start with etcd down', 30_000);
    assert.equal(second.process.exitCode, null, `serve gave up with etcd down: ${second.stderr().slice(-1500)}`);
    for (const [index, name] of names.entries()) assert.deepEqual(await digA(port, name), [`127.0.5.${index + 1}`, `127.0.6.${index + 1}`], `${name} from the snapshot file`);
    await pollUntil(() => /fail static/.test(second.stderr()), 'serve to report that it answers from its snapshot (fail static)', 10_000);

    await installation.cluster.restart(0);
    // This process's own client may still be backing off from the dead member: retry the write until it lands.
    await pollUntil(async () => { await put(installation, names[0]!, set('127.0.7.1'), 2); return true; }, 'a write to the restarted member', 20_000, 100);
    await pollUntil(async () => JSON.stringify(await digA(port, names[0]!)) === JSON.stringify(['127.0.7.1']), 'DNS to follow etcd again', 20_000, 100);
    assert.deepEqual(await digA(port, names[1]!), ['127.0.5.2', '127.0.6.2'], 'the other names are unchanged');
    await pollUntil(() => /fail static ended/.test(second.stderr()), 'serve to report the end of fail static', 10_000);
    await pollUntil(() => readFileSync(snapshotFile, 'utf8').includes('127.0.7.1'), 'the snapshot file to follow the change', 15_000);
    assert.equal(await second.stop(), 0, second.stderr());

    // No copy and no etcd: nothing to serve, said plainly, and a non-zero exit.
    await installation.cluster.kill(0);
    rmSync(snapshotFile);
    const third = installation.spawnRole(['serve', '--dns-port', String(port)]);
    await pollUntil(() => third.process.exitCode !== null, 'serve to give up', 30_000);
    assert.equal(third.process.exitCode, 2);
    assert.match(third.stderr(), /cannot load the served records from etcd .*no snapshot file .*dns-snapshot\.json.*nothing to serve/);
    // A damaged copy is refused by name, not half-read.
    writeFileSync(snapshotFile, '{"format":1,"savedAtMs":1,"version":3,"names":[["svc0.dnsplane.test",1,"7","not records",3]]}');
    const fourth = installation.spawnRole(['serve', '--dns-port', String(port)]);
    await pollUntil(() => fourth.process.exitCode !== null, 'serve to refuse the damaged copy', 30_000);
    assert.equal(fourth.process.exitCode, 2);
    assert.match(fourth.stderr(), /DNS snapshot file .*dns-snapshot\.json is unusable \(svc0\.dnsplane\.test: .*\)/);
  } finally {
    await installation.stop();
  }
});
