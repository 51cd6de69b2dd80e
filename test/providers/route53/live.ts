// Goal: the same provider contract, and the few answers of Route 53 the
// provider depends on, against a real hosted zone on AWS instead of the
// emulator — opt-in, since it needs an AWS account and costs requests.
// Method: with DNSPLANE_ROUTE53_LIVE_ZONE set to a hosted zone id, the
// provider is built the way `dnsplane` builds it (a config section through
// the schema and route53Settings: credentials and region from the SDK's
// standard chain, AWS's limits as defaults); the contract cases of
// contract.ts run on names under a fresh label of the zone, then the
// provider's assumptions are checked on AWS's own answers (InvalidChangeBatch
// wording for a stale DELETE and a CREATE over an existing set, the listing
// order of "a-b" before "a", the wording of a weighted set refused beside a
// simple one and of an address refused beside a CNAME); every record set
// created under that label, and in the slots of its names under
// `_removed._dnsplane.<zone>`, is deleted at the end. Not a *.test.ts file, so the test command never
// collects it; run it by name (without the variable it fails, saying so): DNSPLANE_ROUTE53_LIVE_ZONE=Z... AWS_PROFILE=... \
//   node scripts/run-tests.mjs test/providers/route53/live.ts
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  ChangeResourceRecordSetsCommand, GetHostedZoneCommand, ListResourceRecordSetsCommand, Route53Client,
  type Change, type ListResourceRecordSetsRequest, type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { parseConfig } from '../../../src/config/load.js';
import { route53Settings } from '../../../src/providers/index.js';
import { Route53Provider } from '../../../src/providers/route53/provider.js';
import { conflictingNames } from '../../../src/providers/route53/writes.js';
import { providerContract } from '../contract.js';

const liveZoneId = process.env.DNSPLANE_ROUTE53_LIVE_ZONE;
/** Every name this run creates lies under this label, so that it can all be deleted at the end. */
const runLabel = `dnsplane-test-${randomBytes(4).toString('hex')}`;

async function zoneName(client: Route53Client, id: string): Promise<string> {
  const answer = await client.send(new GetHostedZoneCommand({ Id: id }));
  return answer.HostedZone!.Name!.replace(/\.$/, '').toLowerCase();
}

/** Every record set under `suffix` (with the trailing dot), from a walk of the whole zone. */
async function setsUnder(client: Route53Client, id: string, suffix: string): Promise<ResourceRecordSet[]> {
  const found: ResourceRecordSet[] = [];
  let start: Omit<ListResourceRecordSetsRequest, 'HostedZoneId'> = {};
  for (let pages = 0; pages < 10_000; pages += 1) {
    const page = await client.send(new ListResourceRecordSetsCommand({ HostedZoneId: id, ...start }));
    found.push(...(page.ResourceRecordSets ?? []).filter((set) => set.Name?.endsWith(suffix)));
    if (page.IsTruncated !== true) return found;
    start = {
      StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType,
      StartRecordIdentifier: page.NextRecordIdentifier,
    };
  }
  return found;
}

/** Deletes what this run created (under its label, and its names' slots), 100 sets a batch. */
async function cleanUp(client: Route53Client, id: string, zone: string): Promise<void> {
  const sets = [
    ...await setsUnder(client, id, `.${runLabel}.${zone}.`),
    ...await setsUnder(client, id, `.${runLabel}._removed._dnsplane.${zone}.`),
  ];
  for (let start = 0; start < sets.length; start += 100) {
    const changes = sets.slice(start, start + 100).map((set): Change => ({ Action: 'DELETE', ResourceRecordSet: set }));
    await client.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: id, ChangeBatch: { Changes: changes } }));
  }
}

function liveProvider(id: string, zone: string): Route53Provider {
  const config = parseConfig({
    zone: `${zone}.`, provider: { kind: 'route53', hostedZoneId: id }, dns: { ttl: 60 },
    endpoints: [{ name: 'placeholder', targets: [{ id: 'lb-1', address: '192.0.2.1' }] }],
  });
  return new Route53Provider(route53Settings(config, { owner: 'dnsplane-live-test', former: [] }));
}

