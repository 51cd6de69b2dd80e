import dnsPacket from 'dns-packet';
import { randomInt, type Rng } from '../../src/util/clock.js';

/**
 * A seeded generator of hostile DNS messages for the robustness tests: one
 * seed gives the same sequence, so a failure is reproduced with it. Kinds:
 * random bytes, mutated and truncated valid queries, bad section counts,
 * compression pointers (loops, forward, into the header), oversized labels
 * and names, odd opcodes/flags/types/classes, and malformed EDNS.
 */

/** mulberry32: a fast seeded generator (the BigInt one in util/clock.ts is too slow for millions of random bytes). */
export function fastRng(seed: number): Rng {
  let state = seed >>> 0;
  return {
    next() {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    },
  };
}

export const fuzzKinds = ['valid', 'random', 'mutated', 'truncated', 'counts', 'pointers', 'labels', 'header', 'edns'] as const;
export type FuzzKind = (typeof fuzzKinds)[number];

const names = ['dynamodb.us-east-1.dnsplane.test', 'dnsplane.test', 'nope.dnsplane.test', '_dnsplane.dynamodb.us-east-1.dnsplane.test', 'example.com'];
const types = ['A', 'AAAA', 'ANY', 'TXT', 'SOA', 'NS', 'MX', 'AXFR'] as const;

function bytes(rng: Rng, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  for (let index = 0; index < length; index += 1) buffer[index] = randomInt(rng, 256);
  return buffer;
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[randomInt(rng, items.length)]!;
}

/** A well-formed query, with EDNS half of the time. */
export function validQuery(rng: Rng): Buffer {
  const packet: dnsPacket.Packet = { type: 'query', id: randomInt(rng, 65_536), flags: randomInt(rng, 2) * dnsPacket.RECURSION_DESIRED, questions: [{ name: pick(rng, names), type: pick(rng, types) as 'A', class: 'IN' }] };
  if (randomInt(rng, 2) === 0) packet.additionals = [{ name: '.', type: 'OPT', udpPayloadSize: pick(rng, [0, 512, 1232, 4096, 65_535]), extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }];
  return dnsPacket.encode(packet);
}

function header(rng: Rng, counts: [number, number, number, number]): Buffer {
  const buffer = Buffer.alloc(12);
  buffer.writeUInt16BE(randomInt(rng, 65_536), 0);
  buffer.writeUInt16BE(randomInt(rng, 2) === 0 ? 0 : randomInt(rng, 65_536) & 0x7fff, 2);
  counts.forEach((count, index) => buffer.writeUInt16BE(count, 4 + index * 2));
  return buffer;
}

const generators: Record<FuzzKind, (rng: Rng) => Buffer> = {
  valid: validQuery,
  random: (rng) => bytes(rng, randomInt(rng, 600)),
  mutated: (rng) => {
    const packet = validQuery(rng);
    const flips = 1 + randomInt(rng, 6);
    for (let flip = 0; flip < flips; flip += 1) packet[randomInt(rng, packet.length)] = randomInt(rng, 256);
    return packet;
  },
  truncated: (rng) => {
    const packet = validQuery(rng);
    return packet.subarray(0, randomInt(rng, packet.length));
  },
  counts: (rng) => {
    const packet = validQuery(rng);
    for (let section = 0; section < 4; section += 1) packet.writeUInt16BE(pick(rng, [0, 1, 2, 255, 65_535, randomInt(rng, 65_536)]), 4 + section * 2);
    return packet;
  },
  pointers: (rng) => {
    // A name made of pointers: to itself (a loop), forward, into the header, or chained.
    const target = pick(rng, [12, 13, 0, 2, 14, 40, randomInt(rng, 0x4000)]);
    const name = Buffer.from([0x03, 0x61, 0x62, 0x63, 0xc0 | (target >> 8), target & 0xff]);
    const loop = randomInt(rng, 2) === 0 ? Buffer.from([0xc0, 12]) : name;
    return Buffer.concat([header(rng, [1, randomInt(rng, 3), 0, 0]), loop, Buffer.from([0, 1, 0, 1]), name, Buffer.from([0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4])]);
  },
  labels: (rng) => {
    // Labels over 63 bytes, names over 255, up to 140 labels; kept under 1,500 bytes so it fits one datagram.
    const parts: Buffer[] = [];
    const labels = 1 + randomInt(rng, 140);
    let total = 0;
    for (let label = 0; label < labels && total < 1400; label += 1) {
      const length = pick(rng, [0, 1, 1, 63, 64, 100, 191, 255, randomInt(rng, 256)]);
      const body = Buffer.alloc(Math.min(length, randomInt(rng, 2) === 0 ? length : randomInt(rng, 64)), 0x61 + randomInt(rng, 26));
      parts.push(Buffer.from([length]), body);
      total += 1 + body.length;
    }
    return Buffer.concat([header(rng, [1, 0, 0, 0]), ...parts, Buffer.from([0, 0, 1, 0, 1])]);
  },
  header: (rng) => {
    const packet = validQuery(rng);
    packet.writeUInt16BE(randomInt(rng, 65_536), 2);
    packet.writeUInt16BE(randomInt(rng, 65_536), packet.length - 4 - (packet.length > 40 ? 11 : 0));
    return packet;
  },
  edns: (rng) => {
    const packet = dnsPacket.encode({ type: 'query', id: 7, questions: [{ name: pick(rng, names), type: 'A' }] });
    const opt = Buffer.alloc(11);
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(randomInt(rng, 65_536), 3);
    opt.writeUInt32BE(randomInt(rng, 2 ** 32), 5);
    const options = bytes(rng, randomInt(rng, 40));
    opt.writeUInt16BE(randomInt(rng, 2) === 0 ? options.length : randomInt(rng, 65_536), 9);
    packet.writeUInt16BE(1 + randomInt(rng, 3), 10);
    return Buffer.concat([packet, opt, options]);
  },
};

/** The next hostile message and its kind. */
export function fuzzPacket(rng: Rng): { kind: FuzzKind; packet: Buffer } {
  const kind = pick(rng, fuzzKinds);
  return { kind, packet: generators[kind](rng) };
}
