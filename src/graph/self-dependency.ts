import { isIP } from 'node:net';
import type { Config } from '../config/schema.js';
import { normalizeName } from '../domain/names.js';
import { splitHostPort } from '../domain/probe-spec.js';
import type { EndpointSpec } from '../domain/types.js';
import { assert, UserError } from '../util/assert.js';
import type { Logger } from '../util/log.js';
import { checkHost } from './graph.js';

/**
 * Control-plane self-dependency (issue 19): dnsplane must not need, to repair a name, the very names it manages.
 * In 2025 EC2's droplet manager depended on DynamoDB, whose DNS name had gone empty; an installation whose etcd,
 * DNS server or health checks are reached through names it serves would be stuck the same way: the name fails, and
 * what would repair it cannot reach what it needs. A host counts when it is exactly a managed name (case and a
 * trailing dot aside): an IP address or a name outside the inventory does not.
 */

/** The settings of dnsplane's own dependencies (a role installation's config may lack some: the simulator's). */
export type ControlPlaneConfig = Partial<Pick<Config, 'store' | 'provider' | 'zones' | 'dns' | 'api'>>;

/** One of dnsplane's own dependencies that goes through a name dnsplane manages. */
export interface SelfDependency {
  /** Where it is configured: `store.endpoints[0]`, `provider.server`, or `check of target lb-1 (name)`. */
  setting: string;
  /** As configured: the URL or host:port. */
  value: string;
  /** The managed name it goes through (fully qualified). */
  name: string;
  /** The cycle in words, from the setting back to what needs it. */
  path: string;
}

/** A host dnsplane connects to, with what needs it (the end of the cycle). */
interface Dependency {
  setting: string;
  value: string;
  host: string;
  needs: string;
}

const unrepairable = 'served by dnsplane\'s enactors';
/** At most this many cycles are listed in a refusal (the rest are counted). */
const listedMax = 20;

function urlHost(value: string): string | null {
  try {
    const hostname = new URL(value).hostname.replace(/^\[|\]$/g, '');
    return hostname === '' ? null : hostname;
  } catch {
    return null; // unix:/path, or a URL the schema would have refused: no host to resolve.
  }
}

/** What the installation itself connects to or listens on, by host, from its config. */
export function controlPlaneDependencies(config: ControlPlaneConfig): Dependency[] {
  const found: Dependency[] = [];
  const add = (setting: string, value: string, host: string | null, needs: string) => {
    if (host !== null && isIP(host) === 0) found.push({ setting, value, host: normalizeName(host), needs });
  };
  if (config.store?.kind === 'etcd') {
    config.store.endpoints.forEach((endpoint, index) => {
      add(`store.endpoints[${index}]`, endpoint, urlHost(endpoint), 'which need the store');
    });
  }
  // Every zone's provider (`zones:`), or the one `provider:`.
  const several = config.zones !== undefined && config.zones.length > 1;
  const providers = several
    ? config.zones!.map((zone, index) => ({ provider: zone.provider, at: `zones[${index}].provider` }))
    : config.provider === undefined ? [] : [{ provider: config.provider, at: 'provider' }];
  for (const { provider, at } of providers) {
    if (provider.kind === 'rfc2136') {
      add(`${at}.server`, provider.server, splitHostPort(provider.server).host, `which write through ${at}.server`);
    }
    if (provider.kind === 'route53' && provider.endpoint !== undefined) {
      add(`${at}.endpoint`, provider.endpoint, urlHost(provider.endpoint), `which write through ${at}.endpoint`);
    }
  }
  if (config.dns !== undefined && providers.some(({ provider }) => provider.kind === 'builtin')) {
    const { listen } = config.dns;
    add('dns.listen', listen, splitHostPort(listen).host, 'which need it for the DNS server to listen');
  }
  if (config.api !== undefined) {
    const { listen } = config.api;
    const needs = 'which need it for the API (where operators repair) to listen';
    add('api.listen', listen, splitHostPort(listen).host, needs);
  }
  return found;
}

