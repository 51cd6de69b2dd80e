import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { checkSelfDependenciesAtStart } from '../../graph/self-dependency.js';
import { UserError } from '../../util/assert.js';
import { CounterExport } from '../../dns/export.js';
import { configLoader, integerOption, portOption, stopSignal, withPaths } from '../common.js';
import { dataDirectory, resolveConfigPath, type PathOptions } from '../context.js';

/** How often the server's query counters are added to the store's counters table. */
const counterExportIntervalMs = 2000;

type ServeOptions = PathOptions & { dnsPort?: number; workers?: number };

/** `dnsplane serve`: the authoritative DNS server of the built-in provider, until SIGINT/SIGTERM. */
export function registerServeCommand(program: Command): void {
  const description = 'authoritative DNS server (UDP and TCP) for the built-in provider\'s records';
  withPaths(program.command('serve').description(description))
    .option('--dns-port <port>', 'port to listen on (overrides the port of dns.listen)', portOption('--dns-port'))
    // Only a whole number here: its bounds are dns.workers' (dnsWorkersMax), checked with the config's by
    // dnsServerOptions.
    .option('--workers <n>', 'processes sharing the sockets, to use several cores (overrides dns.workers)',
      integerOption('--workers', { min: 0 }))
    .action(async (options: ServeOptions) => serve(options));
}

async function serve(options: ServeOptions): Promise<void> {
  // The server, the store and the logger are loaded when the command runs, not when `dnsplane` starts.
  const [{ inventoryOf, loadConfigFile }, { dnsServerOptions, startDns }, { BuiltinSqliteProvider }, { createStore },
    { createLogger }] = await Promise.all([configLoader(), import('../../dns/index.js'),
    import('../../providers/builtin/sqlite.js'), import('../../store/index.js'), import('../../util/log.js')]);
  const configPath = resolveConfigPath(options);
  const config = loadConfigFile(configPath);
  // The server reads no inventory: the config's is checked (the planner alarms on each stored version).
  await checkSelfDependenciesAtStart(config, inventoryOf(config), async () => null, createLogger('dns'));
  // The data directory holds the copy of the served records that lets the server start while the store cannot be read.
  const dataDir = dataDirectory(options, true);
  const dnsOptions = dnsServerOptions(config, dataDir, { port: options.dnsPort, workers: options.workers });
  // The server reads the store read-only, so that it serves a store it may not write. Only a fresh installation (no
  // store and no copy) is created here, as every role does when it starts; the server never creates it later: a store
  // that disappears while serving means fail static, not an empty zone.
  if (dnsOptions.etcd === null && !existsSync(dnsOptions.storePath) && !existsSync(dnsOptions.snapshotPath)) {
    await new BuiltinSqliteProvider(dnsOptions.storePath).close();
  }
  const log = createLogger('dns');
  let fatal: (error: Error) => void = () => {};
  const stopped = new Promise<Error | null>((resolveStop) => {
    void stopSignal().then(() => resolveStop(null));
    fatal = (error) => resolveStop(error);
  });
  const host = dnsOptions.host.includes(':') ? `[${dnsOptions.host}]` : dnsOptions.host;
  const running = await startDns(dnsOptions, log, (error) => fatal(error)).catch((error: Error) => {
    // An address that is taken or not ours is the operator's to fix: say so plainly rather than with a stack.
    if (!(error instanceof UserError) && /EADDRINUSE|EADDRNOTAVAIL|EACCES/.test(error.message)) {
      throw new UserError(`cannot serve DNS on ${host}:${dnsOptions.port}: ${error.message}`);
    }
    throw error;
  });
  const workers = `${running.workers} worker${running.workers === 1 ? '' : 's'}`;
  const zone = dnsOptions.answer.zone;
  process.stdout.write(`dnsplane DNS serving zone ${zone} on ${host}:${running.port} (udp+tcp, ${workers})\n`);
  const started = { config: configPath, store: dnsOptions.storePath, port: running.port, workers: running.workers };
  log.info(started, 'DNS server started');
  // Query counters reach /metrics through the store; a store that cannot be opened only loses the metrics.
  const store = await createStore(config, dataDir).catch((openError: Error) => {
    log.warn({ err: openError }, 'cannot open the store: DNS counters will not be exported');
    return null;
  });
  const stopExport = store === null
    ? async () => undefined
    : new CounterExport(store, () => running.counters(), log).start(counterExportIntervalMs);
  const error = await stopped;
  await running.stop();
  await stopExport();
  await store?.close();
  log.info({ counters: running.counters() }, 'DNS server stopped');
  if (error !== null) {
    log.fatal({ error: error.message }, 'DNS server gave up');
    process.exitCode = 1;
  }
}
