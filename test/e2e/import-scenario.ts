// The import scenario of issue 13, shared by test/e2e/import.test.ts (2,000 names, in CI) and bench/import.bench.ts
// (10,000 names, the size): a Knot DNS zone imported with `dnsplane import`, applied, and taken over by
// `dnsplane up` while a sampler checks that no answer changes until a health change. See the test for the method.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { parse as parseYaml } from 'yaml';
import { readZone } from '../../src/providers/rfc2136/transfer.js';
import { canonicalAddress } from '../../src/providers/marker.js';
import { seededRng } from '../../src/util/clock.js';
import { providerSection, startDnsServer, type DnsServer } from '../helpers/dns-servers.js';
import { freeDualPort, freeTcpPort, pollUntil, runCli, spawnCli, tempDir, writeConfig, type Child } from '../helpers/env.js';

const sampledNames = 200;
const zone = 'dnsplane.test';
/** In-flight sampler queries (one UDP socket); each is sent again after `queryTimeoutMs` without an answer. */
const samplerConcurrency = 2;
const queryTimeoutMs = 1000;

interface NameSpec {
  name: string;
  a: string[];
  aaaa: string[];
}

/** Name i: 1-3 IPv4 addresses of its own, and every seventh an IPv6 one too; a few names of other types only. */
function generatedZone(namesTotal: number): { names: NameSpec[]; lines: string[] } {
  const names: NameSpec[] = [];
  const lines: string[] = [];
  for (let index = 0; index < namesTotal; index += 1) {
    const label = `svc${String(index).padStart(5, '0')}`;
    const a = Array.from({ length: 1 + (index % 3) }, (_, k) => `10.${(index >> 8) & 255}.${index & 255}.${k + 1}`);
    const aaaa = index % 7 === 0 ? [`2001:db8::${index.toString(16)}`] : [];
    names.push({ name: `${label}.${zone}`, a, aaaa });
    for (const address of a) lines.push(`${label} 300 A ${address}`);
    for (const address of aaaa) lines.push(`${label} 300 AAAA ${address}`);
  }
  lines.push('txt-only 300 TXT "not an endpoint"', 'alias 300 CNAME svc00001', '@ 300 MX 10 svc00002');
  return { names, lines };
}

interface Probe {
  name: string;
  type: 'A' | 'AAAA';
  /** The sorted answers that are right; `also`: a second right answer while a change is under way. */
  expected: string;
  also: string | null;
}

interface Sampler {
  samples: number;
  timeouts: number;
  wrong: string[];
  /** Per probe index: the last answer seen. */
  last: Map<number, string>;
  stop(): Promise<void>;
}

/** A UDP DNS client on one socket: `ask` resolves with the decoded answer, or null after `queryTimeoutMs`. */
class UdpClient {
  private readonly socket: Socket = createSocket('udp4');
  private readonly waiting = new Map<number, (message: Buffer) => void>();
  private nextId = 1;

  constructor(private readonly port: number) {
    this.socket.on('message', (message) => this.waiting.get(message.readUInt16BE(0))?.(message));
  }

  ask(name: string, type: 'A' | 'AAAA' | 'TXT'): Promise<dnsPacket.Packet | null> {
    return new Promise((resolveAnswer) => {
      const id = this.nextId;
      this.nextId = this.nextId >= 0xffff ? 1 : this.nextId + 1;
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolveAnswer(null);
      }, queryTimeoutMs);
      this.waiting.set(id, (message) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolveAnswer(dnsPacket.decode(message));
      });
      const query = dnsPacket.encode({ type: 'query', id, flags: 0, questions: [{ type, name, class: 'IN' }] });
      this.socket.send(query, this.port, '127.0.0.1');
    });
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * Asks the server for each probe in turn, `samplerConcurrency` at a time, until stopped. An answer is wrong when
 * its rcode is not NOERROR or its sorted addresses are not `expected` (or `also`): NXDOMAIN and an empty answer
 * are wrong. A query without an answer within the timeout is counted and asked again.
 */
