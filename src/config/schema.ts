import { checkOwnerId } from '../domain/owner.js';
import { z } from 'zod';
import { checkDurationMs, durationBounds, formatDurationMs } from './duration.js';
import { addressFamily, checkDnsName, normalizeName } from '../domain/names.js';
import { nestedZones, ZoneSet } from '../domain/zones.js';
import {
  parseHostPort, parseProbeUrl, parseStatusRange, probeHostProblem, probeMatchLengthMax,
} from '../domain/probe-spec.js';
import { caSecureContext } from '../util/ca-file.js';
import { assert } from '../util/assert.js';
import { criticalities, serviceRefPrefix } from '../domain/types.js';

/** A target or service id: 1-63 letters, digits, ".", "_" or "-" (also what `dnsplane import` makes). */
export const idPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** dns.maxAnswers: its bound and its default. */
export const maxAnswersMax = 64;
export const maxAnswersDefault = 8;

/**
 * The configuration file's shape (DESIGN.md §6). Every object is strict, so a
 * misspelt key is an error naming its path rather than a silently ignored
 * setting.
 */

/**
 * A duration setting in milliseconds, refused outside [min, max]: every loop and
 * probe cadence has a floor and a ceiling, since `interval: 0ms` floods its
 * targets and `1000h` silently stops a loop.
 */
const durationValue = (bounds: { min: string; max: string }) => {
  const limits = durationBounds(bounds.min, bounds.max);
  return z.union([z.string(), z.number()]).transform((value, context) => {
    const ms = checkDurationMs(value, limits);
    if (typeof ms === 'string') {
      context.addIssue({ code: 'custom', message: ms });
      return z.NEVER;
    }
    return ms;
  });
};

/** dns.workers and `serve --workers`: processes sharing the DNS sockets. */
export const dnsWorkersMax = 64;
/** dns.tsig: keys the DNS server knows at most. */
const dnsTsigKeysMax = 64;

// One bound for health.timeout and every check's own timeout: both time one probe.
const probeTimeoutBounds = { min: '10ms', max: '60s' };

const duration = (fallback: string, bounds: { min: string; max: string }) => {
  const fallbackMs = checkDurationMs(fallback, durationBounds(bounds.min, bounds.max));
  assert(
    typeof fallbackMs === 'number',
    'internal',
    `the default ${fallback} lies within its own bounds: ${fallbackMs}`,
  );
  return durationValue(bounds).default(fallbackMs);
};

const dnsName = z.string().superRefine((value, context) => {
  const problem = checkDnsName(value);
  if (problem !== null) context.addIssue({ code: 'custom', message: `DNS name "${value}" ${problem}` });
});

const address = z.string().superRefine((value, context) => {
  if (addressFamily(value) === 0) {
    context.addIssue({ code: 'custom', message: `"${value}" is not an IPv4 or IPv6 address` });
  }
});

const hostPort = z.string().superRefine((value, context) => {
  const valid = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(value)
    && Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535;
  if (!valid) context.addIssue({ code: 'custom', message: `"${value}" is not host:port` });
});

// Health checks as Route 53 offers them (README, "check:"). Each key is judged alone first; the keys that only make
// sense for some kinds are judged together below, each mistake on its own line naming its key.
const probeUrl = (scheme: 'http' | 'https') =>
  z.string().superRefine((value, context) => {
    const url = parseProbeUrl(value, scheme);
    if (typeof url === 'string') context.addIssue({ code: 'custom', message: url });
  });
// A dependency of the graph: a managed name (qualified like endpoint names) or "service:<id>".
const serviceId = z.string()
  .regex(idPattern, 'a service id is 1-63 letters, digits, ".", "_" or "-"');
const dependencyRef = z.string().superRefine((value, context) => {
  if (value.startsWith(serviceRefPrefix)) {
    const parsed = serviceId.safeParse(value.slice(serviceRefPrefix.length));
    if (!parsed.success) {
      context.addIssue({ code: 'custom', message: `"${value}": ${parsed.error.issues[0]!.message}` });
    }
    return;
  }
  const problem = checkDnsName(value);
  if (problem !== null) {
    context.addIssue({ code: 'custom', message: `"${value}" is neither service:<id> nor a DNS name: it ${problem}` });
  }
});
const dependsOnMax = 1000;

