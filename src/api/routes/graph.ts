import type { FastifyInstance } from 'fastify';
import { readReachable } from '../../providers/zoned.js';
import { z } from 'zod';
import type { ApiState } from '../state.js';
import { ApiError } from '../errors.js';
import { defineRoute } from '../schema.js';
import {
  columnLimitMax, defaultColumnLimits, downTargetsMax, graphModel, impactMarks, renderSvg, selectNodes,
  type ColumnLimits, type GraphModel, type RankState, type ShownState,
} from '../graph-view.js';
import { criticalities } from '../../domain/types.js';
import type { GraphEntry, GraphSource } from '../graph-source.js';
import { impact, parseSubject } from '../../graph/impact.js';
import type { ImpactReport } from '../../graph/types.js';
import { assert, UserError } from '../../util/assert.js';

/**
 * The dependency graph (issue 19) for the dashboard and API clients: GET /api/graph (a bounded view as JSON),
 * GET /api/graph.svg (the same view drawn in three columns, src/api/graph-view.ts) and GET /api/impact (what
 * failing a subject loses). The graph is built once per inventory version; impact reports are kept for the last
 * few subjects and health states, so a dashboard refreshing on every event costs a few small store reads.
 */

/** Impact reports kept per graph (subjects and down-target sets), oldest dropped first. */
const impactCacheMax = 16;
/** Entries of each list of an impact report answered by default, and at most. */
const impactListDefault = 100;
const impactListMax = 5000;
/** Failed node ids listed in a graph view (the current failure may be thousands of down targets). */
const failedListMax = 100;

const subjectText = z.string().trim().min(1, 'must not be empty').max(300);
const subjectHelp = 'a managed name (fully qualified or relative to the zone), a target id, az:<AZ> or service:<id>,'
  + ' as `dnsplane impact` takes it';
const columnLimit = (fallback: number, column: string) => z.coerce.number().int().min(1).max(columnLimitMax)
  .default(fallback).describe(`${column} shown at most (the rest counted as "+K more")`);

const graphQuery = z.strictObject({
  focus: subjectText.optional()
    .describe(`only the neighbourhood of this subject (what depends on it and what it depends on): ${subjectHelp}`),
  impact: subjectText.optional()
    .describe(`mark what failing this subject would lose, instead of the current failure: ${subjectHelp}`),
  services: columnLimit(defaultColumnLimits.services, 'services'),
  names: columnLimit(defaultColumnLimits.names, 'names'),
  targets: columnLimit(defaultColumnLimits.targets, 'targets'),
});

const criticality = z.enum(criticalities);
const count = z.number().int().min(0);
const nodeSchema = z.object({
  id: z.string().describe('"<kind>:<key>", as `dnsplane impact` takes it'),
  kind: z.enum(['service', 'name', 'target']),
  key: z.string(),
  column: z.enum(['services', 'names', 'targets']),
  az: z.string().optional(),
  capacity: z.number().optional(),
  criticality: criticality.optional(),
  health: z.enum(['up', 'down', 'unknown']).optional().describe('targets: as the checkers (or an operator) report it'),
  drained: z.boolean().optional(),
  served: z.enum(['served', 'empty', 'not-served', 'unreachable']).optional()
    .describe('names: what DNS serves for it (unreachable: its zone\'s provider could not be read)'),
  alarms: count.optional().describe('names: active alarms'),
  impact: z.enum(['failed', 'lost', 'degraded']).nullable()
    .describe('failed: where the impact starts; lost: nothing of it works; degraded: some capacity lost'),
  classes: z.array(z.string()).describe('the CSS classes of the node in the SVG'),
});
const columnCounts = z.object({ services: count, names: count, targets: count });
const impactTotals = z.object({ namesLost: count, namesDegraded: count, targets: count, services: count });

const graphSchema = z.object({
  inventoryVersion: count,
  mode: z.enum(['current', 'impact'])
    .describe('current: marks what the targets reported down lose; impact: what losing the `impact` subject would'),
  subject: z.string().nullable().describe('the `impact` subject as a node id'),
  focus: z.string().nullable().describe('the `focus` subject as a node id'),
  downTargets: count.describe('targets reported down now'),
  failed: z.array(z.string()).describe(`where the marked impact starts (at most ${failedListMax})`),
  impacted: impactTotals.describe('how many nodes of the whole graph the marked impact reaches, shown or not'),
  totals: columnCounts.describe('nodes of each column in the view (the whole graph, or the focus\'s neighbourhood)'),
  more: columnCounts.describe('nodes of each column in the view that are not shown'),
  services: z.array(nodeSchema),
  names: z.array(nodeSchema),
  targets: z.array(z.object({ az: z.string(), nodes: z.array(nodeSchema), more: count })).describe('by AZ'),
  edges: z.array(z.object({
    from: z.string(), to: z.string(), kind: z.enum(['serves', 'in-az', 'resolves', 'calls', 'check']),
    impacted: z.boolean().describe('both ends are marked by the impact'),
  })).describe('between shown nodes: `from` depends on `to`'),
  edgesOmitted: count,
});

