import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { cliPath, freeTcpPort, pollUntil, repoRoot, sampleConfig, spawnProcess, tempDir, writeConfig, type Child } from './env.js';
import { EtcdStore } from '../../src/store/etcd/store.js';
import { keys } from '../../src/store/etcd/keys.js';
import { prefixEnd, revisionOf } from '../../src/store/etcd/client.js';
import { BuiltinEtcdProvider, decodeServed } from '../../src/providers/builtin/etcd.js';
import { decodeRecords } from '../../src/domain/codec.js';
import { recordSetKey } from '../../src/domain/types.js';
import { loadConfigFile, inventoryOf } from '../../src/config/load.js';
import { Planner } from '../../src/planner/planner.js';
import { silentLogger } from '../../src/util/log.js';
import { randomInt, systemClock, type Rng } from '../../src/util/clock.js';
import type { ServedState } from '../../src/providers/types.js';
import type { Store } from '../../src/store/types.js';
import { InventoryChurn, ServedSequence } from '../e2e/harness.js';

/**
 * A real etcd cluster for tests: Debian's `etcd` (package etcd-server, 3.4)
 * members as child processes on free loopback ports, each in its own
 * temporary data directory, stopped by pid.
 *
 * Members can also run inside a network namespace (`wrap`, e.g.
 * ['ip', 'netns', 'exec', NS]) listening on an address that exists only
 * there; each member then also listens on a Unix socket in its data
 * directory, through which this process (outside the namespace) reaches it
 * without any network traffic leaving the namespace.
 */

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  /** Unix socket endpoint ("unix:/path"), when the cluster listens on Unix sockets too. */
  unixUrl: string | null;
  dataDir: string;
  child: Child | null;
}

export interface EtcdClusterOptions {
  members?: number;
  /** Address the members listen on for clients and peers (default 127.0.0.1). */
  host?: string;
  /** Command prefix each member is started under (e.g. ip netns exec NS). */
  wrap?: string[];
  /** Also listen on a Unix socket per member (for clients outside a namespace). */
  unixSockets?: boolean;
  /** Directory for the members' data; default a fresh temporary directory removed by stop(). */
  dir?: string;
  /** Serve clients over TLS with these PEM files, and require a client certificate signed by `ca`. */
  tls?: { ca: string; cert: string; key: string; clientCert: string; clientKey: string };
}

