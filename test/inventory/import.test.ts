// Goal: the pure half of `dnsplane import` — a zone's records (as a zone transfer decodes them) become an inventory
// skeleton that loads as `validate` loads a file, naming exactly the names with A/AAAA records and their addresses;
// every other name is left out and listed with why (other types only, a CNAME beside addresses, the zone's
// name-server host, glue below a delegation, names the schema refuses), dnsplane's own `_dnsplane` markers and
// tombstones are never endpoints, and the same records in any order give the same text byte for byte.
// Method: hand-made record lists through importZone/importInventory; the text written to a file and read back with
// the config loader the CLI uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadInventoryFile } from '../../src/config/load.js';
import { importInventory, importZone, writtenName, type ZoneRecord } from '../../src/inventory/import.js';
import { UserError } from '../../src/util/assert.js';
import { seededRng } from '../../src/util/clock.js';
import { tempDir } from '../helpers/env.js';

const zone = 'example.test';
const options = { zone, source: 'AXFR from 192.0.2.53:53', capacity: 100 };

function rr(name: string, type: string, data: unknown = null, ttl = 300): ZoneRecord {
  return { name: name === '@' ? zone : `${name}.${zone}`, type, ttl, data };
}

/** A zone as an operator has it: the apex with an address, names of 1-3 addresses, mail, text, an alias. */
function handMadeZone(): ZoneRecord[] {
  return [
    rr('@', 'SOA', { mname: `ns1.${zone}` }), rr('@', 'NS', `ns.${zone}`), rr('@', 'MX', { exchange: `mail.${zone}` }),
    rr('@', 'A', '192.0.2.1'), rr('@', 'TXT', [Buffer.from('v=spf1 -all')]),
    rr('ns', 'A', '192.0.2.53'),
    rr('www', 'A', '192.0.2.10'), rr('www', 'A', '192.0.2.11'), rr('www', 'AAAA', '2001:db8::10'),
    rr('api', 'A', '192.0.2.20'), rr('api', 'A', '192.0.2.21'), rr('api', 'TXT', [Buffer.from('owner=team-a')]),
    rr('mail', 'MX', { exchange: `mx.${zone}` }), rr('mx', 'AAAA', '2001:db8::25'),
    rr('docs', 'CNAME', `www.${zone}`), rr('notes', 'TXT', [Buffer.from('hello')]),
    rr('@', 'SOA', { mname: `ns1.${zone}` }),
  ];
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const rng = seededRng(seed);
  const out = [...items];
  for (let index = out.length - 1; index > 0; index -= 1) {
    const other = Math.floor(rng.next() * (index + 1));
    [out[index], out[other]] = [out[other]!, out[index]!];
  }
  return out;
}

/** The text read back as `dnsplane validate -f` reads it: name → sorted addresses. */
function loaded(text: string): Map<string, string[]> {
  const dir = tempDir('dnsplane-import-unit-');
  try {
    const path = join(dir.path, 'inventory.yaml');
    writeFileSync(path, text);
    const { endpoints } = loadInventoryFile(path, null);
    return new Map(endpoints.map((endpoint) => [endpoint.name, endpoint.targets.map((t) => t.address).sort()]));
  } finally {
    dir.cleanup();
  }
}

