// Goal: `adopt: true` on an endpoint becomes an adoption grant in the store before any plan holding the name is
// published (so the first enactor to meet the name unmanaged may take it over), once per name, the first grant kept;
// endpoints without it get none. Method: the real planner on a real SQLite store; the store wrapped to record the
// order of grants and publications.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSpec } from '../../src/domain/types.js';
import type { Store } from '../../src/store/types.js';
import { endpoints, makePlanner, openInstallation } from '../helpers/fixtures.js';

test('adopt: true is granted before the plan that holds the name is published, once per name, and withdrawn with it', async () => {
  const install = openInstallation();
  try {
    const events: string[] = [];
    const store = install.store;
    // Records the order of grants and publications, passing every call through.
    const recording = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property === 'grantAdoption') {
          return async (name: string, actor: string, reason: string) => {
            events.push(`grant ${name}`);
            return store.grantAdoption(name, actor, reason);
          };
        }
        if (property === 'publishPlan') {
          return async (...args: Parameters<Store['publishPlan']>) => {
            events.push(`publish ${args[0].changes.map((change) => change.name).join(',')}`);
            return store.publishPlan(...args);
          };
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as Store;
    const [plain, adopted] = endpoints(2) as [EndpointSpec, EndpointSpec];
    let inventory: EndpointSpec[] = [plain, { ...adopted, adopt: true }];
    const planner = makePlanner('planner', recording, () => inventory);
    assert.equal((await planner.tick()).kind, 'published');
    assert.deepEqual(events, [`grant ${adopted.name}`, `publish ${plain.name},${adopted.name}`]);
    const grants = await store.listAdoptions();
    assert.deepEqual(grants.map((grant) => [grant.name, grant.actor, grant.reason]),
      [[adopted.name, 'planner', 'adopt: true in the config']]);

    // A new inventory version (a new array) with the same adopt: no second grant; a third name adopted: granted.
    const third = endpoints(3)[2]!;
    inventory = [plain, { ...adopted, adopt: true }, { ...third, adopt: true }];
    events.length = 0;
    assert.equal((await planner.tick()).kind, 'published');
    assert.deepEqual(events, [`grant ${third.name}`, `publish ${third.name}`]);
    assert.deepEqual((await store.listAdoptions()).map((grant) => grant.name), [adopted.name, third.name]);

    // adopt: true taken back (an operator saw what the name holds): the grant it made goes; an operator's grant
    // (dnsplane adopt) stays, whatever the inventory says.
    await store.grantAdoption(plain.name, 'alice', 'hand-made, checked');
    inventory = [plain, adopted, { ...third, adopt: true }];
    assert.equal((await planner.tick()).kind, 'unchanged');
    assert.deepEqual((await store.listAdoptions()).map((grant) => grant.name).sort(), [plain.name, third.name].sort());
  } finally {
    await install.close();
  }
});
