// Goal: the janitor's safe clean-up (S4: the floor stops at every live enactor's hold, a served name keeps its
// version, a removed name's versions go only once its tombstone is served) and the reconciler's repair (L2: a hand
// put, a hand delete and a name emptied by hand at the DNS are found, alarmed and repaired to the newest plan; a name
// behind the newest plan, or still served after it removed it, waits maxLag and is then enacted; the start-up race is
// not drift) hold on every store and provider, not only on SQLite. Method: the cases of roles-contract.ts run, unchanged, on the SQLite store with the
// built-in provider; the etcd store with the built-in provider on one real three-member cluster (a fresh key prefix
// per case); the SQLite store with the RFC 2136 provider on a real Knot DNS, BIND 9 and PowerDNS (one server per
// family, a fresh label of the zone per case; hand edits signed with TSIG by knsupdate / nsupdate); and the
// simulator's memory store and provider. Time moves by hand on the roles' clock; etcd ends a stopped enactor's lease.
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { EtcdStore } from '../../src/store/etcd/store.js';
import { keys } from '../../src/store/etcd/keys.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { BuiltinEtcdProvider } from '../../src/providers/builtin/etcd.js';
import { Rfc2136Provider } from '../../src/providers/rfc2136/provider.js';
import { MemoryStore, MemoryStoreState } from '../../src/sim/memory-store.js';
import { MemoryProvider, MemoryProviderState } from '../../src/sim/memory-provider.js';
import { encodeRecords } from '../../src/domain/codec.js';
import type { RecordEntry } from '../../src/domain/types.js';
import { manualClock } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/env.js';
import { startEtcdCluster } from '../helpers/etcd.js';
import { startDnsServer, testOwner, testZone, type DnsServer, type DnsServerKind } from '../helpers/dns-servers.js';
import { rolesContract, type RolesBackend, type RolesFamily, type RolesServers } from './roles-contract.js';

/** The set an operator types in by hand: addresses the plan does not know. */
function handRecords(addresses: readonly string[]): RecordEntry[] {
  return addresses.map((address) => ({ target: 'by-hand', address, weight: 10 }));
}

/** A clock-driven store forgets a stopped enactor once its heartbeat's TTL has passed on the clock. */
function clockStop(clock: ReturnType<typeof manualClock>): RolesBackend['stopEnactor'] {
  return async (_id, ttlMs) => clock.advance(ttlMs + 1);
}

async function sqliteFamily(): Promise<RolesServers> {
  const open = async (): Promise<RolesBackend> => {
    const dir = tempDir('dnsplane-roles-');
    const path = join(dir.path, 'state.db');
    const clock = manualClock();
    const store = new SqliteStore(path, clock);
    const provider = new BuiltinSqliteProvider(path);
    return {
      store, provider, clock, zone: testZone, stopEnactor: clockStop(clock),
      // SQL typed into the database; its triggers give the row a new version, as for any hand edit.
      handPut: async (name, addresses) => {
        const changed = provider.db.prepare('UPDATE served SET records = ? WHERE name = ?')
          .run(encodeRecords(handRecords(addresses)), name);
        assert.equal(changed.changes, 1, `${name} is served`);
      },
      handDelete: async (name) => {
        assert.equal(provider.db.prepare('DELETE FROM served WHERE name = ?').run(name).changes, 1);
      },
      close: async () => {
        await provider.close();
        await store.close();
        dir.cleanup();
      },
    };
  };
  return { open, stop: async () => undefined };
}

