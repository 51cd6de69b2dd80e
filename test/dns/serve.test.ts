// Goal: `dnsplane serve` runs as an operator expects: with --workers N it
// serves from N cluster workers sharing the sockets, it stops cleanly on
// SIGTERM and on SIGINT with every worker gone (no orphans), and bad
// arguments are refused with a clear message and exit code 2. Method: real
// child processes; the workers are found with `ps --ppid`, queried over UDP
// and TCP, and checked to be gone after the signal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { pollUntil, runCli } from '../helpers/env.js';
import { answerAddresses, query, startServe, tcpQuery, udpQuery, zone } from './helpers.js';

const served = `dynamodb.us-east-1.${zone}`;

/** The cluster workers among a process's children: the CLI runs compiled code, so its workers run dist/. */
function workersOf(pid: number): number[] {
  let listing: string;
  try {
    listing = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when there is no such process
  }
  return listing.split('\n').filter((line) => line.includes('dist/dns/worker.js')).map((line) => Number.parseInt(line.trim(), 10));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`serve --workers 2 answers from both workers and stops on ${signal} with no worker left`, async () => {
    const server = await startServe({ [served]: [{ target: 'lb-1', address: '127.0.0.2', weight: 1 }] }, {}, ['--workers', '2']);
    try {
      const pid = server.child.process.pid!;
      const workers = await pollUntil(() => {
        const found = workersOf(pid);
        return found.length === 2 ? found : null;
      }, 'two cluster workers');
      // The primary announces itself once every worker listens; one may already answer before that.
      await pollUntil(() => /serving zone dnsplane\.test on 127\.0\.0\.1:\d+ \(udp\+tcp, 2 workers\)/.test(server.child.stdout()), 'the readiness line');
      for (let round = 0; round < 20; round += 1) {
        const ask = round % 2 === 0 ? udpQuery : tcpQuery;
        assert.deepEqual(answerAddresses(await ask(server.port, query(served, 'A', { id: round }))), ['127.0.0.2']);
      }
      // A change reaches every worker (each keeps its own snapshot).
      await server.setRecords(served, [{ target: 'lb-3', address: '127.0.0.3', weight: 1 }]);
      await pollUntil(async () => {
        const seen = await Promise.all(Array.from({ length: 10 }, (_, index) => tcpQuery(server.port, query(served, 'A', { id: index }))));
        return seen.every((response) => answerAddresses(response)[0] === '127.0.0.3');
      }, 'the new record from every worker', 5000);
      server.child.process.kill(signal);
      assert.equal(await server.child.exited, 0, `exit code after ${signal}: ${server.child.stderr()}`);
      for (const worker of workers) await pollUntil(() => !alive(worker), `worker ${worker} to be gone`, 5000);
    } finally {
      await server.stop();
    }
  });
}

test('serve refuses bad arguments with a clear message and exit code 2', async () => {
  const server = await startServe({});
  try {
    const badPort = await runCli(['serve', '--config', server.configPath, '--data', server.dir, '--dns-port', 'fifty']);
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /--dns-port must be a port number, not "fifty"/);
    const badWorkers = await runCli(['serve', '--config', server.configPath, '--data', server.dir, '--workers', '0']);
    assert.equal(badWorkers.code, 2);
    assert.match(badWorkers.stderr, /workers 0 must be an integer from 1 to 64/);
    const taken = await runCli(['serve', '--config', server.configPath, '--data', server.dir, '--dns-port', String(server.port)]);
    assert.equal(taken.code, 2, 'a port in use is an error, not a silent second server');
    assert.match(taken.stderr, /cannot serve DNS on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  } finally {
    await server.stop();
  }
});
