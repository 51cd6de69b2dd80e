/**
 * Soak: the whole system under churn for N minutes, through the real CLI.
 *
 *   npm run soak -- --minutes N [--store sqlite|etcd] [--names K] [--seed S]
 *
 * `dnsplane up --config` runs over K names of three targets each (on etcd:
 * a cluster of three members). Every target's health check is an HTTP URL
 * served by this script, so health churn is real: probes start failing and
 * recover. Meanwhile role processes (found as children of `up`) are
 * SIGKILLed every few seconds, `up` restarts them, etcd members are killed
 * and restarted one at a time, `dnsplane apply --force` removes names and
 * adds them back, and a UDP client asks for every name continuously.
 *
 * The report counts queries, empty answers, SERVFAIL and timeouts (apart
 * for the moments a `serve` was down), generations, kills, restarts,
 * repairs and the longest convergence. Exit 1 on any empty answer or
 * invariant violation (a role exiting with 70, an address that is not the
 * name's, a name that was answering and vanished while in the inventory).
 * Not part of the tests: it takes minutes and a few hundred MB.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { childrenOf, descendantsOf, isAlive } from '../test/helpers/procs.js';
import { freeDualPort, freeTcpPort, runCli, sampleConfig, spawnCli, tempDir, writeConfig, type Child } from '../test/helpers/env.js';
import { startEtcdCluster, type EtcdCluster } from '../test/helpers/etcd.js';

const zone = 'dnsplane.test';
/** Bounds of the churn, named. */
const killIntervalMs = 3_000;
const healthFlipIntervalMs = 700;
const inventoryEditIntervalMs = 10_000;
const etcdKillIntervalMs = 15_000;
const etcdDownMs = 4_000;
const queryTimeoutMs = 800;
const queriesInFlightMax = 8;
/** Share of all targets that may be failing at once: below the checkers' self-doubt (0.5) and the capacity guard (0.5). */
const targetsDownFractionMax = 0.25;
const namesRemovedMax = 3;
/** After the churn stops, how long the system has to converge before what is still pending is reported. */
const settleMs = 15_000;
const killableRoles = ['enactor', 'planner', 'janitor', 'reconciler', 'serve', 'checker'] as const;

interface Options { minutes: number; store: 'sqlite' | 'etcd'; names: number; seed: number }

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { minutes: 2, store: 'sqlite', names: 20, seed: Date.now() % 1_000_000 };
  for (let index = 0; index < argv.length; index += 2) {
    const [flag, value] = [argv[index], argv[index + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--minutes') options.minutes = Number(value);
    else if (flag === '--store' && (value === 'sqlite' || value === 'etcd')) options.store = value;
    else if (flag === '--names') options.names = Number(value);
    else if (flag === '--seed') options.seed = Number(value);
    else throw new Error(`unknown option ${flag} ${value} (--minutes N, --store sqlite|etcd, --names K, --seed S)`);
  }
  assert.ok(options.minutes > 0 && options.minutes <= 24 * 60, '--minutes within (0, 1440]');
  assert.ok(Number.isInteger(options.names) && options.names >= 4 && options.names <= 1000, '--names within 4..1000');
  return options;
}

/** A small seeded generator (mulberry32), so a run's choices can be replayed with --seed. */
function rngOf(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

interface Endpoint { name: string; targets: { id: string; address: string }[] }

/** What the soak knows and counts. */
class Tally {
  queries = 0;
  answered = 0;
  empty = 0;
  nxdomainExpected = 0;
  nxdomainUnexpected = 0;
  servfail = 0;
  timeouts = 0;
  servfailServeDown = 0;
  timeoutsServeDown = 0;
  wrongAddresses = 0;
  kills = new Map<string, number>();
  etcdKills = 0;
  healthFlips = 0;
  inventoryVersions = 0;
  inventoryRefused = 0;
  convergenceMsMax = 0;
  convergenceName = '';
  convergences: number[] = [];
  violations: string[] = [];
  slow: string[] = [];
  killLog: string[] = [];

  violation(text: string): void {
    if (this.violations.length < 50) this.violations.push(`${new Date().toISOString()} ${text}`);
  }
}

/** The health of every target, served over HTTP at /t/<id>: 200 while up, 503 while down. */
function startHealthServer(down: Set<string>): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    const id = (request.url ?? '').replace(/^\/t\//, '');
    response.writeHead(down.has(id) ? 503 : 200, { connection: 'close' }).end(down.has(id) ? 'down' : 'OK');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    resolve({ server, port: typeof address === 'object' && address !== null ? address.port : 0 });
  }));
}

