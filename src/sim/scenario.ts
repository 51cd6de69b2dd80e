import type { SimRandom } from './random.js';
import type { FaultSettings } from './faults.js';
import type { EndpointSpec } from '../domain/types.js';
import { directHealth, type HealthScenario } from './health.js';

/**
 * Everything a safe-mode run varies, derived from its seed: how many actors
 * and names, how long the phases last, how often each fault strikes. The
 * default scenario is small on purpose (a few names, three enactors, a few
 * hundred steps), so that thousands of seeds run in seconds; breadth comes
 * from the number of seeds, not the size of one run.
 */
export interface Scenario {
  zone: string;
  endpoints: EndpointSpec[];
  enactors: number;
  planners: number;
  retainGenerations: number;
  /** Per-actor clock offset is drawn uniformly from [-skewMaxMs, skewMaxMs]. */
  skewMaxMs: number;
  safetyPhaseMs: number;
  /** L1: after the faults stop, every name must reach the newest plan within this much virtual time. */
  livenessBoundMs: number;
  faults: FaultSettings;
  /** Mean time between health flips (each flip can make the planner publish a generation). */
  healthFlipMeanMs: number;
  /** Chance that a flip starts a burst of rapid flips (many generations in a short time). */
  burstProbability: number;
  burstFlipsMax: number;
  /** Mean time between injected enactor (or planner) crashes; 0 disables them. */
  crashMeanMs: number;
  /** Mean time between pauses long enough to expire a lease or heartbeat while its holder sleeps. */
  pauseMeanMs: number;
  /** Mean time between operator hand edits of a served name (drift for the reconciler, L2). */
  driftMeanMs: number;
  /**
   * Mean time between operator commands that apply a new inventory version
   * (names removed, others added back: inventory.ts); 0 disables them. The
   * derived scenario leaves it off; runSafe turns it on unless told
   * `removals: false`.
   */
  removalMeanMs: number;
  /** Where health comes from: direct store writes, or production checkers probing the true health (health.ts). */
  health: HealthScenario;
  timing: Timing;
}

export interface Timing {
  plannerIntervalMs: number;
  plannerLeaseTtlMs: number;
  enactorPollMs: number;
  heartbeatIntervalMs: number;
  heartbeatTtlMs: number;
  janitorIntervalMs: number;
  reconcilerIntervalMs: number;
  reconcilerMaxLagMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  retriesMax: number;
  /**
   * How often planners and checkers poll the store for a newer inventory version (production: 250 ms of a 200 ms
   * planner).
   */
  inventoryPollMs: number;
}

export const simZone = 'dnsplane.test';

/** The incident's endpoint is always among the names, so a failing trace reads like the incident. */
const nameStems = ['dynamodb.us-east-1', 'sqs.us-east-1', 'api.us-east-1', 'auth.eu-west-1'];

export function endpointsFor(random: SimRandom, names: number, targetsMin: number, targetsMax: number): EndpointSpec[] {
  const endpoints: EndpointSpec[] = [];
  for (let index = 0; index < names; index += 1) {
    const targets = [];
    const count = random.between(targetsMin, targetsMax);
    for (let target = 0; target < count; target += 1) {
      targets.push({
        id: `lb${index}-${target}`,
        address: `10.0.${index}.${target + 1}`,
        az: `az${target + 1}`,
        capacity: random.pick([50, 100, 200]),
      });
    }
    endpoints.push({ name: `${nameStems[index % nameStems.length]}.${simZone}`, targets });
  }
  return endpoints;
}

export function deriveScenario(random: SimRandom): Scenario {
  const timing: Timing = {
    plannerIntervalMs: 40, plannerLeaseTtlMs: 200, enactorPollMs: 40, heartbeatIntervalMs: 50, heartbeatTtlMs: 150,
    janitorIntervalMs: 60, reconcilerIntervalMs: 120, reconcilerMaxLagMs: 300, backoffBaseMs: 2, backoffMaxMs: 30,
    retriesMax: 4,
    inventoryPollMs: 0,
  };
  const scenario: Scenario = {
    zone: simZone,
    endpoints: endpointsFor(random, random.between(1, 3), 2, 3),
    enactors: random.between(2, 3),
    planners: random.between(1, 2),
    retainGenerations: random.between(1, 3),
    skewMaxMs: random.pick([0, 5, 20]),
    safetyPhaseMs: 800,
    livenessBoundMs: 2500,
    faults: {
      delayBaseMs: random.between(1, 6),
      tailProbability: random.pick([0, 0.01, 0.03, 0.08]),
      tailMaxMs: random.pick([100, 400, 800]),
      transientErrorProbability: random.pick([0, 0.005, 0.02]),
      lostAckProbability: random.pick([0, 0.02, 0.1]),
    },
    healthFlipMeanMs: random.pick([30, 60, 120]),
    burstProbability: random.pick([0, 0.1, 0.3]),
    burstFlipsMax: 8,
    crashMeanMs: random.pick([0, 150, 400]),
    pauseMeanMs: random.pick([0, 200, 500]),
    driftMeanMs: random.pick([0, 300]),
    removalMeanMs: 0,
    health: directHealth,
    timing,
  };
  // Drawn last, so that the draws above (and with them every older scenario field of a seed) stay as they were.
  timing.inventoryPollMs = random.pick([20, 50, 150]);
  return scenario;
}

/** Exponentially distributed interval with the given mean (a Poisson process of faults). */
export function nextIntervalMs(random: SimRandom, meanMs: number): number {
  return Math.max(1, Math.round(-Math.log(1 - random.next()) * meanMs));
}
