import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../util/log.js';

export const cliEntry = fileURLToPath(new URL('../../bin/dnsplane.mjs', import.meta.url));

export interface RoleSpec {
  name: string;
  args: string[];
}

export interface SupervisorOptions {
  restartBaseMs: number;
  restartMaxMs: number;
  /** A child that stayed up this long is healthy again: its backoff resets. */
  stableAfterMs: number;
  stopGraceMs: number;
}

interface Slot {
  spec: RoleSpec;
  child: ChildProcess | null;
  startedAtMs: number;
  restarts: number;
  timer: NodeJS.Timeout | null;
}

/**
 * Runs each role as its own child process, restarts one that dies (with
 * exponential backoff, logged), and stops every child by pid on shutdown.
 * Children learn the supervisor's pid and stop themselves if it vanishes.
 */
export class Supervisor {
  private readonly slots: Slot[] = [];
  private stopping = false;

  constructor(private readonly options: SupervisorOptions, private readonly log: Logger, private readonly env: NodeJS.ProcessEnv = process.env) {}

  start(specs: readonly RoleSpec[]): void {
    for (const spec of specs) {
      const slot: Slot = { spec, child: null, startedAtMs: 0, restarts: 0, timer: null };
      this.slots.push(slot);
      this.launch(slot);
    }
  }

  private launch(slot: Slot): void {
    slot.timer = null;
    if (this.stopping) return;
    const child = spawn(process.execPath, [cliEntry, ...slot.spec.args], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...this.env, DNSPLANE_SUPERVISOR_PID: String(process.pid) },
    });
    slot.child = child;
    slot.startedAtMs = Date.now();
    child.once('exit', (code, signal) => this.onExit(slot, child, code, signal));
    child.once('error', (error) => this.log.error({ role: slot.spec.name, err: error }, 'could not start role'));
  }

  private onExit(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child) return;
    slot.child = null;
    if (this.stopping) return;
    if (Date.now() - slot.startedAtMs >= this.options.stableAfterMs) slot.restarts = 0;
    const delayMs = Math.min(this.options.restartMaxMs, this.options.restartBaseMs * 2 ** slot.restarts);
    slot.restarts += 1;
    this.log.warn({ role: slot.spec.name, code, signal, restartInMs: delayMs, restarts: slot.restarts }, `role ${slot.spec.name} exited; restarting`);
    slot.timer = setTimeout(() => this.launch(slot), delayMs);
  }

  /** SIGTERM to every child, SIGKILL to any still running after the grace period; resolves when all are gone. */
  async stop(): Promise<void> {
    this.stopping = true;
    const waits: Promise<void>[] = [];
    for (const slot of this.slots) {
      if (slot.timer !== null) clearTimeout(slot.timer);
      const child = slot.child;
      if (child === null || child.exitCode !== null || child.signalCode !== null) continue;
      waits.push(new Promise<void>((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), this.options.stopGraceMs);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }));
    }
    await Promise.all(waits);
  }
}
