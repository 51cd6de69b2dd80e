// Goal: the RFC 2136 provider's zone image only ever holds what the server signed, at one serial: an incremental
// transfer (IXFR, RFC 1995) is applied only when every step fits the image (the serial chain from the image's serial
// to the server's, deletions of records it holds, additions of records it lacks), and otherwise — a step that does
// not fit, a server older than the image, a refused IXFR — the provider reads the whole zone again (AXFR); a
// transfer unsigned, signed with another key or altered is refused, never applied and never a reason to fall back.
// Method: a stand-in server on loopback (stand-in.ts) holds a zone of 70 managed names and answers AXFR with it and
// IXFR as each case says, signing as RFC 8945 does (independently of the code under test); the test counts the
// transfers asked and checks what bulk reads return.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { bulkReadNamesMin, Rfc2136Provider } from '../../../src/providers/rfc2136/provider.js';
import { readTsig, type TsigKey } from '../../../src/providers/rfc2136/tsig.js';
import { encodeMarker } from '../../../src/providers/marker.js';
import { refused, serverSign, standIn, type Listening } from './stand-in.js';
import { testOwner } from '../../helpers/dns-servers.js';

const zone = 'dnsplane.test';
const names = Array.from({ length: 70 }, (_, index) => `n${index}.${zone}`);
const secret = Buffer.alloc(32, 9);
const key: TsigKey = { name: 'stand-in-key', algorithm: 'hmac-sha256', secret };

type Record = dnsPacket.Answer;

function soa(serial: number): Record {
  return { name: zone, type: 'SOA', ttl: 5, data: { mname: `ns.${zone}`, rname: `hostmaster.${zone}`, serial, refresh: 60, retry: 30, expire: 3600, minimum: 5 } };
}

/** A managed name's marker and address at `generation`. */
function served(name: string, generation: number, address: string): Record[] {
  const marker = encodeMarker({ generation, version: `v${generation}-${name.split(".")[0]}`, records: [{ target: 'lb', address, weight: 1 }] });
  return [{ name: `_dnsplane.${name}`, type: 'TXT', ttl: 5, data: marker }, { name, type: 'A', ttl: 5, data: address }];
}

/** How the stand-in answers an IXFR from `fromSerial`: messages of records, or an rcode. */
type IxfrAnswer = { records: Record[] } | { rcode: 'NOTIMP' };

interface Zone {
  serial: number;
  records: Record[];
  ixfr: (fromSerial: number) => IxfrAnswer;
  /** Applied to each signed answer message (by index) before it is sent. */
  alter: (message: Buffer, index: number) => Buffer;
  signWith: TsigKey;
  asked: ('AXFR' | 'IXFR')[];
}

/** Answer messages of at most 50 records each, signed in a chain over the request MAC (RFC 8945 §5.3.1). */
function signedAnswer(request: Buffer, type: 'AXFR' | 'IXFR', records: Record[], state: Zone, rcode = 'NOERROR'): Buffer[] {
  const id = request.readUInt16BE(0);
  let prior = readTsig(request)!.mac;
  const now = Math.floor(Date.now() / 1000);
  const messages: Buffer[] = [];
  for (let start = 0; start === 0 || start < records.length; start += 50) {
    const flags = dnsPacket.AUTHORITATIVE_ANSWER | (rcode === 'NOTIMP' ? 4 : 0);
    const body = dnsPacket.encode({ id, type: 'response', flags, questions: [{ name: zone, type }], answers: records.slice(start, start + 50) });
    const signed = serverSign(body, state.signWith, now, prior, start > 0);
    prior = signed.mac;
    messages.push(state.alter(signed.message, messages.length));
  }
  return messages;
}

async function standInZone(state: Zone): Promise<Listening> {
  return standIn((request) => {
    const question = dnsPacket.decode(request).questions![0]!;
    const type = question.type as 'AXFR' | 'IXFR';
    state.asked.push(type);
    if (type === 'AXFR') return signedAnswer(request, type, [soa(state.serial), ...state.records, soa(state.serial)], state);
    const from = ((dnsPacket.decode(request).authorities![0] as { data: { serial: number } }).data).serial;
    const answer = state.ixfr(from);
    if ('rcode' in answer) return signedAnswer(request, type, [], state, answer.rcode);
    return signedAnswer(request, type, answer.records, state);
  });
}