/** Endpoints with real HTTP checks against the soak's health server. */
function endpointsOf(names: number, healthPort: number): Endpoint[] {
  const base = sampleConfig(names, 3).endpoints as { name: string; targets: Record<string, unknown>[] }[];
  return base.map((endpoint) => ({
    name: endpoint.name,
    targets: endpoint.targets.map((target) => ({ ...target, check: { http: `http://127.0.0.1:${healthPort}/t/${String(target.id)}` } })),
  })) as unknown as Endpoint[];
}

function configOf(endpoints: Endpoint[], store: Record<string, unknown>): Record<string, unknown> {
  return {
    zone: `${zone}.`,
    store,
    health: { interval: '500ms', timeout: '400ms', rise: 2, fall: 2 }, // generous: the soak runs on loaded machines
    safety: { maxChangedFraction: 1, minNamesForThreshold: 10, retainGenerations: 5 },
    planner: { interval: '100ms', leaseTtl: '2s' },
    enactor: { pollInterval: '20ms', heartbeatInterval: '200ms', heartbeatTtl: '2s' },
    janitor: { interval: '500ms' },
    reconciler: { interval: '1s', maxLag: '10s' },
    endpoints,
  };
}

/**
 * The expected answer of a name: its healthy targets, or every target when
 * none is healthy (the planner fails open). Probes, hysteresis and the
 * withdrawal velocity make DNS trail this; the trail is the convergence.
 */
function expectedOf(endpoint: Endpoint, down: ReadonlySet<string>): string {
  const healthy = endpoint.targets.filter((target) => !down.has(target.id));
  return (healthy.length === 0 ? endpoint.targets : healthy).map((target) => target.address).sort().join(',');
}

/** Per name: what it should answer and since when DNS has not matched it. */
interface NameState { endpoint: Endpoint; present: boolean; established: boolean; expected: string; pendingSinceMs: number | null }

/** A UDP DNS client asking for every name in turn, `queriesInFlightMax` at a time. */
class Client {
  private readonly socket: Socket;
  private readonly waiting = new Map<number, (response: dnsPacket.Packet | null) => void>();
  private nextId = 1;
  private stopped = false;
  serveDownSinceMs: number | null = null;

  constructor(private readonly port: number, private readonly names: Map<string, NameState>, private readonly tally: Tally) {
    this.socket = createSocket('udp4');
    this.socket.on('message', (message) => {
      try {
        const packet = dnsPacket.decode(message);
        const resolve = this.waiting.get(packet.id ?? -1);
        if (resolve !== undefined) resolve(packet);
      } catch { /* not a DNS message: ignored */ }
    });
  }

