// Goal: `dnsplane schema` prints a JSON Schema of the config that editors can
// use, generated from the zod schema that validates at load, so that what an
// editor accepts and what dnsplane accepts agree. Method: the real binary's
// output compiled by Ajv (draft-07, the dialect it declares); configs that
// load (the tests' sample, the demo's, the README's example) must pass it,
// and broken configs that the loader refuses must fail it too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { configJsonSchema } from '../../src/cli/config-json-schema.js';
import { parseConfig } from '../../src/config/load.js';
import { demoConfig } from '../../src/demo/demo.js';
import { sampleConfig } from '../helpers/env.js';

const binary = fileURLToPath(new URL('../../bin/dnsplane.mjs', import.meta.url));
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function compiled() {
  const schema = JSON.parse(execFileSync(process.execPath, [binary, 'schema'], { encoding: 'utf8' })) as Record<string, unknown>;
  assert.deepEqual(schema, configJsonSchema(), 'the command prints the generated schema');
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  return ajv.compile(schema);
}

test('configs that load pass the schema: the sample, the demo and the README example', () => {
  const validate = compiled();
  const readmeExample = /## Configuration[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme);
  assert.ok(readmeExample, 'the README has a config example');
  const loaded = [sampleConfig(3), demoConfig(5353), { ...sampleConfig(2), health: { interval: '2s', timeout: 500 } }];
  for (const config of loaded) {
    parseConfig(config);
    assert.ok(validate(config), JSON.stringify(validate.errors));
  }
  // Its https check names a CA file that exists only on a real host, so the loader is not asked; the schema is.
  assert.ok(validate(parseYaml(readmeExample[1]!)), JSON.stringify(validate.errors));
});

test('configs the loader refuses for their shape fail the schema too', () => {
  const validate = compiled();
  const broken: Record<string, unknown>[] = [
    { ...sampleConfig(1), zonee: 'x.' },
    { ...sampleConfig(1), dns: { ttl: 'five' } },
    { ...sampleConfig(1), health: { rise: 0 } },
    { ...sampleConfig(1), store: { kind: 'postgres' } },
    { ...sampleConfig(1), endpoints: [] },
    { zone: 'dnsplane.test.' },
  ];
  for (const config of broken) {
    assert.throws(() => parseConfig(config), /invalid/, JSON.stringify(config).slice(0, 80));
    assert.equal(validate(config), false, JSON.stringify(config).slice(0, 80));
  }
});

test('the README shows how an editor picks the schema up', () => {
  assert.match(readme, /dnsplane schema > [^\s`]+/);
  assert.match(readme, /# yaml-language-server: \$schema=/);
});
