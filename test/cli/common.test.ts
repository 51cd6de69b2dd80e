// Goal: the CLI's one rule for numbers (src/cli/common.ts) takes exactly the whole numbers in range written as plain
// digits, and refuses every other text with a UserError naming the flag — never a silent default, and never what
// `Number` would also read (blank, sign, exponent, fraction, hex, padding). Method: the parsers called directly with
// good and bad text at and around the bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkedOption, integerOption, parseWholeNumber, portOption } from '../../src/cli/common.js';
import { InvariantViolation, UserError } from '../../src/util/assert.js';

const malformed = [
  '', ' ', 'abc', '12abc', '-1', '+1', '1e3', '1.5', '1.0', '0x10', ' 5', '5 ', '1_000', '١٢', 'Infinity', 'NaN',
];

test('parseWholeNumber takes plain digits within the range and nothing else', () => {
  const range = { min: 1, max: 10_000 };
  assert.equal(parseWholeNumber('1', range), 1);
  assert.equal(parseWholeNumber('10000', range), 10_000);
  assert.equal(parseWholeNumber('007', range), 7);
  for (const text of ['0', '10001', '99999999999999999999', ...malformed]) {
    assert.equal(parseWholeNumber(text, range), null, JSON.stringify(text));
  }
  assert.equal(parseWholeNumber('9007199254740991', { min: 0 }), Number.MAX_SAFE_INTEGER, 'no max: any safe integer');
  assert.equal(parseWholeNumber('9007199254740992', { min: 0 }), null, 'beyond a safe integer');
  assert.throws(() => parseWholeNumber('1', { min: 5, max: 4 }), InvariantViolation, 'a range with max below min');
  assert.throws(() => parseWholeNumber('1', { min: -1 }), InvariantViolation, 'a negative bound');
});

test('integerOption, portOption and checkedOption refuse bad text with a UserError naming the flag', () => {
  const limit = integerOption('--limit', { min: 1, max: 10_000 });
  assert.equal(limit('50'), 50);
  assert.throws(() => limit('abc'), new UserError('--limit must be a whole number from 1 to 10000, not "abc"'));
  assert.throws(() => limit('0'), new UserError('--limit must be a whole number from 1 to 10000, not "0"'));
  for (const text of malformed) assert.throws(() => limit(text), UserError, JSON.stringify(text));

  const version = integerOption('VERSION', { min: 1 });
  assert.equal(version('12'), 12);
  assert.throws(() => version('0'), new UserError('VERSION must be a whole number of 1 or more, not "0"'));
  assert.throws(() => integerOption('--base-version', { min: 0 })('-1'),
    new UserError('--base-version must be a whole number, not "-1"'));

  const port = portOption('--dns-port');
  assert.deepEqual(['0', '53', '65535'].map(port), [0, 53, 65_535]);
  assert.throws(() => port('65536'), new UserError('--dns-port must be a port number, not "65536"'));

  const even = checkedOption('--even', 'an even number', (text) => (text === '2' ? 2 : null));
  assert.equal(even('2'), 2);
  assert.throws(() => even('3'), new UserError('--even must be an even number, not "3"'));
});
