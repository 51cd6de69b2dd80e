/**
 * Entry point of one DNS cluster worker (forked by DnsCluster). It serves
 * with its share of the limits, reports counters to the primary every
 * second, and exits when told to, on SIGINT/SIGTERM, or when the primary
 * goes away (the IPC channel closes), so no worker is ever orphaned.
 */
import cluster from 'node:cluster';
import { assert } from '../util/assert.js';
import { createLogger } from '../util/log.js';
import { workerOptionsVariable, type PrimaryMessage, type WorkerMessage } from './cluster.js';
import { perWorker, type DnsServerOptions } from './options.js';
import { DnsServer } from './server.js';
import { servedSourceFor } from './source.js';

const countersIntervalMs = 1000;

function send(message: WorkerMessage, then: () => void = () => {}): void {
  if (!process.connected) return then();
  process.send!(message, undefined, {}, () => then());
}

async function main(): Promise<void> {
  assert(cluster.isWorker, 'internal', 'src/dns/worker.ts runs only as a cluster worker');
  const raw = process.env[workerOptionsVariable];
  assert(raw !== undefined, 'internal', `${workerOptionsVariable} is not set`);
  const options = perWorker(JSON.parse(raw) as DnsServerOptions);
  const log = createLogger('dns', { worker: cluster.worker?.id });
  const server = new DnsServer(options, servedSourceFor(options, `dns@${options.host}:${options.port}`, log), log);
  try {
    const port = await server.start();
    send({ type: 'ready', port });
  } catch (error) {
    send({ type: 'failed', error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
  const report = setInterval(() => send({ type: 'counters', counters: server.counters }), countersIntervalMs);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    clearInterval(report);
    // The last counters go out before the exit, so the primary's totals include every query.
    server.stop().finally(() => send({ type: 'counters', counters: server.counters }, () => process.exit(0)));
  };
  process.on('message', (message: PrimaryMessage) => {
    if (message.type === 'stop') stop();
  });
  process.once('disconnect', stop);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

await main();
