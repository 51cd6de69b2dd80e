import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { assert } from '../util/assert.js';
import { logLevel, type Logger } from '../util/log.js';
import { emptyCounters, sumCounters, type DnsCounters } from './counters.js';
import type { DnsServerOptions } from './options.js';


/** Messages between the primary and its workers over the cluster IPC channel. */
export type WorkerMessage =
  | { type: 'ready'; port: number }
  | { type: 'counters'; counters: DnsCounters }
  | { type: 'failed'; error: string }
  /** The worker is listening for its options (sent over IPC, not through the environment). */
  | { type: 'waiting' };
export type PrimaryMessage = { type: 'stop' } | { type: 'start'; options: DnsServerOptions; logLevel: string };

const workerStartTimeoutMs = 30_000;
const workerStopTimeoutMs = 5_000;
/** Unexpected worker exits tolerated within restartWindowMs before the whole server gives up. */
const restartsMax = 5;
const restartWindowMs = 60_000;

/**
 * How a worker process starts: as this module runs. From dist/ (the CLI: compiled JavaScript, scripts/build.mjs) the
 * worker is dist/dns/worker.js under plain node; from the TypeScript sources (tests and benchmarks that import src/
 * through tsx) it is src/dns/worker.ts through tsx, wherever the process was started from. tsx is then resolved from
 * here, so the compiled CLI needs no tsx installed.
 */
function workerEntry(): { exec: string; execArgv: string[] } {
  const compiled = import.meta.url.endsWith('.js');
  assert(compiled || import.meta.url.endsWith('.ts'), 'internal', `cluster.ts loaded as ${import.meta.url}`);
  const exec = fileURLToPath(new URL(compiled ? './worker.js' : './worker.ts', import.meta.url));
  return { exec, execArgv: compiled ? [] : ['--import', import.meta.resolve('tsx')] };
}

/**
 * Several processes serving one address: node:cluster shares the UDP
 * socket between the workers (the kernel hands each datagram to one of
 * them) and spreads TCP connections round-robin. Each worker keeps its own
 * snapshot of the store. The primary only supervises: it restarts a
 * crashed worker (a bounded number of times), adds up their counters, and
 * stops them all, by message and then by SIGKILL after a grace period, so
 * no worker outlives it.
 */
export class DnsCluster {
  private readonly workers = new Map<number, Worker>();
  private readonly latest = new Map<number, DnsCounters>();
  /** The final counters of workers that exited, so totals never go down. */
  private retired: DnsCounters = emptyCounters();
  private readonly restarts: number[] = [];
  private stopping = false;
  /**
   * Restarts begin once every first worker listens: a worker that cannot start (port taken) fails the start instead.
   */
  private started = false;
  private port = 0;

  private constructor(
    private readonly options: DnsServerOptions,
    private readonly log: Logger,
    private readonly onFatal: (error: Error) => void,
  ) {}

  /** Forks `options.workers` workers and resolves when every one is listening. */
  static async start(options: DnsServerOptions, log: Logger, onFatal: (error: Error) => void): Promise<DnsCluster> {
    assert(cluster.isPrimary, 'internal', 'a DNS cluster is started from the primary process');
    assert(options.workers >= 2, 'internal', `a cluster of ${options.workers} worker`);
    cluster.setupPrimary(workerEntry());
    const running = new DnsCluster(options, log, onFatal);
    try {
      const ports = await Promise.all(Array.from({ length: options.workers }, () => running.fork()));
      running.port = ports[0]!;
      assert(
        ports.every((port) => port === running.port),
        'internal',
        `workers bound different ports: ${ports.join(', ')}`,
      );
      running.started = true;
    } catch (error) {
      await running.stop();
      throw error;
    }
    return running;
  }

  get boundPort(): number {
    return this.port;
  }

  /** The sum of the workers' last reported counters (reported every second). */
  counters(): DnsCounters {
    const live = sumCounters([...this.latest.values()]);
    const total = sumCounters([live, this.retired]);
    // The snapshot figures describe the live workers only.
    return {
      ...total,
      failStatic: live.failStatic,
      snapshotVersion: live.snapshotVersion,
      snapshotNames: live.snapshotNames,
    };
  }

  get workerPids(): number[] {
    return [...this.workers.values()].map((worker) => worker.process.pid ?? 0);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const exits = [...this.workers.values()].map((worker) => this.stopWorker(worker));
    await Promise.all(exits);
    assert(this.workers.size === 0, 'internal', 'a DNS worker outlived stop()');
  }

  private fork(): Promise<number> {
    const worker = cluster.fork();
    this.workers.set(worker.id, worker);
    worker.on('exit', (code, signal) => this.exited(worker, code, signal));
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'counters') this.latest.set(worker.id, message.counters);
      if (message.type === 'waiting') {
        worker.send({ type: 'start', options: this.options, logLevel: logLevel() } satisfies PrimaryMessage);
      }
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`DNS worker ${worker.id} did not start within ${workerStartTimeoutMs} ms`)),
        workerStartTimeoutMs,
      );
      const onMessage = (message: WorkerMessage) => {
        if (message.type === 'ready') settle(() => resolve(message.port));
        if (message.type === 'failed') {
          settle(() => reject(new Error(`DNS worker ${worker.id} failed to start: ${message.error}`)));
        }
      };
      const onExit = (code: number | null) =>
        settle(() => reject(new Error(`DNS worker ${worker.id} exited with ${code} before it was ready`)));
      const settle = (action: () => void) => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        action();
      };
      worker.on('message', onMessage);
      worker.once('exit', onExit);
    });
  }

  private exited(worker: Worker, code: number | null, signal: string | null): void {
    this.workers.delete(worker.id);
    const last = this.latest.get(worker.id);
    if (last !== undefined) this.retired = sumCounters([this.retired, last]);
    this.latest.delete(worker.id);
    if (this.stopping || !this.started) return;
    this.log.error({ worker: worker.id, code, signal }, 'DNS worker exited unexpectedly');
    const now = Date.now();
    this.restarts.push(now);
    while (this.restarts.length > 0 && now - this.restarts[0]! > restartWindowMs) this.restarts.shift();
    if (this.restarts.length > restartsMax) {
      this.onFatal(
        new Error(`DNS workers exited ${this.restarts.length} times within ${restartWindowMs} ms; giving up`),
      );
      return;
    }
    this.fork().catch((error: Error) => this.onFatal(error));
  }

  private stopWorker(worker: Worker): Promise<void> {
    return new Promise((resolve) => {
      if (worker.isDead()) {
        this.workers.delete(worker.id);
        return resolve();
      }
      const timer = setTimeout(() => worker.process.kill('SIGKILL'), workerStopTimeoutMs);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        worker.send({ type: 'stop' } satisfies PrimaryMessage);
      } catch {
        worker.process.kill('SIGKILL');
      }
    });
  }
}
