import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './env.js';

/**
 * HTTP "load balancers" on their own loopback addresses, served by a child process (fleet-child.ts) that the
 * test opens and closes by target id. Closed means the address refuses connections, as a dead LB does.
 */
export class Fleet {
  private readonly child: ChildProcess;
  private ports: Record<string, number> = {};

  private constructor() {
    this.child = fork(join(repoRoot, 'test', 'helpers', 'fleet-child.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }

  static async start(targets: readonly { id: string; address: string }[]): Promise<Fleet> {
    const fleet = new Fleet();
    await fleet.send({ add: [...targets], open: targets.map((target) => target.id) });
    return fleet;
  }

  private send(message: Record<string, unknown>): Promise<void> {
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error('the fleet process exited'));
      this.child.once('exit', onExit);
      this.child.once('message', (reply: { done: boolean; ports?: Record<string, number>; error?: string }) => {
        this.child.off('exit', onExit);
        if (!reply.done) return reject(new Error(`fleet: ${reply.error}`));
        this.ports = reply.ports!;
        resolve();
      });
      this.child.send(message);
    });
  }

  port(id: string): number {
    return this.ports[id]!;
  }

  open(ids: readonly string[]): Promise<void> {
    return this.send({ open: ids });
  }

  close(ids: readonly string[]): Promise<void> {
    return this.send({ close: ids });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}
