import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { UserError } from '../util/assert.js';
import type { EtcdConnectionOptions } from './etcd/client.js';
import type { InventoryStore, Store } from './types.js';

/** The SQLite file of an installation: `store.path` from the config, else `<data>/state.db`. */
export function sqlitePath(config: Config, dataDir: string): string {
  if (config.store.kind !== 'sqlite') throw new UserError('the store is not sqlite');
  return config.store.path !== undefined ? resolve(config.store.path) : join(resolve(dataDir), 'state.db');
}

/** The etcd cluster of an installation (`store.endpoints`) and its key prefix (`store.prefix`). */
export function etcdSettings(config: Config): EtcdConnectionOptions {
  if (config.store.kind !== 'etcd') throw new UserError('the store is not etcd');
  const { endpoints, prefix, tls, auth } = config.store;
  return {
    endpoints, prefix,
    ...(tls === undefined ? {} : {
      tls: {
        ca: resolve(tls.ca),
        ...(tls.cert === undefined ? {} : { cert: resolve(tls.cert) }),
        ...(tls.key === undefined ? {} : { key: resolve(tls.key) }),
      },
    }),
    ...(auth === undefined ? {} : { auth: { username: auth.username, passwordFile: resolve(auth.passwordFile) } }),
  };
}

/** `options.readonly` opens a SQLite store for reading only (etcd connections are the same either way). */
export async function createStore(
  config: Config,
  dataDir: string,
  options: { readonly?: boolean } = {},
): Promise<Store & InventoryStore> {
  // Each backend is loaded on demand: a command on SQLite never loads the etcd client and its gRPC stack (~350 ms).
  switch (config.store.kind) {
    case 'sqlite': {
      const { SqliteStore } = await import('./sqlite/store.js');
      return new SqliteStore(sqlitePath(config, dataDir), undefined, options);
    }
    case 'etcd': {
      const { EtcdStore } = await import('./etcd/store.js');
      return new EtcdStore(etcdSettings(config));
    }
  }
}
