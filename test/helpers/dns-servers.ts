import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { freeDualPort, pollUntil, spawnProcess, tempDir, type Child } from './env.js';
import type { TsigAlgorithm } from '../../src/providers/rfc2136/tsig.js';
import type { OwnerIdentity } from '../../src/store/types.js';

/**
 * Real authoritative servers for tests and benchmarks: Knot DNS (`knotd`),
 * BIND 9 (`named`) and PowerDNS Authoritative (`pdns_server` with the
 * gsqlite3 backend), each in the foreground as a child process on a free
 * loopback port, with everything (config, zone files or database, journal,
 * pid, control socket) in its own temporary directory. Each serves:
 * - `dnsplane.test`: dynamic, updates and transfers allowed to one TSIG key
 *   per algorithm (hmac-sha256, hmac-sha512, hmac-sha1);
 * - `readonly.test`: served, transfers allowed, updates not.
 * `stop()` ends the server by pid and removes the directory.
 *
 * No server is told to change user: they run as whoever runs the tests
 * (root in CI; any user works, since every path they write is in their
 * directory and the ports are above 1024). DNSPLANE_TEST_KNOT_LOG=info shows
 * Knot's per-update log lines when debugging.
 *
 * PowerDNS gets its own config directory (`--config-dir`, so Debian's
 * /etc/powerdns and any system service are never read or touched), its own
 * socket directory, and a fresh SQLite database made from the schema Debian
 * ships, holding the zones, the TSIG keys and each zone's metadata (who may
 * update and transfer it). Its packet and query caches are off, as on the
 * server dnsplane should talk to (src/providers/rfc2136/README.md).
 */

export type DnsServerKind = 'knot' | 'bind' | 'powerdns';

/** The servers every RFC 2136 test and the bench run on, with the names the tests print. */
export const dnsServerKinds: readonly DnsServerKind[] = ['knot', 'bind', 'powerdns'];
export const dnsServerNames: Record<DnsServerKind, string> = { knot: 'Knot DNS', bind: 'BIND 9', powerdns: 'PowerDNS' };

export interface TsigKeyConfig {
  name: string;
  algorithm: TsigAlgorithm;
  secret: string;
}

