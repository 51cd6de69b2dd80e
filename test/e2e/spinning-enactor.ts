// A test-only enactor process for crash.test.ts: the production enactor role
// (makeEnactor, as `dnsplane enactor` builds it), except that its built-in
// provider is given the SQLite provider's test hook, which busy-waits
// --spin-ms inside the write transaction halfway through every apply, so that
// a SIGKILL lands while the transaction is open and half written.
// Usage: node --import tsx test/e2e/spinning-enactor.ts --id ID --config FILE --data DIR --spin-ms N
import { parseArgs } from 'node:util';
import { openContext } from '../../src/cli/context.js';
import { makeEnactor } from '../../src/cli/roles.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import { sqlitePath } from '../../src/store/index.js';
import { createLogger } from '../../src/util/log.js';

const { values } = parseArgs({
  options: {
    id: { type: 'string' }, config: { type: 'string' }, data: { type: 'string' }, 'spin-ms': { type: 'string' },
  },
});
const spinMs = Number(values['spin-ms']);
if (values.id === undefined || !(spinMs > 0)) throw new Error('usage: --id ID --config FILE --data DIR --spin-ms N');

function spin(): void {
  const untilMs = Date.now() + spinMs;
  while (Date.now() < untilMs) {
    // Busy-wait on purpose: the transaction must stay open, half written.
  }
}

const context = await openContext({ config: values.config, data: values.data });
if (context.config.store.kind !== 'sqlite' || context.config.provider.kind !== 'builtin') {
  throw new Error('needs the built-in provider on SQLite');
}
await context.provider.close();
const provider = new BuiltinSqliteProvider(sqlitePath(context.config, context.dataDir), { insideApply: spin });
const controller = new AbortController();
process.once('SIGTERM', () => controller.abort());
try {
  const log = createLogger('enactor', { id: values.id });
  await makeEnactor({ ...context, provider }, values.id, { log }).run(controller.signal);
} finally {
  await provider.close();
  await context.close();
}
