import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { UserError } from '../util/assert.js';
import { qualifyName, normalizeName } from '../domain/names.js';
import { serviceRefPrefix, type EndpointSpec, type Inventory, type ServiceSpec } from '../domain/types.js';

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

/** Largest config or inventory file read: a YAML file past this is refused before it is parsed. */
export const configBytesMax = 128 * 1024 * 1024;

function readDocument(path: string): unknown {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > configBytesMax) {
      throw new UserError(
        `${path} is ${size} bytes, above the ${configBytesMax / 1024 / 1024} MiB a config or inventory file may have`,
      );
    }
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`cannot read config ${path}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (error) {
    const message = error instanceof YAMLParseError ? error.message : String(error);
    throw new UserError(`${path} is not valid YAML: ${message}`);
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new UserError(`${path}: expected a YAML mapping at the top level`);
  }
  return document;
}

export function loadConfigFile(path: string): Config {
  return parseConfig(readDocument(path), path);
}

/**
 * An inventory file for `validate`, `diff` and `apply`: a whole config (every key checked as loading does), or
 * just `endpoints:` and `services:` (and optionally `zone:`) — the installation's zone is used when the file gives
 * none, and a file for another zone is refused. Returns the qualified endpoints and the services.
 */
export function loadInventoryFile(path: string, zone: string | null): Inventory {
  const document = readDocument(path) as Record<string, unknown>;
  const fileZone = typeof document.zone === 'string' ? normalizeName(document.zone) : null;
  if (fileZone === null && zone === null) {
    throw new UserError(`${path} names no zone: add "zone:" or pass --config for the installation's`);
  }
  if (fileZone !== null && zone !== null && fileZone !== zone) {
    throw new UserError(`${path} is for zone ${fileZone}, this installation's zone is ${zone}`);
  }
  const config = parseConfig(fileZone === null ? { ...document, zone: `${zone}.` } : document, path);
  return { endpoints: inventoryOf(config), services: servicesOf(config) };
}

export function zoneOf(config: Config): string {
  return normalizeName(config.zone);
}

/** A dependsOn entry as stored: a fully qualified name, or "service:<id>" as written. */
function qualifyDependency(ref: string, zone: string): string {
  return ref.startsWith(serviceRefPrefix) ? ref : qualifyName(ref, zone);
}

/** The inventory: endpoints with fully qualified names (check dependencies qualified too). */
export function inventoryOf(config: Config): EndpointSpec[] {
  const zone = zoneOf(config);
  return config.endpoints.map((endpoint) => ({
    name: qualifyName(endpoint.name, zone),
    targets: endpoint.targets.map((target) => {
      const dependsOn = target.check?.dependsOn;
      if (target.check === undefined || dependsOn === undefined) return { ...target };
      return { ...target, check: { ...target.check, dependsOn: dependsOn.map((ref) => qualifyDependency(ref, zone)) } };
    }),
    ...(endpoint.adopt === true ? { adopt: true } : {}),
  }));
}

/** The dependency graph's services, their names qualified. */
export function servicesOf(config: Config): ServiceSpec[] {
  const zone = zoneOf(config);
  return config.services.map((service) => ({
    id: service.id,
    criticality: service.criticality,
    names: service.dependsOn.filter((ref) => !ref.startsWith(serviceRefPrefix)).map((ref) => qualifyName(ref, zone)),
    services: service.dependsOn.filter((ref) => ref.startsWith(serviceRefPrefix))
      .map((ref) => ref.slice(serviceRefPrefix.length)),
    ...(service.description === undefined ? {} : { description: service.description }),
  }));
}
