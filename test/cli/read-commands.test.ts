// Goal: the read commands an operator reaches for first — `records`, `plans`, `history` — print what the store
// holds after real enactments, in text and JSON, and refuse unknown names with exit 2 and a message naming them.
// Method: the real CLI as child processes on a SQLite installation; two plans are published by `planner --once`
// (the second after an operator marks one target down) and each is enacted by the production Enactor in this
// process, on the same database files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Enactor } from '../../src/enactor/enactor.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { seededRng, systemClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/log.js';
import { runCli, sampleConfig, tempDir, writeConfig } from '../helpers/env.js';

async function enactOnce(dbPath: string): Promise<number> {
  const store = new SqliteStore(dbPath);
  const provider = new BuiltinSqliteProvider(dbPath);
  try {
    const enactor = new Enactor(
      {
        id: 'az1', pollIntervalMs: 10, batchNamesMax: 100, retriesMax: 3, backoffBaseMs: 1, backoffMaxMs: 10,
        heartbeatIntervalMs: 1000, heartbeatTtlMs: 60_000,
      },
      { store, provider, clock: systemClock, rng: seededRng(1), log: silentLogger },
    );
    const step = await enactor.step();
    assert.ok(step?.complete, 'the plan was enacted completely');
    return step.applied;
  } finally {
    await provider.close();
    await store.close();
  }
}

test('records, plans and history after two enactments: text and JSON; unknown names exit 2', async () => {
  const dir = tempDir('dnsplane-read-');
  try {
    const config = writeConfig(dir.path, sampleConfig(3));
    const data = join(dir.path, 'data');
    const paths = ['--config', config, '--data', data];
    const dbPath = join(data, 'state.db');
    const ok = async (args: string[]): Promise<string> => {
      const result = await runCli([...args, ...paths]);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
      return result.stdout;
    };
    await ok(['planner', '--once']);
    assert.equal(await enactOnce(dbPath), 3);
    await ok(['health', 'set', 't0-0', 'down']);
    await ok(['planner', '--once']);
    assert.equal(await enactOnce(dbPath), 1);

    assert.deepEqual((await ok(['records'])).trimEnd().split('\n'), [
      'svc0.dnsplane.test  gen 2  127.1.0.2/255/t0-1,127.1.0.3/255/t0-2',
      'svc1.dnsplane.test  gen 1  127.1.1.1/255/t1-0,127.1.1.2/255/t1-1,127.1.1.3/255/t1-2',
      'svc2.dnsplane.test  gen 1  127.1.2.1/255/t2-0,127.1.2.2/255/t2-1,127.1.2.3/255/t2-2',
    ]);
    assert.equal(await ok(['records', 'svc1']), (await ok(['records'])).split('\n')[1] + '\n', 'one name, by short name');
    const served = JSON.parse(await ok(['records', 'svc0', '--json'])) as unknown;
    const one = (Array.isArray(served) ? served[0] : served) as { name: string; generation: number; records: { address: string }[] };
    assert.equal(one.name, 'svc0.dnsplane.test');
    assert.equal(one.generation, 2);
    assert.deepEqual(one.records.map((r) => r.address), ['127.1.0.2', '127.1.0.3']);

    const plans = (await ok(['plans'])).trimEnd().split('\n');
    assert.equal(plans.length, 2);
    assert.match(plans[0]!, /^gen 2 {2}\S+ {2}1\/3 changed {2}by planner@\S+ \(token 2\) {2}inventory v1$/);
    assert.match(plans[1]!, /^gen 1 {2}\S+ {2}3\/3 changed {2}by planner@\S+ \(token 1\) {2}inventory v1$/);
    const plansJson = JSON.parse(await ok(['plans', '--json'])) as { generation: number; namesChanged: number }[];
    assert.deepEqual(plansJson.map((p) => [p.generation, p.namesChanged]), [[2, 1], [1, 3]]);

    const history = (await ok(['history', 'svc0'])).trimEnd().split('\n');
    assert.equal(history.length, 2, history.join('\n'));
    assert.ok(history.some((line) => / enact {2}0 -> 1 {2}by az1$/.test(line)), history.join('\n'));
    assert.ok(history.some((line) => / enact {2}1 -> 2 {2}by az1$/.test(line)), history.join('\n'));
    assert.equal((await ok(['history', 'svc1'])).trimEnd().split('\n').length, 1, 'svc1 was enacted once');

    const unknown = await runCli(['records', 'nosuch', ...paths]);
    assert.deepEqual([unknown.code, unknown.stdout, unknown.stderr], [2, '', 'error: no served records for "nosuch"\n']);
    const noName = await runCli(['history', ...paths]);
    assert.equal(noName.code, 2);
    assert.match(noName.stderr, /^error: missing required argument 'name'/);
  } finally {
    dir.cleanup();
  }
});
