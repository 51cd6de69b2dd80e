// Goal: `dnsplane import` against real Knot DNS and BIND 9 — a zone of hand-made records (addresses at the apex and
// at names of 1-3 addresses, IPv6 only, TXT, MX, a CNAME, a dnsplane tombstone) becomes a file that
// `dnsplane validate -f` accepts and that names exactly the A/AAAA names with their addresses; importing again gives
// the same bytes (on stdout this time). A wrong TSIG secret, an unsigned transfer the server refuses, and a server
// that never answers each exit 1 with one line naming the server and the cause, and write nothing to --output; bad
// flags exit 2. Method: each server started on a free loopback port in its own directory with the records in its
// zone file; the real CLI as child processes (bad flags too: they fail before anything is opened or sent); the file
// read back with the config loader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { loadInventoryFile } from '../../src/config/load.js';
import { dnsServerNames, startDnsServer, type DnsServer, type TsigKeyConfig } from '../helpers/dns-servers.js';
import { freeTcpPort, runCli, tempDir } from '../helpers/env.js';

const zoneRecords = [
  '@ 300 A 192.0.2.1',
  '@ 300 MX 10 mail',
  'www 300 A 192.0.2.10', 'www 300 A 192.0.2.11', 'www 300 AAAA 2001:db8::10',
  'api 300 A 192.0.2.20', 'api 300 A 192.0.2.21', 'api 300 A 192.0.2.22', 'api 300 TXT "owner=team-a"',
  'v6 300 AAAA 2001:db8::30', 'v6 300 AAAA 2001:db8::31',
  'mail 300 A 192.0.2.25',
  'notes 300 TXT "hello world"',
  'docs 300 CNAME www',
  '_dnsplane.old 5 TXT "removed=3" "version=abc"',
];

/** What the import must name: every A/AAAA name of the zone but its name-server host (`ns`, from the helper). */
const expected = [
  ['api.dnsplane.test', ['192.0.2.20', '192.0.2.21', '192.0.2.22']],
  ['dnsplane.test', ['192.0.2.1']],
  ['mail.dnsplane.test', ['192.0.2.25']],
  ['v6.dnsplane.test', ['2001:db8::30', '2001:db8::31']],
  ['www.dnsplane.test', ['192.0.2.10', '192.0.2.11', '2001:db8::10']],
];

function keyFlags(key: TsigKeyConfig): string[] {
  return ['--tsig-name', key.name, '--tsig-algorithm', key.algorithm, '--tsig-secret', key.secret];
}

function importArgs(server: DnsServer, extra: string[] = []): string[] {
  return ['import', '--provider', 'rfc2136', '--server', server.server, '--zone', server.zone, ...extra];
}

/** Name → sorted addresses, as `validate` reads the file. */
function namesOf(path: string): [string, string[]][] {
  const { endpoints } = loadInventoryFile(path, null);
  return endpoints.map((endpoint) => [endpoint.name, endpoint.targets.map((target) => target.address).sort()]);
}

