import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DemoTarget } from '../../demo/demo.js';
import type { HealthState } from '../../domain/types.js';
import { UserError } from '../../util/assert.js';
import { defaultDataDir } from '../context.js';
import { runningUp } from './up.js';

interface DemoOptions {
  data: string;
  json?: boolean;
}

interface TargetHealth {
  state: HealthState;
  source: string;
}

/** One row of `demo list --json`: typed fields; the text output is built from them. */
export interface DemoRow extends DemoTarget {
  port: number | null;
  failed: boolean;
  /** What the store holds for the target (the checkers' verdict or an operator's override), or null before any. */
  health: TargetHealth | null;
}

async function healthByTarget(dataDir: string): Promise<Map<string, TargetHealth>> {
  const path = join(dataDir, 'state.db');
  if (!existsSync(path)) return new Map();
  const { SqliteStore } = await import('../../store/sqlite/store.js');
  const store = new SqliteStore(path);
  try {
    return new Map((await store.readHealth()).map((record) => [
      record.target,
      { state: record.state, source: record.source },
    ]));
  } finally {
    await store.close();
  }
}

/**
 * The demo commands act on a running demo only: failing a load balancer nobody serves would report a change that is
 * not.
 */
function requireRunningDemo(dataDir: string): void {
  const up = runningUp(dataDir);
  if (up === null) {
    throw new UserError(`no demo is running on ${dataDir}: start one with \`dnsplane up --data ${dataDir}\``);
  }
  if (!up.demo) {
    throw new UserError(`dnsplane up on ${dataDir} (pid ${up.pid}) runs a --config installation, not the demo`);
  }
}

function formatRow(row: DemoRow): string {
  const health = row.health === null ? 'unknown' : `${row.health.state} (${row.health.source})`;
  return `${row.id.padEnd(5)} ${`${row.address}:${row.port ?? '?'}`.padEnd(16)} ${row.endpoint.padEnd(20)} `
    + `${row.az}  ${(row.failed ? 'failed' : 'serving').padEnd(8)} health ${health}`;
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
      const { demoPort, demoTargets, isFailed } = await import('../../demo/demo.js');
      const dataDir = resolve(options.data);
      requireRunningDemo(dataDir);
      const health = await healthByTarget(dataDir);
      const port = demoPort(dataDir);
      const rows: DemoRow[] = demoTargets.map((t) => ({
        ...t,
        port,
        failed: isFailed(dataDir, t.id),
        health: health.get(t.id) ?? null,
      }));
      if (options.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else process.stdout.write(`${rows.map(formatRow).join('\n')}\n`);
    });
  for (const [verb, failed] of [['fail', true], ['recover', false]] as const) {
    demo
      .command(`${verb} <target>`)
      .description(failed ? 'make a demo load balancer fail its health check for real' : 'make it healthy again')
      .option('--data <dir>', 'data directory', defaultDataDir)
      .option('--config <file>', 'accepted for symmetry; the demo always lives in the data directory')
      .action(async (target: string, options: DemoOptions) => {
        const { demoTarget, setFailed } = await import('../../demo/demo.js');
        const spec = demoTarget(target);
        const dataDir = resolve(options.data);
        requireRunningDemo(dataDir);
        setFailed(dataDir, spec.id, failed);
        process.stdout.write(`${spec.id} (${spec.address}) ${failed ? 'now fails its health check' : 'recovered'}\n`);
      });
  }
}
