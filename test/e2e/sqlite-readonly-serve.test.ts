// Goal: a SQLite store that cannot be written does not stop DNS. `serve`
// reads the store read-only and keeps a copy of the served records in its
// data directory: restarted on a store it may not write it answers at once —
// from the store while a writer keeps its -wal and -shm files, from the copy
// when SQLite cannot read it at all (a cleanly closed WAL store in a
// directory nobody may write to) — and follows the store again when it can
// be read. The read commands open the store read-only too.
// Method: the store lives in a directory owned by root (mode 0755) and the
// serve process runs as `nobody` (setpriv), so file modes bind it (root would
// ignore them); its data directory belongs to `nobody`. The test writes the
// records as root through the real SQLite provider, and asks with dig.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordEntry } from '../../src/domain/types.js';
import { BuiltinSqliteProvider, setUpSqliteInstallation } from '../../src/providers/builtin/sqlite.js';
import { cliPath, freeDualPort, pollUntil, repoRoot, sampleConfig, spawnProcess, tempDir, writeConfig, type Child } from '../helpers/env.js';
import { digA } from '../helpers/dig.js';

const nobody = 65534;
const names = ['svc0.dnsplane.test', 'svc1.dnsplane.test'];

function set(...addresses: string[]): RecordEntry[] {
  return addresses.map((address, index) => ({ target: `t${index}`, address, weight: 1 }));
}

/** Writes `records` for `name` over whatever is there (read, then compare-and-swap), as root. */
async function put(provider: BuiltinSqliteProvider, name: string, records: RecordEntry[], generation: number): Promise<void> {
  const current = (await provider.read([name])).get(name);
  const [outcome] = await provider.apply([{ name, records, generation, expectedVersion: current?.version ?? null }]);
  assert.equal(outcome!.outcome, 'applied', `write of ${name}`);
}

/** `node ARGS` as the unprivileged user (setpriv execs node, so the child's pid is node's). */
function spawnAsNobody(args: string[]): Child {
  return spawnProcess('setpriv', [`--reuid=${nobody}`, `--regid=${nobody}`, '--clear-groups', process.execPath, ...args]);
}

/**
 * The installation in `root`: the store in `store/`, a directory owned by root (nobody may not write it), the data
 * directory `data/` owned by nobody, and a config of `names` names naming the store's path.
 */
function layout(root: string, names: number): { storeDir: string; data: string; storePath: string; configPath: string } {
  chmodSync(root, 0o755); // traversable by nobody
  const storeDir = join(root, 'store');
  const data = join(root, 'data');
  mkdirSync(storeDir, { mode: 0o755 });
  mkdirSync(data);
  chownSync(data, nobody, nobody);
  const storePath = join(storeDir, 'state.db');
  const configPath = writeConfig(root, sampleConfig(names, 2, { store: { kind: 'sqlite', path: storePath } }));
  chmodSync(configPath, 0o644);
  return { storeDir, data, storePath, configPath };
}

/** A read command through the read-only context (`withReadContext`), as `nobody`: the records it reads, as JSON. */
function readScript(dir: string): string {
  const path = join(dir, 'read-records.mts');
  writeFileSync(path, [
    `import { withReadContext } from ${JSON.stringify(join(repoRoot, 'src/cli/common.ts'))};`,
    `import { statusReport } from ${JSON.stringify(join(repoRoot, 'src/status/report.ts'))};`,
    `import { readAllServed } from ${JSON.stringify(join(repoRoot, 'src/providers/listing.ts'))};`,
    'const [config, data] = process.argv.slice(2);',
    'await withReadContext({ config, data }, async (context) => {',
    '  const report = await statusReport(context);',
    '  const served = await readAllServed(context.provider);',
    '  process.stdout.write(JSON.stringify({ zone: report.zone, served: served.map((s) => [s.name, s.records.map((r) => r.address).sort()]) }));',
    '});',
  ].join('\n'));
  chmodSync(path, 0o644);
  return path;
}

