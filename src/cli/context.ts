import { existsSync, mkdirSync, statSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import type { ZoneSet } from '../domain/zones.js';
import type { EndpointSpec, ServiceSpec } from '../domain/types.js';
import type { Provider } from '../providers/types.js';
import type { InventoryStore, OwnerIdentity, Ownership, Store } from '../store/types.js';
import { newOwnerId } from '../domain/owner.js';
import { UserError } from '../util/assert.js';
import { seedInventory } from '../inventory/apply.js';
import { InventoryFollower } from '../inventory/follow.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { refuseSelfDependencies } from '../graph/self-dependency.js';

export interface PathOptions {
  config?: string;
  data?: string;
}

export const defaultDataDir = '.dnsplane';
export const demoConfigName = 'config.yaml';

/** `--config` when given, else the config that `dnsplane up` left in the data directory. */
export function resolveConfigPath(options: PathOptions): string {
  if (options.config !== undefined) return resolve(options.config);
  const dataDir = resolve(options.data ?? defaultDataDir);
  const candidate = join(dataDir, demoConfigName);
  if (existsSync(candidate)) return candidate;
  throw new UserError(
    `no config: pass --config FILE, or run \`dnsplane up --data ${options.data ?? defaultDataDir}\` first `
      + 'to create the demo there',
  );
}

export interface Context {
  config: Config;
  configPath: string;
  dataDir: string;
  /** The first zone, normalised. */
  zone: string;
  /** Every zone of the installation (one, or those of `zones:`). */
  zones: ZoneSet;
  /**
   * The inventory this process works from: the store's newest version once `followInventory` has run (every
   * role), the config file's endpoints before that (read commands on a store with no inventory yet). Replaced, never
   * mutated, when a new version arrives, so `() => context.inventory` always reads one whole version.
   */
  inventory: EndpointSpec[];
  /** The dependency graph's services of the same version (replaced with `inventory`). */
  services: ServiceSpec[];
  /** The version `inventory` is (0: the config file's endpoints, not a stored version). */
  inventoryVersion: number;
  store: Store & InventoryStore;
  provider: Provider;
  /** The installation's owner id (in a read-only context: the stored one, or null when none is stored yet). */
  owner: OwnerIdentity | null;
  close(): Promise<void>;
}

/** How often a role asks the store for a newer inventory version. */
export const inventoryPollMs = 250;

/**
 * Makes the context follow the store's newest inventory: seeds version 1 from the config file when the store has
 * none, loads the newest, then follows newer ones until the returned function is called.
 */
export async function followInventory(context: Context, log: Logger): Promise<() => void> {
  const initial = { endpoints: context.inventory, services: context.services };
  const seeded = await seedInventory(context.store, initial, context.configPath);
  context.inventory = seeded.endpoints;
  context.services = seeded.services;
  context.inventoryVersion = seeded.version;
  const follower = new InventoryFollower({ pollIntervalMs: inventoryPollMs }, {
    store: context.store, clock: systemClock, log,
    onChange: (snapshot) => {
      context.inventory = [...snapshot.endpoints];
      context.services = [...snapshot.services];
      context.inventoryVersion = snapshot.version;
    },
  }, { version: seeded.version, endpoints: seeded.endpoints, services: seeded.services });
  const controller = new AbortController();
  const running = follower.run(controller.signal);
  return () => {
    controller.abort();
    void running;
  };
}

/**
 * The data directory of `options` (`--data`), resolved. A path that exists but is not a directory is refused in one
 * line (rather than a stack from the first mkdir under it); `create` makes it when missing.
 */
export function dataDirectory(options: PathOptions, create: boolean): string {
  const dataDir = resolve(options.data ?? defaultDataDir);
  let stats: Stats | undefined;
  try {
    stats = statSync(dataDir, { throwIfNoEntry: false });
    if (stats === undefined && create) mkdirSync(dataDir, { recursive: true });
  } catch (error) {
    throw new UserError(`data directory ${dataDir} cannot be used: ${(error as Error).message}`);
  }
  if (stats !== undefined && !stats.isDirectory()) {
    throw new UserError(`data directory ${dataDir} is a file, not a directory (check --data)`);
  }
  return dataDir;
}

/**
 * The installation's owner identity: the stored one, made up and stored at the first start. A config `owner` must be
 * the stored id: a different one would silently orphan every name the installation owns, so it is refused, with the
 * command that changes it.
 */
export async function ownerOf(store: Ownership, configured: string | undefined): Promise<OwnerIdentity> {
  const identity = await store.ownerIdentity(configured ?? newOwnerId());
  if (configured !== undefined && configured !== identity.owner) {
    throw new UserError(
      `config owner "${configured}" is not this installation's owner id "${identity.owner}" (kept in the store); `
        + `to change it, run \`dnsplane owner migrate --to ${configured} --reason TEXT\`, or remove owner from the `
        + 'config',
    );
  }
  return identity;
}

/**
 * What a read command judges ownership by (so that, on a zone shared with another installation, it does not show the
 * other's names as this one's): the stored identity, or null when a read-only store holds none yet — nothing has run
 * on it, and nothing is judged. A read command never refuses a config owner: that is for the processes that write.
 */
async function storedOwner(store: Ownership, configured: string | undefined): Promise<OwnerIdentity | null> {
  try {
    return await store.ownerIdentity(configured ?? newOwnerId());
  } catch (error) {
    if (error instanceof UserError) return null; // a read-only store without an owner id yet
    throw error;
  }
}

export interface OpenContextOptions {
  /**
   * `dnsplane owner migrate`: the config may already name the new owner id, which is not the stored one yet; the
   * provider is opened with the stored identity.
   */
  migratingOwner?: boolean;
  /**
   * Open the store and the provider for reading only (the read commands): no file or directory is created, no schema
   * set-up runs, so they work on a store they may not write, and a missing store is an error rather than a new one.
   */
  readOnly?: boolean;
}

/**
 * Opens the installation: config, store, provider. Their modules (zod, SQLite, etcd, …) are loaded here, when a
 * command opens one, not when `dnsplane` starts: every command module imports this one, and `--help` needs none.
 */
export async function openContext(options: PathOptions, open: OpenContextOptions = {}): Promise<Context> {
  const [
    { inventoryOf, loadConfigFile, servicesOf, zoneOf, zoneSetOf }, { createStore, sqlitePath }, { createProvider },
  ] = await Promise.all([import('../config/load.js'), import('../store/index.js'), import('../providers/index.js')]);
  const readonly = open.readOnly ?? false;
  const configPath = resolveConfigPath(options);
  const config = loadConfigFile(configPath);
  const dataDir = dataDirectory(options, false);
  if (readonly && config.store.kind === 'sqlite' && !existsSync(sqlitePath(config, dataDir))) {
    throw new UserError(
      `no store at ${sqlitePath(config, dataDir)}: nothing has run on this installation yet `
        + '(start `dnsplane up` or a role first)',
    );
  }
  // A process that may write refuses a config through which dnsplane depends on names it manages before it creates
  // or connects to anything (the stored versions are checked once the store is open: checkSelfDependenciesAtStart).
  if (!readonly) refuseSelfDependencies(config, { endpoints: inventoryOf(config) });
  const store = await createStore(config, dataDir, { readonly });
  let provider: Provider;
  let owner: OwnerIdentity | null;
  try {
    if (readonly) owner = await storedOwner(store, config.owner);
    else owner = await ownerOf(store, open.migratingOwner === true ? undefined : config.owner);
    provider = await createProvider(config, dataDir, { readonly, owner });
  } catch (error) {
    await store.close();
    throw error;
  }
  return {
    config, configPath, dataDir, zone: zoneOf(config), zones: zoneSetOf(config),
    inventory: inventoryOf(config), services: servicesOf(config),
    inventoryVersion: 0, store, provider, owner,
    async close() {
      await provider.close();
      await store.close();
    },
  };
}