  private ask(name: string): Promise<dnsPacket.Packet | null> {
    const id = this.nextId;
    this.nextId = this.nextId >= 65_535 ? 1 : this.nextId + 1;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiting.delete(id); resolve(null); }, queryTimeoutMs);
      this.waiting.set(id, (packet) => { clearTimeout(timer); this.waiting.delete(id); resolve(packet); });
      const query = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: `${name}.${zone}` }] });
      this.socket.send(query, this.port, '127.0.0.1');
    });
  }

  async run(): Promise<void> {
    const order = [...this.names.keys()];
    let cursor = 0;
    const worker = async () => {
      while (!this.stopped) {
        const name = order[cursor % order.length]!;
        cursor += 1;
        const packet = await this.ask(name);
        this.record(name, packet);
        if (packet === null) await new Promise((r) => setTimeout(r, 50));
      }
    };
    await Promise.all(Array.from({ length: queriesInFlightMax }, worker));
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.socket.close();
  }

  /** Every name in the inventory has answered at least once. */
  warm(): boolean {
    return [...this.names.values()].every((state) => !state.present || state.established);
  }

  private record(name: string, packet: dnsPacket.Packet | null): void {
    const state = this.names.get(name)!;
    const tally = this.tally;
    tally.queries += 1;
    const serveDown = this.serveDownSinceMs !== null;
    if (packet === null) {
      if (serveDown) tally.timeoutsServeDown += 1; else tally.timeouts += 1;
      return;
    }
    this.serveDownSinceMs = null; // serve answers again
    const rcode = (packet as { rcode?: string }).rcode ?? 'NOERROR'; // decoded by dns-packet, missing from its types
    if (rcode === 'SERVFAIL') {
      if (serveDown) tally.servfailServeDown += 1; else tally.servfail += 1;
    } else if (rcode === 'NXDOMAIN') {
      if (state.present && state.established) {
        tally.nxdomainUnexpected += 1;
        tally.violation(`${name}: NXDOMAIN while in the inventory and answering before`);
      } else tally.nxdomainExpected += 1;
    } else if (rcode === 'NOERROR') {
      const addresses = (packet.answers ?? []).filter((answer) => answer.type === 'A').map((answer) => String((answer as { data?: unknown }).data)).sort();
      if (addresses.length === 0) {
        tally.empty += 1;
        tally.violation(`${name}: empty NOERROR answer`);
        return;
      }
      tally.answered += 1;
      const known = new Set(state.endpoint.targets.map((target) => target.address));
      if (addresses.some((address) => !known.has(address))) {
        tally.wrongAddresses += 1;
        tally.violation(`${name}: answered ${addresses.join(',')}, not its targets`);
      }
      if (state.present) state.established = true;
      if (state.present && state.pendingSinceMs !== null && addresses.join(',') === state.expected) {
        const convergenceMs = Date.now() - state.pendingSinceMs;
        tally.convergences.push(convergenceMs);
        if (convergenceMs > tally.convergenceMsMax) { tally.convergenceMsMax = convergenceMs; tally.convergenceName = name; }
        if (convergenceMs > 5000 && tally.slow.length < 10) tally.slow.push(`${name}: ${convergenceMs} ms, from ${new Date(state.pendingSinceMs).toISOString()} to ${addresses.join(',')}`);
        state.pendingSinceMs = null;
      }
    } else tally.violation(`${name}: unexpected rcode ${rcode}`);
  }
}

/** Every few seconds, SIGKILL one role of `up` at random (api and up itself are spared). */
function roleKiller(upPid: number, random: () => number, tally: Tally, client: Client): NodeJS.Timeout {
  return setInterval(() => {
    const roles = childrenOf(upPid).filter((child) => killableRoles.some((role) => child.args.includes(role)));
    if (roles.length === 0) return;
    const victim = roles[Math.floor(random() * roles.length)]!;
    const role = killableRoles.find((name) => victim.args.includes(name))!;
    const id = victim.args[victim.args.indexOf('--id') + 1];
    const label = victim.args.includes('--id') && id !== undefined ? `${role} ${id}` : role;
    try {
      for (const pid of descendantsOf(victim.pid)) process.kill(pid, 'SIGKILL');
      process.kill(victim.pid, 'SIGKILL');
    } catch { return; /* it ended on its own meanwhile */ }
    if (role === 'serve') client.serveDownSinceMs = Date.now();
    tally.kills.set(label, (tally.kills.get(label) ?? 0) + 1);
    if (tally.killLog.length < 100) tally.killLog.push(`${new Date().toISOString()} ${label}`);
  }, killIntervalMs);
}

