// Goal: the RFC 2136 provider keeps the compare-and-swap of DESIGN.md §3 in
// real DNS servers — Knot DNS, BIND 9 and PowerDNS — and fails clearly, writing
// nothing, when the key, the zone or the server's policy is wrong.
// Method: each server runs as a child process on a loopback port
// (test/helpers/dns-servers.ts); the provider writes through signed UPDATEs,
// and every outcome is checked three ways: what the provider returns, what
// `dig` sees, and the zone's SOA serial (which any accepted UPDATE raises,
// so an unchanged serial proves nothing was written).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Rfc2136Error } from '../../../src/providers/rfc2136/errors.js';
import { Rfc2136Provider, type Rfc2136Settings } from '../../../src/providers/rfc2136/provider.js';
import type { RecordEntry } from '../../../src/domain/types.js';
import { dnsServerKinds, startDnsServer, testOwner, type DnsServer, type TsigKeyConfig } from '../../helpers/dns-servers.js';
import { freeTcpPort, pollUntil } from '../../helpers/env.js';
import { proxy, questionOf } from './stand-in.js';
import dnsPacket from 'dns-packet';
import Database from 'better-sqlite3';
import { encodeMarker, tombstoneName } from '../../../src/providers/marker.js';
import { signMessage, type TsigKey } from '../../../src/providers/rfc2136/tsig.js';

function providerFor(server: DnsServer, overrides: Partial<Rfc2136Settings> = {}, key: TsigKeyConfig = server.key): Rfc2136Provider {
  return new Rfc2136Provider({ server: server.server, zone: server.zone, timeoutMs: 3000, tsig: key, ttl: 5, maxAnswers: 8, owner: testOwner, ...overrides });
}

function set(...addresses: string[]): RecordEntry[] {
  return addresses.map((address, index) => ({ target: `lb-${index}`, address, weight: 10 + index })).sort((a, b) => (a.address < b.address ? -1 : 1));
}

