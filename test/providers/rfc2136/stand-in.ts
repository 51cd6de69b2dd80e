import { createHmac } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { Rfc2136Error } from '../../../src/providers/rfc2136/errors.js';
import type { TsigKey } from '../../../src/providers/rfc2136/tsig.js';

/**
 * What the RFC 2136 tests put between the provider and a server, or in a server's place: a signer written from
 * RFC 8945 independently of the code under test, DNS-over-TCP framing, a stand-in server that answers each request
 * as a test says, and a proxy in front of a real server that records the requests and may alter the answers.
 */

/**
 * Signs a response the way a server does, written here from RFC 8945 §4.3.3
 * and §5.3.1 independently of the code under test: the MAC covers the prior
 * MAC (length-prefixed), the message, and either all TSIG variables or, for
 * later messages of a transfer, the timers only.
 */
export function serverSign(response: Buffer, key: TsigKey, time: number, priorMac: Buffer, timersOnly: boolean): { message: Buffer; mac: Buffer } {
  const hash = { 'hmac-sha256': 'sha256', 'hmac-sha512': 'sha512', 'hmac-sha1': 'sha1' }[key.algorithm];
  const wireName = (text: string) => Buffer.concat([...text.replace(/\.$/, '').split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])), Buffer.from([0])]);
  const u16 = (value: number) => Buffer.from([value >> 8, value & 255]);
  const timers = Buffer.alloc(8);
  timers.writeUIntBE(time, 0, 6);
  timers.writeUInt16BE(300, 6);
  const variables = timersOnly
    ? timers
    : Buffer.concat([wireName(key.name), u16(255), Buffer.alloc(4), wireName(`${key.algorithm}.`), timers, u16(0), u16(0)]);
  const mac = createHmac(hash, key.secret).update(Buffer.concat([u16(priorMac.length), priorMac])).update(response).update(variables).digest();
  const rdata = Buffer.concat([wireName(`${key.algorithm}.`), timers, u16(mac.length), mac, response.subarray(0, 2), u16(0), u16(0)]);
  const message = Buffer.concat([response, wireName(key.name), u16(250), u16(255), Buffer.alloc(4), u16(rdata.length), rdata]);
  message.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { message, mac };
}

/** A message with its two-byte TCP length prefix. */
export function frame(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from([message.length >> 8, message.length & 255]), message]);
}

/** Calls `onMessage` with every whole framed message arriving on `socket`. */
function onFrames(socket: Socket, onMessage: (message: Buffer) => void): void {
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      const message = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
      buffered = buffered.subarray(2 + message.length);
      onMessage(Buffer.from(message));
    }
  });
}

export interface Listening {
  /** host:port. */
  server: string;
  close(): Promise<void>;
}

async function listen(server: Server, sockets: Set<Socket>): Promise<Listening> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A stand-in server: each framed request is given to `answer`, whose messages go back in order. */
export async function standIn(answer: (request: Buffer) => Buffer[]): Promise<Listening> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onFrames(socket, (request) => socket.write(Buffer.concat(answer(request).map(frame))));
  });
  return listen(server, sockets);
}

/** What a proxy saw of one zone transfer: the type asked, and how its first answer message began. */
export interface SeenTransfer {
  type: 'AXFR' | 'IXFR';
  /** The types of the first answer message's first two records: ['SOA', 'SOA'] opens an incremental IXFR. */
  opening: string[];
}

export interface Proxy extends Listening {
  /** Zone transfers asked through the proxy, in order. */
  transfers: SeenTransfer[];
  /** Changes each answer message to a transfer on its way back (identity unless set). */
  alterTransfer: (message: Buffer, index: number) => Buffer;
  /**
   * Asked for every request before it is sent on: a promise holds that request back until it settles (other
   * requests go on meanwhile); undefined sends it at once (the default).
   */
  hold: (request: Buffer) => Promise<void> | undefined;
  /** The questions ("name TYPE") of the answers passed back to the client, transfers aside, in order. */
  answered: string[];
}

/** The first question of a message, as "name TYPE" (read by hand, as `questionType`). */
export function questionOf(message: Buffer): string {
  const labels: string[] = [];
  let offset = 12;
  while (message[offset]! !== 0) {
    labels.push(message.subarray(offset + 1, offset + 1 + message[offset]!).toString('latin1'));
    offset += 1 + message[offset]!;
  }
  const type = message.readUInt16BE(offset + 1);
  const names: Record<number, string> = { 1: 'A', 16: 'TXT', 28: 'AAAA', 5: 'CNAME', 6: 'SOA' };
  return `${labels.join('.').toLowerCase()} ${names[type] ?? String(type)}`;
}

/** The type of a request's first question (read by hand: `dns-packet` cannot decode every UPDATE). */
function questionType(request: Buffer): number {
  let offset = 12;
  while (request[offset]! !== 0) offset += 1 + request[offset]!;
  return request.readUInt16BE(offset + 1);
}

/** A TCP proxy in front of `upstream` (host:port), one upstream connection per client connection. */
export async function proxy(upstream: string): Promise<Proxy> {
  const [host, port] = [upstream.slice(0, upstream.lastIndexOf(':')), Number(upstream.slice(upstream.lastIndexOf(':') + 1))];
  const sockets = new Set<Socket>();
  const handle: Proxy = {
    server: '', transfers: [], alterTransfer: (message) => message, hold: () => undefined, answered: [],
    close: async () => undefined,
  };
  const server = createServer((client) => {
    const server = connect({ host, port });
    for (const socket of [client, server]) {
      sockets.add(socket);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        server.destroy();
      });
      socket.on('error', () => undefined);
    }
    let transfer: SeenTransfer | null = null;
    let answered = 0;
    onFrames(client, (request) => {
      const type = questionType(request);
      if (type === 252 || type === 251) {
        transfer = { type: type === 252 ? 'AXFR' : 'IXFR', opening: [] };
        handle.transfers.push(transfer);
      }
      const held = handle.hold(request);
      if (held === undefined) server.write(frame(request));
      else void held.then(() => server.write(frame(request)), (error: unknown) => client.destroy(error as Error));
    });
    onFrames(server, (message) => {
      if (transfer === null) {
        handle.answered.push(questionOf(message));
        return void client.write(frame(message));
      }
      if (answered === 0) transfer.opening = (dnsPacket.decode(message).answers ?? []).slice(0, 2).map((record) => record.type);
      client.write(frame(handle.alterTransfer(message, answered)));
      answered += 1;
    });
  });
  const listening = await listen(server, sockets);
  return Object.assign(handle, listening);
}

/** Asserts that `read` is refused as a bad response (a forged, unsigned or altered answer) whose message matches. */
export async function refused(read: Promise<unknown>, mentions: RegExp): Promise<void> {
  await assert.rejects(read, (error: unknown) => {
    assert.ok(error instanceof Rfc2136Error, String(error));
    assert.equal(error.reason, 'bad-response', error.message);
    assert.match(error.message, mentions);
    return true;
  });
}
