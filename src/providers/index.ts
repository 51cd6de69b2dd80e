import type { Config, ZoneConfig } from '../config/schema.js';
import type { ZoneRoute } from './zoned.js';
import { etcdSettings, sqlitePath } from '../store/index.js';
import { UserError } from '../util/assert.js';
import { normalizeName } from '../domain/names.js';
import type { Rfc2136Settings } from './rfc2136/provider.js';
import type { Route53Settings } from './route53/provider.js';
import type { Provider } from './types.js';
import type { OwnerIdentity } from '../store/types.js';

export interface ProviderOptions {
  /** Opens the built-in provider's SQLite file for reading only. */
  readonly?: boolean;
  /**
   * The installation's owner id (store: ownerIdentity), which the providers that share a zone (RFC 2136, Route 53)
   * write into markers and judge markers by. Null for a process that writes nothing (the read commands).
   */
  owner: OwnerIdentity | null;
}

/**
 * The installation's provider: its zone's, or with `zones:` one per zone behind a ZonedProvider (zoned.ts), which
 * sends each name to its zone's.
 */
export async function createProvider(config: Config, dataDir: string, options: ProviderOptions): Promise<Provider> {
  if (config.zones.length === 1) return createZoneProvider(config, config.zones[0]!, dataDir, options);
  const routes: ZoneRoute[] = [];
  try {
    for (const zone of config.zones) {
      const provider = await createZoneProvider(config, zone, dataDir, options);
      routes.push({ zone: normalizeName(zone.name), provider });
    }
  } catch (error) {
    await Promise.allSettled(routes.map((route) => route.provider.close()));
    throw error;
  }
  const { ZonedProvider } = await import('./zoned.js');
  return new ZonedProvider(routes);
}

async function createZoneProvider(
  config: Config, zone: ZoneConfig, dataDir: string, options: ProviderOptions,
): Promise<Provider> {
  // Each provider is loaded on demand: the AWS SDK, the etcd client and the DNS wire code are large, and a process
  // loads only the ones its config names.
  switch (zone.provider.kind) {
    case 'builtin':
      // The built-in provider keeps served records in the same place as the store: SQLite file or etcd cluster.
      if (config.store.kind === 'etcd') {
        const { BuiltinEtcdProvider } = await import('./builtin/etcd.js');
        return new BuiltinEtcdProvider(etcdSettings(config));
      } else {
        const { BuiltinSqliteProvider } = await import('./builtin/sqlite.js');
        return new BuiltinSqliteProvider(sqlitePath(config, dataDir), {}, options);
      }
    case 'rfc2136': {
      const { Rfc2136Provider } = await import('./rfc2136/provider.js');
      return new Rfc2136Provider(rfc2136Settings(config, options.owner, zone));
    }
    case 'route53': {
      const { Route53Provider } = await import('./route53/provider.js');
      return new Route53Provider(route53Settings(config, options.owner, zone));
    }
  }
}

/**
 * The rfc2136 section with what it needs from the rest of the config: the zone by default, the TTL and answer count of
 * `dns`.
 */
export function rfc2136Settings(
  config: Config, owner: OwnerIdentity | null, zone: ZoneConfig = config.zones[0]!,
): Rfc2136Settings {
  const section = zone.provider;
  if (section.kind !== 'rfc2136') throw new UserError('provider.kind is not rfc2136');
  return {
    server: section.server,
    zone: normalizeName(section.zone ?? zone.name),
    timeoutMs: section.timeout,
    messageBytesMax: section.messageBytesMax,
    updateNamesMax: section.updateNamesMax,
    tsig: { name: section.tsig.name, algorithm: section.tsig.algorithm, secret: section.tsig.secret },
    ttl: config.dns.ttl,
    maxAnswers: config.dns.maxAnswers,
    owner,
  };
}

/**
 * The route53 section with the zone and the TTL of `dns`, and the installation's owner id; credentials (and the
 * region, unless given) from the SDK.
 */
export function route53Settings(
  config: Config, owner: OwnerIdentity | null, zone: ZoneConfig = config.zones[0]!,
): Route53Settings {
  const section = zone.provider;
  if (section.kind !== 'route53') throw new UserError('provider.kind is not route53');
  return {
    hostedZoneId: section.hostedZoneId,
    zone: normalizeName(zone.name),
    ...(section.endpoint === undefined ? {} : { endpoint: section.endpoint }),
    ...(section.region === undefined ? {} : { region: section.region }),
    ttl: config.dns.ttl,
    timeoutMs: section.timeout,
    requestsPerSecond: section.requestsPerSecond,
    retriesMax: section.retriesMax,
    backoffBaseMs: route53Backoff.baseMs,
    backoffMaxMs: route53Backoff.maxMs,
    syncTimeoutMs: section.syncTimeout,
    syncPollMs: section.syncPollInterval,
    readRequestsMax: section.readRequestsMax,
    batchRecordsMax: section.batchRecordsMax,
    owner,
  };
}

/** The pause before retrying Throttling or PriorRequestNotComplete: full jitter, doubling from 100 ms to 10 s. */
const route53Backoff = { baseMs: 100, maxMs: 10_000 };