async function digShort(server: DnsServer, name: string, type: string): Promise<string[]> {
  const result = await server.dig(['+short', name, type]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split('\n').filter((line) => line.length > 0).sort();
}

async function serial(server: DnsServer, zone = server.zone): Promise<number> {
  const [soa] = await digShort(server, zone, 'SOA');
  return Number(soa!.split(' ')[2]);
}

async function rejects(promise: Promise<unknown>, reason: string, mentions: RegExp): Promise<Rfc2136Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Rfc2136Error, `an Rfc2136Error, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    assert.match(error.message, mentions);
    return error;
  }
  assert.fail(`expected a ${reason} error`);
}

for (const kind of dnsServerKinds) {
  describe(`rfc2136 provider on ${kind}`, () => {
    let server: DnsServer;
    let provider: Rfc2136Provider;
    before(async () => {
      server = await startDnsServer(kind);
      provider = providerFor(server);
    });
    after(async () => {
      await provider?.close();
      await server?.stop();
    });

    test('create, update with the version read, conflict on a stale version, remove', async () => {
      const name = 'cas.dnsplane.test';
      assert.equal((await provider.read([name])).size, 0, 'not served yet');
      const [created] = await provider.apply([{ name, records: set('127.0.0.2', '127.0.0.3', '::2'), generation: 1, expectedVersion: null }]);
      assert.equal(created!.outcome, 'applied');
      assert.deepEqual(await digShort(server, name, 'A'), ['127.0.0.2', '127.0.0.3']);
      assert.deepEqual(await digShort(server, name, 'AAAA'), ['::2']);
      const first = (await provider.read([name])).get(name)!;
      assert.deepEqual(first, { name, generation: 1, version: created!.outcome === 'applied' ? created!.version : '', records: set('127.0.0.2', '127.0.0.3', '::2') });
      const [again] = await provider.apply([{ name, records: set('127.0.0.9'), generation: 2, expectedVersion: null }]);
      assert.equal(again!.outcome, 'conflict', 'creating a name that exists is a conflict');
      const [updated] = await provider.apply([{ name, records: set('127.0.0.4'), generation: 2, expectedVersion: first.version }]);
      assert.equal(updated!.outcome, 'applied');
      const before = await serial(server);
      // A second provider (another enactor process) still holds the first version: its write must not land.
      const stale = providerFor(server);
      try {
        const [lost] = await stale.apply([{ name, records: set('127.0.0.5'), generation: 3, expectedVersion: first.version }]);
        assert.equal(lost!.outcome, 'conflict');
      } finally {
        await stale.close();
      }
      assert.equal(await serial(server), before, 'the stale write changed nothing');
      assert.deepEqual(await digShort(server, name, 'A'), ['127.0.0.4']);
      assert.deepEqual(await digShort(server, name, 'AAAA'), [], 'the AAAA RRset went with the old set');
      const current = (await provider.read([name])).get(name)!;
      assert.equal(current.generation, 2);
      const [removed] = await provider.apply([{ name, records: null, generation: 3, expectedVersion: current.version }]);
      assert.equal(removed!.outcome, 'applied');
      assert.deepEqual(await digShort(server, name, 'A'), []);
      assert.deepEqual(await digShort(server, `_dnsplane.${name}`, 'TXT'), [], 'the marker went');
      const [tombstone] = await digShort(server, tombstoneName(name, server.zone), 'TXT');
      assert.match(tombstone ?? '', /^"removed=3" "version=[A-Za-z0-9_-]+" "owner=dnsplane-test"$/, 'a tombstone under the reserved subtree holds the removing generation');
      for (const type of ['A', 'TXT', 'AAAA']) {
        const answer = await server.dig(['+noall', '+comments', name, type]);
        assert.match(answer.stdout, /status: NXDOMAIN/, `the removed name answers NXDOMAIN to ${type}, not NODATA`);
      }
      assert.equal((await provider.read([name])).size, 0);
      assert.deepEqual((await provider.list(null, 100)).filter((state) => state.name === name), [], 'a tombstone is not a served name');
    });

    test('a read that straddles a first write or a removal is read again, never taken for an unmanaged name', async () => {
      // One of the two queries of a read is answered before a write lands, the other after it (held back at a proxy
      // until the write is done): addresses without a marker (a first write), or a tombstone's absence of marker
      // beside the old addresses (a removal) — which only a stable re-read tells from a name made by hand.
      const name = 'straddle.dnsplane.test';
      const via = await proxy(server.server);
      const reader = providerFor(server, { server: via.server });
      try {
        const straddled = async (held: string, first: string, write: () => Promise<void>) => {
          let armed = true;
          via.answered.length = 0;
          via.hold = (request) => {
            if (!armed || questionOf(request) !== held) return undefined;
            armed = false;
            return (async () => {
              await pollUntil(() => via.answered.includes(first), `${first} answered first`, 10_000, 5);
              await write();
            })();
          };
          const state = (await reader.read([name])).get(name);
          assert.equal(armed, false, `${held} was held back`);
          return state;
        };
        const created = await straddled(`${name} A`, `_dnsplane.${name} TXT`, async () => {
          const [outcome] = await provider.apply([{ name, records: set('127.0.14.1'), generation: 1, expectedVersion: null }]);
          assert.equal(outcome!.outcome, 'applied');
        });
        assert.equal(created?.held, undefined, 'not unmanaged');
        assert.deepEqual([created?.generation, created?.records.map((record) => record.address)], [1, ['127.0.14.1']]);
        const removed = await straddled(`_dnsplane.${name} TXT`, `${name} A`, async () => {
          const current = (await provider.read([name])).get(name)!;
          const [outcome] = await provider.apply([{ name, records: null, generation: 2, expectedVersion: current.version }]);
          assert.equal(outcome!.outcome, 'applied');
        });
        assert.equal(removed, undefined, 'removed, not unmanaged');
      } finally {
        await reader.close();
        await via.close();
      }
    });

    test('a tombstone written by an earlier version at _dnsplane.<name> is still honoured, and replaced by a newer first write', async () => {
      const name = 'legacy.dnsplane.test';
      const added = await server.nsupdate([`zone ${server.zone}`, `update add _dnsplane.${name} 5 TXT "removed=7" "version=legacy1"`]);
      assert.equal(added.code, 0, added.stderr);
      assert.equal((await provider.read([name])).size, 0, 'a removed name is not served');
      assert.deepEqual(await provider.readRemovals([name]), new Map([[name, 7]]));
      const [stale] = await provider.apply([{ name, records: set('127.0.13.1'), generation: 7, expectedVersion: null }]);
      assert.deepEqual(stale, { name, outcome: 'superseded', generation: 7 });
      const [fresh] = await provider.apply([{ name, records: set('127.0.13.1'), generation: 8, expectedVersion: null }]);
      assert.equal(fresh!.outcome, 'applied');
      assert.equal((await provider.read([name])).get(name)?.generation, 8);
      assert.deepEqual(await digShort(server, name, 'A'), ['127.0.13.1']);
      assert.deepEqual(await provider.readRemovals([name]), new Map(), 'the old tombstone went with the first write');
    });

    test('a removed name stays removed: a stale first write at or below the removal is superseded, a newer one applies (S2)', async () => {
      const name = 'tomb.dnsplane.test';
      const [created] = await provider.apply([{ name, records: set('127.0.3.1'), generation: 1, expectedVersion: null }]);
      const [removed] = await provider.apply([{ name, records: null, generation: 4, expectedVersion: created!.outcome === 'applied' ? created!.version : '' }]);
      assert.equal(removed!.outcome, 'applied');
      // Another enactor process that never saw the name: its blind first write fails the "no marker" prerequisite; after reading, it is superseded.
      const stale = providerFor(server);
      try {
        const [blind] = await stale.apply([{ name, records: set('127.0.3.2'), generation: 3, expectedVersion: null }]);
        assert.equal(blind!.outcome, 'conflict', 'the tombstone fails the no-marker prerequisite');
        assert.equal((await stale.read([name])).size, 0, 'read as absent');
        for (const generation of [3, 4]) {
          const [refused] = await stale.apply([{ name, records: set('127.0.3.2'), generation, expectedVersion: null }]);
          assert.deepEqual(refused, { name, outcome: 'superseded', generation: 4 }, `a first write at generation ${generation}`);
        }
      } finally {
        await stale.close();
      }
      assert.deepEqual(await digShort(server, name, 'A'), [], 'the removed name did not come back');
      assert.deepEqual(await provider.readRemovals([name, 'never.dnsplane.test']), new Map([[name, 4]]), 'the janitor can see the tombstone');
      const [back] = await provider.apply([{ name, records: set('127.0.3.3'), generation: 5, expectedVersion: null }]);
      assert.equal(back!.outcome, 'applied', 'a newer plan brings the name back over its tombstone');
      assert.deepEqual(await digShort(server, name, 'A'), ['127.0.3.3']);
      assert.equal((await provider.read([name])).get(name)?.generation, 5);
      assert.equal((await provider.readRemovals([name])).size, 0, 'a served name has no removal');
    });

    test('the zone apex can be an endpoint: its A records and marker come and go, its SOA and NS stay', async () => {
      const apex = server.zone;
      const [created] = await provider.apply([{ name: apex, records: set('127.0.9.1'), generation: 1, expectedVersion: null }]);
      assert.equal(created!.outcome, 'applied');
      assert.deepEqual(await digShort(server, apex, 'A'), ['127.0.9.1']);
      const state = (await provider.read([apex])).get(apex)!;
      const [removed] = await provider.apply([{ name: apex, records: null, generation: 2, expectedVersion: state.version }]);
      assert.equal(removed!.outcome, 'applied');
      assert.deepEqual(await digShort(server, apex, 'A'), []);
      assert.equal((await digShort(server, apex, 'SOA')).length, 1, 'SOA kept');
      assert.deepEqual(await digShort(server, apex, 'NS'), [`ns.${apex}.`], 'NS kept');
    });

    const cnameTitle = 'a hand-made CNAME is unmanaged; adopted, it gets its marker and no address, stopping no other '
      + 'name; then addresses';
    test(cnameTitle, async () => {
      // RFC 2136 §3.4.2.2 has a server ignore an address added beside a CNAME (Knot, BIND); PowerDNS refuses the
      // whole UPDATE instead, so the provider adds none there — on every server alike.
      const [aliased, ...others] = ['cname', 'beside-1', 'beside-2'].map((label) => `${label}.dnsplane.test`);
      const added = await server.nsupdate([`zone ${server.zone}`, `update add ${aliased} 5 CNAME elsewhere.example.`]);
      assert.equal(added.code, 0, added.stderr);
      const found = await provider.read([aliased!, ...others]);
      assert.deepEqual([...found.keys()], [aliased], 'read first, as an enactor does: only the CNAME is there');
      const unmanaged = found.get(aliased!)!;
      assert.deepEqual(unmanaged.held, { kind: 'unmanaged', records: ['CNAME'] }, 'not dnsplane\'s: unmanaged');
      const names = [aliased!, ...others];
      // The adoption expects the unmanaged version read; the others are first writes.
      const firsts = names.map((name) => ({
        name, records: set('127.0.10.1'), generation: 1, expectedVersion: name === aliased ? unmanaged.version : null,
      }));
      const created = await provider.apply(firsts);
      assert.deepEqual(created.map((outcome) => outcome.outcome), ['applied', 'applied', 'applied'], 'one message');
      assert.deepEqual(await digShort(server, others[0]!, 'A'), ['127.0.10.1']);
      assert.deepEqual(await digShort(server, aliased!, 'CNAME'), ['elsewhere.example.'], 'the CNAME stands');
      const read = (await provider.read([aliased!])).get(aliased!)!;
      assert.deepEqual([read.generation, read.records], [1, []], 'the marker is there, the name serves no address');
      const removed = await server.nsupdate([`zone ${server.zone}`, `update delete ${aliased} CNAME`]);
      assert.equal(removed.code, 0, removed.stderr);
      const write = { name: aliased!, records: set('127.0.10.2'), generation: 2, expectedVersion: read.version };
      assert.equal((await provider.apply([write]))[0]!.outcome, 'conflict', 'the CNAME it required went away');
      assert.equal((await provider.read([aliased!])).get(aliased!)?.version, read.version, 'the marker did not move');
      assert.equal((await provider.apply([write]))[0]!.outcome, 'applied', 'read again: no CNAME, addresses go in');
      assert.deepEqual(await digShort(server, aliased!, 'A'), ['127.0.10.2']);
    });

    if (kind === 'powerdns') {
      const title = 'a marker stored in its database in another text form never meets the prerequisite; deleted, '
        + 'the name is free';
      test(`PowerDNS: ${title}`, async () => {
        // PowerDNS compares a value prerequisite with the text its database holds, not with the wire data it
        // serves: a TXT put there by SQL as "x\065" is served as "xA", and the prerequisite built from the
        // answer ("xA") never matches. DNS UPDATE, pdnsutil and the API store the canonical text.
        const name = 'sql.dnsplane.test';
        const db = new Database(server.database!);
        try {
          const insert = db.prepare('INSERT INTO records (domain_id, name, type, content, ttl, auth) '
            + 'SELECT id, ?, ?, ?, 5, 1 FROM domains WHERE name = ?');
          assert.equal(insert.run(`_dnsplane.${name}`, 'TXT', '"x\\065"', server.zone).changes, 1);
          assert.equal(insert.run(name, 'A', '192.0.2.7', server.zone).changes, 1);
        } finally {
          db.close();
        }
        assert.deepEqual(await digShort(server, `_dnsplane.${name}`, 'TXT'), ['"xA"']);
        for (let attempt = 0; attempt < 2; attempt += 1) {
          const read = (await provider.read([name])).get(name)!;
          assert.equal(read.generation, 0, 'a marker that does not parse claims no generation');
          const change = { name, records: set('127.0.11.1'), generation: 1, expectedVersion: read.version };
          const [outcome] = await provider.apply([change]);
          assert.equal(outcome!.outcome, 'conflict', `attempt ${attempt + 1}: the prerequisite never matches the read`);
        }
        const deleted = await server.nsupdate([`zone ${server.zone}`, `update delete _dnsplane.${name} TXT`]);
        assert.equal(deleted.code, 0, deleted.stderr);
        const unmanaged = (await provider.read([name])).get(name)!;
        assert.deepEqual(unmanaged.held, { kind: 'unmanaged', records: ['A 192.0.2.7'] }, 'no marker: not dnsplane\'s');
        const first = { name, records: set('127.0.11.1'), generation: 1, expectedVersion: null };
        assert.equal((await provider.apply([first]))[0]!.outcome, 'conflict', 'a first write requires no address');
        const adoption = { ...first, expectedVersion: unmanaged.version };
        assert.equal((await provider.apply([adoption]))[0]!.outcome, 'applied', 'adopted: the address read required');
        assert.deepEqual(await digShort(server, name, 'A'), ['127.0.11.1']);
      });
    }

    test('a foreign marker of any TXT text reads as generation 0, and the next write replaces it', async () => {
      // Quotes, semicolons, decimal escapes, empty strings, two records: what the prerequisite repeats must be
      // exactly what the server holds, however it stores TXT.
      const texts = ['"a;b" "c\\"d" "\\255x" ""', 'unquoted', '"one" "two"'];
      for (const [index, text] of texts.entries()) {
        const name = `foreign${index}.${server.zone}`;
        const second = index === 2 ? [`update add _dnsplane.${name} 5 TXT "second record"`] : [];
        const commands = [`zone ${server.zone}`, `update add _dnsplane.${name} 5 TXT ${text}`, ...second];
        const added = await server.nsupdate(commands);
        assert.equal(added.code, 0, added.stderr);
        const read = (await provider.read([name])).get(name)!;
        assert.equal(read.generation, 0, `${text}: not a marker, no generation`);
        const change = { name, records: set('127.0.12.1'), generation: 1, expectedVersion: read.version };
        assert.equal((await provider.apply([change]))[0]!.outcome, 'applied', `${text}: the prerequisite matched`);
        assert.deepEqual(await digShort(server, name, 'A'), ['127.0.12.1']);
      }
    });

    test('a set of 2,000 targets goes in one UPDATE (a marker of about 40 KB) and reads back exactly', async () => {
      const name = `large.${server.zone}`;
      const records = Array.from({ length: 2000 }, (_, index) => ({
        target: `lb-${index}`, address: `10.${index >> 8}.${index & 255}.1`, weight: 1 + (index % 200),
      })).sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
      const [written] = await provider.apply([{ name, records, generation: 1, expectedVersion: null }]);
      assert.equal(written!.outcome, 'applied');
      const read = (await provider.read([name])).get(name)!;
      assert.deepEqual(read.records, records);
      assert.equal((await digShort(server, name, 'A')).length, 8, 'the maxAnswers heaviest addresses are served');
    });

    test('a batch of 60 names in messages of 25: the 6 stale ones conflict, the other 54 are applied', async () => {
      const batched = providerFor(server, { updateNamesMax: 25 });
      try {
        const names = Array.from({ length: 60 }, (_, index) => `batch${String(index).padStart(2, '0')}.dnsplane.test`);
        const created = await batched.apply(names.map((name, index) => ({ name, records: set(`127.0.1.${index + 1}`), generation: 1, expectedVersion: null })));
        assert.ok(created.every((outcome) => outcome.outcome === 'applied'));
        const states = await batched.read(names);
        assert.equal(states.size, 60);
        // Another writer moves every tenth name after our read.
        const other = providerFor(server);
        const moved = names.filter((_, index) => index % 10 === 3);
        await other.apply(moved.map((name) => ({ name, records: set('127.0.2.1'), generation: 2, expectedVersion: states.get(name)!.version })));
        await other.close();
        const outcomes = await batched.apply(names.map((name, index) => ({ name, records: set(`127.0.3.${index + 1}`), generation: 3, expectedVersion: states.get(name)!.version })));
        assert.deepEqual(outcomes.filter((o) => o.outcome === 'conflict').map((o) => o.name), moved);
        assert.equal(outcomes.filter((o) => o.outcome === 'applied').length, 54);
        const after = await batched.read(names);
        for (const name of names) assert.equal(after.get(name)!.generation, moved.includes(name) ? 2 : 3, name);
        assert.deepEqual(await digShort(server, names[3]!, 'A'), ['127.0.2.1'], 'the conflicting names keep the other writer\'s set');
      } finally {
        await batched.close();
      }
    });

    test('list pages through every managed name from a signed zone transfer, in name order, skipping unmanaged names', async () => {
      const added = await server.nsupdate([`zone ${server.zone}`, `update add unmanaged.${server.zone} 5 A 192.0.2.1`]);
      assert.equal(added.code, 0, added.stderr);
      const names = ['list-c', 'list-a', 'list-b'].map((label) => `${label}.dnsplane.test`);
      await provider.apply(names.map((name) => ({ name, records: set('127.0.4.1'), generation: 1, expectedVersion: null })));
      const all = [];
      let afterName: string | null = null;
      for (let page = 0; page < 100; page += 1) {
        const states = await provider.list(afterName, 7);
        all.push(...states);
        if (states.length < 7) break;
        afterName = states[states.length - 1]!.name;
      }
      const listed = all.map((state) => state.name);
      assert.deepEqual(listed, [...listed].sort(), 'in name order');
      assert.equal(new Set(listed).size, listed.length, 'no name twice');
      for (const name of names) assert.ok(listed.includes(name), name);
      assert.ok(!listed.includes(`unmanaged.${server.zone}`), 'a name without a marker is not dnsplane\'s');
      const fromList = all.find((state) => state.name === names[0]);
      assert.deepEqual(fromList, (await provider.read([names[0]!])).get(names[0]!), 'list and read agree');
    });

    test('hmac-sha512 and hmac-sha1 keys work as well as hmac-sha256', async () => {
      for (const algorithm of ['hmac-sha512', 'hmac-sha1'] as const) {
        const keyed = providerFor(server, {}, server.keys[algorithm]);
        try {
          const name = `alg-${algorithm}.dnsplane.test`;
          const [outcome] = await keyed.apply([{ name, records: set('127.0.5.1'), generation: 1, expectedVersion: null }]);
          assert.equal(outcome!.outcome, 'applied', algorithm);
          assert.equal((await keyed.list(null, 10_000)).filter((state) => state.name === name).length, 1, `${algorithm} signs the transfer too`);
        } finally {
          await keyed.close();
        }
      }
    });

    test('a wrong secret, a wrong algorithm and an unknown key are clear errors, and nothing is written', async () => {
      const name = 'keys.dnsplane.test';
      await provider.apply([{ name, records: set('127.0.6.1'), generation: 1, expectedVersion: null }]);
      const state = (await provider.read([name])).get(name)!;
      const serialBefore = await serial(server);
      // PowerDNS answers a key it does not accept without a TSIG record (NOTAUTH to a query, REFUSED to an UPDATE)
      // where Knot and BIND say BADSIG or BADKEY; the error says which key, and that it was not accepted.
      const unsigned = /without a TSIG record .*did not accept/;
      const wrongKeys: [TsigKeyConfig, RegExp][] = [
        [{ ...server.key, secret: Buffer.alloc(32, 7).toString('base64') }, kind === 'powerdns' ? unsigned : /BADSIG/],
        [{ ...server.key, algorithm: 'hmac-sha512' }, kind === 'powerdns' ? unsigned : /BADKEY/],
        [{ ...server.key, name: 'nobody-knows-me' }, kind === 'powerdns' ? unsigned : /BADKEY/],
      ];
      for (const [key, code] of wrongKeys) {
        const wrong = providerFor(server, {}, key);
        try {
          // An update of a name read earlier reads its marker first (a signed query); a first write is an UPDATE.
          const update = { name, records: set('127.0.6.2'), generation: 2, expectedVersion: state.version };
          const first = { name: `new.${server.zone}`, records: set('127.0.6.3'), generation: 1, expectedVersion: null };
          for (const change of [update, first]) {
            const error = await rejects(wrong.apply([change]), 'tsig-rejected', code);
            const where = `server ${server.server}, zone ${server.zone}: `;
            assert.match(error.message, new RegExp(`${where}.*TSIG key "${key.name}".*nothing was written`));
          }
        } finally {
          await wrong.close();
        }
      }
      assert.equal(await serial(server), serialBefore, 'the SOA serial did not move');
      assert.deepEqual((await provider.read([name])).get(name), state, 'the name is as it was');
    });

    test('a zone the server does not serve is a clear error for reads and writes', async () => {
      const elsewhere = providerFor(server, { zone: 'elsewhere.test' });
      try {
        await rejects(elsewhere.read(['a.elsewhere.test']), 'not-authoritative', /zone elsewhere\.test: .*does not serve the zone/);
        await rejects(elsewhere.apply([{ name: 'a.elsewhere.test', records: set('127.0.7.1'), generation: 1, expectedVersion: null }]), 'not-authoritative', /not authoritative.*nothing was written/);
        await rejects(elsewhere.apply([{ name: 'a.dnsplane.test', records: set('127.0.7.1'), generation: 1, expectedVersion: null }]), 'not-in-zone', /a\.dnsplane\.test is not in the zone/);
      } finally {
        await elsewhere.close();
      }
      assert.equal((await provider.read(['a.dnsplane.test'])).size, 0, 'nothing was written to the served zone either');
    });

    test('a zone whose updates the server refuses is a clear error, and nothing is written', async () => {
      const readonly = providerFor(server, { zone: server.readonlyZone });
      const name = `svc.${server.readonlyZone}`;
      const serialBefore = await serial(server, server.readonlyZone);
      try {
        const write = readonly.apply([{ name, records: set('127.0.8.1'), generation: 1, expectedVersion: null }]);
        // BIND and PowerDNS answer REFUSED (signed); Knot answers an ACL refusal of a signed request with BADKEY, and
        // the message says so.
        if (kind === 'knot') {
          await rejects(write, 'tsig-rejected', /BADKEY.*ACL does not let this key update the zone.*nothing was/);
        } else {
          await rejects(write, 'refused', /refuses updates.*allow-update.*TSIG-ALLOW-DNSUPDATE.*nothing was written/);
        }
        assert.equal((await readonly.read([name])).size, 0);
      } finally {
        await readonly.close();
      }
      assert.equal(await serial(server, server.readonlyZone), serialBefore, 'the SOA serial did not move');
    });
  });
}

test('a server that never answers is a timeout within the configured bound, and a closed port is a connection error', async () => {
  const sockets: Socket[] = [];
  const silent = createServer((socket) => { sockets.push(socket); socket.on('error', () => undefined); });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as AddressInfo).port;
  const timeoutMs = 300;
  const settings = { zone: 'dnsplane.test', timeoutMs, tsig: { name: 'k', algorithm: 'hmac-sha256' as const, secret: Buffer.alloc(32).toString('base64') }, ttl: 5, maxAnswers: 8, owner: testOwner };
  const provider = new Rfc2136Provider({ ...settings, server: `127.0.0.1:${port}` });
  try {
    let started = Date.now();
    await rejects(provider.read(['a.dnsplane.test']), 'timeout', new RegExp(`server 127\\.0\\.0\\.1:${port}, zone dnsplane\\.test: no answer within ${timeoutMs} ms`));
    assert.ok(Date.now() - started < timeoutMs * 4, `bounded: ${Date.now() - started} ms`);
    started = Date.now();
    await rejects(provider.apply([{ name: 'a.dnsplane.test', records: set('127.0.0.2'), generation: 1, expectedVersion: null }]), 'timeout', /no answer within/);
    assert.ok(Date.now() - started < timeoutMs * 4, `bounded: ${Date.now() - started} ms`);
  } finally {
    await provider.close();
    for (const socket of sockets) socket.destroy();
    silent.close();
  }
  const closedPort = await freeTcpPort();
  const nobody = new Rfc2136Provider({ ...settings, server: `127.0.0.1:${closedPort}` });
  try {
    await rejects(nobody.read(['a.dnsplane.test']), 'connection', /ECONNREFUSED/);
  } finally {
    await nobody.close();
  }
});

test('a read believes only answers signed with the key: an unsigned or wrongly signed answer is an error, not data', async () => {
  // A stand-in "server" (or someone on the path) answering every query with a plausible marker: generation 99, so an
  // enactor that believed it would skip the name, and a reconciler would see no drift.
  const key = { name: 'k', algorithm: 'hmac-sha256' as const, secret: Buffer.alloc(32, 1).toString('base64') };
  const forged = encodeMarker({ generation: 99, version: 'forged', records: set('127.0.0.66') });
  let signWith: TsigKey | null = null;
  const sockets: Socket[] = [];
  const liar = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const query = dnsPacket.decode(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
        buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
        const question = query.questions![0]!;
        const answers = question.type === 'TXT' ? [{ name: question.name, type: 'TXT' as const, ttl: 5, data: forged }] : [{ name: question.name, type: 'A' as const, ttl: 5, data: '127.0.0.66' }];
        let answer = dnsPacket.encode({ id: query.id, type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: [question], answers });
        if (signWith !== null) {
          // A TSIG record made with another secret (signMessage signs requests: QR cleared for it, set again after).
          answer[2]! &= 0x7f;
          answer = signMessage(answer, signWith, Math.floor(Date.now() / 1000)).signed;
          answer[2]! |= 0x80;
        }
        const framed = Buffer.alloc(2 + answer.length);
        framed.writeUInt16BE(answer.length, 0);
        answer.copy(framed, 2);
        socket.write(framed);
      }
    });
  });
  await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
  const provider = new Rfc2136Provider({ server: `127.0.0.1:${(liar.address() as AddressInfo).port}`, zone: 'dnsplane.test', timeoutMs: 1000, tsig: key, ttl: 5, maxAnswers: 8, owner: testOwner });
  try {
    await rejects(provider.read(['a.dnsplane.test']), 'bad-response', /unsigned answer to a signed query for .*a\.dnsplane\.test/);
    signWith = { name: 'k', algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 2) };
    await rejects(provider.read(['a.dnsplane.test']), 'bad-response', /the answer to .*a\.dnsplane\.test .* does not verify/);
  } finally {
    await provider.close();
    for (const socket of sockets) socket.destroy();
    liar.close();
  }
});

test('a name whose write cannot fit in messageBytesMax is refused before anything is sent', async () => {
  // No server listens on this port: the refusal must come before any connection is tried.
  const provider = new Rfc2136Provider({
    server: `127.0.0.1:${await freeTcpPort()}`, zone: 'dnsplane.test', timeoutMs: 300, messageBytesMax: 4096,
    tsig: { name: 'k', algorithm: 'hmac-sha256', secret: Buffer.alloc(32).toString('base64') }, ttl: 5, maxAnswers: 8, owner: testOwner,
  });
  try {
    const records = Array.from({ length: 300 }, (_, index) => ({ target: `lb-${index}`, address: `10.1.${index >> 8}.${index & 255}`, weight: 1 + (index % 200) }))
      .sort((a, b) => (a.address < b.address ? -1 : 1));
    await rejects(provider.apply([{ name: 'big.dnsplane.test', records, generation: 1, expectedVersion: null }]), 'too-large', /big\.dnsplane\.test takes up to \d+ bytes, more than one UPDATE of messageBytesMax 4096 holds; nothing was written/);
  } finally {
    await provider.close();
  }
});
