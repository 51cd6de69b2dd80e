import { z } from 'zod';
import { criticalities } from '../domain/types.js';

/** Response and request schemas shared by several routes (each route file declares its own parameters). */

export const generation = z.number().int().min(0);

export const recordSchema = z.object({
  target: z.string(),
  address: z.string(),
  weight: z.number().int().min(0).max(255),
});

export const alarmSchema = z.object({
  kind: z.string().describe('drift, fail-open, safety-threshold, invalid-plan, ...'),
  name: z.string().describe('the DNS name, or "*" for the whole zone'),
  message: z.string(),
  count: z.number().int(),
  raisedAtMs: z.number(),
  lastAtMs: z.number(),
  clearedAtMs: z.number().nullable(),
  dependents: z.object({
    services: z.number().int(),
    byCriticality: z.record(z.enum(criticalities), z.number().int()),
    top: z.array(z.string()).describe('up to 5 service ids, most critical first'),
  }).nullable().optional()
    .describe('the services that depend on the alarmed name (or, for "*", every service): its blast radius'),
  blastRadius: z.string().nullable().optional().describe('the dependents in words'),
});

export const enactorSchema = z.object({
  id: z.string(),
  heldGeneration: generation,
  enactedGeneration: generation,
  heartbeatAtMs: z.number(),
  expiresAtMs: z.number(),
  alive: z.boolean().describe('its heartbeat has not expired'),
  heartbeatAgeMs: z.number().min(0),
});

export const checkersSchema = z.object({
  voters: z.array(z.string())
    .describe('live checkers whose views count; a target is down when a strict majority of these see it down'),
  checkers: z.array(z.object({
    id: z.string(),
    alive: z.boolean().describe('its heartbeat has not expired'),
    suspect: z.boolean().describe('most targets failed at once for it: it doubts itself and its view does not count'),
    probed: z.number().int(),
    downTotal: z.number().int(),
    down: z.array(z.string()).describe('a sample of at most 20 targets it sees down'),
    heartbeatAtMs: z.number(),
    heartbeatAgeMs: z.number().min(0),
  })),
  disagreements: z.array(z.object({ target: z.string(), down: z.array(z.string()), up: z.array(z.string()) }))
    .describe('at most 20'),
  disagreementsTotal: z.number().int(),
});

export const planHeaderSchema = z.object({
  generation,
  baseGeneration: generation,
  createdAtMs: z.number(),
  plannerId: z.string(),
  fencingToken: z.number().int(),
  namesTotal: z.number().int().min(0),
  namesChanged: z.number().int().min(0),
  forced: z.boolean(),
  note: z.string(),
  inventoryVersion: z.number().int().min(0).optional()
    .describe('the inventory version the plan was computed from (0 or absent: none recorded)'),
});

export const historySchema = z.object({
  id: z.number().int(),
  name: z.string(),
  fromGeneration: generation,
  toGeneration: generation,
  actor: z.string(),
  kind: z.enum(['enact', 'repair', 'remove', 'action']),
  detail: z.string(),
  atMs: z.number(),
});

export const healthState = z.enum(['up', 'down', 'unknown'])
  .describe('unknown: no probe result or override yet (the planner treats it as up)');

export const targetSchema = z.object({
  id: z.string(),
  address: z.string(),
  az: z.string(),
  capacity: z.number().int(),
  health: healthState,
  drained: z.boolean(),
});

export const nameStatus = z
  .enum(['converged', 'behind', 'not-served', 'empty', 'drift', 'removed', 'unplanned', 'unreachable'])
  .describe(
    'converged: serves the newest plan\'s set; behind: an older generation; not-served: no records yet; '
    + 'empty: serves no records (an alarm); '
    + 'drift: serves a set its enacted generation\'s plan does not hold; removed: the newest plan removes it; '
    + 'unplanned: no plan yet; unreachable: its zone\'s provider could not be read (several zones)',
  );

export const nameItemSchema = z.object({
  name: z.string(),
  status: nameStatus,
  frozen: z.boolean(),
  served: z.object({ generation, version: z.string(), records: z.array(recordSchema) }).nullable()
    .describe('what DNS serves, with the enacted generation'),
  plan: z.object({ generation, since: generation, records: z.array(recordSchema).nullable() }).nullable()
    .describe('the newest plan\'s set for the name, introduced at generation `since`'),
  alarms: z.array(z.object({ kind: z.string(), message: z.string() })),
  targets: z.array(targetSchema).describe('the inventory\'s targets of the name, with health and drains'),
});

/** One zone's status (config `zones:` gives several). */
export const zoneStatusSchema = z.object({
  zone: z.string(),
  provider: z.string().describe('its provider\'s kind: builtin, rfc2136 or route53'),
  names: z.object({ total: z.number().int(), converged: z.number().int() }),
  reachable: z.boolean().describe('false when the last read of its served names failed; its counts are from before'),
  error: z.string().optional().describe('why it is not reachable'),
});

export const statusSchema = z.object({
  version: z.string().describe('the dnsplane version of the API process (as `dnsplane --version` prints it)'),
  zone: z.string().describe('the first zone'),
  zones: z.array(zoneStatusSchema).describe('each zone: names on the newest plan, and whether its provider answers'),
  generation: z.object({ latest: generation, oldest: generation }),
  names: z.object({
    total: z.number().int(),
    converged: z.number().int(),
    behind: z.array(z.string()).describe('a sample of at most 20'),
  }),
  enactors: z.array(enactorSchema),
  health: checkersSchema.describe('each health checker\'s view and where they disagree'),
  inventoryVersion: z.number().int()
    .describe('the stored inventory version the API process follows (0: none stored yet)'),
  alarms: z.array(alarmSchema),
  counters: z.record(z.string(), z.number()),
  drains: z.array(z.string()),
  freezes: z.array(z.string()),
  nowMs: z.number(),
});

/** Longest reason accepted for an operator action (it is stored in history). */
export const reasonLengthMax = 500;

export const reasonBody = z.strictObject({
  reason: z.string({ error: 'a reason is required (a string saying why)' })
    .trim()
    .min(1, 'must not be empty: say why')
    .max(reasonLengthMax, `must be at most ${reasonLengthMax} characters`),
}, { error: 'expected a JSON object with a "reason"' });

export const actionSchema = z.object({
  action: z.enum(['drain', 'undrain', 'freeze', 'unfreeze', 'zone-freeze', 'zone-unfreeze', 'force', 'reenact']),
  subject: z.string().describe('target id, name, or "*" for the zone'),
  actor: z.string(),
  reason: z.string(),
  changed: z.boolean()
    .describe('false when the control was already in the requested state (the action is still recorded)'),
  requestId: z.number().int().nullable().describe('the queued request a role carries out (force, reenact)'),
  effect: z.string().describe('which role carries the action out, and when'),
});

export const pageQuery = {
  offset: z.coerce.number().int().min(0).max(100_000_000).default(0),
  limit: z.coerce.number().int().min(1).max(500).default(50),
};

/** A DNS name as a path parameter, bounded before any lookup. */
export const nameParam = z.strictObject({
  name: z.string().min(1).max(254).describe('fully qualified, or relative to the zone'),
});