function newZone(): Zone {
  return {
    serial: 1, records: names.flatMap((name, index) => served(name, 1, `10.0.0.${index}`)),
    ixfr: () => ({ records: [soa(1)] }), alter: (message) => message, signWith: key, asked: [],
  };
}

async function withStandIn(state: Zone, run: (provider: Rfc2136Provider) => Promise<void>): Promise<void> {
  const listening = await standInZone(state);
  const provider = new Rfc2136Provider({ server: listening.server, zone, timeoutMs: 3000, tsig: { name: key.name, algorithm: key.algorithm, secret: secret.toString('base64') }, ttl: 5, maxAnswers: 8, owner: testOwner });
  try {
    await run(provider);
  } finally {
    await provider.close();
    await listening.close();
  }
}

async function generations(provider: Rfc2136Provider): Promise<number[]> {
  assert.ok(names.length >= bulkReadNamesMin);
  const states = await provider.read(names);
  return names.slice(0, 3).map((name) => states.get(name)?.generation ?? -1);
}

/** The stand-in's zone moves to `serial`: n<index> is served at `generation` with `address` from then on. */
function move(state: Zone, serial: number, index: number, generation: number, address: string): { deleted: Record[]; added: Record[] } {
  const name = names[index]!;
  const deleted = state.records.filter((record) => record.name === name || record.name === `_dnsplane.${name}`);
  const added = served(name, generation, address);
  state.records = [...state.records.filter((record) => !deleted.includes(record)), ...added];
  state.serial = serial;
  return { deleted, added };
}

test('an IXFR whose steps fit the image is applied; the server current at the image\'s serial sends its SOA alone', async () => {
  const state = newZone();
  await withStandIn(state, async (provider) => {
    assert.deepEqual(await generations(provider), [1, 1, 1]);
    assert.deepEqual(await generations(provider), [1, 1, 1]);
    assert.deepEqual(state.asked, ['AXFR', 'IXFR']);
    const first = move(state, 2, 0, 2, '10.0.1.0');
    const second = move(state, 3, 1, 3, '10.0.1.1');
    const froms: number[] = [];
    state.ixfr = (from) => {
      froms.push(from);
      if (from === 3) return { records: [soa(3)] };
      return { records: [soa(3), soa(1), ...first.deleted, soa(2), ...first.added, soa(2), ...second.deleted, soa(3), ...second.added, soa(3)] };
    };
    assert.deepEqual(await generations(provider), [2, 3, 1]);
    assert.deepEqual(state.asked, ['AXFR', 'IXFR', 'IXFR'], 'no AXFR');
    assert.equal((await provider.read(names)).get(names[1]!)?.records[0]?.address, '10.0.1.1');
    assert.deepEqual(froms, [1, 3], 'each IXFR from the serial the image holds');
    assert.deepEqual(state.asked, ['AXFR', 'IXFR', 'IXFR', 'IXFR']);
  });
});

test('steps that do not fit the image, and a server older than the image, send the provider to a whole transfer', async () => {
  const state = newZone();
  await withStandIn(state, async (provider) => {
    assert.deepEqual(await generations(provider), [1, 1, 1]);
    // Each answer is validly signed by the server, yet is not a history of the zone the image holds.
    const cases: [string, (change: { deleted: Record[]; added: Record[] }, serial: number) => Record[]][] = [
      ['a deletion of a record the image lacks', (change, serial) => [soa(serial), soa(serial - 1), { name: names[2]!, type: 'A', ttl: 5, data: '10.9.9.9' }, soa(serial), ...change.added, soa(serial)]],
      ['an addition of a record the image holds', (change, serial) => [soa(serial), soa(serial - 1), ...change.deleted, soa(serial), ...change.added, { name: names[3]!, type: 'A', ttl: 5, data: '10.0.0.3' }, soa(serial)]],
      ['a step from another serial than the one before it ended at', (change, serial) => [soa(serial), soa(serial - 1), soa(serial + 10), soa(serial + 20), ...change.deleted, soa(serial), ...change.added, soa(serial)]],
      ['a server at an older serial', (_change, serial) => [soa(serial - 5)]],
    ];
    for (const [index, [what, answer]] of cases.entries()) {
      const serial = 2 + index;
      const change = move(state, serial, 2, serial, `10.0.2.${serial}`);
      state.ixfr = () => ({ records: answer(change, serial) });
      const asked = state.asked.length;
      assert.deepEqual(await generations(provider), [1, 1, serial], what);
      assert.deepEqual(state.asked.slice(asked), ['IXFR', 'AXFR'], `${what}: the whole zone read again`);
    }
  });
});

