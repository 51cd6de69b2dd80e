// Goal: every kind of health check the config accepts is probed as Route 53
// would — HTTP, HTTPS (a CA file, SNI, hostname verification, an explicit
// insecure switch), TCP, status ranges, Host header, port override, a match
// within the first 5120 bytes of the body, a per-check timeout — and a probe
// never throws or rejects, whatever its spec. Method: real servers on
// 127.0.0.1 port 0 (plain HTTP, HTTPS with a certificate signed by a CA made
// here with openssl, HTTPS with a self-signed impostor certificate for the
// same names, a TCP listener), and probe() called as the checker calls it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { probe, runBounded, type ProbeSpec } from '../../src/health/probe.js';
import { probeBodyBytesMax } from '../../src/domain/probe-spec.js';
import { makeCertificates } from '../helpers/tls.js';

const serverName = 'api.dnsplane.test';
/** Slack on top of a probe's timeout for the event loop of a loaded test machine. */
const timeoutSlackMs = 1500;

const dir = mkdtempSync(join(tmpdir(), 'dnsplane-probe-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The test targets' routes: /ok (200, "status: OK"), /fail (503), /moved
 * (302), /echo (200, the Host header and SNI name seen), /late-match (the
 * word OK only after probeBodyBytesMax bytes), /endless (a body that never
 * ends; counts the connections it saw closed), /hang (never answers).
 */
function routes(closedEndless: { count: number }) {
  return (request: IncomingMessage, response: ServerResponse) => {
    const sni = (request.socket as Partial<TLSSocket>).servername;
    switch (request.url) {
      case '/ok': return void response.writeHead(200).end('status: OK');
      case '/fail': return void response.writeHead(503).end('down');
      case '/moved': return void response.writeHead(302, { location: '/ok' }).end();
      case '/echo': return void response.writeHead(200).end(`host=${request.headers.host} sni=${sni || 'none'}`);
      case '/late-match': return void response.writeHead(200).end(`${'x'.repeat(probeBodyBytesMax)}OK`);
      case '/endless': return void streamForever(response, closedEndless);
      case '/hang': return; // never answers: only the probe's timeout ends it
      default: return void response.writeHead(404).end();
    }
  };
}

/** Writes 1 KiB chunks, paced by the socket's drain, until the client goes away. */
function streamForever(response: ServerResponse, closed: { count: number }): void {
  let open = true;
  response.on('close', () => {
    open = false;
    closed.count += 1;
  });
  response.writeHead(200);
  const chunk = 'y'.repeat(1024);
  const write = () => {
    while (open && response.write(chunk));
    if (open) response.once('drain', write);
  };
  write();
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const certificates = await makeCertificates(dir, serverName);
const closedEndless = { count: 0 };
const plain = createHttpServer(routes(closedEndless));
const secure = createHttpsServer({ ...certificates.good }, routes(closedEndless));
const impostor = createHttpsServer({ ...certificates.impostor }, routes(closedEndless));
const tcp = createTcpServer((socket) => socket.destroy());
const plainPort = await listen(plain);
const securePort = await listen(secure);
const impostorPort = await listen(impostor);
const tcpPort = await listen(tcp as unknown as Server);
after(async () => {
  tcp.close();
  await Promise.all([close(plain), close(secure), close(impostor)]);
});

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  const port = await listen(server as unknown as Server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const http = (path: string, extra: Partial<ProbeSpec> = {}): ProbeSpec => ({ http: `http://127.0.0.1:${plainPort}${path}`, ...extra });
const https = (path: string, extra: Partial<ProbeSpec> = {}, port = securePort): ProbeSpec => ({ https: `https://127.0.0.1:${port}${path}`, ...extra });

async function passes(spec: ProbeSpec, why: string): Promise<void> {
  const result = await probe(spec, 2000);
  assert.equal(result.ok, true, `${why}: ${result.error}`);
  assert.equal(result.error, undefined);
}

async function fails(spec: ProbeSpec, error: RegExp, why: string): Promise<void> {
  const result = await probe(spec, 2000);
  assert.equal(result.ok, false, why);
  assert.match(result.error ?? '', error, why);
  assert.ok(!result.error!.includes('\n'), 'an error is one line');
}

test('HTTP: any 2xx or 3xx passes by default; an expected status or range is honoured', async () => {
  // Goal: Route 53's default (2xx/3xx) and an explicit status or inclusive range. Method: /ok, /moved, /fail probed with each.
  await passes(http('/ok'), '200 passes by default');
  await passes(http('/moved'), '302 passes by default (not followed)');
  await fails(http('/fail'), /^HTTP 503$/, '503 fails by default');
  await passes(http('/fail', { expectStatus: 503 }), 'an expected 503 passes');
  await passes(http('/fail', { expectStatus: { min: 500, max: 599 } }), '503 is within 500-599');
  await fails(http('/moved', { expectStatus: { min: 200, max: 299 } }), /^HTTP 302$/, '302 is outside 200-299');
  await passes(http('/ok', { method: 'HEAD' }), 'HEAD is answered like GET');
});

test('HTTP: match looks only at the first 5120 bytes of the body, and stops reading there', async () => {
  // Goal: the string match of Route 53 and a bounded read. Method: a body holding the word, one holding it only past
  // the bound, and a body that never ends: the probe must fail on the bytes it read, long before its timeout, and close
  // the connection (the server sees it closed).
  await passes(http('/ok', { match: 'OK' }), 'the word is in the body');
  await fails(http('/ok', { match: 'NOPE' }), /^body does not contain "NOPE"$/, 'a missing word fails');
  await fails(http('/late-match', { match: 'OK' }), /^body does not contain "OK"$/, 'a word past the first 5120 bytes does not count');
  const closedBefore = closedEndless.count;
  const endless = await probe(http('/endless', { match: 'NOPE' }), 10_000);
  assert.equal(endless.ok, false);
  assert.match(endless.error ?? '', /^body does not contain/, 'judged on the bytes read, not by the timeout');
  assert.ok(endless.latencyMs < 10_000 - timeoutSlackMs, `an endless body is not read to the end (${endless.latencyMs} ms)`);
  await new Promise<void>((resolve) => {
    const poll = () => (closedEndless.count > closedBefore ? resolve() : setImmediate(poll));
    poll();
  });
});

test('HTTP: the Host header is sent as configured, and the port override wins over the URL', async () => {
  // Goal: virtual-host checks and a port other than the URL's. Method: the server echoes the Host header it received;
  // the URL names a closed port and `port` the live one.
  await passes(http('/echo', { host: serverName, match: `host=${serverName} ` }), 'the configured Host header');
  await passes(http('/echo', { match: `host=127.0.0.1:${plainPort} ` }), 'the URL\'s host and port by default');
  const closed = await closedPort();
  await fails({ http: `http://127.0.0.1:${closed}/ok` }, /ECONNREFUSED/, 'the URL\'s own port is closed');
  await passes({ http: `http://127.0.0.1:${closed}/ok`, port: plainPort }, 'port overrides the URL\'s port');
});

test('HTTPS: a certificate signed by the configured CA passes; SNI carries the Host name, none for an IP literal', async () => {
  // Goal: TLS verification against a CA file, and the SNI name the server sees. Method: the HTTPS server signed by the
  // test CA echoes the SNI name of the connection; the probe trusts that CA through `ca`.
  await passes(https('/ok', { ca: certificates.caPath }), 'trusted through the CA file, certificate valid for 127.0.0.1');
  await passes(https('/echo', { ca: certificates.caPath, host: serverName, match: `host=${serverName} sni=${serverName}` }), 'SNI and Host are the configured name');
  await passes(https('/echo', { ca: certificates.caPath, match: 'sni=none' }), 'no SNI for an IP literal');
  await fails(https('/fail', { ca: certificates.caPath }), /^HTTP 503$/, 'the status is judged over TLS too');
});

test('HTTPS: a certificate not signed by the CA, or for another name, fails; insecure passes it', async () => {
  // Goal: a wrong certificate is a failed check unless verification is switched off explicitly. Method: the impostor
  // server (self-signed, same names), the default store (which does not hold the test CA), and the good server asked
  // for a name its certificate does not carry.
  await fails(https('/ok', { ca: certificates.caPath }, impostorPort), /^certificate: /, 'self-signed impostor, not signed by the CA');
  await fails(https('/ok'), /^certificate: /, 'the default store does not trust the test CA');
  await fails(https('/ok', { ca: certificates.caPath, host: 'other.dnsplane.test' }), /^certificate: .*(altnames|does not match)/i, 'the certificate is not for this name');
  await passes(https('/ok', { insecure: true }, impostorPort), 'insecure: the impostor is accepted');
  await passes(https('/ok', { insecure: true, host: 'other.dnsplane.test' }), 'insecure: the name is not verified either');
  await fails(https('/ok', { ca: certificates.caPath }, plainPort), /.+/, 'TLS to a plain HTTP server fails');
});

test('TCP: a listening port passes, a closed port fails, and port overrides the address\'s', async () => {
  // Goal: the connect check. Method: a TCP listener and a port released before the probe.
  const closed = await closedPort();
  await passes({ tcp: `127.0.0.1:${tcpPort}` }, 'a listener accepts');
  await fails({ tcp: `127.0.0.1:${closed}` }, /ECONNREFUSED/, 'nothing listens');
  await passes({ tcp: `127.0.0.1:${closed}`, port: tcpPort }, 'port overrides the address\'s port');
});

test('timeout: a target that never answers fails within the check\'s own timeout, which wins over the checker\'s', async () => {
  // Goal: the whole probe is bounded, by the per-check timeout when set. Method: /hang never answers; the checker's
  // timeout passed in is 10 s, the check's own 150 ms.
  const result = await probe(http('/hang', { timeout: 150 }), 10_000);
  assert.equal(result.ok, false);
  assert.equal(result.error, 'timeout after 150 ms');
  assert.ok(result.latencyMs >= 140 && result.latencyMs < 150 + timeoutSlackMs, `bounded by 150 ms (${result.latencyMs} ms)`);
  const checker = await probe(https('/hang', { ca: certificates.caPath }), 200);
  assert.equal(checker.error, 'timeout after 200 ms', 'without its own timeout, the checker\'s applies (over TLS too)');
});

test('a bad spec resolves to a failed probe: never a throw, never a rejection', async () => {
  // Goal: whatever reaches probe() — a hand-written spec, a CA file deleted after load — it resolves with ok:false and a
  // clear message, so one target cannot stop a round. Method: malformed specs through probe() and a batch through
  // runBounded as the checker runs them, with a healthy target in the middle that must still pass.
  const bad: [ProbeSpec, RegExp][] = [
    [https('/ok', { ca: join(dir, 'missing-ca.pem') }), /^cannot read CA file ".*missing-ca\.pem" \(ENOENT\)$/],
    [{ http: 'http://' }, /is not a URL/],
    [{ http: `https://127.0.0.1:${securePort}/ok` }, /is not an http:\/\/ URL \(use https: for TLS\)/],
    [{ https: 'ftp://127.0.0.1/' }, /is not an https:\/\/ URL/],
    [{ tcp: 'no-port' }, /is not host:port/],
    [{}, /exactly one of http, https or tcp/],
    [http('/ok', { host: 'bad\nhost' }), /.+/],
    [http('/ok', { expectStatus: 700 }), /expectStatus: 700 is not a status/],
    [http('/ok', { timeout: 0 }), /timeout must be a positive number of ms/],
  ];
  const specs = [...bad.map(([spec]) => spec), http('/ok')];
  const results = await runBounded(specs.map((spec) => () => probe(spec, 1000)), 4);
  bad.forEach(([spec, error], index) => {
    assert.equal(results[index]!.ok, false, JSON.stringify(spec));
    assert.match(results[index]!.error ?? '', error, JSON.stringify(spec));
  });
  assert.equal(results.at(-1)!.ok, true, 'the healthy target in the same batch still passes');
});