/** Flip one target's health every `healthFlipIntervalMs`, keeping at most `targetsDownFractionMax` of them down. */
function healthChurn(endpoints: Endpoint[], names: Map<string, NameState>, down: Set<string>, random: () => number, tally: Tally): NodeJS.Timeout {
  const all = endpoints.flatMap((endpoint) => endpoint.targets.map((target) => ({ endpoint, target })));
  const downMax = Math.floor(all.length * targetsDownFractionMax);
  return setInterval(() => {
    const pick = all[Math.floor(random() * all.length)]!;
    if (down.has(pick.target.id)) down.delete(pick.target.id);
    else if (down.size < downMax) down.add(pick.target.id);
    else return;
    tally.healthFlips += 1;
    const state = names.get(pick.endpoint.name)!;
    const expected = expectedOf(pick.endpoint, down);
    if (expected !== state.expected) {
      state.expected = expected;
      state.pendingSinceMs ??= Date.now();
    }
  }, healthFlipIntervalMs);
}

/**
 * Remove a name or two, or add removed ones back, through `dnsplane apply --force`.
 * A name counts as absent from the moment the apply starts (it may answer until
 * the removal is enacted) and as present once the apply succeeded (NXDOMAIN is
 * expected until its first answer).
 */
async function inventoryEdit(paths: string[], dir: string, names: Map<string, NameState>, random: () => number, tally: Tally): Promise<void> {
  const removed = [...names.values()].filter((state) => !state.present);
  const present = [...names.values()].filter((state) => state.present);
  const adding = removed.length >= namesRemovedMax || (removed.length > 0 && random() < 0.5);
  const changed = adding ? removed.slice(0, 1 + Math.floor(random() * removed.length)) : [present[Math.floor(random() * present.length)]!];
  const keep = new Set([...names.values()].filter((state) => state.present).map((state) => state.endpoint.name));
  for (const state of changed) {
    if (adding) keep.add(state.endpoint.name);
    else { keep.delete(state.endpoint.name); state.present = false; state.established = false; state.pendingSinceMs = null; }
  }
  const file = writeConfig(dir, { endpoints: [...names.values()].filter((state) => keep.has(state.endpoint.name)).map((state) => state.endpoint) }, 'edit.yaml');
  const verb = adding ? 'add back' : 'retire';
  const result = await runCli(['apply', '-f', file, '--reason', `soak: ${verb} ${changed.map((state) => state.endpoint.name).join(', ')}`, '--force', ...paths]);
  if (result.code !== 0) {
    tally.inventoryRefused += 1;
    process.stderr.write(`soak: apply exited ${result.code}: ${(result.stdout + result.stderr).slice(-300)}\n`);
    // A removal not applied: the name is still in the inventory (but its answers are no longer held to it until seen again).
    if (!adding) for (const state of changed) state.present = true;
    return;
  }
  tally.inventoryVersions += 1;
  if (adding) for (const state of changed) { state.present = true; state.established = false; state.pendingSinceMs = Date.now(); }
}

/** Kill one etcd member, restart it after `etcdDownMs`; one member down at a time keeps the quorum. */
function etcdChurn(cluster: EtcdCluster, random: () => number, tally: Tally, stopped: () => boolean): NodeJS.Timeout {
  let busy = false;
  return setInterval(() => {
    if (busy || stopped()) return;
    busy = true;
    const index = Math.floor(random() * cluster.members.length);
    void (async () => {
      try {
        await cluster.kill(index, 'SIGKILL');
        tally.etcdKills += 1;
        await new Promise((r) => setTimeout(r, etcdDownMs));
        if (!stopped()) await cluster.restart(index);
      } catch (error) {
        tally.violation(`etcd member ${index + 1} did not come back: ${(error as Error).message.slice(0, 200)}`);
      } finally { busy = false; }
    })();
  }, etcdKillIntervalMs);
}

async function httpText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return response.text();
}

