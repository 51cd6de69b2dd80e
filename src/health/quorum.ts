import type { HealthState } from '../domain/types.js';
import type { CheckerView } from '../store/types.js';
import { assert } from '../util/assert.js';

/**
 * Redundant checkers (Route 53 checks from several regions): each publishes its own view, and a target is down
 * only when a strict majority of the live checkers see it down. A checker whose heartbeat expired does not count
 * at all (it may be the one that is cut off). One that suspects itself counts as live but sees nothing down: if it
 * dropped out of the count instead, a burst of real failures that makes the honest checkers doubt themselves would
 * leave a cut-off checker as a majority of one (found by the simulator, seeds 2120, 7220, 9566). A tie keeps the
 * target up: withdrawing capacity needs a majority, serving it does not (S1 leans the same way).
 */

export interface QuorumDecision {
  /** The decided state of every target asked about, when at least one checker votes. */
  states: Map<string, HealthState>;
  /** Ids of the checkers whose views were counted (live and not suspect), sorted. */
  voters: string[];
  /** Live checkers in all (the majority is of these). */
  live: number;
  /** Targets on which the voters disagree, with who sees each side. */
  disagreements: { target: string; down: string[]; up: string[] }[];
}

export function liveViews(views: readonly CheckerView[], nowMs: number): CheckerView[] {
  return views.filter((view) => view.expiresAtMs > nowMs);
}

/**
 * Decides each of `targets`: down when more than half of the live checkers see it down (a suspect one sees nothing
 * down). With no live checker that trusts itself there is no decision (the map is empty): health stays as it is.
 */
export function decideByQuorum(
  views: readonly CheckerView[],
  targets: Iterable<string>,
  nowMs: number,
): QuorumDecision {
  const live = liveViews(views, nowMs);
  assert(
    new Set(live.map((view) => view.id)).size === live.length,
    'internal',
    `checker ids must be unique, got ${live.map((view) => view.id).join(',')}`,
  );
  const voting = live.filter((view) => !view.suspect);
  const voters = voting.map((view) => view.id).sort();
  const downSets = voting.map((view) => ({ id: view.id, down: new Set(view.down) }));
  const states = new Map<string, HealthState>();
  const disagreements: QuorumDecision['disagreements'] = [];
  if (voting.length === 0) return { states, voters, live: live.length, disagreements };
  for (const target of targets) {
    const down = downSets.filter((view) => view.down.has(target)).map((view) => view.id);
    states.set(target, down.length * 2 > live.length ? 'down' : 'up');
    if (down.length > 0 && down.length < voting.length) {
      const seenDown = new Set(down);
      disagreements.push({ target, down, up: voters.filter((id) => !seenDown.has(id)) });
    }
  }
  return { states, voters, live: live.length, disagreements };
}

/**
 * The checker that writes the decided health: the live checker with the smallest id. Every checker can compute
 * the decision, but one writer keeps two checkers from interleaving writes made from different reads. When it
 * dies, its heartbeat expires and the next id takes over; until then the health stays as it was (fail static).
 */
export function aggregatorOf(views: readonly CheckerView[], nowMs: number): string | null {
  const live = liveViews(views, nowMs).map((view) => view.id).sort();
  return live[0] ?? null;
}