const service = z.strictObject({
  id: serviceId,
  criticality: z.enum(criticalities).default('medium'),
  dependsOn: z.array(dependencyRef).max(dependsOnMax, `dependsOn lists at most ${dependsOnMax} entries`).default([]),
  description: z.string().max(1000).optional(),
});

const httpOnlyKeys = ['host', 'method', 'expectStatus', 'match'] as const;
const httpsOnlyKeys = ['ca', 'insecure'] as const;

const check = z
  .strictObject({
    http: probeUrl('http').optional(),
    https: probeUrl('https').optional(),
    tcp: z.string().superRefine((value, context) => {
      const parsed = parseHostPort(value);
      if (typeof parsed === 'string') context.addIssue({ code: 'custom', message: parsed });
    }).optional(),
    host: z.string().superRefine((value, context) => {
      const problem = probeHostProblem(value);
      if (problem !== null) context.addIssue({ code: 'custom', message: problem });
    }).optional(),
    port: z.number()
      .int('a port is a whole number')
      .min(1, 'a port is 1-65535')
      .max(65_535, 'a port is 1-65535')
      .optional(),
    method: z.enum(['GET', 'HEAD']).optional(),
    expectStatus: z.union([z.number(), z.string()]).transform((value, context) => {
      const range = parseStatusRange(value);
      if (typeof range === 'string') {
        context.addIssue({ code: 'custom', message: range });
        return z.NEVER;
      }
      return range;
    }).optional(),
    match: z.string()
      .min(1, 'match must not be empty')
      .max(probeMatchLengthMax, `match is at most ${probeMatchLengthMax} characters (Route 53's limit)`)
      .optional(),
    timeout: durationValue(probeTimeoutBounds).optional(),
    ca: z.string().min(1).superRefine((value, context) => {
      const secureContext = caSecureContext(value);
      if (typeof secureContext === 'string') context.addIssue({ code: 'custom', message: secureContext });
    }).optional(),
    insecure: z.boolean().optional(),
    // Dependency graph edges (issue 19): names or service:<id> this check's outcome goes through.
    dependsOn: z.array(dependencyRef).max(dependsOnMax, `dependsOn lists at most ${dependsOnMax} entries`).optional(),
  })
  .superRefine((value, context) => {
    const kind = value.http !== undefined ? 'http' : value.https !== undefined ? 'https' : 'tcp';
    if ([value.http, value.https, value.tcp].filter((target) => target !== undefined).length !== 1) {
      context.addIssue({ code: 'custom', message: 'a check needs exactly one of "http", "https" or "tcp"' });
      return;
    }
    const misplaced = [
      ...(kind === 'tcp' ? httpOnlyKeys.map((key) => [key, 'http: and https: checks'] as const) : []),
      ...(kind !== 'https' ? httpsOnlyKeys.map((key) => [key, 'https: checks'] as const) : []),
    ];
    for (const [key, kinds] of misplaced) {
      if (value[key] !== undefined) {
        context.addIssue({ code: 'custom', path: [key], message: `${key} applies to ${kinds} only, not ${kind}:` });
      }
    }
    if (value.ca !== undefined && value.insecure === true) {
      context.addIssue({
        code: 'custom',
        path: ['insecure'],
        message: 'insecure skips the verification that ca is for: give one or the other',
      });
    }
    if (value.match !== undefined && value.method === 'HEAD' && kind !== 'tcp') {
      context.addIssue({
        code: 'custom',
        path: ['match'],
        message: 'a HEAD response has no body to match: use method GET',
      });
    }
  });

const target = z.strictObject({
  id: z.string().regex(idPattern, 'target id must be 1-63 letters, digits, ".", "_" or "-"'),
  address,
  az: z.string().min(1).default('default'),
  capacity: z.number().int().min(0).max(1_000_000).default(100),
  // Failover routing (Route 53's failover records): secondaries are served only while every primary is down.
  pool: z.enum(['primary', 'secondary']).default('primary'),
  check: check.optional(),
});

