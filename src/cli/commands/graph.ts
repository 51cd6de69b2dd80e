import type { Command } from 'commander';
import type { ZoneSet } from '../../domain/zones.js';
import { existsSync } from 'node:fs';
import type { Inventory } from '../../domain/types.js';
import { formatImpact } from '../../graph/format.js';
import { buildGraph, graphDot, graphJson } from '../../graph/graph.js';
import { impact, parseSubject } from '../../graph/impact.js';
import {
  checkedOption, configLoader, integerOption, listLimitMax, print, withPaths, withReadContext,
} from '../common.js';
import { dataDirectory, resolveConfigPath, type PathOptions } from '../context.js';

type ImpactOptions = PathOptions & { json?: boolean; limit: number };
type GraphOptions = PathOptions & { format: GraphFormat };

const graphFormats = ['dot', 'json'] as const;
type GraphFormat = (typeof graphFormats)[number];

/** The inventory version a graph is drawn from, and where it came from. */
interface GraphSource {
  inventory: Inventory;
  zone: ZoneSet;
  /** The stored version, or 0: the config file's (nothing stored yet). */
  version: number;
}

/**
 * The newest stored inventory when the installation has one, else the config file's: `impact` answers "what if"
 * before anything runs. A SQLite store that does not exist yet is not created (nor is anything else).
 */
async function graphSource(options: PathOptions): Promise<GraphSource> {
  const [{ inventoryOf, loadConfigFile, servicesOf, zoneSetOf }, { sqlitePath }] =
    await Promise.all([configLoader(), import('../../store/index.js')]);
  const config = loadConfigFile(resolveConfigPath(options));
  const zone = zoneSetOf(config);
  const inventory = { endpoints: inventoryOf(config), services: servicesOf(config) };
  const fromConfig: GraphSource = { inventory, zone, version: 0 };
  const noStore = config.store.kind === 'sqlite' && !existsSync(sqlitePath(config, dataDirectory(options, false)));
  if (noStore) return fromConfig;
  return withReadContext(options, async (context) => {
    const stored = await context.store.readInventory();
    if (stored === null) return fromConfig;
    return { inventory: { endpoints: stored.endpoints, services: stored.services }, zone, version: stored.version };
  });
}

function registerImpact(program: Command): void {
  const description = 'what fails with SUBJECT (NAME, TARGET, az:AZ, service:S; several: all at once) — names lost'
    + ' or degraded, targets, services by criticality — each with the path the failure takes';
  withPaths(program.command('impact').description(description))
    .argument('<subject...>', 'NAME (relative or fully qualified), TARGET id, az:AZ, service:S, name:NAME, target:ID')
    .option('--json', 'machine-readable output: the whole report')
    .option('--limit <n>', 'entries listed per section', integerOption('--limit', { min: 1, max: listLimitMax }), 50)
    .action(async (subjects: string[], options: ImpactOptions) => {
      const source = await graphSource(options);
      const graph = buildGraph(source.inventory);
      const failed = [...new Set(subjects.map((subject) => parseSubject(subject, source.zone, graph)))];
      const report = impact(graph, failed);
      const version = source.version === 0 ? 'the config file (no inventory stored yet)' : `v${source.version}`;
      print(options.json, { inventoryVersion: source.version, ...report },
        () => [...formatImpact(graph, report, options.limit), `(inventory: ${version})`].join('\n'));
    });
}

function registerGraph(program: Command): void {
  const description = 'the dependency graph (services → names → targets by AZ, and the edges checks add) as'
    + ' Graphviz dot or JSON';
  const format = checkedOption('--format', 'dot or json',
    (text) => graphFormats.find((known) => known === text) ?? null);
  withPaths(program.command('graph').description(description))
    .option('--format <format>', 'dot (for `dot -Tsvg`) or json', format, 'dot' as GraphFormat)
    .action(async (options: GraphOptions) => {
      const graph = buildGraph((await graphSource(options)).inventory);
      const text = options.format === 'dot' ? graphDot(graph) : `${JSON.stringify(graphJson(graph), null, 2)}\n`;
      process.stdout.write(text);
    });
}

/** `dnsplane impact SUBJECT… | graph --format dot|json`: the dependency graph and blast radius (issue 19). */
export function registerGraphCommands(program: Command): void {
  registerImpact(program);
  registerGraph(program);
}
