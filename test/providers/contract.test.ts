// Goal: every provider keeps the same contract (DESIGN.md §3) — first write,
// compare-and-swap on the version, idempotent retry (S5), never a lower
// generation (S2) or an empty set (S1), removal tombstones, read/list/
// readRemovals in agreement, and a batch whose one stale name does not stop
// the others. Method: the cases of contract.ts run, unchanged, on every
// provider against the real thing it writes to: the built-in provider on a
// SQLite file and on a real three-member etcd cluster, the RFC 2136 provider
// on a real Knot DNS, BIND 9 and PowerDNS (child processes on loopback ports),
// and the simulator's in-memory provider. A new provider is one more line.
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { BuiltinEtcdProvider } from '../../src/providers/builtin/etcd.js';
import { Rfc2136Provider } from '../../src/providers/rfc2136/provider.js';
import { MemoryProvider, MemoryProviderState } from '../../src/sim/memory-provider.js';
import { tempDir } from '../helpers/env.js';
import { startEtcdCluster } from '../helpers/etcd.js';
import { startDnsServer, testOwner, testZone, type DnsServerKind } from '../helpers/dns-servers.js';
import { providerContract, type ProviderBackend, type ProviderFamily } from './contract.js';
import { startEmulatedZone } from './route53/helpers.js';

const zone = testZone;

async function sqliteBackend(): Promise<ProviderBackend> {
  const dir = tempDir('dnsplane-contract-');
  const path = join(dir.path, 'state.db');
  return { zone, open: () => new BuiltinSqliteProvider(path), stop: async () => dir.cleanup() };
}

async function etcdBackend(): Promise<ProviderBackend> {
  const cluster = await startEtcdCluster();
  const prefix = `/contract-${randomUUID().slice(0, 8)}/`;
  const open = () => new BuiltinEtcdProvider({ endpoints: cluster.endpoints, prefix });
  return { zone, open, stop: () => cluster.stop() };
}

function rfc2136Backend(kind: DnsServerKind): () => Promise<ProviderBackend> {
  return async () => {
    const server = await startDnsServer(kind);
    const settings = {
      server: server.server, zone: server.zone, timeoutMs: 3000, tsig: server.key, ttl: 5, maxAnswers: 8, owner: testOwner,
    };
    return { zone: server.zone, open: () => new Rfc2136Provider(settings), stop: () => server.stop() };
  };
}

/** Route 53 through the official SDK, on the emulator of its REST API (test/providers/route53/emulator.ts). */
async function route53Backend(): Promise<ProviderBackend> {
  const emulated = await startEmulatedZone({ zones: [`${zone}.`], insyncAfterMs: 20 });
  return { zone, open: () => emulated.open(), stop: () => emulated.stop() };
}

async function memoryBackend(): Promise<ProviderBackend> {
  const state = new MemoryProviderState();
  let writers = 0;
  return { zone, open: () => new MemoryProvider(state, `contract-${(writers += 1)}`), stop: async () => undefined };
}

const families: ProviderFamily[] = [
  { name: 'builtin on SQLite', start: sqliteBackend },
  { name: 'builtin on etcd (three members)', start: etcdBackend },
  { name: 'rfc2136 on Knot DNS', start: rfc2136Backend('knot') },
  { name: 'rfc2136 on BIND 9', start: rfc2136Backend('bind') },
  { name: 'rfc2136 on PowerDNS', start: rfc2136Backend('powerdns') },
  { name: 'simulator memory provider', start: memoryBackend },
  { name: 'route53 on the Route 53 API emulator', start: route53Backend },
];

for (const family of families) providerContract(family);