const endpoint = z
  .strictObject({
    name: dnsName,
    targets: z.array(target).min(1, 'an endpoint needs at least one target'),
    // The name may hold records dnsplane did not write (an existing zone): take it over, in one update that requires
    // exactly the records read. Without it such a name is left alone, with an alarm listing what is there.
    adopt: z.boolean().optional(),
  })
  .superRefine((value, context) => {
    if (!value.targets.some((t) => t.capacity > 0)) {
      context.addIssue({ code: 'custom', path: ['targets'], message: 'at least one target needs a capacity above 0' });
    }
    if (
      value.targets.some((t) => t.pool === 'secondary')
      && !value.targets.some((t) => t.pool === 'primary' && t.capacity > 0)
    ) {
      context.addIssue({
        code: 'custom',
        path: ['targets'],
        message: 'a failover endpoint needs a primary target with a capacity above 0 '
          + '(secondaries serve only while every primary is down)',
      });
    }
  });

const sqliteStore = z.strictObject({ kind: z.literal('sqlite'), path: z.string().min(1).optional() });
// Endpoints are client URLs of the etcd members (http://host:2379, or unix:/path for a local socket); the prefix
// holds every key of the installation and ends in "/", so that "/a/" and "/ab/" can never overlap.
const etcdEndpoint = z.string().url().refine(
  (value) => /^(https?:\/\/|unix:)/.test(value),
  { message: 'an etcd endpoint is http://host:port, https://host:port or unix:/path' },
);
// TLS to etcd (https:// endpoints): the CA that signed the members' certificates, and a client certificate and key
// when the members require one (--client-cert-auth). Files, PEM; relative paths are from the working directory.
const etcdTls = z.strictObject({
  ca: z.string().min(1),
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
});
// etcd's own users (etcdctl auth enable): the password is read from a file, so it stays out of the config.
const etcdAuth = z.strictObject({
  username: z.string().min(1),
  passwordFile: z.string().min(1),
});
const etcdStore = z
  .strictObject({
    kind: z.literal('etcd'),
    endpoints: z.array(etcdEndpoint).min(1, 'at least one etcd endpoint is required'),
    prefix: z.string().regex(/^[^\s]*\/$/, 'prefix must end with "/" and contain no spaces').default('/dnsplane/'),
    tls: etcdTls.optional(),
    auth: etcdAuth.optional(),
  })
  .superRefine((value, context) => {
    const secure = value.endpoints.filter((endpoint) => endpoint.startsWith('https://')).length;
    if (secure > 0 && secure < value.endpoints.length) {
      context.addIssue({
        code: 'custom',
        path: ['endpoints'],
        message: 'either every etcd endpoint is https:// or none is',
      });
    }
    if (value.tls !== undefined && secure === 0) {
      context.addIssue({ code: 'custom', path: ['tls'], message: 'tls is for https:// endpoints; these are not' });
    }
    if (value.tls !== undefined && (value.tls.cert === undefined) !== (value.tls.key === undefined)) {
      context.addIssue({
        code: 'custom',
        path: ['tls'],
        message: 'a client certificate needs its key: give both cert and key, or neither',
      });
    }
  });

const builtinProvider = z.strictObject({ kind: z.literal('builtin') });
// The key material as BIND's and Knot's configs write it (base64); a typo is caught here, not as BADSIG at the first
// write. Shared by provider: and `dnsplane import`'s --tsig-* flags.
export const rfc2136Tsig = z.strictObject({
  name: dnsName,
  algorithm: z.enum(['hmac-sha256', 'hmac-sha512', 'hmac-sha1']).default('hmac-sha256'),
  secret: z.string()
    .regex(
      /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/,
      'tsig.secret must be base64 (as in the server\'s key statement)',
    )
    .min(4),
});
// One request's (a zone transfer's: one message's) longest wait.
const rfc2136Timeout = duration('2s', { min: '50ms', max: '60s' });
const rfc2136Provider = z.strictObject({
  kind: z.literal('rfc2136'),
  server: hostPort,
  zone: dnsName.optional(),
  timeout: rfc2136Timeout,
  // Bounds of one UPDATE message: an UPDATE is all-or-nothing, so smaller messages lose less to one conflicting name.
  messageBytesMax: z.number().int().min(4096).max(65_535).default(65_535),
  updateNamesMax: z.number().int().min(1).max(10_000).default(200),
  tsig: rfc2136Tsig,
});

/**
 * Where `dnsplane import --provider rfc2136` transfers a zone from: the provider's server, zone, timeout and tsig,
 * judged by the same rules (a key is optional here: a server may allow transfers by address).
 */