const impactedNode = z.object({ id: z.string(), path: z.array(z.string()).describe('from a failed node to this one') });
const impactedName = impactedNode.extend({
  name: z.string(), capacityLostFraction: z.number().min(0).max(1), failover: z.boolean(),
});
const impactedService = impactedNode.extend({
  service: z.string(), criticality, severity: z.enum(['lost', 'degraded']),
});
const impactSchema = z.object({
  of: z.string().describe('the subject as given'),
  inventoryVersion: count,
  failed: z.array(z.string()).describe('the subject as node ids'),
  totals: impactTotals,
  namesLost: z.array(impactedName).describe('names left with no working target'),
  namesDegraded: z.array(impactedName).describe('names that keep some capacity, most lost first'),
  targets: z.array(impactedNode).describe('targets that stop working'),
  services: z.array(impactedService).describe('services affected, most critical first'),
});

/** The impact of `failed` on the entry's graph, computed once per set of failed nodes (while it is recent). */
function impactOf(entry: GraphEntry, failed: readonly string[]): ImpactReport {
  const key = failed.join('\n');
  const cached = entry.impacts.get(key);
  if (cached !== undefined) return cached;
  const report = impact(entry.index.graph, failed);
  if (entry.impacts.size >= impactCacheMax) entry.impacts.delete(entry.impacts.keys().next().value!);
  entry.impacts.set(key, report);
  return report;
}

/** A subject as node ids, or a 400 naming it and the parameter it came in. */
function subjectIds(state: ApiState, entry: GraphEntry, text: string, parameter: string): string[] {
  let id: string;
  try {
    id = parseSubject(text, state.context.zones, entry.index.graph);
  } catch (error) {
    // parseSubject's message names the subject and suggests close matches.
    if (error instanceof UserError) throw new ApiError(400, 'bad-request', `query.${parameter}: ${error.message}`);
    throw error;
  }
  assert(entry.index.graph.has(id), 'internal', `subject "${text}" parsed to ${id}, which is not in the graph`);
  return [id];
}

interface ViewRequest {
  focus?: string | undefined;
  impact?: string | undefined;
  limits: ColumnLimits;
}

/** The current state a view ranks by: targets reported down, and active alarms by name. */
async function currentState(state: ApiState, entry: GraphEntry):
  Promise<{ down: Set<string>; alarms: Map<string, number> }> {
  const { graph } = entry.index;
  const down = new Set<string>();
  for (const record of await state.health.list('down', 0, downTargetsMax)) {
    const id = `target:${record.target}`;
    if (graph.has(id)) down.add(id);
  }
  const alarms = new Map<string, number>();
  for (const alarm of await state.context.store.listAlarms(true)) {
    const id = `name:${alarm.name}`;
    if (graph.has(id)) alarms.set(id, (alarms.get(id) ?? 0) + 1);
  }
  return { down, alarms };
}

/** Health, drains and served records of the shown targets and names only. */
async function shownState(state: ApiState, targetKeys: string[], nameKeys: string[]): Promise<ShownState> {
  const health = await state.health.of(targetKeys);
  const drains = new Set(await state.context.store.listDrains());
  const { states: served, unreachable } = await readReachable(state.context.provider, nameKeys);
  const servedOf = (key: string) => {
    if (unreachable.has(key)) return 'unreachable';
    const records = served.get(key)?.records;
    return records === undefined ? 'not-served' : records.length === 0 ? 'empty' : 'served';
  };
  return {
    health: new Map([...health].map(([key, record]) => [`target:${key}`, record.state])),
    drained: new Set(targetKeys.filter((key) => drains.has(key)).map((key) => `target:${key}`)),
    served: new Map(nameKeys.map((key) => [`name:${key}`, servedOf(key)])),
  };
}

type GraphView = z.input<typeof graphSchema> & { model: GraphModel };