function startSampler(port: number, probes: Probe[]): Sampler {
  const client = new UdpClient(port);
  let stopped = false;
  let next = 0;
  const sampler: Sampler = { samples: 0, timeouts: 0, wrong: [], last: new Map(), stop: async () => undefined };
  const worker = async (): Promise<void> => {
    while (!stopped) {
      const index = next;
      next = (next + 1) % probes.length;
      const probe = probes[index]!;
      const answer = await client.ask(probe.name, probe.type);
      if (answer === null) {
        sampler.timeouts += 1;
        continue;
      }
      const addresses = (answer.answers ?? [])
        .filter((record) => record.type === probe.type && record.name.toLowerCase() === probe.name)
        .map((record) => String((record as { data?: unknown }).data)).sort().join(',');
      const rcode = (answer as { rcode?: string }).rcode;
      sampler.samples += 1;
      sampler.last.set(index, addresses);
      const right = rcode === 'NOERROR' && (addresses === probe.expected || addresses === probe.also);
      if (!right && sampler.wrong.length < 20) {
        sampler.wrong.push(`${probe.name} ${probe.type}: ${rcode} [${addresses}], expected [${probe.expected}]`);
      }
    }
  };
  const workers = Array.from({ length: samplerConcurrency }, () => worker());
  sampler.stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(workers);
    client.close();
  };
  return sampler;
}

/** The probes: `sampledNames` distinct random names, A for each and AAAA where the name has one. */
function chooseProbes(names: NameSpec[]): Probe[] {
  const rng = seededRng(13);
  const chosen = new Set<number>();
  while (chosen.size < sampledNames) chosen.add(Math.floor(rng.next() * names.length));
  const probes: Probe[] = [];
  for (const index of [...chosen].sort((a, b) => a - b)) {
    const spec = names[index]!;
    probes.push({ name: spec.name, type: 'A', expected: [...spec.a].sort().join(','), also: null });
    // As a DNS answer spells it (2001:db8::0 is 2001:db8::).
    const aaaa = spec.aaaa.map(canonicalAddress).join(',');
    if (spec.aaaa.length > 0) probes.push({ name: spec.name, type: 'AAAA', expected: aaaa, also: null });
  }
  return probes;
}

/** Whether every sampled name has its `_dnsplane` marker (a cheap check before a zone transfer counts them all). */
async function sampledMarked(port: number, probes: readonly Probe[]): Promise<boolean> {
  const client = new UdpClient(port);
  try {
    for (const name of new Set(probes.map((probe) => probe.name))) {
      const answer = await client.ask(`_dnsplane.${name}`, 'TXT');
      if (answer === null || (answer.answers ?? []).length === 0) return false;
    }
    return true;
  } finally {
    client.close();
  }
}

/** Names of the zone whose `_dnsplane` marker an installation wrote (a tombstone would not count). */
async function markedNames(server: DnsServer): Promise<number> {
  const records = await readZone({
    server: server.server, zone, timeoutMs: 5000,
    key: { name: server.key.name, algorithm: server.key.algorithm, secret: Buffer.from(server.key.secret, 'base64') },
  });
  return records.filter((record) => record.type === 'TXT' && record.name.toLowerCase().startsWith('_dnsplane.svc')
    && (record.data as Buffer[])[0]!.toString().startsWith('generation=')).length;
}

/** Waits until the sampler has asked every probe `rounds` more times. */
async function moreRounds(sampler: Sampler, probes: number, rounds: number, what: string): Promise<void> {
  const target = sampler.samples + probes * rounds;
  await pollUntil(() => sampler.samples >= target, what, 60_000, 50);
}

/** What one run of the scenario measured. */
export interface ImportFigures {
  importMs: number;
  takeoverMs: number;
  healthChangeMs: number;
  samples: number;
  timeouts: number;
  wrong: number;
}

/**
 * The whole scenario at `namesTotal` names (the test runs 2,000, `npm run bench -- import` 10,000): every check is an
 * assertion, so a wrong answer fails it; `note` gets the figures as they come.
 */