export const rfc2136ImportSource = z.strictObject({
  server: hostPort,
  zone: dnsName,
  timeout: rfc2136Timeout,
  tsig: rfc2136Tsig.optional(),
});

// Route 53 (src/providers/route53/README.md): the hosted zone by id; credentials and, unless given, the region come
// from the AWS SDK's standard chain. The defaults are AWS's documented limits (five requests per second per account).
const route53Provider = z.strictObject({
  kind: z.literal('route53'),
  hostedZoneId: z.string().regex(/^(\/hostedzone\/)?[A-Z0-9]{1,32}$/, 'hostedZoneId is the hosted zone\'s id (Z...)'),
  endpoint: z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'endpoint is an http:// or https:// URL').optional(),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'region is an AWS region name (us-east-1)').optional(),
  timeout: duration('10s', { min: '100ms', max: '2m' }),
  requestsPerSecond: z.number().gt(0).max(10_000).default(5),
  retriesMax: z.number().int().min(0).max(100).default(10),
  syncTimeout: duration('10m', { min: '1s', max: '1h' }),
  syncPollInterval: duration('2s', { min: '5ms', max: '1m' }),
  readRequestsMax: z.number().int().min(1).max(1_000_000).default(10_000),
  batchRecordsMax: z.number().int().min(20).max(1000).default(1000),
});

const providerSection = z.discriminatedUnion('kind', [builtinProvider, rfc2136Provider, route53Provider]);

/** One zone of `zones:` (several per installation): its name and the provider that serves it. */
const zoneSection = z.strictObject({
  name: dnsName,
  provider: providerSection.default({ kind: 'builtin' }),
});
/** Zones one installation manages: each has its own enactor loop per enactor process, so a bound keeps it sane. */
export const zonesMax = 64;

