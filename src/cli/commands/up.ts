import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer, isIPv6 } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { applyInventory, seedInventory } from '../../inventory/apply.js';
import { formatDiff } from '../../inventory/diff.js';
import { splitHostPort } from '../../domain/probe-spec.js';
import { refuseSelfDependencies } from '../../graph/self-dependency.js';
import type { DemoServers } from '../../demo/demo.js';
import { UserError } from '../../util/assert.js';
import type { Logger } from '../../util/log.js';
import { configLoader, parseWholeNumber, portOption, stopSignal } from '../common.js';
import { dataDirectory, defaultDataDir } from '../context.js';
import { Supervisor, type RoleFailure, type RoleSpec } from '../supervisor.js';
import type { Config } from '../../config/schema.js';
import { normalizeName } from '../../domain/names.js';
import { ZoneSet } from '../../domain/zones.js';

interface UpOptions {
  config?: string;
  data: string;
  dnsPort?: number;
  httpPort?: number;
}

export const enactorIds = ['az1', 'az2', 'az3'] as const;
/** Three checkers: one whose own view breaks is outvoted by the other two (src/health/quorum.ts). */
export const checkerIds = ['c1', 'c2', 'c3'] as const;

function processAlive(pid: number): boolean {
  try {
    return pid > 0 && process.kill(pid, 0);
  } catch {
    return false;
  }
}

/** Refuses a second `up` on the same data directory while the first is alive. */
function claimDataDir(dataDir: string): () => void {
  dataDirectory({ data: dataDir }, true);
  const pidFile = join(dataDir, 'up.pid');
  if (existsSync(pidFile)) {
    // A pid file that holds no pid (cut short by a crash) is no `up` running.
    const pid = parseWholeNumber(readFileSync(pidFile, 'utf8').trim(), { min: 1 });
    if (pid !== null && processAlive(pid)) {
      throw new UserError(`dnsplane up is already running on ${dataDir} (pid ${pid}); stop it or use another --data`);
    }
  }
  try {
    writeFileSync(pidFile, `${process.pid}\n`);
  } catch (error) {
    throw new UserError(`data directory ${dataDir} cannot be written (${(error as Error).message})`);
  }
  return () => rmSync(pidFile, { force: true });
}

/** What a running `up` wrote to <data>/up.json once its roles started. */
export interface UpInfo {
  pid: number;
  dnsPort: number;
  httpUrl: string;
  /** Whether it runs the self-contained demo (no --config). */
  demo: boolean;
}

/** The `up` running on `dataDir` now, or null: none started there, or the one that did has exited. */
export function runningUp(dataDir: string): UpInfo | null {
  const path = join(dataDir, 'up.json');
  if (!existsSync(path)) return null;
  let info: Partial<UpInfo>;
  try {
    info = JSON.parse(readFileSync(path, 'utf8')) as Partial<UpInfo>;
  } catch {
    return null; // Being written, or not ours: no `up` to talk to.
  }
  if (typeof info.pid !== 'number' || !processAlive(info.pid)) return null;
  return { pid: info.pid, dnsPort: info.dnsPort ?? 0, httpUrl: info.httpUrl ?? '', demo: info.demo === true };
}

/**
 * The dashboard's actions need a bearer token. Without one in the config or
 * the environment, `up` makes one, keeps it in <data>/api-token (mode 0600)
 * and prints it, so the demo's buttons work out of the box.
 */
function apiToken(config: Config, dataDir: string): { token: string; shown: boolean } {
  const configured = config.api.token ?? process.env.DNSPLANE_API_TOKEN;
  if (configured !== undefined && configured !== '') return { token: configured, shown: false };
  const path = join(dataDir, 'api-token');
  if (existsSync(path)) return { token: readFileSync(path, 'utf8').trim(), shown: true };
  const token = randomBytes(24).toString('base64url');
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return { token, shown: true };
}

/** Binds `host:port` for `protocol` and releases it at once: the error when another program holds it, else null. */
function bindAndRelease(protocol: 'udp' | 'tcp', host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolveBind) => {
    if (protocol === 'udp') {
      const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
      socket.once('error', (error) => {
        try {
          socket.close();
        } catch {
          // Never bound: nothing to release.
        }
        resolveBind(error);
      });
      socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolveBind(null)));
    } else {
      const server = createServer();
      server.once('error', (error) => resolveBind(error));
      server.listen({ host, port, exclusive: true }, () => server.close(() => resolveBind(null)));
    }
  });
}