export async function importScenario(namesTotal: number, note: (line: string) => void): Promise<ImportFigures> {
  const { names, lines } = generatedZone(namesTotal);
  const server = await startDnsServer('knot', { zoneRecords: lines });
  const dir = tempDir('dnsplane-import-e2e-');
  const probes = chooseProbes(names);
  const sampler = startSampler(server.port, probes);
  let up: Child | null = null;
  const figures = { importMs: 0, takeoverMs: 0, healthChangeMs: 0 };
  try {
    await moreRounds(sampler, probes.length, 1, 'the sampler to ask every probe once before the import');
    const inventory = join(dir.path, 'inventory.yaml');
    const key = ['--tsig-name', server.key.name, '--tsig-algorithm', server.key.algorithm, '--tsig-secret', server.key.secret];
    const importArgs = ['import', '--provider', 'rfc2136', '--server', server.server, '--zone', zone, ...key];
    const importStartedMs = Date.now();
    const imported = await runCli([...importArgs, '--output', inventory]);
    const importMs = Date.now() - importStartedMs;
    figures.importMs = importMs;
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stderr, new RegExp(`^imported ${namesTotal} names \\(\\d+ targets\\)`));
    note(`import (CLI process, AXFR, conversion, validation): ${importMs} ms; ${imported.stderr.trim()}`);

    // The installation: provider rfc2136 on the same Knot, default dns.maxAnswers (8: no name has more than 4
    // addresses), so each name's first plan is exactly its addresses, weights equal. Its inventory is the applied
    // file (version 1 in the store, which every role follows); the config file names one of its endpoints only, as
    // a config must name one — each role parses the config at start, and YAML of 10,000 endpoints costs seconds.
    const document = parseYaml(readFileSync(inventory, 'utf8')) as { endpoints: unknown[] };
    assert.equal(document.endpoints.length, namesTotal);
    const data = join(dir.path, 'data');
    const configPath = writeConfig(dir.path, {
      zone: `${zone}.`, provider: providerSection(server), endpoints: document.endpoints.slice(0, 1),
      planner: { interval: '100ms' }, enactor: { pollInterval: '20ms' },
    });
    const paths = ['--config', configPath, '--data', data];
    const applied = await runCli(['apply', '-f', inventory, '--reason', 'imported from Knot', ...paths]);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    assert.match(applied.stdout, /applied as inventory version 1/);

    const upStartedMs = Date.now();
    const [dnsPort, httpPort] = [await freeDualPort(), await freeTcpPort()];
    up = spawnCli(['up', ...paths, '--dns-port', String(dnsPort), '--http-port', String(httpPort)]);
    const running = up;
    const alive = () => {
      if (running.process.exitCode !== null) throw new Error(`up exited: ${running.stderr().slice(-800)}`);
    };
    await pollUntil(async () => {
      alive();
      return sampledMarked(server.port, probes);
    }, `every sampled name to carry a marker (up stderr: ${running.stderr().slice(-500)})`, 240_000, 500);
    await pollUntil(async () => {
      alive();
      return (await markedNames(server)) === namesTotal;
    }, `every name to carry a marker (up stderr: ${running.stderr().slice(-500)})`, 120_000, 1000);
    const convergedMs = Date.now() - upStartedMs;
    figures.takeoverMs = convergedMs;
    note(`up started → all ${namesTotal} names taken over (markers written): ${convergedMs} ms`);
    await moreRounds(sampler, probes.length, 2, 'two more rounds of samples after the takeover');
    assert.deepEqual(sampler.wrong, [], `answers that differed from the original sets (${sampler.samples} samples)`);

    // A re-import of the managed zone is the same inventory: the TTLs and the markers are all that changed.
    const reimport = join(dir.path, 'reimport.yaml');
    assert.equal((await runCli([...importArgs, '--output', reimport])).code, 0);
    const diff = await runCli(['diff', '-f', reimport, ...paths]);
    assert.equal(diff.code, 0, `a re-import is no change: ${diff.stdout}${diff.stderr}`);

    // The health change: one target of a sampled name with three IPv4 addresses goes down; its answer loses that
    // address (never empty: two stay), and no other sampled answer moves.
    const changed = probes.findIndex((probe) => probe.type === 'A' && probe.expected.split(',').length === 3);
    const probe = probes[changed]!;
    const address = probe.expected.split(',')[0]!;
    const target = `${probe.name.slice(0, -(zone.length + 1))}-${address}`;
    const remaining = probe.expected.split(',').slice(1).join(',');
    probe.also = remaining;
    const down = await runCli(['health', 'set', target, 'down', ...paths]);
    assert.equal(down.code, 0, down.stderr);
    const downMs = Date.now();
    await pollUntil(() => sampler.last.get(changed) === remaining, `${probe.name} to answer without ${address}`, 30_000, 20);
    figures.healthChangeMs = Date.now() - downMs;
    note(`health set ${target} down → the sampled answer changed: ${figures.healthChangeMs} ms`);
    probe.expected = remaining;
    probe.also = null;
    await moreRounds(sampler, probes.length, 1, 'a round of samples after the health change');
    await sampler.stop();
    assert.deepEqual(sampler.wrong, [], 'after the health change, every answer is the expected one');
    assert.ok(sampler.samples >= probes.length * 4, `${sampler.samples} samples`);
    note(`sampler: ${sampler.samples} answers checked over ${probes.length} probes (${sampledNames} names), `
      + `${sampler.timeouts} queries unanswered within ${queryTimeoutMs} ms and asked again, 0 wrong`);
    assert.equal(await running.stop(15_000), 0, running.stderr().slice(-800));
    return { ...figures, samples: sampler.samples, timeouts: sampler.timeouts, wrong: sampler.wrong.length };
  } finally {
    await sampler.stop();
    await up?.stop();
    dir.cleanup();
    await server.stop();
  }
}