/** The fields of the config file; `configSchema` adds the checks across keys and the one-zone normal form. */
export const configObject = z
  .strictObject({
    // One zone (`zone:` with `provider:`), or several (`zones:`, each with its provider): exactly one of the two.
    zone: dnsName.optional(),
    zones: z.array(zoneSection).min(1, 'zones: needs at least one zone').max(zonesMax).optional(),
    // The owner id every marker this installation writes carries (src/domain/owner.ts). Default: one made up at the
    // first start and kept in the store. Set it only to the stored one: changing it is `dnsplane owner migrate`.
    owner: z.string().refine((value) => checkOwnerId(value) === null, {
      message: 'owner must be 1-32 lower-case letters, digits or dashes, starting with a letter or digit',
    }).optional(),
    store: z.discriminatedUnion('kind', [sqliteStore, etcdStore]).default({ kind: 'sqlite' }),
    provider: providerSection.optional(),
    dns: z
      .strictObject({
        listen: hostPort.default('127.0.0.1:5353'),
        ttl: z.number().int().min(0).max(86_400).default(5),
        maxAnswers: z.number().int().min(1).max(maxAnswersMax).default(maxAnswersDefault),
        // How often the server compares served_version with its snapshot; an enactment is visible within about this
        // long.
        refreshInterval: duration('25ms', { min: '5ms', max: '1m' }),
        // Largest UDP response whatever the client advertises (DNS flag day 2020: 1232 avoids IP fragmentation).
        udpSizeMax: z.number().int().min(512).max(65_535).default(1232),
        // Processes sharing the sockets through node:cluster; 1 serves in the main process.
        workers: z.number().int().min(1).max(dnsWorkersMax).default(1),
        // Response rate limiting per client prefix, so the server cannot be used to amplify floods (UDP only).
        rateLimit: z
          .strictObject({
            enabled: z.boolean().default(true),
            responsesPerSecond: z.number().int().min(1).max(10_000_000).default(20_000),
            burst: z.number().int().min(1).max(10_000_000).default(40_000),
            // Every slip-th limited response is sent truncated (TC, no answers) so real clients retry over TCP; 0 drops
            // all.
            slip: z.number().int().min(0).max(10).default(2),
            ipv4PrefixLength: z.number().int().min(8).max(32).default(24),
            ipv6PrefixLength: z.number().int().min(16).max(128).default(56),
            prefixesMax: z.number().int().min(16).max(10_000_000).default(100_000),
          })
          .prefault({}),
        tcp: z
          .strictObject({
            connectionsMax: z.number().int().min(1).max(100_000).default(512),
            // A connection that completes no query for this long is closed (bytes trickled in do not count).
            idleTimeout: duration('5s', { min: '100ms', max: '10m' }),
            messageBytesMax: z.number().int().min(512).max(65_535).default(4096),
            // Unread responses buffered for one connection before it is closed as a client that does not read.
            outputBytesMax: z.number().int().min(65_535).max(64 * 1024 * 1024).default(1024 * 1024),
          })
          .prefault({}),
        // Who gets the `_dnsplane` TXT markers: every query, or only queries signed with a key of `tsig`.
        markers: z.enum(['public', 'tsig-only']).default('public'),
        // TSIG keys (RFC 8945) the server verifies signed queries with and signs their answers with: the provider's
        // key form.
        tsig: z.array(rfc2136Tsig).max(dnsTsigKeysMax).default([]),
      })
      .superRefine((dns, context) => {
        if (dns.markers === 'tsig-only' && dns.tsig.length === 0) {
          context.addIssue({
            code: 'custom',
            path: ['tsig'],
            message: 'dns.markers tsig-only shows markers only to queries signed with a key of dns.tsig, and there is '
              + 'none: add one ([{ name, algorithm, secret }]) or set dns.markers to public',
          });
        }
        const names = new Map<string, number>();
        dns.tsig.forEach((key, index) => {
          const name = normalizeName(key.name);
          const earlier = names.get(name);
          if (earlier !== undefined) {
            context.addIssue({
              code: 'custom',
              path: ['tsig', index, 'name'],
              message: `duplicate TSIG key name "${key.name}", as is dns.tsig[${earlier}]: a query names its key`,
            });
          }
          names.set(name, index);
        });
      })
      .prefault({}),
    health: z
      .strictObject({
        // A probe every 50ms per target is already a load test; one every 10m is no longer a health check.
        interval: duration('500ms', { min: '50ms', max: '10m' }),
        // Below the interval (checked below), so that a round's probes end before the next round starts.
        timeout: duration('300ms', probeTimeoutBounds),
        rise: z.number().int().min(1).max(100).default(2),
        fall: z.number().int().min(1).max(100).default(2),
        /** Probes in flight at once: 10,000 targets are checked without exhausting sockets. */
        concurrency: z.number().int().min(1).max(10_000).default(256),
        jitter: z.number().min(0).max(0.5).default(0.1),
        /** Suspect the checker itself when more than this share of all targets fail at once. */
        selfDoubtFraction: z.number().gt(0).max(1).default(0.5),
        selfDoubtMinTargets: z.number().int().min(1).default(4),
        /** At most this share of a name's capacity is withdrawn per interval. */
        maxWithdrawFraction: z.number().gt(0).max(1).default(0.5),
      })
      .superRefine((health, context) => {
        if (health.timeout >= health.interval) {
          context.addIssue({
            code: 'custom',
            path: ['timeout'],
            message: `${formatDurationMs(health.timeout)} must be below health.interval `
              + `(${formatDurationMs(health.interval)}), so that a round ends before the next begins`,
          });
        }
      })
      .prefault({}),
    safety: z
      .strictObject({
        // Changes an operator or the inventory makes (names added, removed, records edited): share of names.
        maxChangedFraction: z.number().gt(0).max(1).default(0.3),
        // Changes health makes: share of the zone's healthy (served) capacity one plan may withdraw. 0.5 lets one AZ of
        // two or three go, and the second of three once the first is out; two of three at once is held with an alarm.
        maxWithdrawnCapacityFraction: z.number().gt(0).max(1).default(0.5),
        minNamesForThreshold: z.number().int().min(1).default(10),
        retainGenerations: z.number().int().min(1).max(1_000_000).default(20),
        // dnsplane depending on a name it manages (etcd, the RFC 2136 server, a check's host...) is refused unless
        // acknowledged here; then the planner keeps a standing "self-dependency" alarm (src/graph/self-dependency.ts).
        acknowledgeSelfDependency: z.boolean().default(false),
      })
      .prefault({}),
    planner: z
      .strictObject({
        interval: duration('200ms', { min: '5ms', max: '10m' }),
        leaseTtl: duration('5s', { min: '100ms', max: '10m' }),
      })
      .prefault({}),
    enactor: z
      .strictObject({
        pollInterval: duration('50ms', { min: '5ms', max: '1m' }),
        batchNamesMax: z.number().int().min(1).max(100_000).default(1000),
        retriesMax: z.number().int().min(1).max(1000).default(10),
        backoffBase: duration('5ms', { min: '1ms', max: '10s' }),
        backoffMax: duration('500ms', { min: '1ms', max: '5m' }),
        heartbeatInterval: duration('500ms', { min: '10ms', max: '1m' }),
        heartbeatTtl: duration('5s', { min: '100ms', max: '1h' }),
      })
      .superRefine((enactor, context) => {
        if (enactor.heartbeatInterval >= enactor.heartbeatTtl) {
          context.addIssue({
            code: 'custom',
            path: ['heartbeatInterval'],
            message: `${formatDurationMs(enactor.heartbeatInterval)} must be below enactor.heartbeatTtl `
              + `(${formatDurationMs(enactor.heartbeatTtl)}), or a live enactor looks dead between two heartbeats`,
          });
        }
      })
      .prefault({}),
    // What history is kept (`dnsplane history`, the API): the janitor deletes what is older than retainAge or beyond
    // the newest retainPerName entries of a name, checking every pruneInterval, so the store stays bounded.
    history: z
      .strictObject({
        retainPerName: z.number().int().min(1).max(1_000_000).default(1000),
        retainAge: duration('720h', { min: '1m', max: '87600h' }),
        pruneInterval: duration('1m', { min: '10ms', max: '24h' }),
      })
      .prefault({}),
    janitor: z
      .strictObject({
        interval: duration('2s', { min: '10ms', max: '1h' }),
        batchVersionsMax: z.number().int().min(1).default(10_000),
        // How often removal tombstones below the clean-up floor are folded into the provider's removal floor.
        compactInterval: duration('1m', { min: '10ms', max: '24h' }),
      })
      .prefault({}),
    reconciler: z
      // maxLag 0ms is allowed: every name trailing the newest plan is drift at once (tests use it).
      .strictObject({
        interval: duration('2s', { min: '10ms', max: '1h' }),
        maxLag: duration('10s', { min: '0ms', max: '1h' }),
        // Served names one provider read returns in a reconcile pass (a SQL LIMIT, an etcd range): smaller pages,
        // shorter reads.
        pageNamesMax: z.number().int().min(1).max(100_000).default(5000),
        // A pass reads what changed and a slice of a rolling sweep of the whole plan, sized so that every name is
        // read within maxLag (a hand edit anywhere is found and repaired by then), and at least this many names.
        sweepNamesMin: z.number().int().min(1).max(10_000_000).default(10_000),
      })
      .prefault({}),
    // HTTP API, dashboard and /metrics (src/api). Mutations need `token` (or env DNSPLANE_API_TOKEN); `readToken`
    // (or env DNSPLANE_API_READ_TOKEN) identifies read-only clients, which get 403 on every mutation. Reads are open
    // on loopback (the default listen address); beyond it they need the read token or the API token, unless
    // `publicReads` is set to true on purpose (src/api/auth.ts).
    api: z
      .strictObject({
        listen: hostPort.default('127.0.0.1:8080'),
        token: z.string().min(16, 'an API token needs at least 16 characters').max(512).optional(),
        readToken: z.string().min(16, 'an API token needs at least 16 characters').max(512).optional(),
        // Beyond loopback, let anyone who reaches the API read it without a token (names, targets, plans, metrics).
        publicReads: z.boolean().default(false),
        // Label-cardinality bounds of /metrics: per-name and per-target series stop at these counts (aggregates are
        // always exported); a Prometheus series per name of a 100,000-name zone would swamp the scraper.
        metricsNamesMax: z.number().int().min(0).max(100_000).default(1000),
        metricsTargetsMax: z.number().int().min(0).max(100_000).default(1000),
        // Series exported from the store's counters table (each "name{labels}" row is one series).
        metricsCounterSeriesMax: z.number().int().min(1).max(100_000).default(5000),
        // Dashboard clients connected to /api/events at once.
        eventClientsMax: z.number().int().min(1).max(10_000).default(64),
      })
      .refine(
        (api) => api.token === undefined || api.token !== api.readToken,
        { message: 'token and readToken must differ', path: ['readToken'] },
      )
      .prefault({}),
    endpoints: z.array(endpoint).min(1, 'at least one endpoint is required'),
    // The dependency graph's services (issue 19): what depends on the names, for impact and blast radius.
    services: z.array(service).max(100_000).default([]),
  });

