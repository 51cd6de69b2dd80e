import type { Logger } from '../util/log.js';
import { DnsCluster } from './cluster.js';
import type { DnsCounters } from './counters.js';
import type { DnsServerOptions } from './options.js';
import { DnsServer } from './server.js';
import { servedSourceFor } from './source.js';

export { dnsServerOptions, type DnsServerOptions } from './options.js';
export type { DnsCounters } from './counters.js';

/** A started DNS server, in this process or as a cluster of workers. */
export interface RunningDns {
  readonly port: number;
  readonly workers: number;
  counters(): DnsCounters;
  stop(): Promise<void>;
}

/**
 * Starts the authoritative server of the built-in provider: in this process
 * for one worker, else as a node:cluster of `options.workers` processes.
 * `onFatal` is called if the cluster cannot keep its workers running.
 */
export async function startDns(
  options: DnsServerOptions,
  log: Logger,
  onFatal: (error: Error) => void,
): Promise<RunningDns> {
  if (options.workers === 1) {
    const server = new DnsServer(options, servedSourceFor(options, `dns@${options.host}:${options.port}`, log), log);
    const port = await server.start();
    return { port, workers: 1, counters: () => server.counters, stop: () => server.stop() };
  }
  const running = await DnsCluster.start(options, log, onFatal);
  return {
    port: running.boundPort,
    workers: options.workers,
    counters: () => running.counters(),
    stop: () => running.stop(),
  };
}
