import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { UserError } from '../util/assert.js';
import { normalizeName } from '../domain/names.js';
import { ZoneSet } from '../domain/zones.js';
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
 * just `endpoints:` and `services:` (and optionally `zone:` / `zones:`) — the installation's zones are used when the
 * file gives none, and a file for other zones is refused. Returns the qualified endpoints and the services.
 */
export function loadInventoryFile(path: string, installation: Config | null): Inventory {
  return parseInventory(readDocument(path) as Record<string, unknown>, installation, path);
}

/** An inventory document (a file's, the API's body) judged as `loadInventoryFile` says. */
export function parseInventory(
  document: Record<string, unknown>, installation: Config | null, source: string,
): Inventory {
  const fileZones = Array.isArray(document.zones)
    ? document.zones.map((zone: unknown) => normalizeName(String((zone as { name?: unknown } | null)?.name ?? '')))
    : typeof document.zone === 'string' ? [normalizeName(document.zone)] : null;
  if (fileZones === null && installation === null) {
    throw new UserError(`${source} names no zone: add "zone:" or pass --config for the installation's`);
  }
  if (fileZones !== null && installation !== null) {
    const zones = installation.zones.map((zone) => normalizeName(zone.name));
    if (fileZones.join(' ') !== zones.join(' ')) {
      const theirs = fileZones.length === 1 ? `zone ${fileZones[0]}` : `zones ${fileZones.join(', ')}`;
      const ours = zones.length === 1 ? `zone is ${zones[0]}` : `zones are ${zones.join(', ')}`;
      // A file of one of several zones (an import's, say): its names go in with their zone spelt out.
      const merge = zones.length > 1 && fileZones.length === 1 && zones.includes(fileZones[0]!)
        ? `; drop its zone: and write its names fully qualified (web.${fileZones[0]}.), or relative ones land in `
          + `${zones[0]}`
        : '';
      throw new UserError(`${source} is for ${theirs}, this installation's ${ours}${merge}`);
    }
  }
  let parsed = document;
  if (installation !== null && installation.zones.length > 1) {
    // Several zones: the file's zones were checked against the installation's; the installation's are parsed (with
    // their providers, which a file naming the zones need not repeat).
    const { zone: _zone, zones: _zones, provider: _provider, ...rest } = document;
    parsed = { ...rest, zones: installation.zones };
  } else if (installation !== null && fileZones === null) {
    parsed = { ...document, zone: `${normalizeName(installation.zone)}.` };
  }
  const config = parseConfig(parsed, source);
  return { endpoints: inventoryOf(config), services: servicesOf(config) };
}

export function zoneOf(config: Config): string {
  return normalizeName(config.zone);
}

/** The installation's zones (one, or those of `zones:`), the first one first. */
export function zoneSetOf(config: Config): ZoneSet {
  return new ZoneSet(config.zones.map((zone) => zone.name));
}

/** A dependsOn entry as stored: a fully qualified name, or "service:<id>" as written. */
function qualifyDependency(ref: string, zones: ZoneSet): string {
  return ref.startsWith(serviceRefPrefix) ? ref : zones.qualify(ref);
}

/** The inventory: endpoints with fully qualified names (check dependencies qualified too). */
export function inventoryOf(config: Config): EndpointSpec[] {
  const zones = zoneSetOf(config);
  return config.endpoints.map((endpoint) => ({
    name: zones.qualify(endpoint.name),
    targets: endpoint.targets.map((target) => {
      const dependsOn = target.check?.dependsOn;
      if (target.check === undefined || dependsOn === undefined) return { ...target };
      const qualified = dependsOn.map((ref) => qualifyDependency(ref, zones));
      return { ...target, check: { ...target.check, dependsOn: qualified } };
    }),
    ...(endpoint.adopt === true ? { adopt: true } : {}),
  }));
}

/** The dependency graph's services, their names qualified. */
export function servicesOf(config: Config): ServiceSpec[] {
  const zones = zoneSetOf(config);
  return config.services.map((service) => ({
    id: service.id,
    criticality: service.criticality,
    names: service.dependsOn.filter((ref) => !ref.startsWith(serviceRefPrefix)).map((ref) => zones.qualify(ref)),
    services: service.dependsOn.filter((ref) => ref.startsWith(serviceRefPrefix))
      .map((ref) => ref.slice(serviceRefPrefix.length)),
    ...(service.description === undefined ? {} : { description: service.description }),
  }));
}