export interface PortUse {
  protocol: 'udp' | 'tcp';
  host: string;
  port: number;
  /** What the port is for, with the setting that chooses it, for the message. */
  what: string;
}

/**
 * Every port `up` serves on is bound and released before any role starts: a port another program holds is a
 * UserError (exit 2) naming it, not a banner followed by `serve` or `api` restarting forever. Port 0 is skipped (the
 * role picks a free one). A port taken between this check and the role's own bind still stops `up`: the role exits 2.
 */
export async function checkPortsFree(uses: readonly PortUse[]): Promise<void> {
  for (const use of uses) {
    if (use.port === 0) continue;
    const error = await bindAndRelease(use.protocol, use.host, use.port);
    if (error === null) continue;
    const why = error.code === 'EADDRINUSE' ? 'another program holds it'
      : error.code === 'EACCES' ? 'permission denied' : error.message;
    const where = `${use.protocol.toUpperCase()} port ${use.port} on ${use.host}`;
    throw new UserError(`cannot use ${where} for ${use.what}: ${why} (${error.code ?? 'error'});`
      + ' stop that program or choose another port');
  }
}

/** The message `up` stops with when a role refused its input: the role, its code and what it said last on stderr. */
export function roleFailureMessage(failure: RoleFailure): string {
  // A role's own UserError is printed by src/cli/main.ts as "error: ..." (possibly several lines): show it from there.
  let start = -1;
  failure.stderrTail.forEach((line, index) => {
    if (line.startsWith('error:') || line.startsWith('FATAL')) start = index;
  });
  const said = start === -1 ? failure.stderrTail.slice(-3) : failure.stderrTail.slice(start);
  const text = said.map((line) => line.replace(/^error: /, '')).join('\n  ');
  return `role ${failure.role} exited with code ${failure.code} (bad input: a restart cannot fix it),`
    + ` so dnsplane up stopped every role${text === '' ? '' : `:\n  ${text}`}`;
}

export function roleSpecs(
  config: Config, configPath: string, dataDir: string, dnsPort: number, httpPort: number | undefined,
): RoleSpec[] {
  const paths = ['--config', configPath, '--data', dataDir];
  // `serve` is the DNS server of the built-in provider; with RFC 2136 the zone's own server answers.
  const serves = servesDns(config);
  return [
    ...checkerIds.map((id) => ({ name: `checker-${id}`, args: ['checker', '--id', id, ...paths] })),
    { name: 'planner', args: ['planner', ...paths] },
    ...enactorIds.map((id) => ({ name: `enactor-${id}`, args: ['enactor', '--id', id, ...paths] })),
    { name: 'janitor', args: ['janitor', ...paths] },
    { name: 'reconciler', args: ['reconciler', ...paths] },
    ...(serves ? [{ name: 'serve', args: ['serve', ...paths, '--dns-port', String(dnsPort)] }] : []),
    { name: 'api', args: ['api', ...paths, ...(httpPort === undefined ? [] : ['--http-port', String(httpPort)])] },
  ];
}

/** Whether a zone uses the built-in provider, whose DNS server `up` then runs. */
function servesDns(config: Config): boolean {
  return config.zones.some((zone) => zone.provider.kind === 'builtin');
}

/** Who answers DNS for the zone: dnsplane's own server (built-in provider), or the provider's. */
function dnsServed(provider: Config['provider'], dnsHost: string, dnsPort: number): string {
  switch (provider.kind) {
    case 'builtin':
      return `${dnsHost}:${dnsPort} (UDP and TCP)`;
    case 'rfc2136':
      return `${provider.server} (RFC 2136; dnsplane runs no DNS server)`;
    case 'route53':
      return `Route 53 hosted zone ${provider.hostedZoneId} (dnsplane runs no DNS server)`;
  }
}

/** The dig that reaches the DNS this installation steers: its own server, the RFC 2136 server, or Route 53's. */
function tryDig(provider: Config['provider'], dnsHost: string, dnsPort: number, name: string): string {
  switch (provider.kind) {
    case 'builtin':
      return `dig @${dnsHost} -p ${dnsPort} ${name} A +short`;
    case 'rfc2136': {
      const { host, port } = splitHostPort(provider.server);
      return `dig @${host} -p ${port} ${name} A +short`;
    }
    case 'route53':
      return `dig ${name} A +short  (through a resolver that reaches the hosted zone's name servers)`;
  }
}

