import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { assert } from '../util/assert.js';
import type { Logger } from '../util/log.js';

export const cliEntry = fileURLToPath(new URL('../../bin/dnsplane.mjs', import.meta.url));

/**
 * The exit code of a role that refused its input (src/cli/main.ts: a UserError): a restart would only refuse it again.
 */
export const exitCodeBadInput = 2;
/** Lines of a child's stderr kept for the message of a role that exits with exitCodeBadInput. */
export const stderrTailLinesMax = 20;
const stderrLineCharsMax = 2000;
/** How long a role that exited is given to flush its stderr before its failure is reported without the rest. */
const stderrDrainMsMax = 2000;

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

/** A role that exited with exitCodeBadInput, with the last lines it wrote to stderr. */
export interface RoleFailure {
  role: string;
  code: number;
  stderrTail: string[];
}

interface Slot {
  spec: RoleSpec;
  child: ChildProcess | null;
  startedAtMs: number;
  restarts: number;
  timer: NodeJS.Timeout | null;
  /** The last complete lines of the current child's stderr (at most stderrTailLinesMax), and the line being written. */
  stderrTail: string[];
  stderrPartial: string;
}

/** Appends a chunk of stderr to a slot's bounded tail (pure apart from the slot). */
function recordStderr(slot: Slot, chunk: string): void {
  const lines = (slot.stderrPartial + chunk).split('\n');
  slot.stderrPartial = lines.pop()!.slice(-stderrLineCharsMax);
  for (const line of lines) if (line.trim() !== '') slot.stderrTail.push(line.slice(0, stderrLineCharsMax));
  if (slot.stderrTail.length > stderrTailLinesMax) {
    slot.stderrTail.splice(0, slot.stderrTail.length - stderrTailLinesMax);
  }
  assert(slot.stderrTail.length <= stderrTailLinesMax, 'internal', 'the stderr tail is bounded');
}

/**
 * Runs each role as its own child process, restarts one that dies (with
 * exponential backoff, logged), and stops every child by pid on shutdown.
 * Children learn the supervisor's pid and stop themselves if it vanishes.
 * A role that exits with exitCodeBadInput (its config, its port: nothing a
 * restart changes) is not restarted: `failed` resolves, and the caller stops
 * everything rather than restart it forever.
 */
export class Supervisor {
  private readonly slots: Slot[] = [];
  private stopping = false;
  private reportFailure: (failure: RoleFailure) => void = () => undefined;
  /** Resolves once, with the first role that exited with exitCodeBadInput; never rejects. */
  readonly failed: Promise<RoleFailure>;

  constructor(
    private readonly options: SupervisorOptions,
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.failed = new Promise((resolve) => {
      this.reportFailure = resolve;
    });
  }

  start(specs: readonly RoleSpec[]): void {
    assert(this.slots.length === 0, 'internal', 'a supervisor starts its roles once');
    for (const spec of specs) {
      const slot: Slot = {
        spec,
        child: null,
        startedAtMs: 0,
        restarts: 0,
        timer: null,
        stderrTail: [],
        stderrPartial: '',
      };
      this.slots.push(slot);
      this.launch(slot);
    }
  }

  private launch(slot: Slot): void {
    slot.timer = null;
    if (this.stopping) return;
    // stderr is piped, not inherited, so the last lines of a role that refuses its input can be reported; every chunk
    // is passed on to this process's stderr as it arrives.
    const child = spawn(process.execPath, [cliEntry, ...slot.spec.args], {
      stdio: ['ignore', 'inherit', 'pipe'],
      env: { ...this.env, DNSPLANE_SUPERVISOR_PID: String(process.pid) },
    });
    slot.child = child;
    slot.startedAtMs = Date.now();
    slot.stderrTail = [];
    slot.stderrPartial = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      process.stderr.write(chunk);
      recordStderr(slot, chunk);
    });
    child.once('exit', (code, signal) => this.onExit(slot, child, code, signal));
    child.once('error', (error) => this.log.error({ role: slot.spec.name, err: error }, 'could not start role'));
  }

  private onExit(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child) return;
    slot.child = null;
    if (this.stopping) return;
    if (code === exitCodeBadInput) {
      this.stopping = true;
      this.log.error(
        { role: slot.spec.name, code },
        `role ${slot.spec.name} refused its input (exit ${code}); not restarting it`,
      );
      void this.reportAfterDrain(slot, child, code);
      return;
    }
    if (Date.now() - slot.startedAtMs >= this.options.stableAfterMs) slot.restarts = 0;
    const delayMs = Math.min(this.options.restartMaxMs, this.options.restartBaseMs * 2 ** slot.restarts);
    slot.restarts += 1;
    this.log.warn(
      { role: slot.spec.name, code, signal, restartInMs: delayMs, restarts: slot.restarts },
      `role ${slot.spec.name} exited; restarting`,
    );
    slot.timer = setTimeout(() => this.launch(slot), delayMs);
  }

  /** 'exit' can come before the last stderr chunk: wait for the stream's end (bounded), then report. */
  private async reportAfterDrain(slot: Slot, child: ChildProcess, code: number): Promise<void> {
    const stream = child.stderr!;
    if (!stream.readableEnded && !stream.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, stderrDrainMsMax);
        stream.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const tail = slot.stderrPartial.trim() === '' ? slot.stderrTail : [...slot.stderrTail, slot.stderrPartial];
    this.reportFailure({ role: slot.spec.name, code, stderrTail: tail });
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
