import { createServer, type Server, type Socket } from 'node:net';
import { assert } from '../util/assert.js';
import type { Logger } from '../util/log.js';
import { countDrop, type DnsCounters } from './counters.js';

export interface TcpLimits {
  /** Open connections at most; at the limit, the connection idle the longest is closed for the new one. */
  connectionsMax: number;
  /** A connection that completes no query for this long is closed; bytes trickled in do not count as activity. */
  idleTimeoutMs: number;
  /** A length prefix above this (or below a DNS header) closes the connection. */
  messageBytesMax: number;
  /** Responses a client leaves unread, at most, before its connection is closed (reading stops well before). */
  outputBytesMax: number;
}

interface Connection {
  socket: Socket;
  /** Bytes received and not yet answered: at most pendingBytesMax. */
  pending: Buffer;
  /** True while the client is not reading: no query is answered until its socket drains. */
  blocked: boolean;
  lastMessageMs: number;
  timer: NodeJS.Timeout;
}

const lengthPrefixBytes = 2;
const headerBytes = 12;
/**
 * Received bytes held for one connection at most. Reading stops while a client does not read its answers, so
 * this is about one socket read (64 KiB) plus one partial message; more means the peer ignores flow control.
 */
const pendingBytesMax = 256 * 1024;

/**
 * DNS over TCP (RFC 7766): length-prefixed messages, pipelined, answered in
 * order. Built so that no client can hold the service: a connection lives
 * only while it completes queries (slow-loris and half-open peers time out),
 * the number of connections is capped with the longest-idle one evicted
 * first, and a client that does not read its responses is cut off.
 */
export class TcpListener {
  private readonly server: Server;
  private readonly connections = new Set<Connection>();

  constructor(
    private readonly limits: TcpLimits,
    private readonly handle: (request: Buffer) => Buffer | null,
    private readonly counters: DnsCounters,
    private readonly log: Logger,
  ) {
    assert(limits.connectionsMax >= 1, 'internal', 'connectionsMax must be at least 1');
    assert(limits.messageBytesMax >= headerBytes, 'internal', 'messageBytesMax is below a DNS header');
    this.server = createServer((socket) => this.accept(socket));
    this.server.on('error', (error) => this.log.error({ error: error.message }, 'TCP listener error'));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port, exclusive: false }, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const connection of this.connections) connection.socket.destroy();
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= this.limits.connectionsMax) this.evictIdlest();
    this.counters.tcpConnectionsAccepted += 1;
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      this.counters.tcpIdleTimeouts += 1;
      socket.destroy();
    }, this.limits.idleTimeoutMs);
    const connection: Connection = {
      socket,
      pending: Buffer.alloc(0),
      blocked: false,
      lastMessageMs: Date.now(),
      timer,
    };
    this.connections.add(connection);
    socket.on('data', (chunk: Buffer) => this.receive(connection, chunk));
    // Resets and aborted peers are normal on the Internet; the socket closes and is forgotten below.
    socket.on('error', () => {});
    socket.on('drain', () => {
      connection.blocked = false;
      socket.resume();
      this.answerPending(connection);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      this.connections.delete(connection);
    });
    assert(this.connections.size <= this.limits.connectionsMax, 'internal', 'TCP connections exceed connectionsMax');
  }

  private evictIdlest(): void {
    let idlest: Connection | null = null;
    for (const connection of this.connections) {
      if (idlest === null || connection.lastMessageMs < idlest.lastMessageMs) idlest = connection;
    }
    assert(idlest !== null, 'internal', 'no connection to evict at the limit');
    this.counters.tcpConnectionsEvicted += 1;
    idlest.socket.destroy();
    // 'close' fires later; forget it now so the new connection fits within the limit at once.
    clearTimeout(idlest.timer);
    this.connections.delete(idlest);
  }

  private receive(connection: Connection, chunk: Buffer): void {
    connection.pending = connection.pending.length === 0 ? chunk : Buffer.concat([connection.pending, chunk]);
    if (connection.pending.length > pendingBytesMax) {
      countDrop(this.counters, 'tcp-input-overflow');
      connection.socket.destroy();
      return;
    }
    this.answerPending(connection);
  }

  /** Answers the complete messages received, in order, until the client stops reading or the bytes run out. */
  private answerPending(connection: Connection): void {
    const buffer = connection.pending;
    let offset = 0;
    // Bounded by the bytes received: each pass consumes at least 2 + 12 bytes or leaves the loop.
    while (!connection.blocked && buffer.length - offset >= lengthPrefixBytes) {
      const length = buffer.readUInt16BE(offset);
      if (length < headerBytes || length > this.limits.messageBytesMax) {
        countDrop(this.counters, 'tcp-bad-length');
        connection.socket.destroy();
        return;
      }
      if (buffer.length - offset - lengthPrefixBytes < length) break;
      const request = buffer.subarray(offset + lengthPrefixBytes, offset + lengthPrefixBytes + length);
      offset += lengthPrefixBytes + length;
      connection.lastMessageMs = Date.now();
      connection.timer.refresh();
      const response = this.handle(request);
      if (response !== null && !this.send(connection, response)) return;
    }
    // Copy the remainder so a large chunk is not kept alive by a few trailing bytes.
    connection.pending = offset === buffer.length ? Buffer.alloc(0) : Buffer.from(buffer.subarray(offset));
    assert(connection.pending.length <= pendingBytesMax, 'internal', 'TCP input buffer exceeds pendingBytesMax');
  }

  /** Writes one framed response; false when the connection was closed for not reading. */
  private send(connection: Connection, response: Buffer): boolean {
    assert(response.length <= 0xffff, 'internal', `a TCP response of ${response.length} bytes cannot be framed`);
    const frame = Buffer.allocUnsafe(lengthPrefixBytes + response.length);
    frame.writeUInt16BE(response.length, 0);
    response.copy(frame, lengthPrefixBytes);
    const flushed = connection.socket.write(frame);
    if (connection.socket.writableLength > this.limits.outputBytesMax) {
      countDrop(this.counters, 'tcp-output-overflow');
      connection.socket.destroy();
      return false;
    }
    // Stop reading and answering a client that does not read its answers, until it catches up ('drain'). If it
    // never does, the idle timeout closes the connection: no answered query, no activity.
    if (!flushed) {
      connection.blocked = true;
      connection.socket.pause();
    }
    return true;
  }
}
