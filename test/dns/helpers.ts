import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { join } from 'node:path';
import dnsPacket, { type Answer, type DecodedPacket, type Packet } from 'dns-packet';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import type { RecordEntry } from '../../src/domain/types.js';
import { freeDualPort, pollUntil, spawnCli, tempDir, writeConfig, type Child } from '../helpers/env.js';

/** Shared plumbing of the DNS tests: a real `dnsplane serve` child, raw UDP/TCP clients, and dig/kdig runs. */

export const zone = 'dnsplane.test';

export interface ServeHandle {
  port: number;
  dir: string;
  dbPath: string;
  configPath: string;
  provider: BuiltinSqliteProvider;
  child: Child;
  /** Replaces a name's records through the provider's compare-and-swap, at the next generation. */
  setRecords(name: string, records: RecordEntry[]): Promise<void>;
  stop(): Promise<void>;
}

/** Records of `count` addresses 10.0.x.y (or fd00::x) with the given weight each. */
export function addresses(count: number, family: 4 | 6 = 4, weight = 1): RecordEntry[] {
  return Array.from({ length: count }, (_, index) => ({
    target: `t${index}`,
    address: family === 4 ? `10.0.${Math.floor(index / 250)}.${(index % 250) + 1}` : `fd00::${(index + 1).toString(16)}`,
    weight,
  }));
}

/**
 * Starts `dnsplane serve` on a free port with its own temporary directory
 * and store, after writing `initial` through the built-in provider, and
 * resolves once the server answers.
 */
export async function startServe(initial: Record<string, RecordEntry[]>, dns: Record<string, unknown> = {}, args: string[] = []): Promise<ServeHandle> {
  const temp = tempDir('dnsplane-dns-');
  const port = await freeDualPort();
  const dataDir = join(temp.path, 'data');
  const dbPath = join(dataDir, 'state.db');
  const configPath = writeConfig(temp.path, {
    zone: `${zone}.`,
    dns: { listen: `127.0.0.1:${port}`, ...dns },
    endpoints: [{ name: 'placeholder', targets: [{ id: 'p1', address: '127.0.0.9' }] }],
  });
  const provider = new BuiltinSqliteProvider(dbPath);
  const generations = new Map<string, number>();
  const setRecords = async (name: string, records: RecordEntry[]) => {
    const current = (await provider.read([name])).get(name);
    const generation = (generations.get(name) ?? current?.generation ?? 0) + 1;
    generations.set(name, generation);
    const [outcome] = await provider.apply([{ name, records, generation, expectedVersion: current?.version ?? null }]);
    if (outcome?.outcome !== 'applied') throw new Error(`apply of ${name} was a ${outcome?.outcome}`);
  };
  for (const [name, records] of Object.entries(initial)) await setRecords(name, records);
  const child = spawnCli(['serve', '--config', configPath, '--data', dataDir, '--dns-port', String(port), ...args]);
  const handle: ServeHandle = {
    port, dir: temp.path, dbPath, configPath, provider, child, setRecords,
    async stop() {
      await child.stop();
      await provider.close();
      temp.cleanup();
    },
  };
  try {
    await pollUntil(async () => {
      if (child.process.exitCode !== null) throw new Error(`serve exited with ${child.process.exitCode}: ${child.stderr()}`);
      return (await udpQuery(port, { type: 'query', id: 1, questions: [{ name: zone, type: 'SOA' }] }, 250)).rcode === 'NOERROR';
    }, 'dnsplane serve to answer', 30_000, 50);
  } catch (error) {
    await handle.stop();
    throw error;
  }
  return handle;
}

export interface Response extends DecodedPacket {
  rcode?: string;
  raw: Buffer;
}

function decodeResponse(raw: Buffer): Response {
  return Object.assign(dnsPacket.decode(raw) as DecodedPacket & { rcode?: string }, { raw });
}

/** One query over UDP from a fresh socket; rejects after `timeoutMs`. */
export function udpQuery(port: number, packet: Packet | Buffer, timeoutMs = 2000): Promise<Response> {
  const message = Buffer.isBuffer(packet) ? packet : dnsPacket.encode(packet);
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no UDP answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('message', (raw) => {
      clearTimeout(timer);
      socket.close();
      try {
        resolve(decodeResponse(raw));
      } catch (error) {
        reject(error);
      }
    });
    socket.send(message, port, '127.0.0.1');
  });
}

/** One query over a fresh TCP connection (length-prefixed, RFC 7766). */
export function tcpQuery(port: number, packet: Packet | Buffer, timeoutMs = 2000): Promise<Response> {
  const message = Buffer.isBuffer(packet) ? packet : dnsPacket.encode(packet);
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TCP answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
      clearTimeout(timer);
      socket.destroy();
      try {
        resolve(decodeResponse(received.subarray(2, 2 + received.readUInt16BE(0))));
      } catch (error) {
        reject(error);
      }
    });
    const frame = Buffer.alloc(2 + message.length);
    frame.writeUInt16BE(message.length, 0);
    message.copy(frame, 2);
    socket.write(frame);
  });
}

/** Runs a command (dig, kdig) to completion and returns its stdout; rejects on a non-zero exit. */
export function runTool(command: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The data of a record as text (an address for A/AAAA, a name for NS). */
export function dataOf(record: Answer): string {
  return 'data' in record ? String(record.data) : '';
}

/** The addresses of the A/AAAA records of an answer section. */
export function answerAddresses(response: DecodedPacket): string[] {
  return (response.answers ?? []).filter((record) => record.type === 'A' || record.type === 'AAAA').map(dataOf);
}

/** A plain query packet for name/type, with EDNS(0) when `udpSize` is given. */
export function query(name: string, type: string, options: { id?: number; udpSize?: number; ednsVersion?: number } = {}): Packet {
  const packet: Packet = { type: 'query', id: options.id ?? 4242, flags: 0, questions: [{ name, type: type as 'A', class: 'IN' }] };
  if (options.udpSize !== undefined) {
    packet.additionals = [{ name: '.', type: 'OPT', udpPayloadSize: options.udpSize, extendedRcode: 0, ednsVersion: options.ednsVersion ?? 0, flags: 0, flag_do: false, options: [] }];
  }
  return packet;
}
