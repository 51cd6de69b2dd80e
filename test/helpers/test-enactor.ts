// A test-only enactor process: the production enactor role (makeEnactor, as `dnsplane enactor` builds it) with a
// fault injected by wrapping its provider, never by a switch read in src/:
//   --delay-ms N  a random pause of up to N ms before each write, after the read it was decided on, so that
//                 enactors race (any provider: SQLite, etcd, RFC 2136);
//   --hang-in-apply K  at its K-th apply, the built-in SQLite provider's test hook prints "inside-apply" and then
//                 busy-waits inside the write transaction, halfway through the changes, until the process is killed
//                 (at most hangMaxMs): a SIGKILL sent after that line lands while the transaction is open and half
//                 written, by construction.
//   --hang-mid-apply K  any provider: from its K-th apply of two changes or more, the first half is applied and, once
//                 it wrote a name, the process prints "inside-apply" and waits to be killed with the second half
//                 unsent (test/helpers/fault-provider.ts);
//   --lose-acks N  any provider: the answers of N applies that wrote names are lost (the writes made, then a throw);
//   --log-applied  any provider: every applied outcome is printed ("applied NAME GENERATION VERSION").
// Usage: node --import tsx test/helpers/test-enactor.ts --id ID --config FILE --data DIR
//          (--delay-ms N | --hang-in-apply K | --hang-mid-apply K | --lose-acks N | --log-applied)...
import { writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openContext } from '../../src/cli/context.js';
import { makeEnactor } from '../../src/roles/installation.js';
import { BuiltinSqliteProvider } from '../../src/providers/builtin/sqlite.js';
import type { Provider } from '../../src/providers/types.js';
import { sqlitePath } from '../../src/store/index.js';
import { createLogger } from '../../src/util/log.js';
import { hangingMidApply, loggingApplied, losingAcks } from './fault-provider.js';

const { values } = parseArgs({
  options: {
    id: { type: 'string' }, config: { type: 'string' }, data: { type: 'string' }, 'hang-in-apply': { type: 'string' }, 'delay-ms': { type: 'string' },
    'hang-mid-apply': { type: 'string' }, 'lose-acks': { type: 'string' }, 'log-applied': { type: 'boolean' },
  },
});
const hangAt = Number(values['hang-in-apply'] ?? 0);
const delayMs = Number(values['delay-ms'] ?? 0);
const hangMidAt = Number(values['hang-mid-apply'] ?? 0);
const acksLost = Number(values['lose-acks'] ?? 0);
const logApplied = values['log-applied'] === true;
if (values.id === undefined || !(hangAt > 0 || delayMs > 0 || hangMidAt > 0 || acksLost > 0 || logApplied)) {
  throw new Error('usage: --id ID --config FILE --data DIR (--delay-ms N | --hang-in-apply K | --hang-mid-apply K | --lose-acks N | --log-applied)');
}
/** A hang the test never ends (it did not kill) stops here, loudly, instead of holding the store's lock for ever. */
const hangMaxMs = 120_000;
let applies = 0;

function hangAtK(): void {
  applies += 1;
  if (applies !== hangAt) return;
  writeSync(1, `inside-apply ${applies}\n`);
  const untilMs = Date.now() + hangMaxMs;
  while (Date.now() < untilMs) {
    // Busy-wait on purpose: the transaction stays open, half written, until the SIGKILL.
  }
  writeSync(2, `test-enactor: not killed within ${hangMaxMs} ms of hanging inside an apply\n`);
  process.exit(1);
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
if (hangAt > 0) {
  if (context.config.store.kind !== 'sqlite' || context.config.provider.kind !== 'builtin') {
    throw new Error('--hang-in-apply needs the built-in provider on SQLite');
  }
  await context.provider.close();
  provider = new BuiltinSqliteProvider(sqlitePath(context.config, context.dataDir), { insideApply: hangAtK });
}
if (logApplied) provider = loggingApplied(provider);
if (hangMidAt > 0) provider = hangingMidApply(provider, hangMidAt);
if (acksLost > 0) provider = losingAcks(provider, acksLost);
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