type ConfigFields = z.output<typeof configObject>;
export type ProviderConfig = z.output<typeof providerSection>;
export interface ZoneConfig {
  /** As written ("corp.example."). */
  name: string;
  provider: ProviderConfig;
}

/** The rules of `zone:` / `zones:` / `provider:`; the installation's zones when they hold, else null. */
function zoneRules(config: ConfigFields, context: z.RefinementCtx): ZoneSet | null {
  const issue = (path: PropertyKey[], message: string) => context.addIssue({ code: 'custom', path, message });
  if (config.zones === undefined) {
    if (config.zone === undefined) issue(['zone'], 'zone is required (or zones:, a list of zones with providers)');
    return config.zone === undefined ? null : new ZoneSet([config.zone]);
  }
  if (config.zone !== undefined) issue(['zones'], 'give zone: (one zone) or zones: (several), not both');
  if (config.provider !== undefined) {
    issue(['provider'], 'with zones:, each zone names its own provider (zones[N].provider), not provider:');
  }
  const seen = new Map<string, number>();
  config.zones.forEach((zone, index) => {
    const name = normalizeName(zone.name);
    const earlier = seen.get(name);
    if (earlier !== undefined) issue(['zones', index, 'name'], `zone ${name}. appears twice (zones[${earlier}])`);
    seen.set(name, index);
    if (zone.provider.kind === 'rfc2136' && zone.provider.zone !== undefined
      && normalizeName(zone.provider.zone) !== name) {
      issue(['zones', index, 'provider', 'zone'], `is not ${name}.: in zones:, the zone's name is the provider's zone`);
    }
  });
  const nested = nestedZones(config.zones.map((zone) => zone.name));
  if (nested !== null) {
    issue(['zones'], `${nested[0]}. is inside ${nested[1]}.: the zones of one installation do not nest`);
  }
  const builtin = config.zones.filter((zone) => zone.provider.kind === 'builtin');
  if (builtin.length > 1) {
    issue(['zones'], `${builtin.map((zone) => zone.name).join(', ')} all use the built-in provider: `
      + 'the built-in DNS server serves one zone');
  }
  const sound = config.zones.length > 0 && seen.size === config.zones.length && nested === null;
  return sound ? new ZoneSet(config.zones.map((zone) => zone.name)) : null;
}

