// Goal: failover in the most common real outage passes without an operator. A whole AZ fails: every name stops
// answering its addresses within the convergence bound, with no refusal and no alarm from either guard; then a
// second AZ fails, which the README's table says passes (half of what is still served); a failover endpoint moves
// to its secondary only once every primary is down and back to primaries only when one returns. Method:
// `dnsplane up --config` (three checkers, planner, three enactors, DNS server: real processes) over 12 names with
// one target in each of three AZs plus one primary/secondary endpoint; every target is a real HTTP listener on its
// own 127.77.x.y address, served by a separate process that the test tells to close and reopen them; answers read with `dig`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { digA } from '../helpers/dig.js';
import { Fleet } from '../helpers/fleet.js';
import { freeDualPort, freeTcpPort, pollUntil, spawnCli, tempDir, writeConfig, type Child } from '../helpers/env.js';

const namesCount = 12;
/** Time allowed for a flip to reach dig: fall (2) rounds of 400 ms, a planner pass, an enactor poll, a DNS refresh, with room for a loaded 2-core machine. */
const convergenceDeadlineMs = 20_000;

test('AZ loss: one AZ, then a second, fail over with no operator; a failover endpoint uses its secondary only while every primary is down', async (t) => {
  const dir = tempDir('dnsplane-failover-');
  const listeners: { id: string; address: string; az: string }[] = [];
  for (let n = 0; n < namesCount; n += 1) for (let az = 1; az <= 3; az += 1) listeners.push({ id: `t${n}-${az}`, address: `127.77.${n}.${az}`, az: `az${az}` });
  const pools = [
    { id: 'p1', address: '127.77.100.1', az: 'az1', pool: 'primary' },
    { id: 'p2', address: '127.77.100.2', az: 'az2', pool: 'primary' },
    { id: 's1', address: '127.77.100.3', az: 'az3', pool: 'secondary' },
  ];
  for (const target of pools) listeners.push({ id: target.id, address: target.address, az: target.az });
  const ids = (az: string) => listeners.filter((listener) => listener.az === az).map((listener) => listener.id);
  let fleet: Fleet | null = null;
  let up: Child | null = null;
  let store: SqliteStore | null = null;
  try {
    const lbs = await Fleet.start(listeners);
    fleet = lbs;
    const check = (id: string) => ({ http: `http://${listeners.find((candidate) => candidate.id === id)!.address}:${lbs.port(id)}/healthz` });
    const endpoints = [
      ...Array.from({ length: namesCount }, (_, n) => ({
        name: `svc${n}`,
        targets: [1, 2, 3].map((az) => ({ id: `t${n}-${az}`, address: `127.77.${n}.${az}`, az: `az${az}`, capacity: 100, check: check(`t${n}-${az}`) })),
      })),
      { name: 'api', targets: pools.map((target) => ({ ...target, capacity: 100, check: check(target.id) })) },
    ];
    const configPath = writeConfig(dir.path, {
      zone: 'dnsplane.test.',
      // Probe timeouts with room for a loaded 2-core machine (a checker starved past them doubts itself, by design).
      health: { interval: '400ms', timeout: '250ms', rise: 2, fall: 2 },
      planner: { interval: '100ms' },
      enactor: { pollInterval: '20ms' },
      endpoints,
    });
    const data = join(dir.path, 'data');
    const [dnsPort, httpPort] = [await freeDualPort(), await freeTcpPort()];
    up = spawnCli(['up', '--config', configPath, '--data', data, '--dns-port', String(dnsPort), '--http-port', String(httpPort)]);
    const running = up;
    await pollUntil(() => running.stdout().includes('dnsplane DNS serving'), `the DNS server to listen (stderr: ${running.stderr().slice(-500)})`, 60_000);
    store = new SqliteStore(join(data, 'state.db'));

    const names = [...Array.from({ length: namesCount }, (_, n) => `svc${n}.dnsplane.test`), 'api.dnsplane.test'];
    const expected = (alive: ReadonlySet<string>) => new Map(names.map((name) => {
      if (name.startsWith('api')) {
        const primaries = ['p1', 'p2'].filter((id) => alive.has(id));
        const serving = primaries.length > 0 ? primaries : ['s1'];
        return [name, serving.map((id) => pools.find((target) => target.id === id)!.address).sort()];
      }
      const n = Number(name.slice(3, name.indexOf('.')));
      return [name, [1, 2, 3].filter((az) => alive.has(`t${n}-${az}`)).map((az) => `127.77.${n}.${az}`).sort()];
    }));
    /** Polls dig for every name until each answers exactly its expected addresses; returns the time it took. */
    const converge = async (what: string, alive: ReadonlySet<string>): Promise<number> => {
      const started = Date.now();
      const want = expected(alive);
      await pollUntil(async () => {
        const answers = await Promise.all(names.map(async (name) => [name, await digA(dnsPort, name)] as const));
        const wrong = answers.filter(([name, addresses]) => JSON.stringify(addresses) !== JSON.stringify(want.get(name)));
        if (wrong.length === 0) return true;
        const down = store === null ? [] : (await store.readHealth()).filter((record) => record.state === 'down').map((record) => record.target);
        const views = store === null ? [] : (await store.listCheckerViews()).map((view) => `${view.id}${view.suspect ? '?' : ''}:${view.down.length}`);
        throw new Error(`${wrong.length} names differ, e.g. ${wrong[0]![0]}: ${wrong[0]![1].join(',')}; down in the store: ${down.join(',')}; views ${views.join(' ')}`);
      }, `${what} (stderr of up: ${up?.stderr().slice(-800)})`, convergenceDeadlineMs, 50);
      const tookMs = Date.now() - started;
      t.diagnostic(`${what}: ${tookMs} ms (at ${Date.now()})`);
      return tookMs;
    };
    const alive = new Set(listeners.map((listener) => listener.id));
    await converge('every name answering all its targets', alive);

    // A whole AZ fails.
    await lbs.close(ids('az1'));
    for (const id of ids('az1')) alive.delete(id);
    await converge('az1 withdrawn from every name', alive);
    // The second AZ fails: half of the capacity still served, which the table says passes.
    await lbs.close(ids('az2'));
    for (const id of ids('az2')) alive.delete(id);
    await converge('az2 withdrawn too; api on its secondary', alive);
    // One primary returns: api serves its primaries only again; az1 comes back everywhere.
    await lbs.open(ids('az1'));
    for (const id of ids('az1')) alive.add(id);
    await converge('az1 restored; api back on p1 only', alive);

    const alarms = await store.listAlarms(false);
    assert.deepEqual(alarms.filter((alarm) => ['safety-threshold', 'capacity-guard'].includes(alarm.kind)), [], 'no guard held or refused anything');
    const counters = Object.fromEntries((await store.readCounters()).map((counter) => [counter.name, counter.value]));
    assert.equal(counters.planner_safety_refusals, undefined);
    assert.equal(counters.planner_capacity_holds, undefined);
    assert.ok((await store.listPlans(100)).every((plan) => !plan.forced), 'no plan was forced');
    assert.equal(await running.stop(10_000), 0, `up exit code (stderr: ${running.stderr().slice(-500)})`);
  } finally {
    await up?.stop();
    await store?.close();
    await fleet?.stop();
    dir.cleanup();
  }
});
