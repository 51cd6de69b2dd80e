import type { Command } from 'commander';
import { resolve } from 'node:path';
import { demoPort, demoTarget, demoTargets, isFailed, setFailed } from '../../demo/demo.js';
import { defaultDataDir } from '../context.js';
import { SqliteStore } from '../../store/sqlite/store.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

interface DemoOptions {
  data: string;
  json?: boolean;
}

async function healthByTarget(dataDir: string): Promise<Map<string, string>> {
  const path = join(dataDir, 'state.db');
  if (!existsSync(path)) return new Map();
  const store = new SqliteStore(path);
  try {
    return new Map((await store.readHealth()).map((record) => [record.target, `${record.state} (${record.source})`]));
  } finally {
    await store.close();
  }
}

/** `dnsplane demo list|fail|recover`: the demo load balancers of a running `up` in the same data directory. */
export function registerDemoCommand(program: Command): void {
  const demo = program.command('demo').description('the demo load balancers of `dnsplane up` (same --data)');
  demo
    .command('list')
    .description('each demo target: id, address, name, state and the health the checker sees')
    .option('--data <dir>', 'data directory', defaultDataDir)
    .option('--config <file>', 'accepted for symmetry; the demo always lives in the data directory')
    .option('--json', 'machine-readable output')
    .action(async (options: DemoOptions) => {
      const dataDir = resolve(options.data);
      const health = await healthByTarget(dataDir);
      const port = demoPort(dataDir);
      const rows = demoTargets.map((t) => ({ ...t, port, state: isFailed(dataDir, t.id) ? 'failed' : 'serving', health: health.get(t.id) ?? 'unknown' }));
      if (options.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else process.stdout.write(`${rows.map((r) => `${r.id.padEnd(5)} ${`${r.address}:${r.port ?? '?'}`.padEnd(16)} ${r.endpoint.padEnd(20)} ${r.az}  ${r.state.padEnd(8)} health ${r.health}`).join('\n')}\n`);
    });
  for (const [verb, failed] of [['fail', true], ['recover', false]] as const) {
    demo
      .command(`${verb} <target>`)
      .description(failed ? 'make a demo load balancer fail its health check for real' : 'make it healthy again')
      .option('--data <dir>', 'data directory', defaultDataDir)
      .option('--config <file>', 'accepted for symmetry; the demo always lives in the data directory')
      .action(async (target: string, options: DemoOptions) => {
        const spec = demoTarget(target);
        setFailed(resolve(options.data), spec.id, failed);
        process.stdout.write(`${spec.id} (${spec.address}) ${failed ? 'now fails its health check' : 'recovered'}\n`);
      });
  }
}