async function etcdFamily(): Promise<RolesServers> {
  const cluster = await startEtcdCluster();
  const open = async (): Promise<RolesBackend> => {
    // A fresh prefix per case: the cases share the cluster but never each other's keys.
    const prefix = `/roles-${randomUUID().slice(0, 8)}/`;
    const clock = manualClock();
    const store = new EtcdStore({ endpoints: cluster.endpoints, prefix }, clock);
    const provider = new BuiltinEtcdProvider({ endpoints: [...cluster.endpoints].reverse(), prefix });
    const etcd = provider.etcd;
    return {
      store, provider, clock, zone: testZone,
      // Liveness on etcd is the enactor's lease, not a clock: ending the lease is what its expiry does.
      stopEnactor: async (id) => {
        const live = await store.etcd.get(keys.live(id));
        assert.ok(live !== null && live.lease !== '0', `enactor ${id} is live on an etcd lease`);
        await store.etcd.revokeLease(live.lease);
        assert.equal(await store.etcd.get(keys.live(id)), null);
      },
      // What `etcdctl put` would write: the served key's format, kept generation, other addresses.
      handPut: async (name, addresses) => {
        const current = await etcd.get(keys.served(name));
        assert.ok(current !== null, `${name} is served`);
        const generation = current.value.toString().split('|')[0]!;
        const value = `${generation}|${encodeRecords(handRecords(addresses))}`;
        await etcd.client.put(etcd.key(keys.served(name))).value(value);
      },
      handDelete: async (name) => {
        assert.equal((await etcd.client.delete().key(etcd.key(keys.served(name)))).deleted, '1');
      },
      close: async () => {
        await provider.close();
        await store.close();
      },
    };
  };
  return { open, stop: () => cluster.stop() };
}

/** A hand edit made with the server's own update tool, signed with TSIG. */
async function editByHand(server: DnsServer, commands: readonly string[]): Promise<void> {
  const result = await server.nsupdate([`zone ${server.zone}`, ...commands]);
  assert.equal(result.code, 0, `hand edit failed: ${result.stderr}${result.stdout}`);
}

function rfc2136Family(kind: DnsServerKind): () => Promise<RolesServers> {
  return async () => {
    const server = await startDnsServer(kind);
    let cases = 0;
    const open = async (): Promise<RolesBackend> => {
      const dir = tempDir('dnsplane-roles-');
      const clock = manualClock();
      const store = new SqliteStore(join(dir.path, 'state.db'), clock);
      const provider = new Rfc2136Provider({
        server: server.server, zone: server.zone, timeoutMs: 3000, tsig: server.key, ttl: 5, maxAnswers: 8, owner: testOwner,
      });
      return {
        store, provider, clock, zone: `case${(cases += 1)}.${server.zone}`, stopEnactor: clockStop(clock),
        handPut: (name, addresses) => editByHand(server, [
          `update delete ${name} A`, ...addresses.map((address) => `update add ${name} 5 A ${address}`),
        ]),
        handDelete: (name) => editByHand(server, [`update delete ${name} A`, `update delete _dnsplane.${name} TXT`]),
        close: async () => {
          await provider.close();
          await store.close();
          dir.cleanup();
        },
      };
    };
    return { open, stop: () => server.stop() };
  };
}

async function memoryFamily(): Promise<RolesServers> {
  const open = async (): Promise<RolesBackend> => {
    const clock = manualClock();
    const store = new MemoryStore(new MemoryStoreState(() => clock.nowMs()), clock, 'contract');
    const served = new MemoryProviderState();
    const provider = new MemoryProvider(served, 'contract');
    return {
      store, provider, clock, zone: testZone, stopEnactor: clockStop(clock),
      handPut: async (name, addresses) => served.handEdit(name, handRecords(addresses)),
      handDelete: async (name) => assert.ok(served.served.delete(name), `${name} is served`),
      close: async () => {
        await provider.close();
        await store.close();
      },
    };
  };
  return { open, stop: async () => undefined };
}

const families: RolesFamily[] = [
  { name: 'SQLite store, builtin provider on SQLite', start: sqliteFamily },
  { name: 'etcd store, builtin provider on etcd (three members)', start: etcdFamily },
  { name: 'SQLite store, rfc2136 provider on Knot DNS', start: rfc2136Family('knot') },
  { name: 'SQLite store, rfc2136 provider on BIND 9', start: rfc2136Family('bind') },
  { name: 'SQLite store, rfc2136 provider on PowerDNS', start: rfc2136Family('powerdns') },
  { name: 'simulator memory store and provider', start: memoryFamily },
];

for (const family of families) rolesContract(family);
