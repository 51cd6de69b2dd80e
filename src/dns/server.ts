import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup, type LookupOneOptions } from 'node:dns';
import { isIP, isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { assert, InvariantViolation } from '../util/assert.js';
import { systemRng, type Rng } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { Answerer, type Transport } from './answer.js';
import { countDrop, countQueryType, countRcode, emptyCounters, type DnsCounters, type RcodeName } from './counters.js';
import type { DnsServerOptions } from './options.js';
import { ResponseRateLimiter } from './ratelimit.js';
import { SnapshotRefresher } from './refresher.js';
import type { ServedSource } from './served.js';
import { TcpListener } from './tcp.js';

/** Socket buffers asked of the kernel for UDP, so a burst of queries is queued rather than dropped. */
const udpSocketBufferBytes = 4 * 1024 * 1024;
/** Unexpected errors while answering are logged at most this often. */
const internalErrorLogIntervalMs = 10_000;

/**
 * Resolves an address literal at once. Every answer is sent to the peer's address, a literal: dgram's default
 * (dns.lookup) would defer each send by a tick to tell it so, which costs a measurable share of a query.
 */
function literalLookup(
  hostname: string,
  options: LookupOneOptions | number,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(hostname);
  if (family !== 0) return callback(null, hostname, family);
  lookup(hostname, options as LookupOneOptions, callback);
}

/**
 * The authoritative DNS server of the built-in provider: a UDP socket and a
 * TCP listener on one address, answering from the refresher's in-memory
 * snapshot. Counters are plain fields (`counters`) for the metrics exporter.
 */
export class DnsServer {
  readonly counters: DnsCounters = emptyCounters();
  readonly refresher: SnapshotRefresher;
  private readonly rateLimiter: ResponseRateLimiter;
  private readonly answerer: Answerer;
  private readonly tcp: TcpListener;
  private udp: Socket | null = null;
  private lastInternalErrorLogMs = 0;
  private boundPort = 0;

  constructor(
    readonly options: DnsServerOptions,
    private readonly source: ServedSource,
    private readonly log: Logger,
    private readonly rng: Rng = systemRng,
  ) {
    this.refresher = new SnapshotRefresher(
      source,
      {
        zone: options.answer.zone,
        intervalMs: options.refreshIntervalMs,
        failureLogIntervalMs: 10_000,
        alarmRetryIntervalMs: 1000,
      },
      this.counters,
      log,
    );
    this.answerer = new Answerer(options.answer);
    this.rateLimiter = new ResponseRateLimiter(options.rateLimit, () => performance.now());
    this.tcp = new TcpListener(options.tcp, (request) => this.handle(request, 'tcp'), this.counters, log);
  }

  get port(): number {
    return this.boundPort;
  }

  /** Loads the first snapshot (which must succeed), binds UDP then TCP on the same port, starts refreshing. */
  async start(): Promise<number> {
    assert(this.udp === null, 'internal', 'DNS server started twice');
    await this.source.start?.();
    this.refresher.load();
    this.boundPort = await this.bindUdp(this.options.host, this.options.port);
    try {
      await this.tcp.listen(this.options.host, this.boundPort);
    } catch (error) {
      await this.closeUdp();
      throw error;
    }
    this.refresher.start();
    return this.boundPort;
  }

  async stop(): Promise<void> {
    this.refresher.stop();
    await Promise.all([this.closeUdp(), this.tcp.close()]);
    await this.source.close();
  }

  /** Answers one message; null when nothing is to be sent back. */
  handle(request: Buffer, transport: Transport): Buffer | null {
    if (transport === 'udp') this.counters.udpQueries += 1;
    else this.counters.tcpQueries += 1;
    try {
      const response = this.answerer.answer(request, transport, this.refresher.snapshot, this.rng);
      const outcome = this.answerer.outcome;
      if (outcome.drop !== null) countDrop(this.counters, outcome.drop);
      this.countAnswer(outcome.qtype, outcome.rcode, outcome.truncated);
      return response;
    } catch (error) {
      // A broken invariant is a bug that must stop the process loudly; anything else costs one answer, not the server.
      if (error instanceof InvariantViolation) throw error;
      countDrop(this.counters, 'internal-error');
      this.logInternalError(error);
      return null;
    }
  }

  private countAnswer(qtype: string | null, rcode: RcodeName | null, truncated: boolean): void {
    if (qtype !== null) countQueryType(this.counters, qtype);
    if (rcode !== null) countRcode(this.counters, rcode);
    if (truncated) this.counters.truncated += 1;
  }

  private bindUdp(host: string, port: number): Promise<number> {
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', lookup: literalLookup });
    this.udp = socket;
    socket.on('message', (message, remote) => this.receiveUdp(socket, message, remote));
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: host, port, exclusive: false }, () => {
        socket.off('error', reject);
        // Send errors come here too (sends take no callback: one closure less per answer).
        socket.on('error', (error) => {
          countDrop(this.counters, 'send-error');
          this.logInternalError(error);
        });
        this.enlargeBuffers(socket);
        resolve(socket.address().port);
      });
    });
  }

  private enlargeBuffers(socket: Socket): void {
    try {
      socket.setRecvBufferSize(udpSocketBufferBytes);
      socket.setSendBufferSize(udpSocketBufferBytes);
    } catch (error) {
      this.log.warn({ error: (error as Error).message }, 'could not enlarge UDP socket buffers');
    }
  }

  private receiveUdp(socket: Socket, message: Buffer, remote: RemoteInfo): void {
    const decision = this.rateLimiter.decide(remote.address);
    if (decision === 'drop') {
      countDrop(this.counters, 'rate-limited');
      return;
    }
    if (decision === 'slip') {
      this.slip(socket, message, remote);
      return;
    }
    const response = this.handle(message, 'udp');
    if (response !== null) this.sendUdp(socket, response, remote);
  }

  /** A slipped query is answered, truncated and empty: counted as such, not as dropped (unless it is junk). */
  private slip(socket: Socket, message: Buffer, remote: RemoteInfo): void {
    const response = this.answerer.slip(message);
    if (response === null) {
      countDrop(this.counters, 'rate-limited');
      return;
    }
    this.counters.udpQueries += 1;
    const outcome = this.answerer.outcome;
    this.countAnswer(outcome.qtype, outcome.rcode, outcome.truncated);
    this.sendUdp(socket, response, remote);
  }

  private sendUdp(socket: Socket, response: Buffer, remote: RemoteInfo): void {
    socket.send(response, remote.port, remote.address);
  }

  private closeUdp(): Promise<void> {
    const socket = this.udp;
    this.udp = null;
    if (socket === null) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  private logInternalError(error: unknown): void {
    const now = Date.now();
    if (now - this.lastInternalErrorLogMs < internalErrorLogIntervalMs) return;
    this.lastInternalErrorLogMs = now;
    this.log.error(
      { error: error instanceof Error ? error.stack : String(error) },
      'unexpected error while answering or sending (dropped)',
    );
  }
}
