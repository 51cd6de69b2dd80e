import fc from 'fast-check';
import {
  criticalities, type EndpointSpec, type Inventory, type ServiceSpec, type TargetSpec,
} from '../../src/domain/types.js';

/**
 * Random inventories for the graph's property tests, and a reference model of impact written the slow, obvious
 * way (repeat every rule over the whole inventory until nothing changes), independent of the graph's adjacency.
 */

export const zone = 'z.test';

interface TargetDraft {
  id: number;
  az: string;
  capacity: number;
  pool: 'primary' | 'secondary';
  dependsOn: string[];
  /** The check's URL host is this name (written upper-case with a trailing dot: matched all the same). */
  host: number | null;
}

function target(draft: TargetDraft, first: boolean): TargetSpec {
  // As validation requires: a name's first target is a primary with capacity, so every name has one.
  const pool = first ? 'primary' : draft.pool;
  const capacity = first ? Math.max(1, draft.capacity) : draft.capacity;
  const url = draft.host === null ? 'http://10.0.0.1/healthz' : `http://N${draft.host}.${zone.toUpperCase()}./healthz`;
  const check = { http: url, ...(draft.dependsOn.length === 0 ? {} : { dependsOn: draft.dependsOn }) };
  return { id: `t${draft.id}`, address: '10.0.0.1', az: draft.az, capacity, pool, check };
}

/** 1-6 names of 1-4 targets (ids shared between names), 0-5 services, checks and services depending at random. */
export const inventoryArbitrary: fc.Arbitrary<Inventory> = fc
  .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 5 }))
  .chain(([nameCount, serviceCount]) => {
    const name = fc.integer({ min: 0, max: nameCount - 1 }).map((index) => `n${index}.${zone}`);
    const service = fc.integer({ min: 0, max: Math.max(0, serviceCount - 1) });
    const dependency = serviceCount === 0 ? name : fc.oneof(name, service.map((index) => `service:s${index}`));
    const targetDraft: fc.Arbitrary<TargetDraft> = fc.record({
      id: fc.integer({ min: 0, max: 9 }),
      az: fc.constantFrom('az1', 'az2', 'az3'),
      capacity: fc.integer({ min: 0, max: 3 }),
      pool: fc.constantFrom('primary' as const, 'secondary' as const),
      dependsOn: fc.uniqueArray(dependency, { maxLength: 2 }),
      host: fc.option(fc.integer({ min: 0, max: nameCount - 1 }), { nil: null, freq: 4 }),
    });
    const endpoint = fc.uniqueArray(targetDraft, { minLength: 1, maxLength: 4, selector: (draft) => draft.id });
    const serviceSpec = (index: number): fc.Arbitrary<ServiceSpec> => fc.record({
      id: fc.constant(`s${index}`),
      criticality: fc.constantFrom(...criticalities),
      names: fc.uniqueArray(name, { maxLength: 2 }),
      services: serviceCount === 0 ? fc.constant([]) : fc.uniqueArray(service.map((i) => `s${i}`), { maxLength: 2 }),
    });
    return fc.record({
      endpoints: fc.tuple(...Array.from({ length: nameCount }, () => endpoint)).map((drafts) => drafts.map(
        (targets, index): EndpointSpec => ({
          name: `n${index}.${zone}`, targets: targets.map((draft, position) => target(draft, position === 0)),
        }),
      )),
      services: fc.tuple(...Array.from({ length: serviceCount }, (_, index) => serviceSpec(index))),
    });
  });

/** Every node id an inventory's graph has. */
export function nodeIds(inventory: Inventory): string[] {
  const ids = new Set<string>();
  for (const endpoint of inventory.endpoints) {
    ids.add(`name:${endpoint.name}`);
    for (const spec of endpoint.targets) {
      ids.add(`target:${spec.id}`);
      ids.add(`az:${spec.az}`);
    }
  }
  for (const service of inventory.services) ids.add(`service:${service.id}`);
  return [...ids];
}

/** A failed set and a superset of it, from an inventory's node ids. */
export const nestedFailures = (inventory: Inventory): fc.Arbitrary<[string[], string[]]> =>
  fc.subarray(nodeIds(inventory), { minLength: 1 }).chain((larger) =>
    fc.subarray(larger, { minLength: 1 }).map((smaller): [string[], string[]] => [smaller, larger]));

function checkDependencies(spec: TargetSpec): string[] {
  const refs = (spec.check?.dependsOn ?? []).map((ref) => (ref.startsWith('service:') ? ref : `name:${ref}`));
  const url = spec.check?.http;
  if (url !== undefined) refs.push(`name:${new URL(url).hostname.toLowerCase().replace(/\.$/, '')}`);
  return refs;
}

export interface ModelImpact {
  lost: Set<string>;
  degraded: Set<string>;
}

/** Impact by brute force: every rule applied to every node, again and again, until nothing changes. */
export function modelImpact(inventory: Inventory, failed: readonly string[]): ModelImpact {
  const lost = new Set(failed);
  for (let changed = true; changed;) {
    changed = false;
    const mark = (id: string) => {
      if (lost.has(id)) return;
      lost.add(id);
      changed = true;
    };
    for (const endpoint of inventory.endpoints) {
      for (const spec of endpoint.targets) {
        if (lost.has(`az:${spec.az}`) || checkDependencies(spec).some((id) => lost.has(id))) mark(`target:${spec.id}`);
      }
      const positive = endpoint.targets.filter((spec) => spec.capacity > 0);
      if (positive.every((spec) => lost.has(`target:${spec.id}`))) mark(`name:${endpoint.name}`);
    }
    for (const service of inventory.services) {
      const dependencies = [...service.names.map((n) => `name:${n}`), ...service.services.map((s) => `service:${s}`)];
      if (dependencies.some((id) => lost.has(id))) mark(`service:${service.id}`);
    }
  }
  const degraded = new Set<string>();
  for (const endpoint of inventory.endpoints) {
    const primaries = endpoint.targets.filter((spec) => spec.capacity > 0 && spec.pool !== 'secondary');
    const id = `name:${endpoint.name}`;
    if (!lost.has(id) && primaries.some((spec) => lost.has(`target:${spec.id}`))) degraded.add(id);
  }
  for (let changed = true; changed;) {
    changed = false;
    for (const service of inventory.services) {
      const id = `service:${service.id}`;
      const dependencies = [...service.names.map((n) => `name:${n}`), ...service.services.map((s) => `service:${s}`)];
      if (lost.has(id) || degraded.has(id) || !dependencies.some((dep) => degraded.has(dep))) continue;
      degraded.add(id);
      changed = true;
    }
  }
  return { lost, degraded };
}