test('several record types: exactly the A/AAAA names become endpoints, with their addresses; the rest is listed', () => {
  const { text, result } = importInventory(handMadeZone(), options);
  assert.deepEqual([...loaded(text)].sort(), [
    ['api.example.test', ['192.0.2.20', '192.0.2.21']],
    ['example.test', ['192.0.2.1']],
    ['mx.example.test', ['2001:db8::25']],
    ['www.example.test', ['192.0.2.10', '192.0.2.11', '2001:db8::10']],
  ]);
  const skipped = Object.fromEntries(result.skipped.map((entry) => [entry.name, entry.reason]));
  assert.deepEqual(Object.keys(skipped).sort(), ['docs.example.test', 'mail.example.test', 'notes.example.test', 'ns.example.test']);
  assert.equal(skipped['docs.example.test'], 'no A/AAAA: CNAME');
  assert.equal(skipped['notes.example.test'], 'no A/AAAA: TXT');
  assert.match(skipped['ns.example.test']!, /name-server host/, 'the zone\'s own NS host is not handed to dnsplane');
  assert.match(text, /^# Not imported \(4 names; dnsplane manages names with A\/AAAA records only\):$/m);
  assert.match(text, /^# {2}docs: no A\/AAAA: CNAME$/m);
  assert.match(text, /^# {2}mail: no A\/AAAA: MX$/m);
  assert.match(text, /^# {2}api: TXT$/m, 'an imported name\'s other records are named as left alone');
  // The apex is written fully qualified (a relative "example.test" would mean example.test.example.test).
  assert.equal(result.endpoints.find((endpoint) => endpoint.name === zone)!.written, 'example.test.');
  // Every target: the placeholder AZ, equal capacity, no check; the comments say what to fill in.
  const document = parseYaml(text) as { endpoints: { targets: Record<string, unknown>[] }[] };
  for (const target of document.endpoints.flatMap((endpoint) => endpoint.targets)) {
    assert.deepEqual(Object.keys(target).sort(), ['address', 'az', 'capacity', 'id']);
    assert.equal(target.az, 'unassigned');
    assert.equal(target.capacity, 100);
  }
  assert.match(text, /az: "unassigned" is a placeholder/);
  assert.match(text, /health checks: none yet/);
  assert.match(text, /A\/AAAA TTLs are 300; dnsplane writes dns\.ttl/);
});

test('dnsplane\'s markers and tombstones are never endpoints; a name it marks is imported and noted', () => {
  const records = [
    ...handMadeZone(),
    rr('_dnsplane.www', 'TXT', [Buffer.from('generation=7'), Buffer.from('version=abc'), Buffer.from('records=x')]),
    rr('_dnsplane.gone', 'TXT', [Buffer.from('removed=9'), Buffer.from('version=def')]),
    // Addresses under a marker owner are never a name to manage (the schema refuses the label too).
    rr('_dnsplane.odd', 'A', '192.0.2.99'),
  ];
  const { text, result } = importInventory(records, options);
  const names = result.endpoints.map((endpoint) => endpoint.name);
  assert.ok(!names.some((name) => name.includes('_dnsplane')), names.join(' '));
  assert.ok(!result.skipped.some((entry) => entry.name.includes('_dnsplane')), 'markers are counted, not listed');
  assert.equal(result.markerRecords, 3);
  assert.match(text, /^# Left out: 3 dnsplane marker record set\(s\) \(_dnsplane\.\*\)\.$/m);
  assert.equal(result.endpoints.find((endpoint) => endpoint.name === 'www.example.test')!.marked, true);
  assert.match(text, /^# {2}www: marker$/m);
  assert.ok(!names.includes('gone.example.test'), 'a tombstone alone makes no endpoint');
});

test('the same records in any order give the same text, byte for byte, with stable target ids', () => {
  const first = importInventory(handMadeZone(), options).text;
  for (const seed of [1, 2, 3, 4, 5]) {
    assert.equal(importInventory(shuffled(handMadeZone(), seed), options).text, first, `order ${seed}`);
  }
  const ids = importZone(handMadeZone(), options).endpoints.flatMap((endpoint) => endpoint.targets.map((t) => t.id));
  assert.deepEqual(ids, [
    'api-192.0.2.20', 'api-192.0.2.21', 'example.test-192.0.2.1', 'mx-2001-db8--25',
    'www-192.0.2.10', 'www-192.0.2.11', 'www-2001-db8--10',
  ]);
});

test('a CNAME beside addresses, glue below a delegation, wildcards and names YAML would misread', () => {
  const records = [
    rr('@', 'SOA', {}), rr('@', 'NS', 'ns.elsewhere.test'),
    rr('both', 'A', '192.0.2.30'), rr('both', 'CNAME', `www.${zone}`),
    rr('child', 'NS', `ns.child.${zone}`), rr('ns.child', 'A', '192.0.2.40'), rr('deep.child', 'A', '192.0.2.41'),
    rr('*.wild', 'A', '192.0.2.50'),
    rr('true', 'A', '192.0.2.60'), rr('123', 'A', '192.0.2.61'), rr('null', 'A', '192.0.2.62'),
    rr('1e3', 'A', '192.0.2.63'),
    // A relative form that would be qualified into another name is written fully qualified.
    { name: `x.${zone}.${zone}`, type: 'A', ttl: 5, data: '192.0.2.64' },
    rr('@', 'SOA', {}),
  ];
  const { text, result } = importInventory(records, options);
  assert.deepEqual([...loaded(text).keys()].sort(), [
    '123.example.test', '1e3.example.test', 'null.example.test', 'true.example.test', `x.${zone}.${zone}`,
  ]);
  const skipped = Object.fromEntries(result.skipped.map((entry) => [entry.name, entry.reason]));
  assert.match(skipped['both.example.test']!, /beside a CNAME, which DNS forbids/);
  assert.match(skipped['ns.child.example.test']!, /delegated \(NS at child\.example\.test\)/);
  assert.match(skipped['deep.child.example.test']!, /delegated/);
  assert.match(skipped['*.wild.example.test']!, /invalid label "\*"/);
  assert.equal(writtenName(`x.${zone}.${zone}`, zone), `x.${zone}.${zone}.`);
});

test('target ids fit the id rules whatever the name, and never collide', () => {
  const long = `${'a'.repeat(60)}.${'b'.repeat(60)}`;
  const records = [
    rr(long, 'A', '192.0.2.1'), rr(long, 'AAAA', '2001:db8:1234:5678:9abc:def0:1234:5678'),
    rr('_srv', 'A', '192.0.2.2'),
    // "a-1" + "1.2.3.4" and "a" + ... cannot collide readably; two long names sharing a prefix get distinct hashes.
    rr(`${long}x`, 'A', '192.0.2.1'),
  ];
  const result = importZone(records, options);
  const ids = result.endpoints.flatMap((endpoint) => endpoint.targets.map((target) => target.id));
  assert.equal(new Set(ids).size, ids.length, ids.join(' '));
  for (const id of ids) assert.match(id, /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/);
  const { text } = importInventory(records, options);
  assert.equal(loaded(text).size, 3);
});

test('more addresses than dns.maxAnswers serves by default: the file says which setting keeps them all', () => {
  const records = [rr('@', 'SOA', {})];
  for (let host = 1; host <= 12; host += 1) records.push(rr('big', 'A', `192.0.2.${host}`));
  records.push(rr('@', 'SOA', {}));
  const { text } = importInventory(records, options);
  assert.match(text, /WARNING: a name has 12 addresses: set dns\.maxAnswers: 12/);
  assert.equal(loaded(text).get('big.example.test')!.length, 12);
  // Above what dns.maxAnswers can be set to (64): imported whole, and the file says the first write will cut it.
  for (let host = 1; host <= 60; host += 1) records.push(rr('huge', 'A', `198.51.100.${host}`), rr('huge', 'AAAA', `2001:db8::${host}`));
  const huge = importInventory(records, options).text;
  assert.match(huge, /WARNING: 1 name\(s\) have more than 64 addresses, the most dns\.maxAnswers can serve: their first write will serve 64 of them \(huge\)/);
  assert.equal(loaded(huge).get('huge.example.test')!.length, 120);
});

test('a zone with no A/AAAA name is bad input, naming what it has', () => {
  const records = [rr('@', 'SOA', {}), rr('@', 'NS', `ns.other.test`), rr('mail', 'MX', {}), rr('@', 'SOA', {})];
  assert.throws(() => importInventory(records, options), (error: unknown) =>
    error instanceof UserError && /has no name with A\/AAAA records .* not imported: example\.test \(no A\/AAAA: NS, SOA\)/.test(error.message));
});
