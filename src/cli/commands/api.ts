import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { assert, UserError } from '../../util/assert.js';
import type { Logger } from '../../util/log.js';
import { parseWholeNumber, portOption, portRange, stopSignal, withPaths } from '../common.js';
import { followInventory, openContext, type PathOptions } from '../context.js';
import { checkSelfDependenciesAtStart } from '../../graph/self-dependency.js';

type ApiOptions = PathOptions & { httpPort?: number };

/** `dnsplane api`: the HTTP API, dashboard and /metrics, until SIGINT/SIGTERM (`dnsplane up` runs it as a child). */
export function registerApiCommand(program: Command): void {
  withPaths(program.command('api').description('HTTP API, live dashboard and Prometheus metrics'))
    .option('--http-port <port>', 'port to listen on (overrides the port of api.listen)', portOption('--http-port'))
    .action(async (options: ApiOptions) => runApi(options));
}

/** "127.0.0.1:8080" or "[::1]:8080" to host and port (`--http-port` wins); the config schema has checked the shape. */
function listenAddress(
  listen: string, portOverride: number | undefined, listenHost: (listen: string) => string,
): { host: string; port: number } {
  const port = portOverride ?? parseWholeNumber(listen.slice(listen.lastIndexOf(':') + 1), portRange);
  assert(port !== null, 'internal', `api.listen "${listen}" passed the config schema without a port`);
  return { host: listenHost(listen), port };
}

/** Listens, or refuses with a UserError (exit 2) when the address is taken or not ours to bind. */
async function startListening(app: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    await app.listen({ host, port });
  } catch (error) {
    await app.close();
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new UserError(`cannot listen on ${host}:${port}: ${(error as Error).message}`);
    }
    throw error;
  }
  // The address bound, not Fastify's pick among the interfaces (which names 127.0.0.1 for 0.0.0.0).
  const bound = app.server.address();
  if (typeof bound !== 'object' || bound === null) return `http://${host}:${port}`;
  return `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
}

function warnBeyondLoopback(log: Logger, address: string, publicReads: boolean): void {
  log.warn({ address, publicReads }, publicReads
    ? `the API listens beyond loopback (${address}) and api.publicReads is true: anyone who reaches it can read every`
      + ' name, target and plan'
    : `the API listens beyond loopback (${address}): reads need the read token or the API token (api.publicReads: true`
      + ' would open them)');
}

async function runApi(options: ApiOptions): Promise<void> {
  // Fastify, the routes and the logger are loaded when the command runs, not when `dnsplane` starts.
  const [{ buildApp }, { isLoopbackHost, listenHost, resolveTokens }, { createLogger }] = await Promise.all([
    import('../../api/app.js'), import('../../api/auth.js'), import('../../util/log.js'),
  ]);
  const context = await openContext(options);
  const log = createLogger('api');
  let stopFollowing = () => undefined as void;
  try {
    await checkSelfDependenciesAtStart(context.config, context.inventory, () => context.store.readInventory(), log);
    stopFollowing = await followInventory(context, log);
    const { host, port } = listenAddress(context.config.api.listen, options.httpPort, listenHost);
    const tokens = resolveTokens(context.config.api, process.env);
    const app = buildApp(context, { log, tokens });
    const stopped = stopSignal();
    const address = await startListening(app, host, port);
    // As before zones: existed for one zone ("zone dnsplane.test").
    const zones = context.zones.names.length === 1 ? `zone ${context.zone}` : `zones ${context.zones.toString()}`;
    process.stdout.write(`dnsplane API, dashboard and metrics on ${address}/ (${zones})\n`);
    const access = {
      mutations: tokens.token !== undefined,
      readToken: tokens.readToken !== undefined,
      readsNeedToken: tokens.readsNeedToken,
    };
    log.info({ address, config: context.configPath, ...access }, 'API started');
    if (!isLoopbackHost(host)) warnBeyondLoopback(log, address, context.config.api.publicReads);
    const signal = await stopped;
    log.info({ signal }, 'API stopping');
    await app.close();
  } finally {
    stopFollowing();
    await context.close();
  }
}