if (liveZoneId === undefined) {
  throw new Error('set DNSPLANE_ROUTE53_LIVE_ZONE to a hosted zone id to run this suite against Route 53 on AWS');
} else {
  // Route 53 is global: it signs in us-east-1 unless the account lives in another partition.
  const client = new Route53Client({ region: process.env.AWS_REGION ?? 'us-east-1' });
  let zone = '';
  providerContract({
    name: `route53 on AWS (hosted zone ${liveZoneId})`,
    async start() {
      zone = await zoneName(client, liveZoneId);
      return {
        zone: `${runLabel}.${zone}`, open: () => liveProvider(liveZoneId, zone),
        stop: () => cleanUp(client, liveZoneId, zone),
      };
    },
  });

  describe('Route 53 on AWS answers as the emulator does where the provider depends on it', () => {
    before(async () => {
      zone = await zoneName(client, liveZoneId);
    });
    after(async () => {
      await cleanUp(client, liveZoneId, zone);
      client.destroy();
    });
    const change = (changes: Change[]) =>
      client.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: liveZoneId, ChangeBatch: { Changes: changes } }));

    test('a stale DELETE and a CREATE over an existing set fail as one InvalidChangeBatch naming both', async () => {
      const marker = `_dnsplane.aws-check.${runLabel}.${zone}.`;
      const txt = (value: string): ResourceRecordSet => ({
        Name: marker, Type: 'TXT', TTL: 60, ResourceRecords: [{ Value: value }],
      });
      await change([{ Action: 'CREATE', ResourceRecordSet: txt('"one"') }]);
      try {
        await change([
          { Action: 'DELETE', ResourceRecordSet: txt('"two"') },
          { Action: 'CREATE', ResourceRecordSet: txt('"three"') },
        ]);
        assert.fail('the batch was accepted');
      } catch (error) {
        const failed = error as Error & { messages?: string[] };
        assert.equal(failed.name, 'InvalidChangeBatch', failed.message);
        const listed = failed.messages ?? [];
        const messages = listed.length > 0 ? listed : [failed.message];
        const name = `aws-check.${runLabel}.${zone}`;
        const nameOf = new Map([[name, name], [`_dnsplane.${name}`, name]]);
        assert.deepEqual(conflictingNames(messages, nameOf), new Set([name]), failed.message);
        assert.match(failed.message, /the values provided do not match the current values/);
        assert.match(failed.message, /but it already exists/);
      }
    });

    test('a weighted set beside a simple one, and an address beside a CNAME, are refused naming the record', async () => {
      const plain = `aws-plain.${runLabel}.${zone}`;
      const alias = `aws-alias.${runLabel}.${zone}`;
      const a = (name: string, weighted: boolean): ResourceRecordSet => ({
        Name: `${name}.`, Type: 'A', TTL: 60, ResourceRecords: [{ Value: '192.0.2.1' }],
        ...(weighted ? { SetIdentifier: 'lb-1', Weight: 10 } : {}),
      });
      const cname: ResourceRecordSet = {
        Name: `${alias}.`, Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'elsewhere.example.' }],
      };
      await change([{ Action: 'CREATE', ResourceRecordSet: a(plain, false) }, { Action: 'CREATE', ResourceRecordSet: cname }]);
      for (const name of [plain, alias]) {
        try {
          await change([{ Action: 'CREATE', ResourceRecordSet: a(name, true) }]);
          assert.fail('the batch was accepted');
        } catch (error) {
          const failed = error as Error & { messages?: string[] };
          assert.equal(failed.name, 'InvalidChangeBatch', failed.message);
          const listed = failed.messages ?? [];
          const messages = listed.length > 0 ? listed : [failed.message];
          assert.deepEqual(conflictingNames(messages, new Map([[name, name]])), new Set([name]), failed.message);
        }
      }
    });

    test('ListResourceRecordSets sorts a-b before a (labels reversed, trailing dot, ASCII)', async () => {
      const a = (name: string): ResourceRecordSet => ({
        Name: name, Type: 'A', TTL: 60, ResourceRecords: [{ Value: '192.0.2.1' }],
      });
      const names = [`a.${runLabel}.${zone}.`, `a-b.${runLabel}.${zone}.`, `b.a.${runLabel}.${zone}.`];
      await change(names.map((name) => ({ Action: 'CREATE', ResourceRecordSet: a(name) })));
      const under = await setsUnder(client, liveZoneId, `.${runLabel}.${zone}.`);
      const listed = under.filter((set) => set.Type === 'A').map((set) => set.Name);
      assert.deepEqual(listed, [names[1], names[0], names[2]]);
    });
  });
}
