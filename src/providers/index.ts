import type { Config } from '../config/schema.js';
import { sqlitePath } from '../store/index.js';
import { UserError } from '../util/assert.js';
import { BuiltinSqliteProvider } from './builtin/sqlite.js';
import type { Provider } from './types.js';

export async function createProvider(config: Config, dataDir: string): Promise<Provider> {
  switch (config.provider.kind) {
    case 'builtin':
      if (config.store.kind !== 'sqlite') throw new UserError('provider "builtin" on an etcd store is not available in this build yet; use store.kind: sqlite');
      return new BuiltinSqliteProvider(sqlitePath(config, dataDir));
    case 'rfc2136':
      throw new UserError('provider.kind "rfc2136" is not available in this build yet (see the RFC 2136 issue); use kind: builtin');
  }
}