export interface DnsServer {
  kind: DnsServerKind;
  host: string;
  port: number;
  /** "host:port", as provider.server wants it. */
  server: string;
  zone: string;
  readonlyZone: string;
  /** The hmac-sha256 key (what the provider uses unless a test picks another). */
  key: TsigKeyConfig;
  keys: Record<TsigAlgorithm, TsigKeyConfig>;
  dir: string;
  /** PowerDNS: the SQLite database its zones live in (for edits made around DNS); null for Knot and BIND. */
  database: string | null;
  child: Child;
  /**
   * Runs `knsupdate` (Knot) or `nsupdate` (BIND, PowerDNS) with these commands, signed with `key`; "server" and
   * "send" are added.
   */
  nsupdate(commands: readonly string[], key?: TsigKeyConfig): Promise<CommandResult>;
  /** Runs `dig @server -p port +tcp ARGS`. */
  dig(args: readonly string[]): Promise<CommandResult>;
  stop(): Promise<void>;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const testZone = 'dnsplane.test';
/** The owner id of the RFC 2136 providers a test writes through (a reader that judges no ownership passes null). */
export const testOwner: OwnerIdentity = { owner: 'dnsplane-test', former: [] };
export const readonlyZone = 'readonly.test';
const algorithms: readonly TsigAlgorithm[] = ['hmac-sha256', 'hmac-sha512', 'hmac-sha1'];
/** Start-up attempts: a free port can be taken by someone else before the server binds it. */
const startAttemptsMax = 3;
const startTimeoutMs = 20_000;
const commandTimeoutMs = 20_000;

const binaries = {
  knotd: ['/usr/sbin/knotd', 'knotd'],
  named: ['/usr/sbin/named', 'named'],
  pdns_server: ['/usr/sbin/pdns_server', 'pdns_server'],
  knsupdate: ['/usr/bin/knsupdate', 'knsupdate'],
  nsupdate: ['/usr/bin/nsupdate', 'nsupdate'],
  dig: ['/usr/bin/dig', 'dig'],
};

function binary(name: keyof typeof binaries): string {
  return binaries[name].find((candidate) => candidate.includes('/') && existsSync(candidate)) ?? binaries[name][1]!;
}

/** Runs a command to completion, killed by pid after `timeoutMs`. */
export async function runCommand(command: string, args: readonly string[], timeoutMs = commandTimeoutMs): Promise<CommandResult> {
  const child = spawnProcess(command, [...args]);
  const timer = setTimeout(() => child.process.kill('SIGKILL'), timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

function makeKeys(): Record<TsigAlgorithm, TsigKeyConfig> {
  const entries = algorithms.map((algorithm) => [algorithm, { name: `dnsplane-${algorithm}`, algorithm, secret: randomBytes(32).toString('base64') }]);
  return Object.fromEntries(entries) as Record<TsigAlgorithm, TsigKeyConfig>;
}

function zoneFile(zone: string): string {
  return [
    `$ORIGIN ${zone}.`, '$TTL 5',
    `@ SOA ns.${zone}. hostmaster.${zone}. 1 60 30 3600 5`,
    '@ NS ns', 'ns A 127.0.0.1', '',
  ].join('\n');
}

function knotConfig(dir: string, port: number, keys: readonly TsigKeyConfig[]): string {
  const keyNames = keys.map((key) => key.name).join(', ');
  return `server:
    rundir: "${dir}/run"
    pidfile: "${dir}/run/knot.pid"
    listen: 127.0.0.1@${port}
    udp-workers: 1
    tcp-workers: 2
    background-workers: 1
log:
  - target: stderr
    any: ${process.env.DNSPLANE_TEST_KNOT_LOG ?? "notice"}
database:
    storage: "${dir}/db"
control:
    listen: "${dir}/run/knot.sock"
key:
${keys.map((key) => `  - id: ${key.name}\n    algorithm: ${key.algorithm}\n    secret: ${key.secret}`).join('\n')}
acl:
  - id: update-and-transfer
    key: [${keyNames}]
    action: [update, transfer]
  - id: transfer
    key: [${keyNames}]
    action: transfer
template:
  - id: default
    storage: "${dir}/zones"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
zone:
  - domain: ${testZone}
    file: ${testZone}.zone
    acl: update-and-transfer
  - domain: ${readonlyZone}
    file: ${readonlyZone}.zone
    acl: transfer
`;
}

function bindConfig(dir: string, port: number, keys: readonly TsigKeyConfig[]): string {
  const keyList = keys.map((key) => `key ${key.name};`).join(' ');
  return `options {
  directory "${dir}";
  pid-file "${dir}/run/named.pid";
  session-keyfile "${dir}/run/session.key";
  managed-keys-directory "${dir}/db";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  notify no;
  dnssec-validation no;
  allow-transfer { ${keyList} };
};
controls { };
logging {
  channel errors { stderr; severity warning; print-time yes; };
  category default { errors; };
};
${keys.map((key) => `key "${key.name}" { algorithm ${key.algorithm}; secret "${key.secret}"; };`).join('\n')}
zone "${testZone}" { type primary; file "${dir}/zones/${testZone}.zone"; allow-update { ${keyList} }; };
zone "${readonlyZone}" { type primary; file "${dir}/zones/${readonlyZone}.zone"; };
`;
}

/** The gsqlite3 schema Debian's pdns-backend-sqlite3 installs. */
const powerdnsSchemaPath = '/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql';
/** The only key PowerDNS lets update readonly.test: none of the keys the tests sign with. */
const readonlyZoneUpdateKey = 'someone-else';

function powerdnsDatabasePath(dir: string): string {
  return join(dir, 'db', 'pdns.sqlite3');
}

function powerdnsConfig(dir: string, port: number): string {
  return [
    'launch=gsqlite3', `gsqlite3-database=${powerdnsDatabasePath(dir)}`,
    // Metadata and TSIG keys are read from the database only with DNSSEC support on.
    'gsqlite3-dnssec=yes',
    'guardian=no', 'daemon=no', 'write-pid=no', `socket-dir=${dir}/run`,
    'local-address=127.0.0.1', `local-port=${port}`,
    // Updates from loopback, each signed with a key the zone's TSIG-ALLOW-DNSUPDATE metadata lists.
    'dnsupdate=yes', 'allow-dnsupdate-from=127.0.0.0/8',
    // Transfers only to the zone's keys (TSIG-ALLOW-AXFR), not to any address.
    'disable-axfr=no', 'allow-axfr-ips=',
    // No caches: a read right after an update answers from the database.
    'cache-ttl=0', 'query-cache-ttl=0', 'negquery-cache-ttl=0',
    // Three enactors of 4 connections each, a janitor, a checker and dig: more than the default 20 TCP connections.
    'max-tcp-connections=200',
    'receiver-threads=1', 'distributor-threads=1', 'signing-threads=1',
    'security-poll-suffix=', 'disable-syslog=yes', 'log-timestamp=no', 'loglevel=3', '',
  ].join('\n');
}

/** The PowerDNS database: both zones as zoneFile() has them, the keys, and who may update and transfer. */
function powerdnsDatabase(path: string, keys: readonly TsigKeyConfig[]): void {
  const db = new Database(path);
  try {
    db.exec(readFileSync(powerdnsSchemaPath, 'utf8'));
    const addDomain = db.prepare("INSERT INTO domains (name, type) VALUES (?, 'NATIVE')");
    const addRecord = db.prepare(
      'INSERT INTO records (domain_id, name, type, content, ttl, auth) VALUES (?, ?, ?, ?, 5, 1)',
    );
    const addMetadata = db.prepare('INSERT INTO domainmetadata (domain_id, kind, content) VALUES (?, ?, ?)');
    const addKey = db.prepare('INSERT INTO tsigkeys (name, algorithm, secret) VALUES (?, ?, ?)');
    for (const key of keys) addKey.run(key.name, key.algorithm, key.secret);
    for (const zone of [testZone, readonlyZone]) {
      const id = Number(addDomain.run(zone).lastInsertRowid);
      addRecord.run(id, zone, 'SOA', `ns.${zone}. hostmaster.${zone}. 1 60 30 3600 5`);
      addRecord.run(id, zone, 'NS', `ns.${zone}.`);
      addRecord.run(id, `ns.${zone}`, 'A', '127.0.0.1');
      for (const key of keys) addMetadata.run(id, 'TSIG-ALLOW-AXFR', key.name);
      if (zone !== testZone) {
        // A zone with no TSIG-ALLOW-DNSUPDATE takes any update from allow-dnsupdate-from: name a key no test holds.
        addMetadata.run(id, 'TSIG-ALLOW-DNSUPDATE', readonlyZoneUpdateKey);
        continue;
      }
      // No SOA-EDIT-DNSUPDATE: PowerDNS's default raises the serial on every update (to YYYYMMDDnn, then by one).
      for (const key of keys) addMetadata.run(id, 'TSIG-ALLOW-DNSUPDATE', key.name);
    }
  } finally {
    db.close();
  }
}

function prepareDir(dir: string, zoneRecords: readonly string[]): void {
  for (const sub of ['run', 'db', 'zones']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'zones', `${testZone}.zone`), zoneFile(testZone) + zoneRecords.map((line) => `${line}\n`).join(''));
  writeFileSync(join(dir, 'zones', `${readonlyZone}.zone`), zoneFile(readonlyZone));
}

function launch(kind: DnsServerKind, dir: string, port: number, keys: readonly TsigKeyConfig[]): Child {
  if (kind === 'powerdns') {
    powerdnsDatabase(powerdnsDatabasePath(dir), keys);
    writeFileSync(join(dir, 'pdns.conf'), powerdnsConfig(dir, port));
    return spawnProcess(binary('pdns_server'), [`--config-dir=${dir}`], {}, dir);
  }
  if (kind === 'knot') {
    writeFileSync(join(dir, 'knot.conf'), knotConfig(dir, port, keys));
    return spawnProcess(binary('knotd'), ['-c', join(dir, 'knot.conf')], {}, dir);
  }
  writeFileSync(join(dir, 'named.conf'), bindConfig(dir, port, keys));
  // -f: foreground, logging as configured (warnings to stderr); -4: IPv4 only; -n 1: one worker thread (the tests share two cores).
  return spawnProcess(binary('named'), ['-f', '-4', '-n', '1', '-c', join(dir, 'named.conf')], {}, dir);
}

/** Waits until both zones answer authoritatively over TCP, or the server exits. */
async function waitReady(child: Child, port: number): Promise<void> {
  await pollUntil(async () => {
    if (child.process.exitCode !== null) throw new Error(`exited with ${child.process.exitCode}: ${child.stderr().slice(-2000)}`);
    for (const zone of [testZone, readonlyZone]) {
      const result = await runCommand(binary('dig'), ['@127.0.0.1', '-p', String(port), '+tcp', '+time=1', '+tries=1', '+norec', zone, 'SOA']);
      if (!/status: NOERROR/.test(result.stdout) || !/flags: qr aa/.test(result.stdout)) return false;
    }
    return true;
  }, `the DNS server on port ${port} to serve ${testZone} and ${readonlyZone}`, startTimeoutMs, 100);
}

export interface StartOptions {
  /**
   * Lines of zone file appended to `dnsplane.test`'s (after its SOA, NS and `ns A 127.0.0.1`; `$ORIGIN` is the zone):
   * a zone that holds records before dnsplane sees it. Knot DNS and BIND only (PowerDNS keeps its zones in SQL).
   */
  zoneRecords?: readonly string[];
}

export async function startDnsServer(kind: DnsServerKind, options: StartOptions = {}): Promise<DnsServer> {
  const zoneRecords = options.zoneRecords ?? [];
  if (zoneRecords.length > 0 && kind === 'powerdns') throw new Error('zoneRecords: Knot DNS and BIND only');
  let lastError: unknown;
  for (let attempt = 0; attempt < startAttemptsMax; attempt += 1) {
    const dir = tempDir(`dnsplane-${kind}-`);
    const port = await freeDualPort();
    const keys = makeKeys();
    prepareDir(dir.path, zoneRecords);
    const child = launch(kind, dir.path, port, Object.values(keys));
    try {
      await waitReady(child, port);
      return serverHandle(kind, dir, port, keys, child);
    } catch (error) {
      lastError = error;
      await child.stop();
      dir.cleanup();
    }
  }
  throw new Error(`could not start ${kind}: ${(lastError as Error).message}`);
}

function serverHandle(kind: DnsServerKind, dir: { path: string; cleanup(): void }, port: number, keys: Record<TsigAlgorithm, TsigKeyConfig>, child: Child): DnsServer {
  let scripts = 0;
  return {
    kind, host: '127.0.0.1', port, server: `127.0.0.1:${port}`, zone: testZone, readonlyZone, key: keys['hmac-sha256'],
    keys, dir: dir.path, database: kind === 'powerdns' ? powerdnsDatabasePath(dir.path) : null, child,
    async nsupdate(commands, key = keys['hmac-sha256']) {
      scripts += 1;
      const script = join(dir.path, `update-${scripts}.txt`);
      writeFileSync(script, [`server 127.0.0.1 ${port}`, ...commands, 'send', ''].join('\n'));
      const tool = kind === 'knot' ? binary('knsupdate') : binary('nsupdate');
      return runCommand(tool, ['-y', `${key.algorithm}:${key.name}:${key.secret}`, script]);
    },
    async dig(args) {
      return runCommand(binary('dig'), ['@127.0.0.1', '-p', String(port), '+tcp', '+time=2', '+tries=1', ...args]);
    },
    async stop() {
      await child.stop();
      dir.cleanup();
    },
  };
}

/** The provider section of a dnsplane config for this server. */
export function providerSection(server: DnsServer, key: TsigKeyConfig = server.key, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { kind: 'rfc2136', server: server.server, zone: `${server.zone}.`, timeout: '3s', tsig: { name: key.name, algorithm: key.algorithm, secret: key.secret }, ...extra };
}
