import type { EndpointSpec, ServiceSpec } from '../domain/types.js';
import { runLoop, WakeablePause } from '../util/loop.js';
import type { InventoryStore } from '../store/types.js';
import { assert } from '../util/assert.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';

export interface InventorySnapshot {
  version: number;
  endpoints: readonly EndpointSpec[];
  /** The dependency graph's services of that version. */
  services: readonly ServiceSpec[];
}

/**
 * Keeps a role on the store's newest inventory version without a restart: on SQLite it polls the version number
 * (one cheap read), on etcd a watch wakes it at once (polling stays the fallback); it reads the endpoints only when
 * the version moved. Time comes from the clock, so the simulator drives it as it
 * drives every role. A failed poll is logged and retried on the next one; the role keeps the version it has.
 */
export class InventoryFollower {
  private current: InventorySnapshot;

  constructor(
    private readonly options: { pollIntervalMs: number },
    private readonly deps: {
      store: InventoryStore; clock: Clock; log: Logger; onChange?: (snapshot: InventorySnapshot) => void;
    },
    initial: InventorySnapshot,
  ) {
    assert(options.pollIntervalMs > 0, 'internal', 'the inventory poll interval must be positive');
    this.current = initial;
  }

  get snapshot(): InventorySnapshot {
    return this.current;
  }

  /** One poll; true when a newer version was taken. Versions never go backwards. */
  async poll(): Promise<boolean> {
    const latest = await this.deps.store.latestInventoryVersion();
    if (latest <= this.current.version) return false;
    const stored = await this.deps.store.readInventory(latest);
    if (stored === null || stored.version <= this.current.version) return false;
    this.current = { version: stored.version, endpoints: stored.endpoints, services: stored.services };
    const { version, summary } = stored;
    this.deps.log.info({ version, names: stored.endpoints.length, summary }, 'following a new inventory version');
    this.deps.onChange?.(this.current);
    return true;
  }

  /** Polls until `signal`; a store that can watch (etcd) wakes it as soon as a version is stored. */
  async run(signal: AbortSignal): Promise<void> {
    const watch = this.deps.store.watchableInventory();
    const pause = new WakeablePause(this.deps.clock, signal, watch !== null);
    const stopWatching = watch?.watchInventory((version) => {
      if (version > this.current.version) pause.wake();
    });
    try {
      // A failed poll keeps the version the role has (warn: it is retried on the next one).
      const loop = { log: this.deps.log, what: 'reading the newest inventory', level: 'warn' } as const;
      await runLoop(signal, loop, async () => void (await this.poll()), () => pause.pause(this.options.pollIntervalMs));
    } finally {
      stopWatching?.();
    }
  }
}