/** Generations, repairs and what `up` logged about restarts, after the run. */
/** The newest generation, from the API's status (null when it does not answer). */
async function latestGeneration(httpPort: number): Promise<number | null> {
  try {
    const status = JSON.parse(await httpText(`http://127.0.0.1:${httpPort}/api/status`)) as { generation?: { latest?: number } };
    return status.generation?.latest ?? null;
  } catch {
    return null;
  }
}

async function finalFigures(httpPort: number, up: Child): Promise<{ generation: string; repairs: string; restarts: number; exits70: number }> {
  let repairs = '?';
  const generation = String(await latestGeneration(httpPort) ?? '?');
  try {
    const metrics = await httpText(`http://127.0.0.1:${httpPort}/metrics`);
    repairs = metrics.match(/^dnsplane_reconciler_repairs_total(?:\{[^}]*\})? (\S+)/m)?.[1] ?? '?';
  } catch (error) { repairs = `? (${(error as Error).message})`; }
  const log = up.stdout() + up.stderr();
  const restarts = (log.match(/exited; restarting/g) ?? []).length;
  const exits70 = (log.match(/"code":70/g) ?? []).length;
  return { generation, repairs, restarts, exits70 };
}

function percentile(values: number[], share: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))]!;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const random = rngOf(options.seed);
  const tally = new Tally();
  const dir = tempDir('dnsplane-soak-');
  const down = new Set<string>();
  const health = await startHealthServer(down);
  let cluster: EtcdCluster | null = null;
  let up: Child | null = null;
  let client: Client | null = null;
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;
  let generationFirst: number | null = null;
  const cleanup = async () => {
    stopping = true;
    for (const timer of timers) clearInterval(timer);
    client?.stop();
    if (up !== null && up.process.pid !== undefined) {
      const roles = descendantsOf(up.process.pid);
      await up.stop(10_000);
      for (const pid of roles) if (isAlive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    }
    await cluster?.stop();
    health.server.close();
    dir.cleanup();
  };
  process.once('SIGINT', () => { void cleanup().finally(() => process.exit(130)); });
  try {
    const store = options.store === 'etcd'
      ? await (async () => {
        cluster = await startEtcdCluster({ members: 3 });
        return { kind: 'etcd', endpoints: cluster.localEndpoints, prefix: `/soak-${process.pid}/` };
      })()
      : { kind: 'sqlite' };
    const endpoints = endpointsOf(options.names, health.port);
    const configPath = writeConfig(dir.path, configOf(endpoints, store));
    const paths = ['--config', configPath, '--data', join(dir.path, 'data')];
    const [dnsPort, httpPort] = [await freeDualPort(), await freeTcpPort()];
    const names = new Map<string, NameState>(endpoints.map((endpoint) => [endpoint.name, { endpoint, present: true, established: false, expected: expectedOf(endpoint, down), pendingSinceMs: null }]));
    process.stdout.write(`soak: ${options.minutes} min on ${options.store}, ${options.names} names × 3 targets, seed ${options.seed}\n`);
    const started = spawnCli(['up', ...paths, '--dns-port', String(dnsPort), '--http-port', String(httpPort)]);
    up = started;
    const deadline = Date.now() + 120_000;
    while (!started.stdout().includes('dnsplane DNS serving')) {
      if (Date.now() > deadline || started.process.exitCode !== null) throw new Error(`up did not start (exit ${started.process.exitCode}): ${started.stdout().slice(-500)} ${started.stderr().slice(-1000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const activeClient = new Client(dnsPort, names, tally);
    client = activeClient;
    const querying = activeClient.run();
    const warmDeadline = Date.now() + 60_000;
    while (!activeClient.warm()) {
      if (Date.now() > warmDeadline) throw new Error('not every name answered within 60 s of up serving');
      await new Promise((r) => setTimeout(r, 100));
    }
    // The counts start once every name answers: what happened before is start-up, not churn.
    Object.assign(tally, { queries: 0, answered: 0, nxdomainExpected: 0, servfail: 0, timeouts: 0 });
    generationFirst = await latestGeneration(httpPort);
    const upPid = started.process.pid!;
    timers.push(roleKiller(upPid, random, tally, activeClient));
    timers.push(healthChurn(endpoints, names, down, random, tally));
    let editing = false;
    timers.push(setInterval(() => {
      if (editing || stopping) return;
      editing = true;
      void inventoryEdit(paths, dir.path, names, random, tally).finally(() => { editing = false; });
    }, inventoryEditIntervalMs));
    if (cluster !== null) timers.push(etcdChurn(cluster, random, tally, () => stopping));
    const endAtMs = Date.now() + options.minutes * 60_000;
    while (Date.now() < endAtMs && started.process.exitCode === null) {
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (started.process.exitCode !== null) tally.violation(`up exited early with ${started.process.exitCode}`);
    // Stop the churn and give the system time to settle; what is still unconverged then is reported.
    for (const timer of timers) clearInterval(timer);
    timers.length = 0;
    while (editing) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, settleMs));
    const unconverged = [...names.values()].filter((state) => state.present && state.pendingSinceMs !== null).map((state) => state.endpoint.name);
    const figures = await finalFigures(httpPort, started);
    activeClient.stop();
    await querying;
    if (figures.exits70 > 0) tally.violation(`${figures.exits70} role exit(s) with 70 (an invariant violation)`);
    report(options, tally, { ...figures, generation: `${generationFirst ?? '?'} → ${figures.generation}` }, unconverged);
  } finally {
    await cleanup();
  }
  return tally.empty > 0 || tally.violations.length > 0 ? 1 : 0;
}

function report(options: Options, tally: Tally, figures: Awaited<ReturnType<typeof finalFigures>>, unconverged: string[]): void {
  const kills = [...tally.kills.entries()].sort().map(([role, count]) => `${role} ${count}`).join(', ');
  const killsTotal = [...tally.kills.values()].reduce((sum, count) => sum + count, 0);
  const lines = [
    `soak report (${options.store}, ${options.minutes} min, ${options.names} names, seed ${options.seed})`,
    `  queries                 ${tally.queries} (answered ${tally.answered}, NXDOMAIN expected ${tally.nxdomainExpected})`,
    `  empty answers           ${tally.empty}`,
    `  SERVFAIL / timeouts     ${tally.servfail} / ${tally.timeouts} while serve was up; ${tally.servfailServeDown} / ${tally.timeoutsServeDown} while a serve was down`,
    `  unexpected NXDOMAIN     ${tally.nxdomainUnexpected}; addresses not the name's ${tally.wrongAddresses}`,
    `  generations             ${figures.generation} (when the churn began → at the end)`,
    `  role kills              ${killsTotal}: ${kills}`,
    ...(options.store === 'etcd' ? [`  etcd member kills       ${tally.etcdKills}`] : []),
    `  restarts (up's log)     ${figures.restarts}`,
    `  reconciler repairs      ${figures.repairs}`,
    `  health flips            ${tally.healthFlips}; inventory versions applied ${tally.inventoryVersions} (apply failed ${tally.inventoryRefused})`,
    `  convergence             longest ${tally.convergenceMsMax} ms (${tally.convergenceName}), p50 ${percentile(tally.convergences, 0.5)} ms, p99 ${percentile(tally.convergences, 0.99)} ms over ${tally.convergences.length}`,
    `  unconverged at the end  ${unconverged.length === 0 ? 'none' : unconverged.join(', ')}`,
    ...(tally.slow.length === 0 ? [] : [
      '  convergences over 5 s (first 10):', ...tally.slow.map((line) => `    ${line}`),
      `  kills (first ${tally.killLog.length}): ${tally.killLog.map((line) => line.slice(11, 23) + line.slice(24)).join('; ')}`,
    ]),
    `  violations              ${tally.violations.length}`,
    ...tally.violations.map((line) => `    ${line}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`soak: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