test('serve on SQLite: on a store it may not write it answers at once, from the store or from its copy; a read command reads it', async () => {
  const dir = tempDir('dnsplane-ro-');
  const children: Child[] = [];
  let writer: BuiltinSqliteProvider | null = null;
  try {
    const { storeDir, data, storePath, configPath } = layout(dir.path, 2);
    const copyPath = join(data, 'dns-snapshot.json');
    const port = await freeDualPort();
    const serveArgs = [cliPath, 'serve', '--config', configPath, '--data', data, '--dns-port', String(port)];

    // A live writer (root) keeps the store's -wal and -shm files: nobody's read-only connection can read it.
    setUpSqliteInstallation(storePath);
    writer = new BuiltinSqliteProvider(storePath);
    for (const [index, name] of names.entries()) await put(writer, name, set(`127.0.5.${index + 1}`), 1);
    const first = spawnAsNobody(serveArgs);
    children.push(first);
    await pollUntil(() => /serving zone/.test(first.stdout()) || first.process.exitCode !== null, 'serve to start on the read-only store', 30_000);
    assert.equal(first.process.exitCode, null, `serve gave up on a read-only store: ${first.stderr().slice(-1500)}`);
    assert.deepEqual(await digA(port, names[0]!), ['127.0.5.1'], 'answered from the read-only store');
    await put(writer, names[0]!, set('127.0.6.1'), 2);
    await pollUntil(async () => JSON.stringify(await digA(port, names[0]!)) === '["127.0.6.1"]', 'serve to follow a write on the read-only store');
    await pollUntil(() => existsSync(copyPath) && readFileSync(copyPath, 'utf8').includes('127.0.6.1'), 'serve to keep its copy of the served records', 15_000);

    // The read commands' context opens the store read-only: it reads as nobody.
    const script = readScript(dir.path);
    const reading = spawnAsNobody(['--import', 'tsx', script, configPath, data]);
    children.push(reading);
    assert.equal(await reading.exited, 0, reading.stderr());
    assert.deepEqual(JSON.parse(reading.stdout()), { zone: 'dnsplane.test', served: [[names[0], ['127.0.6.1']], [names[1], ['127.0.5.2']]] });
    assert.equal(await first.stop(), 0, first.stderr());

    // The last writer closes cleanly (SQLite deletes -wal and -shm): nobody can no longer read the store, and a
    // restarted serve answers from its copy at once, failing static.
    await writer.close();
    writer = null;
    assert.deepEqual(readdirSync(storeDir), ['state.db']);
    const second = spawnAsNobody(serveArgs);
    children.push(second);
    await pollUntil(() => /serving zone/.test(second.stdout()) || second.process.exitCode !== null, 'serve to start from its copy', 30_000);
    assert.equal(second.process.exitCode, null, `serve gave up with a copy to serve: ${second.stderr().slice(-1500)}`);
    assert.deepEqual(await digA(port, names[0]!), ['127.0.6.1'], 'the first answer, from the copy');
    assert.deepEqual(await digA(port, names[1]!), ['127.0.5.2']);
    assert.match(second.stderr(), /answering from the DNS snapshot file \(fail static\)/);
    assert.match(second.stderr(), /attempt to write a readonly database|unable to open/);

    // A writer comes back (its -wal and -shm make the store readable again): serve follows the store once more.
    writer = new BuiltinSqliteProvider(storePath);
    await put(writer, names[1]!, set('127.0.7.2'), 2);
    await pollUntil(async () => JSON.stringify(await digA(port, names[1]!)) === '["127.0.7.2"]', 'serve to follow the store again', 15_000);
    assert.deepEqual(await digA(port, names[0]!), ['127.0.6.1'], 'the other name is unchanged');
    await pollUntil(() => /fail static ended/.test(second.stderr()), 'serve to report the end of fail static', 10_000);
    assert.equal(await second.stop(), 0, second.stderr());
  } finally {
    for (const child of children) await child.stop();
    await writer?.close();
    dir.cleanup();
  }
});

test('serve on SQLite: no store it can read and no copy: one line naming both, exit 2', async () => {
  const dir = tempDir('dnsplane-ro-');
  const children: Child[] = [];
  try {
    const { data, storePath, configPath } = layout(dir.path, 1);
    setUpSqliteInstallation(storePath);
    const writer = new BuiltinSqliteProvider(storePath);
    await put(writer, names[0]!, set('127.0.5.1'), 1);
    await writer.close();
    const before = readFileSync(storePath);
    const serve = spawnAsNobody([cliPath, 'serve', '--config', configPath, '--data', data, '--dns-port', String(await freeDualPort())]);
    children.push(serve);
    assert.equal(await serve.exited, 2, serve.stderr());
    const lines = serve.stderr().trim().split('\n');
    assert.equal(lines.length, 1, serve.stderr());
    assert.match(lines[0]!, new RegExp(`cannot read the store \\(store ${storePath} .*\\) and there is no DNS snapshot file ${join(data, 'dns-snapshot.json')} yet: nothing to serve`));
    assert.deepEqual(readFileSync(storePath), before, 'the store is unchanged');
    // As root the same store reads (root may create -shm): `dnsplane records` lists it.
    const records = execFileSync(process.execPath, [cliPath, 'records', '--config', configPath, '--data', data], { encoding: 'utf8' });
    assert.match(records, /svc0\.dnsplane\.test\s+gen 1\s+127\.0\.5\.1/);
  } finally {
    for (const child of children) await child.stop();
    dir.cleanup();
  }
});