function banner(
  config: Config, dataDir: string, dnsHost: string, dnsPort: number, httpUrl: string, demo: boolean,
  token: string | null,
): string {
  const zones = new ZoneSet(config.zones.map((zone) => zone.name));
  const name = zones.qualify(config.endpoints[0]!.name);
  // The first endpoint's zone's provider answers the dig shown.
  const served = config.zones.find((zone) => normalizeName(zone.name) === zones.zoneOf(name)) ?? config.zones[0]!;
  const dataFlag = resolve(dataDir) === resolve(defaultDataDir) ? '' : ` --data ${dataDir}`;
  return [
    `dnsplane is up (data ${dataDir})`,
    ...config.zones.map((zone, index) => `  ${index === 0 ? 'DNS       ' : '          '} `
      + `${dnsServed(zone.provider, dnsHost, dnsPort)}, zone ${normalizeName(zone.name)}`),
    `  Dashboard  ${httpUrl}`,
    ...(token === null ? [] : [
      `  Token      ${token}  (for the dashboard's buttons; kept in ${join(dataDir, 'api-token')})`,
    ]),
    `  Try        ${tryDig(served.provider, dnsHost, dnsPort, demo ? 'dynamodb.us-east-1.dnsplane.test' : name)}`,
    ...(demo ? [
      `  Demo       dnsplane demo list${dataFlag}  |  dnsplane demo fail lb-2${dataFlag}`
        + `  |  dnsplane demo recover lb-2${dataFlag}`,
    ] : []),
    'Press Ctrl-C to stop.',
    '',
  ].join('\n');
}

/** `up --config` stores the config's endpoints as the first inventory version when the store has none. */
async function seedFromConfig(config: Config, configPath: string, dataDir: string): Promise<void> {
  const [{ inventoryOf, servicesOf }, { createStore }] =
    await Promise.all([configLoader(), import('../../store/index.js')]);
  const store = await createStore(config, dataDir);
  try {
    await seedInventory(store, { endpoints: inventoryOf(config), services: servicesOf(config) }, configPath);
  } finally {
    await store.close();
  }
}

/**
 * SIGHUP: re-read --config and apply its inventory as `dnsplane apply` would (same validation, diff, threshold).
 * Every problem is logged, never fatal: the installation keeps running on the version it has.
 */
async function reload(configPath: string, dataDir: string, log: Logger): Promise<void> {
  try {
    const [{ inventoryOf, loadConfigFile, servicesOf }, { createStore }] =
      await Promise.all([configLoader(), import('../../store/index.js')]);
    const config = loadConfigFile(configPath);
    const store = await createStore(config, dataDir);
    try {
      const outcome = await applyInventory(store, { endpoints: inventoryOf(config), services: servicesOf(config) }, {
        actor: `up@${hostname()}`, reason: `SIGHUP: reloaded ${configPath}`, force: false, policy: config.safety,
        config,
      });
      const diff = formatDiff(outcome.diff);
      if (outcome.kind === 'applied') {
        log.info({ version: outcome.info.version, diff }, `SIGHUP: applied inventory version ${outcome.info.version}`);
      } else if (outcome.kind === 'unchanged') {
        log.info({ version: outcome.version }, 'SIGHUP: the inventory is unchanged');
      } else if (outcome.kind === 'refused') {
        log.error({ diff }, `SIGHUP: refused: ${outcome.reason}; apply it with \`dnsplane apply --force\``);
      } else {
        log.error({ current: outcome.current }, 'SIGHUP: the inventory changed meanwhile; send SIGHUP again');
      }
    } finally {
      await store.close();
    }
  } catch (error) {
    log.error({ err: error }, `SIGHUP: ${(error as Error).message}; keeping the inventory as it is`);
  }
}

/** The ports the roles will bind: DNS (UDP and TCP) when `serve` runs, and the API's. */
function portUses(config: Config, dnsPort: number, httpPort: number): PortUse[] {
  const dnsHost = splitHostPort(config.dns.listen).host;
  const apiHost = splitHostPort(config.api.listen).host;
  const dnsWhat = 'DNS (dns.listen or --dns-port)';
  return [
    ...(servesDns(config) ? [
      { protocol: 'udp' as const, host: dnsHost, port: dnsPort, what: dnsWhat },
      { protocol: 'tcp' as const, host: dnsHost, port: dnsPort, what: dnsWhat },
    ] : []),
    { protocol: 'tcp', host: apiHost, port: httpPort, what: 'the API and dashboard (api.listen or --http-port)' },
  ];
}

