import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { inventoryOf, loadConfigFile, zoneOf } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { EndpointSpec } from '../domain/types.js';
import { createProvider } from '../providers/index.js';
import type { Provider } from '../providers/types.js';
import { createStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { UserError } from '../util/assert.js';

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
  throw new UserError(`no config: pass --config FILE, or run \`dnsplane up --data ${options.data ?? defaultDataDir}\` first to create the demo there`);
}

export interface Context {
  config: Config;
  configPath: string;
  dataDir: string;
  zone: string;
  inventory: EndpointSpec[];
  store: Store;
  provider: Provider;
  close(): Promise<void>;
}

export async function openContext(options: PathOptions): Promise<Context> {
  const configPath = resolveConfigPath(options);
  const config = loadConfigFile(configPath);
  const dataDir = resolve(options.data ?? defaultDataDir);
  const store = await createStore(config, dataDir);
  let provider: Provider;
  try {
    provider = await createProvider(config, dataDir);
  } catch (error) {
    await store.close();
    throw error;
  }
  return {
    config, configPath, dataDir, zone: zoneOf(config), inventory: inventoryOf(config), store, provider,
    async close() {
      await provider.close();
      await store.close();
    },
  };
}
