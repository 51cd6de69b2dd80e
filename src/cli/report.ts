import type { Context } from './context.js';
import type { ServedState } from '../providers/types.js';

/** Read-side views shared by the CLI (and later the API). */

export async function readAllServed(context: Context, pageSize = 5000): Promise<ServedState[]> {
  const all: ServedState[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await context.provider.list(after, pageSize);
    all.push(...page);
    if (page.length < pageSize) return all;
    after = page[page.length - 1]!.name;
  }
}

export async function statusReport(context: Context) {
  const { store } = context;
  const now = Date.now();
  const latest = await store.latestGeneration();
  const view = latest > 0 ? await store.readPlan(latest) : null;
  const served = new Map((await readAllServed(context)).map((state) => [state.name, state]));
  let converged = 0;
  const behind: string[] = [];
  for (const entry of view?.entries ?? []) {
    if (entry.records === null) continue;
    const state = served.get(entry.name);
    if (state !== undefined && state.generation >= entry.since) converged += 1;
    else behind.push(entry.name);
  }
  const names = (view?.entries ?? []).filter((entry) => entry.records !== null).length;
  return {
    zone: context.zone,
    generation: { latest, oldest: await store.oldestGeneration() },
    names: { total: names, converged, behind: behind.slice(0, 20) },
    enactors: (await store.listEnactors()).map((enactor) => ({ ...enactor, alive: enactor.expiresAtMs > now, heartbeatAgeMs: now - enactor.heartbeatAtMs })),
    alarms: await store.listAlarms(true),
    counters: Object.fromEntries((await store.readCounters()).map((counter) => [counter.name, counter.value])),
  };
}
