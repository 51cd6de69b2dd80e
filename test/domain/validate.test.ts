// Goal: plan validation rejects every kind of bad record set named in the core
// issue, with an error that names the problem, and accepts valid sets.
// Method: table-driven cases plus a property test over generated sets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { validatePlanChanges, validateRecordSet } from '../../src/domain/validate.js';
import { checkDnsName, qualifyName } from '../../src/domain/names.js';

const ok = [{ target: 'lb-1', address: '192.0.2.1', weight: 10 }, { target: 'lb-2', address: '2001:db8::1', weight: 0 }];

test('a valid set has no problems', () => {
  assert.deepEqual(validateRecordSet('a.example', ok), []);
});

const cases: [string, unknown[], RegExp][] = [
  ['empty set', [], /record set is empty/],
  ['weight above 255', [{ target: 'a', address: '192.0.2.1', weight: 256 }], /weight 256 is not an integer from 0 to 255/],
  ['negative weight', [{ target: 'a', address: '192.0.2.1', weight: -1 }], /weight -1/],
  ['fractional weight', [{ target: 'a', address: '192.0.2.1', weight: 1.5 }], /weight 1.5/],
  ['all weights zero', [{ target: 'a', address: '192.0.2.1', weight: 0 }], /every weight is 0/],
  ['bad IPv4', [{ target: 'a', address: '300.0.0.1', weight: 1 }], /"300.0.0.1" is not an IPv4 or IPv6 address/],
  ['bad IPv6', [{ target: 'a', address: '2001:::1', weight: 1 }], /is not an IPv4 or IPv6 address/],
  ['duplicate target', [{ target: 'a', address: '192.0.2.1', weight: 1 }, { target: 'a', address: '192.0.2.2', weight: 1 }], /target "a" appears twice/],
  ['duplicate address', [{ target: 'a', address: '192.0.2.1', weight: 1 }, { target: 'b', address: '192.0.2.1', weight: 1 }], /address "192.0.2.1" appears twice/],
];
for (const [label, records, expected] of cases) {
  test(`rejects ${label}`, () => {
    const problems = validateRecordSet('svc.dnsplane.test', records as never);
    assert.ok(problems.some((problem) => expected.test(problem)), `expected ${expected} in ${JSON.stringify(problems)}`);
    assert.ok(problems.every((problem) => problem.startsWith('svc.dnsplane.test')), 'every problem names the record set');
  });
}

test('plan changes: names outside the zone, invalid names and duplicates are rejected', () => {
  const problems = validatePlanChanges(
    [
      { name: 'a.other.test', records: ok },
      { name: 'bad..name.dnsplane.test', records: ok },
      { name: 'b.dnsplane.test', records: ok },
      { name: 'b.dnsplane.test', records: ok },
    ],
    'dnsplane.test',
  );
  assert.ok(problems.some((p) => /outside the zone/.test(p)));
  assert.ok(problems.some((p) => /invalid label/.test(p)));
  assert.ok(problems.some((p) => /appears twice in the plan/.test(p)));
  assert.deepEqual(validatePlanChanges([{ name: 'b.dnsplane.test', records: null }], 'dnsplane.test'), []);
});

test('names: qualification and label rules', () => {
  assert.equal(qualifyName('DynamoDB.us-east-1', 'dnsplane.test.'), 'dynamodb.us-east-1.dnsplane.test');
  assert.equal(qualifyName('x.dnsplane.test.', 'dnsplane.test'), 'x.dnsplane.test');
  assert.equal(checkDnsName('-bad.example'), 'has an invalid label "-bad" (letters, digits, "-" and "_", 1-63 characters, not starting or ending with "-")');
  assert.match(checkDnsName(`${'a'.repeat(64)}.example`) ?? '', /invalid label/);
  assert.equal(checkDnsName('ok.example'), null);
});

test('property: any set with a positive weight, distinct targets and addresses is valid; removing all positives makes it invalid', () => {
  const entry = fc.record({ octet: fc.integer({ min: 1, max: 254 }), weight: fc.integer({ min: 0, max: 255 }) });
  fc.assert(
    fc.property(fc.uniqueArray(entry, { minLength: 1, maxLength: 20, selector: (e) => e.octet }), (entries) => {
      const records = entries.map((e, i) => ({ target: `t${i}`, address: `192.0.2.${e.octet}`, weight: e.weight }));
      const valid = validateRecordSet('n.example', records).length === 0;
      assert.equal(valid, records.some((r) => r.weight > 0));
      const zeroed = records.map((r) => ({ ...r, weight: 0 }));
      assert.ok(validateRecordSet('n.example', zeroed).length > 0);
    }),
  );
});
