// Goal: two writes that must not happen on a shared RFC 2136 zone (found by a review of issue 13's ownership rules):
// - an adoption by a stale enactor over this installation's own removal: the name was removed at 10, records were
//   then made there by hand, and an enactor still on plan 7 (with a grant) must not adopt it at 7 — that would bring
//   a removed name back below its removal (S2). At a generation above the removal the adoption goes through;
// - a first write when a CNAME was made at the name between its read and the UPDATE: the UPDATE must fail, not leave
//   a marker claiming a name taken by hand (the server keeps the CNAME over the added addresses);
// - a write over a marker-place TXT that does not parse but names another owner (another tool's, or a newer format's).
// Method: the provider against real Knot DNS and BIND 9, hand edits with knsupdate / nsupdate between its calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rfc2136Provider } from '../../../src/providers/rfc2136/provider.js';
import { startDnsServer, testOwner, type DnsServerKind } from '../../helpers/dns-servers.js';
import { records } from '../../helpers/fixtures.js';

for (const kind of ['knot', 'bind'] as DnsServerKind[]) {
  test(`${kind}: a stale adoption over this installation's own removal is superseded (S2); a CNAME made before a first write makes it fail; an unparsed marker naming another owner is held`, async () => {
    const server = await startDnsServer(kind);
    const provider = new Rfc2136Provider({
      server: server.server, zone: server.zone, timeoutMs: 3000, tsig: server.key, ttl: 5, maxAnswers: 8, owner: testOwner,
    });
    const edit = async (commands: string[]) => {
      const result = await server.nsupdate([`zone ${server.zone}`, ...commands]);
      assert.equal(result.code, 0, result.stderr);
    };
    try {
      const name = `x.${server.zone}`;
      const [written] = await provider.apply([{ name, records: records('192.0.2.1'), generation: 5, expectedVersion: null }]);
      assert.equal(written!.outcome, 'applied');
      const version = (await provider.read([name])).get(name)!.version;
      const [removed] = await provider.apply([{ name, records: null, generation: 10, expectedVersion: version }]);
      assert.equal(removed!.outcome, 'applied');
      await edit([`update add ${name} 300 A 198.51.100.7`]);
      const held = (await provider.read([name])).get(name)!;
      assert.equal(held.held?.kind, 'unmanaged');
      const adoption = (generation: number) => ({ name, records: records('192.0.2.2'), generation, expectedVersion: held.version });
      assert.deepEqual(await provider.apply([adoption(7)]), [{ name, outcome: 'superseded', generation: 10 }]);
      const still = await server.dig([name, 'A', '+short']);
      assert.equal(still.stdout.trim(), '198.51.100.7', 'the hand-made record stays, the removed name does not come back at 7');
      const [adopted] = await provider.apply([adoption(11)]);
      assert.equal(adopted!.outcome, 'applied', 'above the removal the adoption goes through');
      assert.equal((await provider.read([name])).get(name)!.generation, 11);

      // A first write read the name as absent; a CNAME is made before its UPDATE.
      const fresh = `y.${server.zone}`;
      assert.equal((await provider.read([fresh])).get(fresh), undefined);
      await edit([`update add ${fresh} 300 CNAME elsewhere.example.`]);
      const [first] = await provider.apply([{ name: fresh, records: records('192.0.2.3'), generation: 12, expectedVersion: null }]);
      assert.equal(first!.outcome, 'conflict');
      const marker = await server.dig([`_dnsplane.${fresh}`, 'TXT', '+short']);
      assert.equal(marker.stdout.trim(), '', 'no marker claims the name');
      assert.equal((await provider.read([fresh])).get(fresh)?.held?.kind, 'unmanaged', 'the CNAME makes it unmanaged');

      // A marker-place TXT that is no marker of this format but names another owner is that owner's: held, never
      // overwritten (one without an owner is overwritten as this installation's: L3, tested with the reconciler).
      const other = `w.${server.zone}`;
      await edit([`update add ${other} 300 A 203.0.113.5`, `update add _dnsplane.${other} 300 TXT "owner=someone-else" "made by another tool"`]);
      const foreign = (await provider.read([other])).get(other)!;
      assert.deepEqual(foreign.held, { kind: 'foreign', owner: 'someone-else' });
      const [refused] = await provider.apply([{ name: other, records: records('192.0.2.4'), generation: 13, expectedVersion: 'anything' }]);
      assert.equal(refused!.outcome, 'conflict');
      assert.equal((await server.dig([other, 'A', '+short'])).stdout.trim(), '203.0.113.5', 'the other owner\'s record stays');
    } finally {
      await provider.close();
      await server.stop();
    }
  });
}
