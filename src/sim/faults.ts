import { longTailDelayMs, type SimRandom } from './random.js';
import type { ActorSlot, Scheduler } from './scheduler.js';
import { brief, type Trace } from './trace.js';
import type { InventoryStore, Store } from '../store/types.js';
import type { ApplyChange, ApplyOutcome, Provider, ServedState } from '../providers/types.js';

/**
 * Fault injection lives in wrappers around the in-memory store and provider,
 * never in them: every call first yields to the scheduler with a long-tailed
 * delay (so every await point of the production code is a place where other
 * actors run), may fail before it takes effect (a transient error), and an
 * apply may take effect and then lose its acknowledgement.
 */

export interface FaultSettings {
  delayBaseMs: number;
  tailProbability: number;
  tailMaxMs: number;
  transientErrorProbability: number;
  lostAckProbability: number;
}

/** An injected failure; production code must treat it like any I/O error. */
export class InjectedFault extends Error {
  constructor(message: string) {
    // No stack: capturing one (through tsx's source maps) costs more than the rest of a simulated step,
    // and an injected fault's origin is in the trace.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'InjectedFault';
  }
}

export class FaultInjector {
  /** False in the liveness phase: delays stay short and nothing fails. */
  enabled = true;
  lostAcks = 0;
  transientErrors = 0;

  constructor(
    readonly scheduler: Scheduler,
    readonly random: SimRandom,
    readonly settings: FaultSettings,
    readonly trace: Trace | null,
  ) {}

  /**
   * One await point: a delay, then possibly a transient failure before the
   * call takes effect. Returns the scheduler's promise itself (no extra async
   * frame: this runs for every store and provider call of every run).
   */
  point(actor: ActorSlot, label: string): Promise<void> {
    const { settings } = this;
    const delay = this.enabled
      ? longTailDelayMs(this.random, settings.delayBaseMs, settings.tailProbability, settings.tailMaxMs)
      : this.random.int(settings.delayBaseMs + 1);
    const waited = this.scheduler.wait(actor, delay, label);
    if (!this.enabled || !this.random.chance(settings.transientErrorProbability)) return waited;
    this.transientErrors += 1;
    return waited.then(() => {
      this.note(actor, `${label} ✗ transient error (did not take effect)`);
      throw new InjectedFault(`${label}: injected transient error`);
    });
  }

  lostAck(): boolean {
    const lost = this.enabled && this.random.chance(this.settings.lostAckProbability);
    if (lost) this.lostAcks += 1;
    return lost;
  }

  note(actor: ActorSlot, text: string): void {
    this.trace?.add(this.scheduler.nowMs, actor.id, text);
  }
}

/**
 * The store every simulated actor gets: the Store and the versioned inventory beside it (as SqliteStore and EtcdStore).
 */
export type SimStore = Store & InventoryStore;

/** The accessors of optional capabilities answer at once, without I/O: not calls to fault. */
type StoreCapability = 'watchablePlans' | 'watchableInventory' | 'selectiveHealthReads' | 'watchablePlanInputs';
type StoreMethod = Exclude<keyof SimStore, 'kind' | StoreCapability>;
/**
 * Every store method; a Record so that the compiler refuses this list when either interface grows. The inventory
 * calls are faulted like the rest: the follower logs a failed poll at warn and retries (src/sim/log.ts makes a
 * warn line with an error other than an injected one a violation), an apply that fails is retried by the operator.
 */
