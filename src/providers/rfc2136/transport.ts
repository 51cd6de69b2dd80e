import { connect, type Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import { assert } from '../../util/assert.js';
import { rfc2136Error, type ErrorContext, Rfc2136Error } from './errors.js';
import { readHeader, tcpMessageBytesMax } from './wire.js';

/**
 * DNS over TCP (RFC 7766): a small pool of connections, each carrying many
 * pipelined requests told apart by message id. The server may answer out of
 * order. A request that times out takes its connection down with it, so a
 * late answer can never be mistaken for the answer to a reused id.
 */

export interface TransportOptions extends ErrorContext {
  host: string;
  port: number;
  /** Longest wait for one answer, from the moment its request is sent. */
  timeoutMs: number;
  connectionsMax: number;
  /** Requests in flight on one connection. */
  inflightPerConnectionMax: number;
}

/** Requests waiting for a free slot; more is a caller bug (unbounded batches). */
const queuedMax = 1_000_000;
/** A request is sent again once when its connection broke (an idle connection the server had closed). */
const attemptsMax = 2;
/** Messages one zone transfer may take (each up to 64 KiB). */
export const transferMessagesMax = 1_000_000;

interface Pending {
  resolve(message: Buffer): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

class Connection {
  readonly pending = new Map<number, Pending>();
  /** Requests given this connection and not finished yet (sent or about to be). */
  load = 0;
  private buffered: Buffer = Buffer.alloc(0);
  private failure: Error | null = null;
  readonly ready: Promise<void>;
  private rejectReady: (error: Error) => void = () => undefined;
  /** Zone transfer mode: messages that answer no pending request, in order, and who waits for the next. */
  private stream: { queue: Buffer[]; waiter: Pending | null } | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly options: TransportOptions,
    private readonly onClose: () => void,
  ) {
    socket.setNoDelay(true);
    // Connecting is bounded by the same timeout as an answer: an unreachable server must not hang a step for minutes.
    const connectTimer = setTimeout(() => this.fail(rfc2136Error(
      options,
      'timeout',
      `could not connect to ${options.host}:${options.port} within ${options.timeoutMs} ms`,
    )), options.timeoutMs);
    this.ready = new Promise<void>((resolve, reject) => {
      this.rejectReady = reject;
      socket.once('connect', () => {
        clearTimeout(connectTimer);
        resolve();
      });
    });
    this.ready.catch(() => clearTimeout(connectTimer));
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error: Error) => this.fail(rfc2136Error(
      options,
      'connection',
      `cannot use a TCP connection to ${options.host}:${options.port}: ${error.message}`,
    )));
    socket.on('close', () => this.fail(rfc2136Error(options, 'connection', 'the server closed the TCP connection')));
  }

  private receive(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 2 && this.failure === null) {
      const length = this.buffered.readUInt16BE(0);
      if (this.buffered.length < 2 + length) return;
      const message = Buffer.from(this.buffered.subarray(2, 2 + length));
      this.buffered = this.buffered.subarray(2 + length);
      this.dispatch(message);
    }
  }

  private dispatch(message: Buffer): void {
    if (message.length < 12) {
      return this.fail(rfc2136Error(this.options, 'bad-response', `a ${message.length}-byte message is not DNS`));
    }
    const id = readHeader(message).id;
    const pending = this.pending.get(id);
    if (pending !== undefined) {
      this.pending.delete(id);
      clearTimeout(pending.timer);
      pending.resolve(message);
    } else if (this.stream !== null) {
      const waiter = this.stream.waiter;
      this.stream.waiter = null;
      if (waiter === null) this.stream.queue.push(message);
      else {
        clearTimeout(waiter.timer);
        waiter.resolve(message);
      }
    }
    // Anything else answers a request this side gave up on; the connection died with it, so nothing is lost.
  }

  fail(error: Error): void {
    if (this.failure !== null) return;
    this.failure = error;
    const waiters = [...this.pending.values()];
    if (this.stream?.waiter) waiters.push(this.stream.waiter);
    this.pending.clear();
    this.rejectReady(error);
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.socket.destroy();
    this.onClose();
  }

  freeId(): number {
    for (;;) {
      const id = randomInt(0x10000);
      if (!this.pending.has(id)) return id;
    }
  }

  send(id: number, message: Buffer, timeoutMs: number): Promise<Buffer> {
    assert(
      message.length <= tcpMessageBytesMax,
      'internal',
      `a ${message.length}-byte message does not fit TCP framing`,
    );
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(rfc2136Error(this.options, 'timeout', `no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.pending.set(id, { resolve, reject, timer });
      const frame = Buffer.alloc(2 + message.length);
      frame.writeUInt16BE(message.length, 0);
      message.copy(frame, 2);
      this.socket.write(frame);
    });
  }

  /** Keeps every later message that answers no pending request, for `next`. */
  startStream(): void {
    this.stream = { queue: [], waiter: null };
  }

  /** The next kept message, waiting at most `timeoutMs` for it. */
  next(timeoutMs: number, stalled: () => Error): Promise<Buffer> {
    const stream = this.stream;
    assert(stream !== null, 'internal', 'next() without startStream()');
    const queued = stream.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(stalled()), timeoutMs);
      stream.waiter = { resolve, reject, timer };
    });
  }
}

export class TcpTransport {
  private readonly connections: Connection[] = [];
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: TransportOptions) {
    assert(
      options.connectionsMax >= 1 && options.inflightPerConnectionMax >= 1,
      'internal',
      'transport limits must be positive',
    );
    assert(options.timeoutMs > 0, 'internal', `timeoutMs ${options.timeoutMs}`);
  }

  private open(onClose: () => void): Connection {
    const socket = connect({ host: this.options.host, port: this.options.port });
    return new Connection(socket, this.options, onClose);
  }

  private wake(): void {
    this.waiting.shift()?.();
  }

  /**
   * A live connection with a free slot: an idle one, a new one while under the limit, the least loaded, or the first to
   * free up.
   */
  private async slot(): Promise<Connection> {
    for (;;) {
      if (this.closed) throw rfc2136Error(this.options, 'connection', 'the provider is closed');
      let best: Connection | undefined;
      for (const connection of this.connections) {
        if (best === undefined || connection.load < best.load) best = connection;
      }
      let chosen: Connection | undefined;
      if (best !== undefined && best.load === 0) chosen = best;
      else if (this.connections.length < this.options.connectionsMax) chosen = this.pooled();
      else if (best !== undefined && best.load < this.options.inflightPerConnectionMax) chosen = best;
      if (chosen !== undefined) {
        chosen.load += 1;
        return chosen;
      }
      assert(this.waiting.length < queuedMax, 'internal', `more than ${queuedMax} DNS requests queued`);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** A new connection in the pool; it leaves the pool when it breaks, waking a waiter. */
  private pooled(): Connection {
    const connection: Connection = this.open(() => {
      const index = this.connections.indexOf(connection);
      if (index >= 0) this.connections.splice(index, 1);
      this.wake();
    });
    this.connections.push(connection);
    return connection;
  }

  /** Sends the message `build(id)` makes and resolves with the answer of the same id. */
  async exchange(build: (id: number) => Buffer): Promise<Buffer> {
    for (let attempt = 1; ; attempt += 1) {
      const connection = await this.slot();
      try {
        await connection.ready;
        const id = connection.freeId();
        return await connection.send(id, build(id), this.options.timeoutMs);
      } catch (error) {
        // Only a broken connection is worth a second attempt; anything else (a timeout, a bug in `build`) goes up as it
        // is.
        if (!(error instanceof Rfc2136Error) || error.reason !== 'connection' || attempt >= attemptsMax) throw error;
      } finally {
        connection.load -= 1;
        this.wake();
      }
    }
  }

  /**
   * A zone transfer on a connection of its own: sends `build(id)` and hands
   * every message of the answer stream to `onMessage` until it returns true
   * (the closing SOA). Each message must come within the timeout.
   */
  async transfer(build: (id: number) => Buffer, onMessage: (message: Buffer) => boolean): Promise<void> {
    const connection = this.open(() => undefined);
    const stalled = () =>
      rfc2136Error(this.options, 'timeout', `zone transfer stalled: no message for ${this.options.timeoutMs} ms`);
    try {
      await connection.ready;
      connection.startStream();
      const id = connection.freeId();
      let done = onMessage(await connection.send(id, build(id), this.options.timeoutMs));
      for (let messages = 1; !done; messages += 1) {
        assert(messages < transferMessagesMax, 'internal', `zone transfer longer than ${transferMessagesMax} messages`);
        done = onMessage(await connection.next(this.options.timeoutMs, stalled));
      }
    } finally {
      connection.fail(rfc2136Error(this.options, 'connection', 'transfer finished'));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const connection of [...this.connections]) {
      connection.fail(rfc2136Error(this.options, 'connection', 'the provider is closed'));
    }
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}