/**
 * The one-zone normal form every reader gets: `zones` always lists the zones (a single `zone:` is one of them, with
 * `provider:` or the built-in one), and `zone` / `provider` are the first zone's, so what reads one zone keeps working.
 */
function normalForm(config: ConfigFields): Omit<ConfigFields, 'zone' | 'zones' | 'provider'> & {
  zone: string; provider: ProviderConfig; zones: ZoneConfig[];
} {
  const zones: ZoneConfig[] = config.zones
    ?? [{ name: config.zone ?? '', provider: config.provider ?? { kind: 'builtin' } }];
  const first = zones[0]!;
  return { ...config, zone: first.name, provider: first.provider, zones };
}

export const configSchema = configObject
  .superRefine((config, context) => {
    const zones = zoneRules(config, context);
    if (zones === null) return;
    const targetIds = new Map<string, string>();
    const names = new Map<string, number>();
    const serviceIds = new Set<string>();
    config.services.forEach((serviceConfig, serviceIndex) => {
      if (serviceIds.has(serviceConfig.id)) {
        context.addIssue({
          code: 'custom',
          path: ['services', serviceIndex, 'id'],
          message: `duplicate service id "${serviceConfig.id}"`,
        });
      }
      serviceIds.add(serviceConfig.id);
    });
    const allNames = new Set(config.endpoints.map((endpointConfig) => zones.qualify(endpointConfig.name)));
    config.services.forEach((serviceConfig, serviceIndex) => {
      serviceConfig.dependsOn.forEach((ref, refIndex) => {
        const problem = dependencyProblem(ref, zones, allNames, serviceIds);
        if (problem !== null) {
          context.addIssue({
            code: 'custom',
            path: ['services', serviceIndex, 'dependsOn', refIndex],
            message: problem,
          });
        }
      });
    });
    config.endpoints.forEach((endpointConfig, endpointIndex) => {
      // Names are compared as served: "web" and "web.<zone>." are one name.
      const name = zones.qualify(endpointConfig.name);
      const problem = endpointNameProblem(endpointConfig.name, zones);
      if (problem !== null) {
        context.addIssue({ code: 'custom', path: ['endpoints', endpointIndex, 'name'], message: problem });
      }
      if (names.has(name)) {
        context.addIssue({
          code: 'custom',
          path: ['endpoints', endpointIndex, 'name'],
          message: `duplicate endpoint "${endpointConfig.name}": it is ${name}, as is endpoints[${names.get(name)}]`,
        });
      }
      names.set(name, endpointIndex);
      const addresses = new Set<string>();
      endpointConfig.targets.forEach((targetConfig, targetIndex) => {
        const path = ['endpoints', endpointIndex, 'targets', targetIndex];
        const existing = targetIds.get(targetConfig.id);
        if (existing !== undefined && existing !== targetConfig.address) {
          context.addIssue({
            code: 'custom',
            path: [...path, 'id'],
            message: `target id "${targetConfig.id}" is used for two different addresses`,
          });
        }
        targetIds.set(targetConfig.id, targetConfig.address);
        if (addresses.has(targetConfig.address)) {
          context.addIssue({
            code: 'custom',
            path: [...path, 'address'],
            message: `address ${targetConfig.address} appears twice in this endpoint`,
          });
        }
        addresses.add(targetConfig.address);
        targetConfig.check?.dependsOn?.forEach((ref, refIndex) => {
          const problem = dependencyProblem(ref, zones, allNames, serviceIds);
          if (problem !== null) {
            context.addIssue({ code: 'custom', path: [...path, 'check', 'dependsOn', refIndex], message: problem });
          }
        });
        const checkTimeoutMs = targetConfig.check?.timeout;
        if (checkTimeoutMs !== undefined && checkTimeoutMs >= config.health.interval) {
          context.addIssue({
            code: 'custom',
            path: [...path, 'check', 'timeout'],
            message: `${formatDurationMs(checkTimeoutMs)} must be below health.interval `
              + `(${formatDurationMs(config.health.interval)})`,
          });
        }
      });
    });
  })
  .transform(normalForm);

