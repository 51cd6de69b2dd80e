/**
 * Entry point of one DNS cluster worker (forked by DnsCluster). It serves
 * with its share of the limits, reports counters to the primary every
 * second, and exits when told to, on SIGINT/SIGTERM, or when the primary
 * goes away (the IPC channel closes), so no worker is ever orphaned.
 */
import cluster from 'node:cluster';
import { assert } from '../util/assert.js';
import { createLogger, setLogLevel } from '../util/log.js';
import type { PrimaryMessage, WorkerMessage } from './cluster.js';
import { perWorker } from './options.js';
import { DnsServer } from './server.js';
import { servedSourceFor } from './source.js';

const countersIntervalMs = 1000;

function send(message: WorkerMessage, then: () => void = () => {}): void {
  if (!process.connected) return then();
  process.send!(message, undefined, {}, () => then());
}

/** The options the primary sends once this worker says it is listening for them. */
function receiveStart(): Promise<Extract<PrimaryMessage, { type: 'start' }>> {
  return new Promise((resolve) => {
    const onMessage = (message: PrimaryMessage) => {
      if (message.type !== 'start') return;
      process.off('message', onMessage);
      resolve(message);
    };
    process.on('message', onMessage);
    send({ type: 'waiting' });
  });
}

async function main(): Promise<void> {
  assert(cluster.isWorker, 'internal', 'src/dns/worker.ts runs only as a cluster worker');
  const start = await receiveStart();
  setLogLevel(start.logLevel);
  const options = perWorker(start.options);
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
