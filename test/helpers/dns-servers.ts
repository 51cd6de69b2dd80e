import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeDualPort, pollUntil, spawnProcess, tempDir, type Child } from './env.js';
import type { TsigAlgorithm } from '../../src/providers/rfc2136/tsig.js';

/**
 * Real authoritative servers for tests and benchmarks: Knot DNS (`knotd`) and
 * BIND 9 (`named`), each in the foreground as a child process on a free
 * loopback port, with everything (config, zone files, journal, pid, control
 * socket) in its own temporary directory. Each serves:
 * - `dnsplane.test`: dynamic, updates and transfers allowed to one TSIG key
 *   per algorithm (hmac-sha256, hmac-sha512, hmac-sha1);
 * - `readonly.test`: served, transfers allowed, updates not.
 * `stop()` ends the server by pid and removes the directory.
 *
 * Neither server is told to change user: they run as whoever runs the tests
 * (root in CI; any user works, since every path they write is in their
 * directory and the ports are above 1024). DNSPLANE_TEST_KNOT_LOG=info shows
 * Knot's per-update log lines when debugging.
 */

export type DnsServerKind = 'knot' | 'bind';

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
  child: Child;
  /** Runs `knsupdate` (Knot) or `nsupdate` (BIND) with these commands, signed with `key`; "server" and "send" are added. */
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
export const readonlyZone = 'readonly.test';
const algorithms: readonly TsigAlgorithm[] = ['hmac-sha256', 'hmac-sha512', 'hmac-sha1'];
/** Start-up attempts: a free port can be taken by someone else before the server binds it. */
const startAttemptsMax = 3;
const startTimeoutMs = 20_000;
const commandTimeoutMs = 20_000;

const binaries = {
  knotd: ['/usr/sbin/knotd', 'knotd'],
  named: ['/usr/sbin/named', 'named'],
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

function prepareDir(dir: string): void {
  for (const sub of ['run', 'db', 'zones']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'zones', `${testZone}.zone`), zoneFile(testZone));
  writeFileSync(join(dir, 'zones', `${readonlyZone}.zone`), zoneFile(readonlyZone));
}

function launch(kind: DnsServerKind, dir: string, port: number, keys: readonly TsigKeyConfig[]): Child {
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

export async function startDnsServer(kind: DnsServerKind): Promise<DnsServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < startAttemptsMax; attempt += 1) {
    const dir = tempDir(`dnsplane-${kind}-`);
    const port = await freeDualPort();
    const keys = makeKeys();
    prepareDir(dir.path);
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
    kind, host: '127.0.0.1', port, server: `127.0.0.1:${port}`, zone: testZone, readonlyZone, key: keys['hmac-sha256'], keys, dir: dir.path, child,
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