async function up(options: UpOptions): Promise<void> {
  // What `up` runs on is loaded when it runs, not when `dnsplane` starts (src/cli/main.ts).
  const [{ inventoryOf, loadConfigFile }, { startDemoServers, writeDemoConfig }, { setUpSqliteInstallation },
    { sqlitePath }, { createLogger }] = await Promise.all([configLoader(), import('../../demo/demo.js'),
    import('../../providers/builtin/sqlite.js'), import('../../store/index.js'), import('../../util/log.js')]);
  const dataDir = resolve(options.data);
  const dnsPortOverride = options.dnsPort;
  const httpPortOverride = options.httpPort;
  // Validate everything before starting anything: a bad config starts nothing.
  const userConfig = options.config === undefined ? null : loadConfigFile(resolve(options.config));
  if (userConfig !== null) refuseSelfDependencies(userConfig, { endpoints: inventoryOf(userConfig) });
  // From here a signal stops `up` cleanly, even one that arrives while it starts: the roles it has started are stopped.
  const stopped = stopSignal();
  const release = claimDataDir(dataDir);
  const log = createLogger('up');
  let demo: DemoServers | null = null;
  let failure: RoleFailure | null = null;
  try {
    let configPath = options.config === undefined ? '' : resolve(options.config);
    if (userConfig === null) {
      demo = await startDemoServers(dataDir);
      configPath = writeDemoConfig(dataDir, demo.port);
    }
    const config = userConfig ?? loadConfigFile(configPath);
    const listen = splitHostPort(config.dns.listen);
    const dnsPort = dnsPortOverride ?? listen.port;
    const apiListen = splitHostPort(config.api.listen);
    const httpPort = httpPortOverride ?? apiListen.port;
    await checkPortsFree(portUses(config, dnsPort, httpPort));
    // Create the schema once, before the roles race to.
    if (config.store.kind === 'sqlite') setUpSqliteInstallation(sqlitePath(config, dataDir));
    const httpUrl = `http://${apiListen.host}:${httpPort}/`;
    const token = apiToken(config, dataDir);
    const env = { ...process.env, DNSPLANE_API_TOKEN: token.token };
    const restarts = { restartBaseMs: 250, restartMaxMs: 10_000, stableAfterMs: 30_000, stopGraceMs: 5000 };
    const supervisor = new Supervisor(restarts, log, env);
    await seedFromConfig(config, configPath, dataDir);
    process.on('SIGHUP', () => void reload(configPath, dataDir, log));
    supervisor.start(roleSpecs(config, configPath, dataDir, dnsPort, httpPortOverride));
    const info: UpInfo = { pid: process.pid, dnsPort, httpUrl, demo: userConfig === null };
    writeFileSync(join(dataDir, 'up.json'), `${JSON.stringify(info, null, 2)}\n`);
    const shownToken = token.shown ? token.token : null;
    process.stdout.write(banner(config, options.data, listen.host, dnsPort, httpUrl, userConfig === null, shownToken));
    const outcome = await Promise.race([stopped, supervisor.failed]);
    if (typeof outcome === 'string') log.info({ signal: outcome }, 'stopping every role');
    else failure = outcome;
    await supervisor.stop();
  } finally {
    await demo?.close();
    release();
  }
  if (failure !== null) throw new UserError(roleFailureMessage(failure));
  process.stdout.write('dnsplane stopped\n');
}

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('run the whole system on this machine: three checkers, planner, three enactors, janitor, reconciler,'
      + ' DNS server, API (a demo without --config)')
    .option('--config <file>', 'config file (without it: the self-contained demo, written to <data>/config.yaml)')
    .option('--data <dir>', 'data directory', defaultDataDir)
    .option('--dns-port <port>', 'DNS port (overrides dns.listen)', portOption('--dns-port'))
    .option('--http-port <port>', 'dashboard and API port (overrides api.listen)', portOption('--http-port'))
    .action(async (options: UpOptions) => up(options));
}
