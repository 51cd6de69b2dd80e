// Goal: the owner id of an installation is made up once and kept in the store, a config `owner` that is not it is
// refused (a config edit must never silently orphan every name), and only `dnsplane owner migrate` changes it — the
// old id kept as a former one; `dnsplane adopt NAME --reason` stores an adoption grant for a name of the inventory
// and refuses bad input. Method: the real CLI as child processes on a SQLite installation; the grant read back
// through the real store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { ownerIdPattern } from '../../src/domain/owner.js';
import { runCli, sampleConfig, tempDir, writeConfig } from '../helpers/env.js';
import { providerSection, startDnsServer } from '../helpers/dns-servers.js';
import { encodeMarker } from '../../src/providers/marker.js';

test('owner: made up once and kept; a config owner that is not it is refused; migrate changes it, keeping the old', async () => {
  const dir = tempDir('dnsplane-owner-');
  try {
    const config = writeConfig(dir.path, sampleConfig(2));
    const data = join(dir.path, 'data');
    const paths = ['--config', config, '--data', data];
    const first = await runCli(['owner', '--json', ...paths]);
    assert.equal(first.code, 0, first.stderr);
    const identity = JSON.parse(first.stdout) as { owner: string; former: string[] };
    assert.match(identity.owner, /^dp-[a-z2-7]{10}$/);
    assert.ok(ownerIdPattern.test(identity.owner));
    assert.deepEqual(identity.former, []);
    assert.deepEqual(JSON.parse((await runCli(['owner', '--json', ...paths])).stdout), identity, 'the same id again');

    const edited = writeConfig(dir.path, { ...sampleConfig(2), owner: 'team-b' }, 'edited.yaml');
    const refused = await runCli(['owner', '--config', edited, '--data', data]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, new RegExp(`config owner "team-b" is not this installation's owner id "${identity.owner}"`));
    assert.match(refused.stderr, /dnsplane owner migrate --to team-b --reason TEXT/);

    for (const [args, problem] of [
      [['--to', 'team-b'], /--reason TEXT is required/],
      [['--reason', 'r'], /--to ID is required/],
      [['--to', 'Team B', '--reason', 'r'], /owner id "Team B" must be 1-32 lower-case letters/],
      [['--to', identity.owner, '--reason', 'r'], /owner migration refused/],
    ] as const) {
      const bad = await runCli(['owner', 'migrate', ...args, ...paths]);
      assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
      assert.match(bad.stderr, problem);
    }
    assert.deepEqual(JSON.parse((await runCli(['owner', '--json', ...paths])).stdout), identity, 'refusals changed nothing');

    // With the config already naming the new id, as an operator would edit it first.
    const migrated = await runCli(['owner', 'migrate', '--to', 'team-b', '--reason', 'renamed', '--config', edited, '--data', data]);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, new RegExp(`^owner team-b \\(formerly ${identity.owner}\\)\\. Restart every dnsplane process`));
    const after = await runCli(['owner', '--json', '--config', edited, '--data', data]);
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual(JSON.parse(after.stdout), { owner: 'team-b', former: [identity.owner] });
    const back = await runCli(['owner', 'migrate', '--to', identity.owner, '--reason', 'r', ...paths]);
    assert.equal(back.code, 2, 'a former id is not taken again');
  } finally {
    dir.cleanup();
  }
});

test('adopt: stores a grant with who and why for a name of the inventory; unknown names and no reason exit 2', async () => {
  const dir = tempDir('dnsplane-adopt-');
  try {
    const config = writeConfig(dir.path, sampleConfig(2));
    const data = join(dir.path, 'data');
    const paths = ['--config', config, '--data', data];
    assert.equal((await runCli(['planner', '--once', ...paths])).code, 0, 'the inventory stored');
    const granted = await runCli(['adopt', 'svc1', '--reason', 'hand-made before dnsplane', '--json', ...paths]);
    assert.equal(granted.code, 0, granted.stderr);
    const { grant } = JSON.parse(granted.stdout) as { grant: { name: string; actor: string; reason: string } };
    assert.deepEqual([grant.name, grant.reason], ['svc1.dnsplane.test', 'hand-made before dnsplane']);
    assert.match(grant.actor, /@/);
    const again = await runCli(['adopt', 'svc1', '--reason', 'second', ...paths]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /adoption granted by .* \(hand-made before dnsplane\)/, 'the first grant is kept');
    for (const [args, problem] of [
      [['adopt', 'nosuch', '--reason', 'r'], /unknown name "nosuch\.dnsplane\.test" \(not in the served inventory\)/],
      [['adopt', 'svc0'], /--reason TEXT is required/],
    ] as const) {
      const bad = await runCli([...args, ...paths]);
      assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
      assert.match(bad.stderr, problem);
    }
    const store = new SqliteStore(join(data, 'state.db'));
    try {
      assert.deepEqual((await store.listAdoptions()).map((adoption) => [adoption.name, adoption.reason]),
        [['svc1.dnsplane.test', 'hand-made before dnsplane']]);
    } finally {
      await store.close();
    }
    // --revoke withdraws it; revoking what is not granted exits 2.
    const revoked = await runCli(['adopt', 'svc1', '--revoke', '--reason', 'the records are not ours to take', ...paths]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /svc1\.dnsplane\.test: adoption grant revoked/);
    const none = await runCli(['adopt', 'svc1', '--revoke', '--reason', 'again', ...paths]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /svc1\.dnsplane\.test has no adoption grant to revoke/);
    const after = new SqliteStore(join(data, 'state.db'));
    try {
      assert.deepEqual(await after.listAdoptions(), []);
    } finally {
      await after.close();
    }
  } finally {
    dir.cleanup();
  }
});

test('records on a zone shared with another installation: only this installation\'s names, judged by the stored owner id', async () => {
  // Goal: a read command (read-only store) judges ownership by the stored owner id, so another installation's names
  // on a shared Knot zone are not shown as this one's. Method: real knotd; markers of both owners put in by hand.
  const server = await startDnsServer('knot');
  const dir = tempDir('dnsplane-owner-records-');
  try {
    const config = writeConfig(dir.path, { ...sampleConfig(2), provider: providerSection(server) });
    const paths = ['--config', config, '--data', join(dir.path, 'data')];
    const identity = JSON.parse((await runCli(['owner', '--json', ...paths])).stdout) as { owner: string };
    const marker = (owner: string) => encodeMarker({
      generation: 1, version: `v${owner.length}`, owner, records: [{ target: 't', address: '127.0.0.9', weight: 10 }],
    }).map((text) => `"${text.toString('latin1')}"`).join(' ');
    const added = await server.nsupdate([`zone ${server.zone}`,
      'update add svc0.dnsplane.test 5 A 127.0.0.9', `update add _dnsplane.svc0.dnsplane.test 5 TXT ${marker(identity.owner)}`,
      'update add svc1.dnsplane.test 5 A 127.0.0.9', `update add _dnsplane.svc1.dnsplane.test 5 TXT ${marker('someone-else')}`]);
    assert.equal(added.code, 0, added.stderr);
    const records = await runCli(['records', '--json', ...paths]);
    assert.equal(records.code, 0, records.stderr);
    assert.deepEqual((JSON.parse(records.stdout) as { name: string }[]).map((state) => state.name), ['svc0.dnsplane.test'],
      'svc1 is another installation\'s');
  } finally {
    dir.cleanup();
    await server.stop();
  }
});