/** Why a dependsOn entry does not name a managed name or a service of this config, or null when it does. */
function dependencyProblem(
  ref: string,
  zones: ZoneSet,
  names: ReadonlySet<string>,
  serviceIds: ReadonlySet<string>,
): string | null {
  if (ref.startsWith(serviceRefPrefix)) {
    const id = ref.slice(serviceRefPrefix.length);
    return serviceIds.has(id) ? null : `"${ref}": no service has the id "${id}"`;
  }
  if (checkDnsName(ref) !== null) return null; // refused on its own already
  const name = zones.qualify(ref);
  return names.has(name)
    ? null
    : `"${ref}" is ${name}, which is not one of the endpoints' names `
      + '(a dependency is a managed name or service:<id>)';
}

/**
 * Names an endpoint may not have: a fully qualified name (trailing dot) outside the zones, which would otherwise be
 * qualified into a surprising name; a `_dnsplane` label (the marker records the RFC 2136 provider writes); and a
 * zone's own name-server host, which the built-in server answers for.
 */
export function endpointNameProblem(raw: string, zones: ZoneSet): string | null {
  if (raw.trim().endsWith('.') && zones.zoneOf(raw) === null) {
    const where = zones.names.length === 1 ? `the zone ${zones.primary}` : `any of the zones (${zones.toString()})`;
    return `"${raw}" ends with "." (fully qualified) but is not in ${where}: `
      + 'drop the dot to put it in the first zone, or use a name in a zone';
  }
  const name = zones.qualify(raw);
  if (name.split('.').includes('_dnsplane')) {
    return `"${raw}" has a "_dnsplane" label, which is reserved for dnsplane's marker records`;
  }
  const zone = zones.zoneOf(name)!;
  if (name === `ns1.${zone}`) {
    return `"${raw}" is the zone's name-server host (ns1.${zone}), which the DNS server answers for itself`;
  }
  return null;
}

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