export interface TestCertificates {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here: trusting it instead of `ca` must fail. */
  otherCa: string;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl (EC P-256, valid two days). */
export function makeTestCertificates(dir: string): TestCertificates {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = (name: string) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', `${name}.key`);
  const authority = (name: string) => {
    key(name);
    openssl('req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
  };
  const signed = (name: string, extensions: string) => {
    key(name);
    openssl('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  };
  authority('ca');
  authority('other-ca');
  signed('server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  signed('client', 'extendedKeyUsage=clientAuth\n');
  const path = (file: string) => join(dir, file);
  return { dir, ca: path('ca.pem'), serverCert: path('server.pem'), serverKey: path('server.key'), clientCert: path('client.pem'), clientKey: path('client.key'), otherCa: path('other-ca.pem') };
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** Client URLs of every member (TCP). */
  endpoints: string[];
  /** The endpoints this test process should use: the Unix sockets when there are any, else the TCP URLs. */
  localEndpoints: string[];
  /** Sends `signal` to a member by pid and, for SIGKILL/SIGTERM, waits for it to exit. */
  kill(index: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts stopped members again on their data directories and waits until they report healthy (a lone member of three never does: restart a quorum together). */
  restart(...indices: number[]): Promise<void>;
  /** Index of the member that currently leads the Raft group (asks each running member). */
  leaderIndex(): Promise<number>;
  /** Waits until the given members (default all running ones) report healthy. */
  waitHealthy(indices?: number[], timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * etcd's default election settings. Shorter ones fail over faster but, on a
 * loaded two-core machine running three clusters at once, cause spurious
 * elections, and every election extends every lease (etcd's own safety
 * rule), which would blur what the tests measure.
 */
const heartbeatIntervalMs = 100;
const electionTimeoutMs = 1000;
/** How long a member may take to become healthy after a start. */
const startTimeoutMs = 30_000;

let installChecked = false;

/**
 * A temporary directory in memory (/dev/shm) when there is one: every etcd
 * write waits for fsync on a quorum of members, and on this test machine's
 * disk that, not dnsplane, would set the pace. Falls back to the OS temp dir.
 */
function memoryTempDir(prefix: string): { path: string; cleanup: () => void } {
  try {
    const path = mkdtempSync(join('/dev/shm', prefix));
    return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
  } catch {
    return tempDir(prefix);
  }
}

function alive(child: Child): boolean {
  return child.process.exitCode === null && child.process.signalCode === null;
}

/** Installs Debian's etcd-server through the project's installer when `etcd` is missing (as the test setup does). */
export function ensureEtcdInstalled(): void {
  if (installChecked) return;
  const found = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' });
  if (found.status !== 0) execFileSync('bash', [join(repoRoot, 'scripts', 'install-test-packages.sh')], { stdio: 'inherit' });
  const again = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (again.status !== 0) throw new Error(`etcd is not installed and could not be installed (apt-get install etcd-server): ${again.stderr}`);
  installChecked = true;
}

function memberArgs(member: EtcdMember, cluster: string, token: string, host: string, tls: EtcdClusterOptions['tls']): string[] {
  const clientUrls = member.unixUrl === null ? member.clientUrl : `${member.clientUrl},unix://${member.name}.sock:0`;
  const secure = tls === undefined ? [] : ['--cert-file', tls.cert, '--key-file', tls.key, '--trusted-ca-file', tls.ca, '--client-cert-auth'];
  return [
    ...secure,
    '--name', member.name, '--data-dir', member.dataDir,
    '--listen-client-urls', clientUrls, '--advertise-client-urls', member.clientUrl,
    '--listen-peer-urls', member.peerUrl, '--initial-advertise-peer-urls', member.peerUrl,
    '--initial-cluster', cluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
    '--heartbeat-interval', String(heartbeatIntervalMs), '--election-timeout', String(electionTimeoutMs),
    '--logger', 'zap', '--log-level', 'error', '--listen-metrics-urls', `http://${host}:0`,
  ];
}

/** GET /health of a member, over TCP (TLS with a client certificate when `tls`) or its Unix socket; true when it has a leader and serves. */
function healthy(member: EtcdMember, tls: EtcdClusterOptions['tls'], timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolveHealth) => {
    const url = new URL(`${member.clientUrl}/health`);
    const target = member.unixUrl !== null
      ? { socketPath: member.unixUrl.slice('unix:'.length), path: '/health' }
      : { host: url.hostname, port: Number(url.port), path: '/health' };
    const send = tls === undefined ? request : httpsRequest;
    const credentials = tls === undefined ? {} : { ca: readFileSync(tls.ca), cert: readFileSync(tls.clientCert), key: readFileSync(tls.clientKey) };
    const req = send({ ...target, ...credentials, timeout: timeoutMs }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      response.on('end', () => resolveHealth(response.statusCode === 200 && /"health":\s*"true"/.test(body)));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveHealth(false));
    req.end();
  });
}

/**
 * Starts of a cluster tried when a member finds its port taken: a port probed free (bound and released) can be taken
 * by another process — an outgoing connection of a test running beside this one — before etcd binds it.
 */
const clusterStartAttempts = 3;

export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startEtcdClusterOnce(options, attempt > 1);
    } catch (error) {
      const portTaken = /address already in use/.test((error as Error).message);
      if (!portTaken || attempt >= clusterStartAttempts) throw error;
    }
  }
}

async function startEtcdClusterOnce(options: EtcdClusterOptions, retry: boolean): Promise<EtcdCluster> {
  ensureEtcdInstalled();
  const count = options.members ?? 3;
  const host = options.host ?? '127.0.0.1';
  const temporary = options.dir === undefined ? memoryTempDir('dnsplane-etcd-') : null;
  const root = options.dir ?? temporary!.path;
  const wrap = options.wrap ?? [];
  const members: EtcdMember[] = [];
  for (let index = 0; index < count; index += 1) {
    const name = `m${index + 1}`;
    const dataDir = join(root, name);
    // A retry starts a new cluster: what a failed start left in a given directory would be another cluster's.
    if (retry) rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
    // Ports are probed on loopback; inside a namespace the address is private to it, so any free port will do.
    const clientPort = await freeTcpPort();
    const peerPort = await freeTcpPort();
    members.push({
      name, dataDir, child: null,
      clientUrl: `${options.tls === undefined ? 'http' : 'https'}://${host}:${clientPort}`, peerUrl: `http://${host}:${peerPort}`,
      unixUrl: options.unixSockets === true ? `unix:${join(dataDir, `${name}.sock:0`)}` : null,
    });
  }
  const initialCluster = members.map((member) => `${member.name}=${member.peerUrl}`).join(',');
  const token = `dnsplane-test-${process.pid}-${Date.now()}`;
  const start = (member: EtcdMember) => {
    const args = memberArgs(member, initialCluster, token, host, options.tls);
    // cwd is the data directory: etcd creates a unix:// listener's socket file relative to it.
    member.child = wrap.length === 0 ? spawnProcess('etcd', args, {}, member.dataDir) : spawnProcess(wrap[0]!, [...wrap.slice(1), 'etcd', ...args], {}, member.dataDir);
  };
  const running = () => members.map((member, index) => (member.child !== null && alive(member.child) ? index : -1)).filter((index) => index >= 0);
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((member) => member.clientUrl),
    localEndpoints: members.map((member) => member.unixUrl ?? member.clientUrl),
    async kill(index, signal = 'SIGKILL') {
      const member = members[index]!;
      const child = member.child;
      if (child === null || child.process.pid === undefined) return;
      process.kill(child.process.pid, signal);
      if (signal === 'SIGKILL' || signal === 'SIGTERM') {
        await child.exited;
        member.child = null;
      }
    },
    async restart(...indices) {
      for (const index of indices) {
        const member = members[index]!;
        if (member.child !== null) throw new Error(`member ${member.name} is still running`);
        start(member);
      }
      await cluster.waitHealthy(indices);
    },
    async leaderIndex() {
      const found = await pollUntil(async () => {
        for (const index of running()) {
          const client = new Etcd3({ hosts: [cluster.localEndpoints[index]!], dialTimeout: 1000, defaultCallOptions: () => ({ deadline: Date.now() + 1000 }) });
          try {
            const status = await client.maintenance.status({});
            if (status.leader === status.header.member_id) return index + 1;
          } catch {
            // Not answering: not the leader we can kill.
          } finally {
            client.close();
          }
        }
        return 0;
      }, 'an etcd leader', 10_000, 50);
      return found - 1;
    },
    async waitHealthy(indices = running(), timeoutMs = startTimeoutMs) {
      await pollUntil(async () => {
        for (const index of indices) {
          const member = members[index]!;
          if (member.child === null || !alive(member.child)) throw new Error(`etcd member ${member.name} exited: ${member.child?.stderr().slice(-2000) ?? 'not started'}`);
          if (!(await healthy(member, options.tls))) return false;
        }
        return true;
      }, `etcd members ${indices.map((index) => members[index]!.name).join(', ')} to be healthy`, timeoutMs, 50);
    },
    async stop() {
      // SIGKILL by pid: the data directories are thrown away, so a graceful leader transfer would only cost time.
      await Promise.all(members.map(async (member) => {
        const child = member.child;
        member.child = null;
        if (child === null || child.process.pid === undefined || !alive(child)) return;
        try { process.kill(child.process.pid, 'SIGKILL'); } catch { /* already gone */ }
        await child.exited;
      }));
      temporary?.cleanup();
    },
  };
  try {
    for (const member of members) start(member);
    await cluster.waitHealthy();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/*
 * Multi-process installations on etcd: the counterpart of test/e2e/harness.ts
 * (which reads the SQLite file directly) for an installation whose store and
 * served records live in etcd.
 */

export interface EtcdInstallation {
  cluster: EtcdCluster;
  dir: string;
  data: string;
  configPath: string;
  prefix: string;
  store: EtcdStore;
  provider: BuiltinEtcdProvider;
  children: Child[];
  /** The config for processes that reach etcd at other endpoints (e.g. from inside a network namespace). */
  configFor(endpoints: readonly string[], fileName: string): string;
  /** `dnsplane ARGS --config C --data D`, optionally under a command prefix (ip netns exec NS). */
  spawnRole(args: string[], env?: Record<string, string>, options?: { wrap?: string[]; configPath?: string }): Child;
  stop(): Promise<void>;
}

/** Timings of the e2e installations: fast planner and enactors, a tiny retention, etcd's shortest leases. */
export function etcdTestConfig(names: number, endpoints: readonly string[], prefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return sampleConfig(names, 3, {
    store: { kind: 'etcd', endpoints: [...endpoints], prefix },
    safety: { maxChangedFraction: 1, minNamesForThreshold: 10, retainGenerations: 5 },
    planner: { interval: '20ms', leaseTtl: '2s' },
    enactor: { pollInterval: '20ms', batchNamesMax: 4, retriesMax: 20, backoffBase: '1ms', backoffMax: '20ms', heartbeatInterval: '200ms', heartbeatTtl: '2s' },
    janitor: { interval: '50ms' },
    reconciler: { interval: '1s', maxLag: '30s' },
    ...extra,
  });
}

export async function startEtcdInstallation(names: number, extra: Record<string, unknown> = {}, clusterOptions: EtcdClusterOptions = {}): Promise<EtcdInstallation> {
  const cluster = await startEtcdCluster(clusterOptions);
  const dir = tempDir('dnsplane-etcd-e2e-');
  const data = join(dir.path, 'data');
  const prefix = `/e2e-${process.pid}-${Date.now()}/`;
  const configFor = (endpoints: readonly string[], fileName: string) => writeConfig(dir.path, etcdTestConfig(names, endpoints, prefix, extra), fileName);
  const configPath = configFor(cluster.localEndpoints, 'config.yaml');
  const store = new EtcdStore({ endpoints: cluster.localEndpoints, prefix });
  const provider = new BuiltinEtcdProvider({ endpoints: cluster.localEndpoints, prefix });
  const children: Child[] = [];
  return {
    cluster, dir: dir.path, data, configPath, prefix, store, provider, children, configFor,
    spawnRole(args, env = {}, options = {}) {
      const command = [cliPath, ...args, '--config', options.configPath ?? configPath, '--data', data];
      const wrap = options.wrap ?? [];
      const child = wrap.length === 0 ? spawnProcess(process.execPath, command, env) : spawnProcess(wrap[0]!, [...wrap.slice(1), process.execPath, ...command], env);
      children.push(child);
      return child;
    },
    async stop() {
      await Promise.all(children.map(async (child) => {
        if (child.process.pid !== undefined && alive(child)) {
          try { process.kill(child.process.pid, 'SIGCONT'); } catch { /* already gone */ }
        }
        await child.stop(3000);
      }));
      await provider.close();
      await store.close();
      await cluster.stop();
      dir.cleanup();
    },
  };
}

/**
 * Samples every served name and the plan version each one claims, all at
 * one etcd revision (one consistent snapshot), and checks S1 (never empty),
 * S3 (the set equals the plan's set at the served generation), S4 (that plan
 * version still exists), and S2 and S5 across samples (ServedSequence).
 */
export class EtcdInvariantChecker {
  readonly violations: string[] = [];
  samples = 0;
  failedSamples = 0;
  private readonly sequence = new ServedSequence();

  constructor(private readonly store: EtcdStore) {}

  async sample(): Promise<void> {
    const etcd = this.store.etcd;
    const served = etcd.key(keys.servedPrefix);
    const response = await etcd.range({ key: served, range_end: prefixEnd(served) });
    const revision = revisionOf(response.header.revision);
    const states = response.kvs.map((kv) => decodeServed(etcd.path(kv.key).slice(keys.servedPrefix.length), kv));
    const ranges = states.map((state) => ({
      key: etcd.key(keys.versionsOf(state.name)), range_end: etcd.key(keys.version(state.name, state.generation + 1)),
      sort_order: 'Descend' as const, sort_target: 'Key' as const, limit: 1,
    }));
    const { responses } = await etcd.readMany(ranges, revision);
    states.forEach((state, index) => this.check(state, responses[index]!.kvs[0]?.value.toString()));
    this.violations.push(...this.sequence.observe(states, `(sample ${this.samples})`));
    this.samples += 1;
  }

  private check(state: ServedState, planRecords: string | undefined): void {
    const at = `(sample ${this.samples})`;
    const key = recordSetKey(state.records);
    if (state.records.length === 0) this.violations.push(`S1: ${state.name} served no records at generation ${state.generation} ${at}`);
    if (planRecords === undefined || planRecords === '-') this.violations.push(`S4: ${state.name} serves generation ${state.generation} whose plan is gone ${at}`);
    else if (recordSetKey(decodeRecords(planRecords)) !== key) this.violations.push(`S3: ${state.name} at generation ${state.generation} serves ${key}, plan says ${planRecords} ${at}`);
  }

  /** Samples until `running()` is false; a sample that fails (etcd without quorum) is counted and retried. */
  async sampleWhile(running: () => boolean, intervalMs = 5): Promise<void> {
    while (running()) {
      try {
        await this.sample();
      } catch {
        this.failedSamples += 1;
      }
      await new Promise((resolveWait) => setTimeout(resolveWait, intervalMs));
    }
  }
}

// The history and plan-header checks and the waits are the SQLite race's own, over the Store and Provider interfaces.
export { checkHistory as checkHistoryEtcd, checkPlanHeaders, waitConverged as waitConvergedEtcd, waitForEnactors as waitForEnactorsEtcd } from '../e2e/harness.js';

/** The real Planner, in this process, over the installation's config, flipping 1-3 random targets (and perhaps the inventory, see InventoryChurn) before each tick. */
export function churningPlannerOn(store: Store, configPath: string, id: string, rng: Rng, options: { leaseTtlMs?: number; removalChance?: number } = {}) {
  const config = loadConfigFile(configPath);
  const inventory = new InventoryChurn(inventoryOf(config), rng);
  const planner = new Planner(
    { id, zone: 'dnsplane.test', intervalMs: 1, leaseTtlMs: options.leaseTtlMs ?? 2000, safety: { ...config.safety } },
    { store, clock: systemClock, log: silentLogger, inventory: () => inventory.current },
  );
  const targets = inventory.everything.flatMap((endpoint) => endpoint.targets.map((target) => target.id));
  return {
    planner,
    stats: inventory.stats,
    async churnOnce(): Promise<number | null> {
      inventory.maybeChange(options.removalChance);
      const flips = new Map<string, 'up' | 'down'>();
      for (let count = 1 + randomInt(rng, 3); count > 0; count -= 1) flips.set(targets[randomInt(rng, targets.length)]!, rng.next() < 0.5 ? 'down' : 'up');
      await store.setHealthMany([...flips].map(([target, state]) => ({ target, state })), 'test');
      const result = await planner.tick();
      return result.kind === 'published' ? result.header.generation : null;
    },
  };
}
