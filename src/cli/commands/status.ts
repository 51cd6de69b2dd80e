import type { Command } from 'commander';
import { normalizeName } from '../../domain/names.js';
import { recordSetKey, type PlanHeader } from '../../domain/types.js';
import { readAllServed } from '../../providers/listing.js';
import type { ServedState } from '../../providers/types.js';
import { zoneRoutes } from '../../providers/zoned.js';
import { statusReport, type StatusReport } from '../../status/report.js';
import type { StoredHistoryEntry } from '../../store/types.js';
import { InvariantViolation, UserError } from '../../util/assert.js';
import {
  integerOption, listLimitMax, print, servedInventory, storedInventory, withPaths, withReadContext,
} from '../common.js';
import { buildGraph } from '../../graph/graph.js';
import { AlarmRanker, alarmLine, type RankedAlarm } from '../../status/blast-radius.js';
import type { PathOptions } from '../context.js';

type ReadOptions = PathOptions & { json?: boolean };
type ListOptions = ReadOptions & { limit: number };

function formatAge(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`;
}

function checkerLine(c: StatusReport['health']['checkers'][number]): string {
  const down = c.down.length > 0 ? ` (${c.down.join(', ')}${c.downTotal > c.down.length ? ', …' : ''})` : '';
  const suspect = c.suspect ? ' (suspects itself: not counted)' : '';
  return `  ${c.id.padEnd(12)} probed ${c.probed} down ${c.downTotal}${down}`
    + ` heartbeat ${formatAge(c.heartbeatAgeMs)} ago${c.alive ? '' : ' (dead)'}${suspect}`;
}

function statusText(report: StatusReport & { alarms: RankedAlarm[] }): string {
  const behind = report.names.behind.length > 0 ? `; behind: ${report.names.behind.join(', ')}` : '';
  const checkers = report.health.checkers.length === 0 ? 'none has reported' : `${report.health.voters.length} voting`;
  return [
    `zone ${report.zone}: newest generation ${report.generation.latest} (oldest kept ${report.generation.oldest})`,
    `names: ${report.names.converged}/${report.names.total} on the newest plan${behind}`,
    ...(report.zones.length === 1 ? [] : report.zones.map((zone) => `  zone ${zone.zone} (${zone.provider}): `
      + `${zone.names.converged}/${zone.names.total}${zone.reachable ? '' : `, UNREACHABLE: ${zone.error ?? ''}`}`)),
    'enactors:',
    ...report.enactors.map((e) => `  ${e.id.padEnd(12)} held ${e.heldGeneration} enacted ${e.enactedGeneration}`
      + ` heartbeat ${formatAge(e.heartbeatAgeMs)} ago${e.alive ? '' : ' (dead)'}`),
    `checkers: ${checkers}`,
    ...report.health.checkers.map(checkerLine),
    ...report.health.disagreements.map((d) =>
      `  disagree on ${d.target}: down for ${d.down.join(', ')}; up for ${d.up.join(', ')}`),
    `alarms: ${report.alarms.length === 0 ? 'none' : ''}`,
    ...report.alarms.map(alarmLine),
  ].join('\n');
}

function planLine(p: PlanHeader): string {
  return `gen ${p.generation}  ${new Date(p.createdAtMs).toISOString()}  ${p.namesChanged}/${p.namesTotal} changed`
    + `  by ${p.plannerId} (token ${p.fencingToken})`
    + `  inventory v${p.inventoryVersion ?? 0}${p.forced ? '  FORCED' : ''}`;
}

function historyLine(e: StoredHistoryEntry): string {
  const detail = e.detail ? `  (${e.detail})` : '';
  const change = `${e.kind.padEnd(6)} ${e.fromGeneration} -> ${e.toGeneration}`;
  return `${new Date(e.atMs).toISOString()}  ${change}  by ${e.actor}${detail}`;
}

function registerPlansAndHistory(program: Command): void {
  withPaths(program.command('plans').description('published plans, newest first'))
    .option('--limit <n>', 'how many', integerOption('--limit', { min: 1, max: listLimitMax }), 50)
    .option('--json', 'machine-readable output')
    .action(async (options: ListOptions) => {
      await withReadContext(options, async (context) => {
        const plans = await context.store.listPlans(options.limit);
        print(options.json, plans, () => plans.map(planLine).join('\n'));
      });
    });

  withPaths(program.command('history <name>').description('every enacted change of a name'))
    .option('--limit <n>', 'how many', integerOption('--limit', { min: 1, max: listLimitMax }), 100)
    .option('--json', 'machine-readable output')
    .action(async (name: string, options: ListOptions) => {
      await withReadContext(options, async (context) => {
        const wanted = normalizeName(name);
        const full = context.zones.qualify(wanted);
        // A name the inventory never had has no history; saying nothing would look like a name that never changed.
        if (!(await servedInventory(context)).some((endpoint) => endpoint.name === full)) {
          throw new UserError(`unknown name "${name}" (${full} is not in the served inventory)`);
        }
        const entries = await context.store.readHistory(full, options.limit);
        print(options.json, entries, () => entries.map(historyLine).join('\n'));
      });
    });
}

/** `dnsplane status|records|plans|history`: what is planned, served and done, read from a store opened read-only. */
export function registerStatusCommands(program: Command): void {
  withPaths(program.command('status').description('generations, convergence, enactors and alarms'))
    .option('--json', 'machine-readable output')
    .action(async (options: ReadOptions) => {
      await withReadContext(options, async (context) => {
        const listed = await statusReport(context);
        // The graph is built (a walk over every name) only when there is an alarm to rank.
        const alarms = listed.alarms.length === 0
          ? []
          : new AlarmRanker().rank(listed.alarms, buildGraph(await storedInventory(context)));
        const report = { ...listed, alarms };
        print(options.json, report, () => statusText(report));
      });
    });

  withPaths(program.command('records [name]').description('what DNS serves, with each name\'s enacted generation'))
    .option('--json', 'machine-readable output')
    .action(async (name: string | undefined, options: ReadOptions) => {
      await withReadContext(options, async (context) => {
        let states: ServedState[] = [];
        if (name !== undefined) {
          // One name is read from its own zone's provider only.
          const wanted = context.zones.qualify(normalizeName(name));
          const state = (await context.provider.read([wanted])).get(wanted);
          if (state === undefined || state.held !== undefined) throw new UserError(`no served records for "${name}"`);
          states = [state];
        } else {
          // Zone by zone: a zone whose server is down is said on stderr (exit 1), the others are listed.
          for (const route of zoneRoutes(context.provider, context.zone)) {
            try {
              states.push(...await readAllServed(route.provider));
            } catch (error) {
              if (error instanceof InvariantViolation) throw error;
              process.stderr.write(`error: zone ${route.zone}: ${(error as Error).message}\n`);
              process.exitCode = 1;
            }
          }
        }
        const text = () => states.map((s) => `${s.name}  gen ${s.generation}  ${recordSetKey(s.records)}`).join('\n');
        print(options.json, states, text);
      });
    });

  registerPlansAndHistory(program);
}
