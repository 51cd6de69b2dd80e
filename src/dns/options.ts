import { isIP } from 'node:net';
import { join } from 'node:path';
import { normalizeName } from '../domain/names.js';
import { dnsWorkersMax, type Config } from '../config/schema.js';
import { splitHostPort } from '../domain/probe-spec.js';
import { etcdSettings, sqlitePath } from '../store/index.js';
import type { EtcdConnectionOptions } from '../store/etcd/client.js';
import { UserError } from '../util/assert.js';
import type { AnswerOptions } from './answer.js';
import type { RateLimitOptions } from './ratelimit.js';
import type { TcpLimits } from './tcp.js';
import { snapshotFileName } from './snapshot-file.js';

/** Everything a DNS server process needs, as plain data (cluster workers receive it as JSON). */
export interface DnsServerOptions {
  host: string;
  port: number;
  /** The SQLite file (store.kind sqlite); empty when served records live in etcd. */
  storePath: string;
  /** The etcd cluster holding served records (store.kind etcd), else null. */
  etcd: EtcdConnectionOptions | null;
  /**
   * The file keeping a copy of the served records (in the data directory), to start and answer while the store cannot
   * be read.
   */
  snapshotPath: string;
  refreshIntervalMs: number;
  workers: number;
  answer: AnswerOptions;
  rateLimit: RateLimitOptions;
  tcp: TcpLimits;
}

export interface DnsOverrides {
  port?: number;
  workers?: number;
}


/** The zone the built-in provider serves (the config allows one), or null when no zone uses it. */
export function builtinZone(config: Config): string | null {
  const zone = config.zones.find((candidate) => candidate.provider.kind === 'builtin');
  return zone === undefined ? null : normalizeName(zone.name);
}

export function dnsServerOptions(config: Config, dataDir: string, overrides: DnsOverrides = {}): DnsServerOptions {
  const zone = builtinZone(config);
  if (zone === null) {
    throw new UserError(
      `serve is the DNS server of the built-in provider, but provider.kind is "${config.provider.kind}" `
        + '(that DNS server serves the records itself)',
    );
  }
  const { host, port: configuredPort } = splitHostPort(config.dns.listen);
  const port = overrides.port ?? configuredPort;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new UserError(`DNS port ${port} is not a port number (0-65535)`);
  }
  const workers = overrides.workers ?? config.dns.workers;
  if (!Number.isInteger(workers) || workers < 1 || workers > dnsWorkersMax) {
    throw new UserError(`workers ${workers} must be an integer from 1 to ${dnsWorkersMax}`);
  }
  const family = isIP(host);
  const tcp = config.dns.tcp;
  return {
    host, port, workers,
    storePath: config.store.kind === 'sqlite' ? sqlitePath(config, dataDir) : '',
    etcd: config.store.kind === 'etcd' ? etcdSettings(config) : null,
    snapshotPath: join(dataDir, snapshotFileName),
    refreshIntervalMs: config.dns.refreshInterval,
    answer: {
      zone, ttl: config.dns.ttl, maxAnswers: config.dns.maxAnswers, udpSizeMax: config.dns.udpSizeMax,
      // The server names itself inside the zone and gives its listen address as glue, when that is one address.
      nameServer: {
        name: `ns1.${zone}`,
        v4: family === 4 && host !== '0.0.0.0' ? [host] : [],
        v6: family === 6 && host !== '::' ? [host] : [],
      },
      markers: config.dns.markers,
      tsig: config.dns.tsig.map(({ name, algorithm, secret }) => ({ name, algorithm, secret })),
    },
    rateLimit: { ...config.dns.rateLimit },
    tcp: {
      connectionsMax: tcp.connectionsMax,
      idleTimeoutMs: tcp.idleTimeout,
      messageBytesMax: tcp.messageBytesMax,
      outputBytesMax: tcp.outputBytesMax,
    },
  };
}

/** The share of the limits one of `workers` processes enforces, so the whole server keeps the configured ones. */
export function perWorker(options: DnsServerOptions): DnsServerOptions {
  const workers = options.workers;
  return {
    ...options,
    rateLimit: {
      ...options.rateLimit,
      responsesPerSecond: Math.max(1, Math.ceil(options.rateLimit.responsesPerSecond / workers)),
      burst: Math.max(1, Math.ceil(options.rateLimit.burst / workers)),
    },
    tcp: { ...options.tcp, connectionsMax: Math.max(1, Math.ceil(options.tcp.connectionsMax / workers)) },
  };
}