const storeMethodSet: Record<StoreMethod, true> = {
  latestGeneration: true, publishPlan: true, readPlan: true, readEntriesAt: true, listPlans: true,
  oldestGeneration: true,
  listSuperseded: true, deletePlanData: true, acquireLease: true, renewLease: true, releaseLease: true, heartbeat: true,
  listEnactors: true, setHealth: true, setHealthMany: true, clearHealth: true, readHealth: true,
  publishCheckerView: true, listCheckerViews: true, appendHistory: true, readHistory: true, pruneHistory: true,
  raiseAlarm: true, clearAlarm: true, listAlarms: true, incrementCounter: true, readCounters: true, setDrain: true,
  listDrains: true, setFreeze: true, listFreezes: true, addRequest: true, takeRequests: true, close: true,
  latestInventoryVersion: true, readInventory: true, listInventoryVersions: true, putInventory: true,
  grantAdoption: true, revokeAdoption: true, readAdoptions: true, listAdoptions: true, ownerIdentity: true,
  migrateOwner: true,
};
const storeMethods = Object.keys(storeMethodSet) as StoreMethod[];

/** Calls whose result is worth a trace line (the rest are bookkeeping). */
const tracedStoreCalls = new Set<StoreMethod>([
  'latestGeneration', 'publishPlan', 'readPlan', 'deletePlanData', 'acquireLease', 'renewLease', 'heartbeat',
  'listSuperseded', 'readInventory', 'putInventory', 'grantAdoption', 'ownerIdentity', 'migrateOwner',
]);

interface FaultyStoreFields {
  inner: SimStore;
  faults: FaultInjector;
  actor: ActorSlot;
}

/**
 * The methods of every faulty store, built once: each call is an await
 * point (delay, maybe a transient error), then the inner call.
 */
const faultyStorePrototype: Record<string, unknown> = {};
for (const method of storeMethods) {
  const label = `store.${method}`;
  faultyStorePrototype[method] = async function (this: FaultyStoreFields, ...args: unknown[]): Promise<unknown> {
    await this.faults.point(this.actor, label);
    const result = await (this.inner[method] as (...inner: unknown[]) => Promise<unknown>).apply(this.inner, args);
    if (this.faults.trace !== null && tracedStoreCalls.has(method)) {
      this.faults.note(
        this.actor,
        `store.${method}(${describeArgs(method, args)}) → ${describeStoreResult(method, result)}`,
      );
    }
    return result;
  };
}

/** The store as one actor sees it: every call is an await point with injected faults. */
export function faultyStore(inner: SimStore, faults: FaultInjector, actor: ActorSlot): SimStore {
  // No optional capability (no watch, no selective reads): the actors poll, every read an await point.
  const capabilities: Pick<SimStore, StoreCapability> = {
    watchablePlans: () => null, watchableInventory: () => null, selectiveHealthReads: () => null,
    watchablePlanInputs: () => null,
  };
  const fields: FaultyStoreFields & { kind: string } = { kind: inner.kind, inner, faults, actor, ...capabilities };
  return Object.assign(Object.create(faultyStorePrototype) as object, fields) as unknown as SimStore;
}