/** The view a request asks for, with the state of its shown nodes read from the store and the provider. */
async function buildView(state: ApiState, source: GraphSource, request: ViewRequest): Promise<GraphView> {
  const entry = source.current();
  const { index } = entry;
  const subject = request.impact === undefined ? null : subjectIds(state, entry, request.impact, 'impact');
  const focus = request.focus === undefined ? null : subjectIds(state, entry, request.focus, 'focus');
  const { down, alarms } = await currentState(state, entry);
  const failed = subject ?? [...down].sort();
  const report = failed.length === 0 ? null : impactOf(entry, failed);
  const rank: RankState = { impact: impactMarks(report), down, alarms };
  const selection = selectNodes(index, rank, request.limits, focus === null ? null : index.neighbourhood(focus));
  const targetKeys = selection.targets.flatMap((group) => group.ids.map((id) => index.node(id).key));
  const shown = await shownState(state, targetKeys, selection.names.map((id) => index.node(id).key));
  const subjects = new Set([...(subject ?? []), ...(focus ?? [])]);
  const model = graphModel(index, selection, { rank, shown, subjects });
  return {
    model,
    inventoryVersion: entry.version,
    mode: subject === null ? 'current' : 'impact',
    subject: subject === null ? null : subject.join(','),
    focus: focus === null ? null : focus.join(','),
    downTargets: down.size,
    failed: failed.slice(0, failedListMax),
    impacted: {
      namesLost: report?.namesLost.length ?? 0, namesDegraded: report?.namesDegraded.length ?? 0,
      targets: report?.targets.length ?? 0, services: report?.services.length ?? 0,
    },
    totals: model.totals, more: model.more, services: model.services, names: model.names, targets: model.targets,
    edges: model.edges, edgesOmitted: model.edgesOmitted,
  };
}

function viewTitle(view: GraphView): string {
  const what = view.mode === 'impact' ? `impact of ${view.subject}` : 'current health';
  const around = view.focus === null ? '' : `, around ${view.focus}`;
  return `dnsplane dependency graph, inventory version ${view.inventoryVersion}: ${what}${around}`;
}

export function registerGraphRoutes(app: FastifyInstance, state: ApiState): void {
  const source = state.graph;
  const description = 'Services → names → targets by AZ, each column capped (failed, impacted, down and alarmed'
    + ' nodes first; the rest counted). Without `impact`, the marks are what the targets reported down lose now.';
  const viewOf = (query: z.output<typeof graphQuery>) =>
    buildView(state, source, { focus: query.focus, impact: query.impact, limits: query });
  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/graph', tag: 'graph', access: 'read', query: graphQuery, response: graphSchema,
    summary: 'The dependency graph as a bounded view: nodes with their health, alarms and impact, and their edges',
    description,
    handler: async ({ query }) => {
      const { model: _model, ...view } = await viewOf(query);
      return view;
    },
  });
  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/graph.svg', tag: 'graph', access: 'read', query: graphQuery,
    response: z.string(), contentType: 'image/svg+xml',
    summary: 'The view of /api/graph as SVG: three columns, state as CSS classes (down, alarmed, failed, impacted)',
    description,
    handler: async ({ query }) => {
      const view = await viewOf(query);
      return renderSvg(view.model, viewTitle(view), view.mode);
    },
  });
  defineRoute(app, state.registry, {
    method: 'GET', url: '/api/impact', tag: 'graph', access: 'read', response: impactSchema,
    query: z.strictObject({
      of: subjectText.describe(subjectHelp),
      limit: z.coerce.number().int().min(1).max(impactListMax).default(impactListDefault)
        .describe('entries of each list at most (the totals count them all)'),
    }),
    summary: 'What failing a subject loses, transitively: names lost and degraded, targets, services, with paths',
    description: 'The report of `dnsplane impact`, on the inventory version the API follows.',
    handler: async ({ query }) => {
      const entry = source.current();
      const report = impactOf(entry, subjectIds(state, entry, query.of, 'of'));
      const { namesLost, namesDegraded, targets, services } = report;
      return {
        of: query.of, inventoryVersion: entry.version, failed: report.failed,
        totals: {
          namesLost: namesLost.length, namesDegraded: namesDegraded.length,
          targets: targets.length, services: services.length,
        },
        namesLost: namesLost.slice(0, query.limit), namesDegraded: namesDegraded.slice(0, query.limit),
        targets: targets.slice(0, query.limit), services: services.slice(0, query.limit),
      };
    },
  });
}