test('a server that refuses IXFR is read by AXFR, and asked no IXFR again', async () => {
  const state = newZone();
  await withStandIn(state, async (provider) => {
    assert.deepEqual(await generations(provider), [1, 1, 1]);
    state.ixfr = () => ({ rcode: 'NOTIMP' });
    move(state, 2, 0, 2, '10.0.3.0');
    assert.deepEqual(await generations(provider), [2, 1, 1]);
    move(state, 3, 1, 3, '10.0.3.1');
    assert.deepEqual(await generations(provider), [2, 3, 1]);
    assert.deepEqual(state.asked, ['AXFR', 'IXFR', 'AXFR', 'AXFR']);
  });
});

test('a forged, unsigned or altered AXFR or IXFR is refused, and is no reason to read the zone another way', async () => {
  const forger: TsigKey = { ...key, secret: Buffer.alloc(32, 10) };
  const strip = (message: Buffer) => readTsig(message)!.unsigned;
  // The last byte of the records (the end of the last answer's RDATA, just before the TSIG record) changed.
  const alter = (message: Buffer) => {
    const altered = Buffer.from(message);
    const at = readTsig(message)!.unsigned.length - 1;
    altered[at] = altered[at]! ^ 0x01;
    return altered;
  };
  const forgeries: [string, Partial<Zone>, RegExp][] = [
    ['signed with another key', { signWith: forger }, /the MAC does not verify/],
    ['unsigned', { alter: strip }, /the first message of the transfer is not signed/],
    ['unsigned after its first message', { alter: (message, index) => (index === 0 ? message : strip(message)) }, /did not end on a signed message/],
    ['altered', { alter }, /the MAC does not verify/],
    ['altered after its first message', { alter: (message, index) => (index === 1 ? alter(message) : message) }, /the MAC does not verify/],
  ];
  for (const [what, forgery, mentions] of forgeries) {
    // A whole transfer forged: no image yet.
    const axfr = { ...newZone(), ...forgery };
    await withStandIn(axfr, async (provider) => {
      await refused(provider.read(names), mentions);
      assert.deepEqual(axfr.asked, ['AXFR'], `AXFR ${what}`);
    });
    // An incremental transfer forged over an image the provider keeps.
    const ixfr = newZone();
    await withStandIn(ixfr, async (provider) => {
      assert.deepEqual(await generations(provider), [1, 1, 1]);
      // 30 names changed: an answer of several messages.
      const changes = Array.from({ length: 30 }, (_, index) => move(ixfr, 2, index, 99, `10.6.6.${index}`));
      const deleted = changes.flatMap((change) => change.deleted);
      const added = changes.flatMap((change) => change.added);
      ixfr.ixfr = () => ({ records: [soa(2), soa(1), ...deleted, soa(2), ...added, soa(2)] });
      Object.assign(ixfr, forgery);
      await refused(provider.read(names), mentions);
      assert.deepEqual(ixfr.asked, ['AXFR', 'IXFR'], `IXFR ${what}: no fallback to AXFR`);
      Object.assign(ixfr, { signWith: key, alter: (message: Buffer) => message });
      assert.deepEqual(await generations(provider), [99, 99, 99], `${what}: the image was left as it was, and brought forward by the honest IXFR`);
      assert.deepEqual(ixfr.asked, ['AXFR', 'IXFR', 'IXFR'], `${what}: then read incrementally`);
    });
  }
});