async function importFrom(server: DnsServer): Promise<void> {
  const dir = tempDir('dnsplane-import-cli-');
  try {
    const output = join(dir.path, 'inventory.yaml');
    // The secret from a file here (kept out of the process list), from the flag in the re-import below.
    const secretFile = join(dir.path, 'key.b64');
    writeFileSync(secretFile, `${server.key.secret}\n`, { mode: 0o600 });
    const fileKey = ['--tsig-name', server.key.name, '--tsig-algorithm', server.key.algorithm, '--tsig-secret-file', secretFile];
    const imported = await runCli(importArgs(server, [...fileKey, '--output', output]));
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(imported.stdout, '', 'with --output, nothing on stdout');
    assert.match(imported.stderr, /^imported 5 names \(10 targets\) of zone dnsplane\.test from \d+ records in \d+ ms; not imported: 3 names/);

    const validated = await runCli(['validate', '-f', output]);
    assert.equal(validated.code, 0, validated.stderr);
    assert.match(validated.stdout, /valid \(5 names, 10 targets\)/);
    assert.deepEqual(namesOf(output).sort(), expected);
    const text = readFileSync(output, 'utf8');
    assert.match(text, /^# {2}docs: no A\/AAAA: CNAME$/m);
    assert.match(text, /^# {2}notes: no A\/AAAA: TXT$/m);
    assert.match(text, /^# {2}ns: a name-server host of the zone/m);
    assert.match(text, /^# Left out: 1 dnsplane marker record set/m);
    assert.match(text, /^# {2}dnsplane\.test\.: MX, NS, SOA$/m, 'the apex is imported and its other records named');

    // Again on stdout; a wrong secret (refused by the server); no key at all (both servers allow transfers to their
    // keys only) — at once. Neither failure creates --output or replaces an existing one.
    const wrong = { ...server.key, secret: Buffer.alloc(32, 7).toString('base64') };
    const fresh = join(dir.path, 'never.yaml');
    const kept = join(dir.path, 'kept.yaml');
    writeFileSync(kept, 'kept\n');
    const [again, badSecret, badSecretKept, unsigned] = await Promise.all([
      runCli(importArgs(server, keyFlags(server.key))),
      runCli(importArgs(server, [...keyFlags(wrong), '--output', fresh])),
      runCli(importArgs(server, [...keyFlags(wrong), '--output', kept])),
      runCli(importArgs(server, ['--output', kept])),
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, text, 'a re-import gives the same bytes');

    assert.equal(badSecret.code, 1, badSecret.stderr);
    assert.match(badSecret.stderr, new RegExp(`server ${server.server}, zone dnsplane\\.test: zone transfer: the server rejected TSIG key "${server.key.name}"`));
    assert.match(badSecret.stderr, /with (BADSIG|BADKEY): .*; nothing was written$/m);
    assert.equal(badSecret.stderr.trim().split('\n').length, 1, `one line, no stack: ${badSecret.stderr}`);
    assert.ok(!existsSync(fresh), 'nothing written to --output');
    assert.equal(badSecretKept.code, 1, badSecretKept.stderr);

    assert.equal(unsigned.code, 1, unsigned.stderr);
    assert.match(unsigned.stderr, new RegExp(`server ${server.server}, zone dnsplane\\.test: zone transfer \\(AXFR\\) answered (REFUSED|NOTAUTH)`));
    assert.equal(readFileSync(kept, 'utf8'), 'kept\n', 'an existing --output is left as it was');
  } finally {
    dir.cleanup();
  }
}

for (const kind of ['knot', 'bind'] as const) {
  test(`${dnsServerNames[kind]}: import names exactly the A/AAAA names with their addresses; a wrong key writes nothing`, async () => {
    const server = await startDnsServer(kind, { zoneRecords });
    try {
      await importFrom(server);
    } finally {
      await server.stop();
    }
  });
}

test('a server that accepts the connection and never answers: exit 1 naming the server and the timeout', async () => {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await freeTcpPort();
  await new Promise<void>((resolveListen) => silent.listen(port, '127.0.0.1', resolveListen));
  try {
    const result = await runCli(['import', '--provider', 'rfc2136', '--server', `127.0.0.1:${port}`, '--zone', 'dnsplane.test', '--timeout', '300ms']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`^error: rfc2136 provider: server 127\\.0\\.0\\.1:${port}, zone dnsplane\\.test: no answer within 300 ms`));
    assert.equal(result.stdout, '');
    assert.ok(sockets.size <= 1, 'one connection');
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolveClose) => silent.close(() => resolveClose()));
  }
});

// The real binary per case: it runs compiled code (dist/), so a case costs a fraction of a second. (In this process,
// with its output captured, the test runner's own writes during the command's awaits were captured with it.)
test('bad flags exit 2 naming the flag, before anything is sent', async () => {
  const base = ['import', '--provider', 'rfc2136', '--server', '127.0.0.1:1', '--zone', 'dnsplane.test'];
  const cases: [string[], RegExp][] = [
    [['import', '--provider', 'route53', '--server', '127.0.0.1:1', '--zone', 'z.test'], /--provider must be rfc2136/],
    [['import', '--provider', 'rfc2136', '--zone', 'z.test'], /--server HOST:PORT is required/],
    [['import', '--provider', 'rfc2136', '--server', '127.0.0.1:1'], /--zone ZONE is required/],
    [['import', '--provider', 'rfc2136', '--server', 'no-port', '--zone', 'z.test'], /--server: "no-port" is not host:port/],
    [[...base, '--tsig-name', 'k', '--tsig-secret', 'not base64!'], /--tsig-secret: tsig\.secret must be base64/],
    [[...base, '--tsig-name', 'k', '--tsig-algorithm', 'md5', '--tsig-secret', 'AAAA'], /--tsig-algorithm: /],
    [[...base, '--tsig-name', 'k'], /a TSIG key needs --tsig-name and --tsig-secret/],
    [[...base, '--timeout', '0ms'], /--timeout: /],
    [[...base, '--zone', 'bad..zone'], /--zone: /],
    [[...base, '--capacity', '0'], /--capacity must be a whole number from 1 to 1000000/],
  ];
  for (const [args, pattern] of cases) {
    const result = await runCli(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, pattern, args.join(' '));
    assert.equal(result.stdout, '');
  }
});