/** Each health check whose URL or tcp host is a managed name: a checker that needs the DNS it steers. */
function checkDependencies(endpoints: readonly EndpointSpec[], names: ReadonlySet<string>): Dependency[] {
  const found: Dependency[] = [];
  for (const endpoint of endpoints) {
    for (const target of endpoint.targets) {
      const host = checkHost(target.check);
      if (host === null || !names.has(host)) continue;
      const value = target.check?.http ?? target.check?.https ?? target.check?.tcp ?? '';
      const setting = `check of target ${target.id} (${endpoint.name})`;
      found.push({ setting, value, host, needs: `which follow the health checks that need it to probe ${target.id}` });
    }
  }
  return found;
}

/** Every dependency of dnsplane on a name of `inventory`, with its cycle. */
export function selfDependencies(
  config: ControlPlaneConfig, inventory: { endpoints: readonly EndpointSpec[] },
): SelfDependency[] {
  const names = new Set(inventory.endpoints.map((endpoint) => endpoint.name));
  const candidates = [...controlPlaneDependencies(config), ...checkDependencies(inventory.endpoints, names)];
  const found = candidates.filter((dependency) => names.has(dependency.host)).map((dependency) => {
    const { setting, value, host, needs } = dependency;
    const path = `${setting} ${value} → name ${host} → ${unrepairable} → ${needs}`;
    return { setting, value, name: host, path };
  });
  assert(found.length <= candidates.length, 'internal', 'more self-dependencies than dependencies');
  assert(found.every((dependency) => names.has(dependency.name)), 'internal', 'a self-dependency on an unmanaged name');
  return found;
}

/** The refusal's text for `found` (non-empty): each cycle on its own line, and how to acknowledge them. */
export function selfDependencyMessage(found: readonly SelfDependency[]): string {
  assert(found.length > 0, 'internal', 'a refusal without a self-dependency');
  const more = found.length > listedMax ? [`  … and ${found.length - listedMax} more`] : [];
  return [
    'dnsplane would depend on names it manages itself (a control-plane self-dependency: when such a name fails,'
      + ' what repairs it cannot be reached):',
    ...found.slice(0, listedMax).map((dependency) => `  ${dependency.path}`),
    ...more,
    'use addresses or names outside the inventory, or set safety.acknowledgeSelfDependency: true to run anyway'
      + ' (the planner then keeps a standing self-dependency alarm)',
  ].join('\n');
}

/**
 * Why `inventory` may not be used with `config` — the refusal's text — or null: it has no self-dependency, or the
 * config acknowledges them (safety.acknowledgeSelfDependency). For every place that takes an inventory or a config
 * into use: the roles at start, `up`, `apply`.
 */
export function selfDependencyRefusal(
  config: ControlPlaneConfig & Pick<Config, 'safety'>, inventory: { endpoints: readonly EndpointSpec[] },
): string | null {
  if (config.safety.acknowledgeSelfDependency) return null;
  const found = selfDependencies(config, inventory);
  return found.length === 0 ? null : selfDependencyMessage(found);
}

/** Throws the refusal as a UserError (exit 2); otherwise returns the acknowledged self-dependencies (to log). */
export function refuseSelfDependencies(
  config: ControlPlaneConfig & Pick<Config, 'safety'>, inventory: { endpoints: readonly EndpointSpec[] },
): SelfDependency[] {
  const found = selfDependencies(config, inventory);
  if (found.length > 0 && !config.safety.acknowledgeSelfDependency) throw new UserError(selfDependencyMessage(found));
  return found;
}

/**
 * The check every long-running process makes before it starts (roles, `serve`, `api`): refused with a UserError
 * (exit 2) naming each cycle, or, acknowledged, started with a warning per cycle. The config's own inventory is
 * checked before the store is read — an etcd reached through a managed name may not answer — and then the newest
 * stored version, which the process will serve (`readStored` null: none stored yet).
 */
export async function checkSelfDependenciesAtStart(
  config: ControlPlaneConfig & Pick<Config, 'safety'>, endpoints: readonly EndpointSpec[],
  readStored: () => Promise<{ endpoints: readonly EndpointSpec[] } | null>, log: Logger,
): Promise<void> {
  refuseSelfDependencies(config, { endpoints });
  const stored = await readStored();
  const acknowledged = refuseSelfDependencies(config, { endpoints: stored?.endpoints ?? endpoints });
  for (const dependency of acknowledged) {
    const { name, setting, path } = dependency;
    log.warn({ name, setting }, `acknowledged self-dependency: ${path}`);
  }
}
