import type { ServerResponse } from 'node:http';
import type { Logger } from '../util/log.js';
import { assert } from '../util/assert.js';

/**
 * Server-sent events for the dashboard: one loop, running only while a
 * client is connected, builds a compact status every `tickMs` and sends it
 * to every client when it changed, and at least every `pushIntervalMs`. One
 * build serves all clients, so a wall of dashboards costs the store as much
 * as one. Clients are bounded, and a client that does not read (its socket
 * buffer above `bufferedBytesMax`) is dropped rather than buffered forever.
 */

export interface EventHubOptions {
  tickMs: number;
  pushIntervalMs: number;
  clientsMax: number;
  bufferedBytesMax: number;
}

export interface CompactMessage {
  /** Server time of the message, for heartbeat ages measured on the server's clock. */
  nowMs: number;
  [key: string]: unknown;
}

export class EventHub {
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  private building = false;
  private lastKey = '';
  private lastMessage: string | null = null;
  private lastSentMs = 0;
  private closed = false;

  constructor(
    private readonly build: () => Promise<CompactMessage>,
    private readonly options: EventHubOptions,
    private readonly log: Logger,
  ) {
    assert(
      options.tickMs > 0 && options.pushIntervalMs >= options.tickMs,
      'internal',
      'event tick must be positive and not above the push interval',
    );
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Takes over an HTTP response as an event stream; false when the hub is full or closed (the caller answers 503). */
  add(response: ServerResponse): boolean {
    if (this.closed || this.clients.size >= this.options.clientsMax) return false;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // Reconnect quickly after a restart of the API; the browser's EventSource does it by itself.
    response.write('retry: 1000\n\n');
    this.clients.add(response);
    response.on('close', () => this.clients.delete(response));
    if (this.lastMessage !== null) this.write(response, this.lastMessage);
    this.start();
    void this.tick(true);
    return true;
  }

  private start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.tick(false), this.options.tickMs);
  }

  private stopIfIdle(): void {
    if (this.clients.size > 0 || this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  private async tick(force: boolean): Promise<void> {
    if (this.building || this.closed) return;
    this.stopIfIdle();
    if (this.clients.size === 0) return;
    this.building = true;
    try {
      const message = await this.build();
      const { nowMs: _nowMs, ...rest } = message;
      const key = JSON.stringify(rest);
      const now = Date.now();
      if (!force && key === this.lastKey && now - this.lastSentMs < this.options.pushIntervalMs) return;
      this.lastKey = key;
      this.lastSentMs = now;
      this.lastMessage = `event: status\ndata: ${JSON.stringify(message)}\n\n`;
      for (const client of this.clients) this.write(client, this.lastMessage);
    } catch (error) {
      this.log.warn({ err: error }, 'could not build the event status');
    } finally {
      this.building = false;
    }
  }

  private write(client: ServerResponse, text: string): void {
    if (client.writableLength > this.options.bufferedBytesMax) {
      this.log.warn({ buffered: client.writableLength }, 'dropping an event client that does not read');
      this.clients.delete(client);
      client.destroy();
      return;
    }
    client.write(text);
  }

  /** Ends every stream (before the HTTP server closes, which would otherwise wait for them forever). */
  close(): void {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const client of this.clients) client.end();
    this.clients.clear();
  }
}
