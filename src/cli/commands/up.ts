import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { inventoryOf, loadConfigFile } from '../../config/load.js';
import { applyInventory, seedInventory } from '../../inventory/apply.js';
import { formatDiff } from '../../inventory/diff.js';
import { splitHostPort } from '../../health/probe.js';
import { startDemoServers, writeDemoConfig, type DemoServers } from '../../demo/demo.js';
import { openDatabase } from '../../store/sqlite/db.js';
import { createStore, sqlitePath } from '../../store/index.js';
import { UserError } from '../../util/assert.js';
import { createLogger, type Logger } from '../../util/log.js';
import { defaultDataDir } from '../context.js';
import { Supervisor, type RoleSpec } from '../supervisor.js';
import type { Config } from '../../config/schema.js';

interface UpOptions {
  config?: string;
  data: string;
  dnsPort?: string;
  httpPort?: string;
}

export const enactorIds = ['az1', 'az2', 'az3'] as const;
/** Three checkers: one whose own view breaks is outvoted by the other two (src/health/quorum.ts). */
export const checkerIds = ['c1', 'c2', 'c3'] as const;

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new UserError(`${flag} must be a port number, not "${value}"`);
  return Number(value);
}

/** Refuses a second `up` on the same data directory while the first is alive. */
function claimDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const pidFile = join(dataDir, 'up.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    let alive = false;
    try {
      alive = pid > 0 && process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (alive) throw new UserError(`dnsplane up is already running on ${dataDir} (pid ${pid}); stop it or use another --data`);
  }
  writeFileSync(pidFile, `${process.pid}\n`);
  return () => rmSync(pidFile, { force: true });
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

export function roleSpecs(configPath: string, dataDir: string, dnsPort: number, httpPort: number | undefined): RoleSpec[] {
  const paths = ['--config', configPath, '--data', dataDir];
  return [
    ...checkerIds.map((id) => ({ name: `checker-${id}`, args: ['checker', '--id', id, ...paths] })),
    { name: 'planner', args: ['planner', ...paths] },
    ...enactorIds.map((id) => ({ name: `enactor-${id}`, args: ['enactor', '--id', id, ...paths] })),
    { name: 'janitor', args: ['janitor', ...paths] },
    { name: 'reconciler', args: ['reconciler', ...paths] },
    { name: 'serve', args: ['serve', ...paths, '--dns-port', String(dnsPort)] },
    { name: 'api', args: ['api', ...paths, ...(httpPort === undefined ? [] : ['--http-port', String(httpPort)])] },
  ];
}

function banner(config: Config, dataDir: string, dnsHost: string, dnsPort: number, httpUrl: string, demo: boolean, token: string | null): string {
  const zone = config.zone.replace(/\.$/, '');
  const first = config.endpoints[0]!.name.replace(/\.$/, '');
  const name = first.endsWith(zone) ? first : `${first}.${zone}`;
  const dataFlag = resolve(dataDir) === resolve(defaultDataDir) ? '' : ` --data ${dataDir}`;
  return [
    `dnsplane is up (data ${dataDir})`,
    `  DNS        ${dnsHost}:${dnsPort} (UDP and TCP), zone ${zone}`,
    `  Dashboard  ${httpUrl}`,
    ...(token === null ? [] : [`  Token      ${token}  (for the dashboard's buttons; kept in ${join(dataDir, 'api-token')})`]),
    `  Try        dig @${dnsHost} -p ${dnsPort} ${demo ? 'dynamodb.us-east-1.dnsplane.test' : name} A +short`,
    ...(demo ? [`  Demo       dnsplane demo list${dataFlag}  |  dnsplane demo fail lb-2${dataFlag}  |  dnsplane demo recover lb-2${dataFlag}`] : []),
    'Press Ctrl-C to stop.',
    '',
  ].join('\n');
}

/** `up --config` stores the config's endpoints as the first inventory version when the store has none. */
async function seedFromConfig(config: Config, configPath: string, dataDir: string): Promise<void> {
  const store = await createStore(config, dataDir);
  try {
    await seedInventory(store, inventoryOf(config), configPath);
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
    const config = loadConfigFile(configPath);
    const store = await createStore(config, dataDir);
    try {
      const outcome = await applyInventory(store, inventoryOf(config), {
        actor: `up@${hostname()}`, reason: `SIGHUP: reloaded ${configPath}`, force: false, policy: config.safety,
      });
      const diff = formatDiff(outcome.diff);
      if (outcome.kind === 'applied') log.info({ version: outcome.info.version, diff }, `SIGHUP: applied inventory version ${outcome.info.version}`);
      else if (outcome.kind === 'unchanged') log.info({ version: outcome.version }, 'SIGHUP: the inventory is unchanged');
      else if (outcome.kind === 'refused') log.error({ diff }, `SIGHUP: refused: ${outcome.reason}; apply it with \`dnsplane apply --force\``);
      else log.error({ current: outcome.current }, 'SIGHUP: the inventory changed meanwhile; send SIGHUP again');
    } finally {
      await store.close();
    }
  } catch (error) {
    log.error({ err: error }, `SIGHUP: ${(error as Error).message}; keeping the inventory as it is`);
  }
}

async function up(options: UpOptions): Promise<void> {
  const dataDir = resolve(options.data);
  const dnsPortOverride = port(options.dnsPort, '--dns-port');
  const httpPortOverride = port(options.httpPort, '--http-port');
  // Validate everything before starting anything: a bad config starts nothing.
  const userConfig = options.config === undefined ? null : loadConfigFile(resolve(options.config));
  const release = claimDataDir(dataDir);
  const log = createLogger('up');
  let demo: DemoServers | null = null;
  try {
    let configPath = options.config === undefined ? '' : resolve(options.config);
    if (userConfig === null) {
      demo = await startDemoServers(dataDir);
      configPath = writeDemoConfig(dataDir, demo.port);
    }
    const config = userConfig ?? loadConfigFile(configPath);
    if (config.store.kind === 'sqlite') openDatabase(sqlitePath(config, dataDir)).close(); // create the schema once, before the roles race to
    const listen = splitHostPort(config.dns.listen);
    const dnsPort = dnsPortOverride ?? listen.port;
    const apiListen = splitHostPort(config.api.listen);
    const httpUrl = `http://${apiListen.host}:${httpPortOverride ?? apiListen.port}/`;
    const token = apiToken(config, dataDir);
    const env = { ...process.env, DNSPLANE_API_TOKEN: token.token };
    const supervisor = new Supervisor({ restartBaseMs: 250, restartMaxMs: 10_000, stableAfterMs: 30_000, stopGraceMs: 5000 }, log, env);
    await seedFromConfig(config, configPath, dataDir);
    process.on('SIGHUP', () => void reload(configPath, dataDir, log));
    supervisor.start(roleSpecs(configPath, dataDir, dnsPort, httpPortOverride));
    writeFileSync(join(dataDir, 'up.json'), `${JSON.stringify({ pid: process.pid, dnsPort, httpUrl }, null, 2)}\n`);
    process.stdout.write(banner(config, options.data, listen.host, dnsPort, httpUrl, userConfig === null, token.shown ? token.token : null));
    const signal = await new Promise<NodeJS.Signals>((resolveSignal) => {
      process.once('SIGINT', () => resolveSignal('SIGINT'));
      process.once('SIGTERM', () => resolveSignal('SIGTERM'));
    });
    // A second signal while stopping must not kill `up` with its children still running.
    const ignore = () => undefined;
    process.on('SIGINT', ignore);
    process.on('SIGTERM', ignore);
    log.info({ signal }, 'stopping every role');
    await supervisor.stop();
  } finally {
    await demo?.close();
    release();
  }
  process.stdout.write('dnsplane stopped\n');
}

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('run the whole system on this machine: three checkers, planner, three enactors, janitor, reconciler, DNS server, API (a demo without --config)')
    .option('--config <file>', 'config file (without it: the self-contained demo, written to <data>/config.yaml)')
    .option('--data <dir>', 'data directory', defaultDataDir)
    .option('--dns-port <port>', 'DNS port (overrides dns.listen)')
    .option('--http-port <port>', 'dashboard and API port (overrides api.listen)')
    .action(async (options: UpOptions) => up(options));
}
