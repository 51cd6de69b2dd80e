// A test-only enactor process: the production enactor role (makeEnactor, as `dnsplane enactor` builds it) with a
// fault injected by wrapping its provider, never by a switch read in src/:
//   --delay-ms N  a random pause of up to N ms before each write, after the read it was decided on, so that
//                 enactors race (any provider: SQLite, etcd, RFC 2136);
//   --spin-ms N   the built-in SQLite provider's test hook busy-waits N ms inside the write transaction, halfway
//                 through every apply, so that a SIGKILL lands while the transaction is open and half written.
// Usage: node --import tsx test/helpers/test-enactor.ts --id ID --config FILE --data DIR (--delay-ms N | --spin-ms N)
import { parseArgs } from 'node:util';
import { openContext } from '../../src/cli/context.js';
import { makeEnactor } from '../../src/roles/installation.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import type { Provider } from '../../src/providers/types.js';
import { sqlitePath } from '../../src/store/index.js';
import { createLogger } from '../../src/util/log.js';

const { values } = parseArgs({
  options: {
    id: { type: 'string' }, config: { type: 'string' }, data: { type: 'string' }, 'spin-ms': { type: 'string' }, 'delay-ms': { type: 'string' },
  },
});
const spinMs = Number(values['spin-ms'] ?? 0);
const delayMs = Number(values['delay-ms'] ?? 0);
if (values.id === undefined || !(spinMs > 0 || delayMs > 0)) throw new Error('usage: --id ID --config FILE --data DIR (--delay-ms N | --spin-ms N)');

function spin(): void {
  const untilMs = Date.now() + spinMs;
  while (Date.now() < untilMs) {
    // Busy-wait on purpose: the transaction must stay open, half written.
  }
}

/** The provider with a random pause before each write (a slow enactor: the write races others' reads). */
function delayed(inner: Provider): Provider {
  const apply = inner.apply.bind(inner);
  return Object.assign(Object.create(inner) as Provider, {
    apply: async (changes: Parameters<Provider['apply']>[0]) => {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * delayMs));
      return apply(changes);
    },
  });
}

const context = await openContext({ config: values.config, data: values.data });
let provider = context.provider;
if (spinMs > 0) {
  if (context.config.store.kind !== 'sqlite' || context.config.provider.kind !== 'builtin') throw new Error('--spin-ms needs the built-in provider on SQLite');
  await context.provider.close();
  provider = new BuiltinSqliteProvider(sqlitePath(context.config, context.dataDir), { insideApply: spin });
}
if (delayMs > 0) provider = delayed(provider);
const controller = new AbortController();
process.once('SIGTERM', () => controller.abort());
try {
  const log = createLogger('enactor', { id: values.id });
  await makeEnactor({ ...context, provider }, values.id, { log }).run(controller.signal);
} finally {
  if (provider !== context.provider) await provider.close();
  await context.close();
}
