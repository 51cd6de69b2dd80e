// Goal: the one rule of which zone a name is in, and how a configured name is qualified (issue 13, `zones:`).
// Method: ZoneSet on fixed cases and a property over generated names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nestedZones, ZoneSet } from '../../src/domain/zones.js';

test('ZoneSet: a name is in the zone it ends in; anything else is relative to the first zone', () => {
  const zones = new ZoneSet(['Builtin.Test.', 'corp.example.']);
  assert.deepEqual(zones.names, ['builtin.test', 'corp.example']);
  assert.equal(zones.primary, 'builtin.test');
  assert.equal(zones.zoneOf('web.builtin.test'), 'builtin.test');
  assert.equal(zones.zoneOf('API.corp.example.'), 'corp.example');
  assert.equal(zones.zoneOf('corp.example'), 'corp.example', 'a zone\'s apex is in it');
  assert.equal(zones.zoneOf('xcorp.example'), null, 'a suffix that is not a label boundary is not the zone');
  assert.equal(zones.qualify('web'), 'web.builtin.test');
  assert.equal(zones.qualify('api.corp.example.'), 'api.corp.example');
  assert.equal(zones.qualify('api.corp.example'), 'api.corp.example', 'as the one-zone rule: ending in a zone is enough');
  assert.equal(zones.toString(), 'builtin.test., corp.example.');
  assert.throws(() => new ZoneSet([]), /at least one zone/);
  assert.throws(() => new ZoneSet(['a.test', 'A.test.']), /repeated/);
});

test('nestedZones names a zone inside another, and nothing else', () => {
  assert.deepEqual(nestedZones(['example.com', 'eu.example.com.']), ['eu.example.com', 'example.com']);
  assert.equal(nestedZones(['example.com', 'example.org', 'xexample.com']), null);
});

test('ZoneSet.qualify: the result is always in one of the zones, and qualifying again changes nothing', () => {
  const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/);
  fc.assert(fc.property(fc.uniqueArray(fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => labels.join('.')),
    { minLength: 1, maxLength: 4 }), fc.array(label, { minLength: 1, maxLength: 4 }), (zoneNames, nameLabels) => {
    fc.pre(nestedZones(zoneNames) === null);
    const zones = new ZoneSet(zoneNames);
    const qualified = zones.qualify(nameLabels.join('.'));
    assert.notEqual(zones.zoneOf(qualified), null);
    assert.equal(zones.qualify(qualified), qualified);
  }), { seed: 13, numRuns: 300 });
});