/** The provider as one actor sees it: await points, transient errors, and applies whose acknowledgement is lost. */
export function faultyProvider(inner: Provider, faults: FaultInjector, actor: ActorSlot): Provider {
  return {
    kind: inner.kind,
    async read(names: readonly string[]): Promise<Map<string, ServedState>> {
      await faults.point(actor, 'provider.read');
      const states = await inner.read(names);
      if (faults.trace !== null) {
        faults.note(
          actor,
          `provider.read(${names.join(',')}) → `
            + `${[...states.values()].map((s) => `${s.name}@${s.generation}/v${s.version}`).join(' ') || 'none'}`,
        );
      }
      return states;
    },
    async list(afterName: string | null, limit: number): Promise<ServedState[]> {
      await faults.point(actor, 'provider.list');
      return inner.list(afterName, limit);
    },
    async readRemovals(names: readonly string[]): Promise<Map<string, number>> {
      await faults.point(actor, 'provider.readRemovals');
      const removals = await inner.readRemovals(names);
      if (faults.trace !== null) {
        faults.note(
          actor,
          `provider.readRemovals(${names.join(',')}) → `
            + `${[...removals].map(([name, generation]) => `${name} removed@${generation}`).join(' ') || 'none'}`,
        );
      }
      return removals;
    },
    async apply(changes: readonly ApplyChange[]): Promise<ApplyOutcome[]> {
      await faults.point(actor, 'provider.apply');
      const outcomes = await inner.apply(changes);
      const lost = faults.lostAck();
      if (faults.trace !== null) {
        faults.note(
          actor,
          `provider.apply(${changes.map(describeChange).join(' ')}) → ${outcomes.map((o) => o.outcome).join(',')}`
            + `${lost ? ' ✗ acknowledgement lost' : ''}`,
        );
      }
      // The write took effect; only the answer is lost. The caller must find out by reading again (S5).
      if (lost) throw new InjectedFault('provider.apply: acknowledgement lost after the write took effect');
      return outcomes;
    },
    servedChangeFeed: () => null,
    removalCompaction: () => {
      const compaction = inner.removalCompaction();
      if (compaction === null) return null;
      return {
        async compact(through: number, limit: number) {
          await faults.point(actor, 'provider.compact');
          const result = await compaction.compact(through, limit);
          if (faults.trace !== null) {
            const { floor, deleted } = result;
            faults.note(actor, `provider.compact(through ${through}) → floor ${floor}, ${deleted} deleted`);
          }
          return result;
        },
      };
    },
    async close(): Promise<void> {
      await inner.close();
    },
  };
}

function describeChange(change: ApplyChange): string {
  const records = change.records === null ? 'REMOVE' : `${change.records.length}rec`;
  return `${change.name}@${change.generation}(${records},expect v${change.expectedVersion ?? '-'})`;
}

function describeArgs(method: StoreMethod, args: readonly unknown[]): string {
  if (method === 'publishPlan') {
    const request = args[0] as { baseGeneration: number; changes: unknown[]; lease: { holder: string; token: number } };
    return `base ${request.baseGeneration}, ${request.changes.length} changes, token ${request.lease.token}`;
  }
  if (method === 'heartbeat') {
    const info = args[0] as { heldGeneration: number; enactedGeneration: number };
    return `held ${info.heldGeneration}, enacted ${info.enactedGeneration}`;
  }
  if (method === 'deletePlanData') return `${(args[0] as unknown[]).length} versions, headers below ${String(args[1])}`;
  if (method === 'putInventory') {
    const request = args[0] as { baseVersion: number; endpoints: { name: string }[]; forced: boolean };
    return `base v${request.baseVersion}, ${request.endpoints.map((endpoint) => endpoint.name).join(',')}`
      + `${request.forced ? ', forced' : ''}`;
  }
  return args.filter((arg) => typeof arg !== 'object').map((arg) => brief(arg, 40)).join(', ');
}

function describeStoreResult(method: StoreMethod, result: unknown): string {
  if (method === 'readPlan') {
    const view = result as { header: { generation: number }; entries: { name: string; since: number }[] } | null;
    return view === null
      ? 'null (plan gone)'
      : `gen ${view.header.generation}: ${view.entries.map((e) => `${e.name}@${e.since}`).join(' ') || 'no entries'}`;
  }
  if (method === 'publishPlan') {
    const published = result as { ok: boolean; header?: { generation: number }; reason?: string };
    return published.ok ? `published ${published.header!.generation}` : `refused: ${published.reason}`;
  }
  if (method === 'listSuperseded') return `${(result as unknown[]).length} versions`;
  if (method === 'readInventory') {
    const stored = result as { version: number; endpoints: unknown[] } | null;
    return stored === null ? 'none' : `v${stored.version} (${stored.endpoints.length} names)`;
  }
  if (method === 'putInventory') {
    const put = result as { ok: boolean; info?: { version: number }; current?: number };
    return put.ok ? `stored v${put.info!.version}` : `stale: v${put.current} is the newest`;
  }
  return result === undefined ? 'ok' : brief(result, 80);
}
