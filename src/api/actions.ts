import type { z } from 'zod';
import type { ApiState } from './state.js';
import type { Actor } from './auth.js';
import type { actionSchema } from './models.js';
import type { HistoryEntry } from '../store/types.js';
import { assert } from '../util/assert.js';

export type ActionResult = z.input<typeof actionSchema>;
type ActionName = ActionResult['action'];

/** History entries one action may write (a drained target shared by many names writes one per name, up to this). */
const historyEntriesMax = 1000;

/** The caller of a mutation; defineRoute has authenticated it, so its absence is a bug. */
export function requireActor(actor: Actor | null): Actor {
  assert(actor !== null, 'internal', 'a mutation reached its handler without an authenticated actor');
  return actor;
}

/**
 * Records an operator action in history — one entry per affected name ("*"
 * for the zone), kind "action", the token's id as actor — and builds the
 * answer. The action itself is already in the store as a control for a role.
 */
export async function recordAction(
  state: ApiState,
  actor: Actor | null,
  action: ActionName,
  subject: string,
  names: readonly string[],
  details: { reason: string; changed: boolean; requestId: number | null; effect: string },
): Promise<ActionResult> {
  assert(details.reason.length > 0, 'internal', `${action} without a reason`);
  const latest = await state.context.store.latestGeneration();
  const affected = names.length === 0 ? ['*'] : names.slice(0, historyEntriesMax);
  const detail = `${action} ${subject}${details.changed ? '' : ' (already in effect)'}: ${details.reason}`;
  const id = requireActor(actor).id;
  const entries: HistoryEntry[] = affected.map((name) => ({
    name,
    fromGeneration: latest,
    toGeneration: latest,
    actor: id,
    kind: 'action',
    detail,
  }));
  await state.context.store.appendHistory(entries);
  state.log.info({ action, subject, actor: id, reason: details.reason, changed: details.changed }, 'operator action');
  return { action, subject, actor: id, ...details };
}
