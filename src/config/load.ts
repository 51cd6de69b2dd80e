import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { UserError } from '../util/assert.js';
import { qualifyName, normalizeName } from '../domain/names.js';
import type { EndpointSpec } from '../domain/types.js';

/** Formats a zod path as `endpoints[0].targets[1].address`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out.length === 0 ? String(part) : `.${String(part)}`;
  }
  return out.length === 0 ? '(top level)' : out;
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as { keys: string[] }).keys;
      return keys.map((key) => `${formatPath([...issue.path, key])}: unknown key`).join('\n');
    }
    return `${formatPath(issue.path)}: ${issue.message}`;
  });
}

/** Validates a parsed document; throws a UserError listing every problem with its path. */
export function parseConfig(document: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(document);
  if (!result.success) {
    const lines = formatIssues(result.error.issues);
    throw new UserError(`${source} is invalid:\n  ${lines.join('\n  ')}`);
  }
  return result.data;
}

export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UserError(`cannot read config ${path}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (error) {
    const message = error instanceof YAMLParseError ? error.message : String(error);
    throw new UserError(`${path} is not valid YAML: ${message}`);
  }
  if (document === null || typeof document !== 'object') throw new UserError(`${path}: expected a YAML mapping at the top level`);
  return parseConfig(document, path);
}

export function zoneOf(config: Config): string {
  return normalizeName(config.zone);
}

/** The inventory: endpoints with fully qualified names. */
export function inventoryOf(config: Config): EndpointSpec[] {
  const zone = zoneOf(config);
  return config.endpoints.map((endpoint) => ({
    name: qualifyName(endpoint.name, zone),
    targets: endpoint.targets.map((target) => ({ ...target })),
  }));
}
