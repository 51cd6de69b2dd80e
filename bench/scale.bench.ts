/**
 * Scale benchmark (issue 16: a million names): every role of an installation with 1,000,000 names × 8 targets on
 * the embedded SQLite store, each role in its own process (bench/scale-child.ts), as in production:
 * - computing the plan (computePlan alone, median of a few);
 * - the planner publishing the full plan (one tick of the real Planner);
 * - one enactor applying the full plan to the built-in SQLite provider (names/s);
 * - generations changing 1% of the names (10,000), each published then enacted (median);
 * - reconciler passes at steady state and after a 1% generation (ms and names checked per pass);
 * - one janitor tick after those generations, and its history prune;
 * - the API's start until listening, and the DNS server's start until its first answer;
 * - the peak RSS (VmHWM from /proc/<pid>/status) of every role process.
 * This process only orchestrates: it sends each role its commands, writes the 1% health changes into the store (as a
 * checker would), and reads each child's VmHWM before it stops it. DNSPLANE_BENCH_SCALE_NAMES sets the size
 * (default 1,000,000); a trial at 20,000-50,000 names takes a minute or two. Every child is killed by its pid at the
 * end, on failure too, and the temporary directory removed.
 */
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { snapshotFileName } from '../src/dns/snapshot-file.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { agent, nowMs, percentile, startChild, timedGet, verdict, writeSection, type ResultRow } from './common.js';
import { churnTargets, scaleNamesCount, scaleSettingsInput, scaleZone, targetsPerName } from './scale-child.js';

const namesCount = scaleNamesCount();
const issueNamesCount = 1_000_000;
const computeRuns = 3;
/** 1% generations published and enacted before the reconciler's passes (one more follows them). */
const deltaRounds = 5;
/** Reconciler passes at steady state, and again after a 1% generation, one `interval` apart as its loop runs them. */
const reconcilerPasses = 5;
const reconcilerIntervalMs = 2000;
const rssTargetMb = 1024;
/** Any one command may take this long: half a millisecond a name, plus a minute (a full publish is the longest). */
const commandTimeoutMs = 60_000 + namesCount * 0.5;
const childFile = join(import.meta.dirname, 'scale-child.ts');
/**
 * The heap every role child may grow to (inherited through NODE_OPTIONS). At 1,000,000 names the planner holds more
 * than Node's default limit (about 4 GB on this machine): with it, it ran out of memory in its first 1% generation
 * (2026-12-02). Raised so that every row can be measured; the RSS rows say what each role really needed.
 */
const childHeapMb = 12_288;
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=${childHeapMb}`.trim();

type Reply = Record<string, unknown>;

/** Every child started and not yet stopped, by pid: killed on every way out. */
const running = new Map<number, ChildProcess>();

function killAll(): void {
  for (const [pid, child] of running) {
    running.delete(pid);
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // It exited between the check and the kill.
    }
  }
}

/** Peak resident set (VmHWM) of a live process, in MB. */
function peakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

/** One role process: JSON lines in answer to commands (bench/scale-child.ts). */
class RoleChild {
  private readonly lines: string[] = [];
  private waiter: (() => void) | null = null;
  private buffered = '';
  private exited: string | null = null;
  readonly spawnedAtMs = nowMs();
  readonly child: ChildProcess;

  constructor(readonly role: string, dataDir: string) {
    this.child = startChild(childFile, [role, dataDir], 'pipe').child;
    const pid = this.child.pid;
    if (pid === undefined) throw new Error(`${role}: the child did not start`);
    running.set(pid, this.child);
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString();
      const parts = this.buffered.split('\n');
      this.buffered = parts.pop()!;
      this.lines.push(...parts.filter((line) => line.length > 0));
      this.waiter?.();
    });
    this.child.on('exit', (code, signal) => {
      this.exited = `${role} exited (${code ?? signal})`;
      this.waiter?.();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The next line the child answers, parsed; its error, its exit or the timeout rejects. */
  async reply(what: string): Promise<Reply> {
    const deadline = Date.now() + commandTimeoutMs;
    while (this.lines.length === 0) {
      if (this.exited !== null) throw new Error(`${this.exited} before answering ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.role}: no answer to ${what} within ${commandTimeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
    const reply = JSON.parse(this.lines.shift()!) as Reply;
    if (typeof reply.error === 'string') throw new Error(`${this.role}, ${what}: ${reply.error}`);
    return reply;
  }

  async command(name: string): Promise<Reply> {
    this.child.stdin!.write(`${name}\n`);
    return this.reply(name);
  }

  /** Reads the peak RSS, then kills the child and waits for it to go. */
  async stop(): Promise<number> {
    const rssMb = peakRssMb(this.pid);
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    if (this.exited === null) this.child.kill('SIGKILL');
    if (this.exited === null) await gone;
    running.delete(this.pid);
    return rssMb;
  }
}

async function startRole(role: string, dataDir: string): Promise<{ child: RoleChild; ready: Reply }> {
  const child = new RoleChild(role, dataDir);
  return { child, ready: await child.reply('start') };
}

function num(reply: Reply, key: string): number {
  const value = reply[key];
  if (typeof value !== 'number') throw new Error(`expected a number ${key} in ${JSON.stringify(reply)}`);
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One UDP query for an A record on loopback: the addresses answered (rejects after `timeoutMs`). */
function queryA(port: number, name: string, timeoutMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no answer for ${name} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('message', (message) => {
      clearTimeout(timer);
      socket.close();
      const answers = dnsPacket.decode(message).answers ?? [];
      const addresses: string[] = [];
      for (const record of answers) if (record.type === 'A') addresses.push(record.data);
      resolve(addresses);
    });
    socket.send(dnsPacket.encode({ type: 'query', id: 1, questions: [{ name, type: 'A' }] }), port, '127.0.0.1');
  });
}

interface Delta {
  publishMs: number;
  enactMs: number;
}

/** A 1% generation: health flips of 1% of the names written as a checker would, one planner tick, one enactor step. */
async function onePercentGeneration(
  store: SqliteStore, planner: RoleChild, enactor: RoleChild, round: number,
): Promise<Delta> {
  const state = round % 2 === 0 ? 'down' : 'up';
  await store.setHealthMany(churnTargets(namesCount).map((target) => ({ target, state })), 'bench');
  const published = await planner.command('tick');
  if (published.kind !== 'published' || published.namesChanged !== namesCount / 100) {
    throw new Error(`1% generation ${round}: ${JSON.stringify(published)}`);
  }
  const enacted = await enactor.command('step');
  if (enacted.applied !== namesCount / 100 || enacted.complete !== true) {
    throw new Error(`1% generation ${round} enacted: ${JSON.stringify(enacted)}`);
  }
  return { publishMs: num(published, 'ms'), enactMs: num(enacted, 'ms') };
}

/** Reconciler passes one interval apart: each one's time and what it returned (names checked, repairs...). */
async function reconcilerRun(reconciler: RoleChild, passes: number): Promise<Reply[]> {
  const results: Reply[] = [];
  for (let pass = 0; pass < passes; pass += 1) {
    if (pass > 0) await sleep(reconcilerIntervalMs);
    const result = await reconciler.command('tick');
    if (num(result, 'drifts') !== 0) throw new Error(`drift found in a converged zone: ${JSON.stringify(result)}`);
    results.push(result);
  }
  return results;
}

interface Figures {
  computeMs: number[];
  computeRssMb: number;
  baselineRssMb: number;
  publishFullMs: number;
  plannerInventoryMs: number;
  fullApplyMs: number;
  deltas: Delta[];
  reconcilerFirst: Reply;
  reconcilerSteady: Reply[];
  reconcilerAfterDelta: Reply[];
  janitorTick: Reply;
  janitorPrune: Reply;
  apiStartMs: number;
  apiSpawnToListeningMs: number;
  apiStatusMs: number;
  dnsStartMs: number;
  dnsSpawnToAnswerMs: number;
  dnsAnswers: number;
  rssMb: Record<'planner' | 'enactor' | 'reconciler' | 'janitor' | 'api' | 'dns', number>;
}

/** The plan computation alone, in a process of its own (its plans are garbage the planner's RSS must not carry). */
async function computeFigures(dataDir: string): Promise<{ computeMs: number[]; computeRssMb: number }> {
  const { child } = await startRole('compute', dataDir);
  const computeMs: number[] = [];
  for (let run = 0; run < computeRuns; run += 1) computeMs.push(num(await child.command('compute'), 'ms'));
  return { computeMs, computeRssMb: await child.stop() };
}

/** The API from its spawn (and from the call that builds it) until listening, then one status read. */
async function apiFigures(
  dataDir: string,
): Promise<Pick<Figures, 'apiStartMs' | 'apiSpawnToListeningMs' | 'apiStatusMs'> & { rssMb: number }> {
  const { child, ready } = await startRole('api', dataDir);
  const apiSpawnToListeningMs = nowMs() - child.spawnedAtMs;
  // A 200 with a JSON body (timedGet rejects any other status): what the status holds is the API bench's concern.
  const status = await timedGet(String(ready.address), '/api/status');
  JSON.parse(status.body);
  agent.destroy();
  const rssMb = await child.stop();
  return { apiStartMs: num(ready, 'startMs'), apiSpawnToListeningMs, apiStatusMs: status.ms, rssMb };
}

/**
 * The DNS server from its spawn until it answers the last name of the zone, then until it has written its copy of
 * the served records (dns-snapshot.json, a whole-zone write made soon after start): its peak RSS includes that.
 */
async function dnsFigures(
  dataDir: string,
): Promise<Pick<Figures, 'dnsStartMs' | 'dnsSpawnToAnswerMs' | 'dnsAnswers'> & { rssMb: number }> {
  const { child, ready } = await startRole('dns', dataDir);
  const addresses = await queryA(num(ready, 'port'), `svc${namesCount - 1}.${scaleZone}`, 5000);
  const dnsSpawnToAnswerMs = nowMs() - child.spawnedAtMs;
  if (addresses.length === 0) throw new Error('the DNS server answered no address for a served name');
  const copy = join(dataDir, snapshotFileName);
  const deadline = Date.now() + commandTimeoutMs;
  while (!existsSync(copy) && Date.now() < deadline) await sleep(100);
  if (!existsSync(copy)) throw new Error(`the DNS server wrote no ${snapshotFileName}`);
  await child.command('check');
  const rssMb = await child.stop();
  return { dnsStartMs: num(ready, 'startMs'), dnsSpawnToAnswerMs, dnsAnswers: addresses.length, rssMb };
}

async function measure(dataDir: string): Promise<Figures> {
  const baseline = await startRole('idle', dataDir);
  const baselineRssMb = await baseline.child.stop();
  const compute = await computeFigures(dataDir);

  const planner = await startRole('planner', dataDir);
  const full = await planner.child.command('tick');
  if (full.kind !== 'published' || full.namesChanged !== namesCount) {
    throw new Error(`full publish ${JSON.stringify(full)}`);
  }
  const enactor = await startRole('enactor', dataDir);
  const fullApply = await enactor.child.command('step');
  if (fullApply.applied !== namesCount) throw new Error(`full apply ${JSON.stringify(fullApply)}`);

  const store = new SqliteStore(join(dataDir, 'state.db'));
  try {
    const deltas: Delta[] = [];
    for (let round = 0; round < deltaRounds; round += 1) {
      deltas.push(await onePercentGeneration(store, planner.child, enactor.child, round));
    }
    const reconciler = await startRole('reconciler', dataDir);
    const [reconcilerFirst, ...reconcilerSteady] = await reconcilerRun(reconciler.child, reconcilerPasses + 1);
    deltas.push(await onePercentGeneration(store, planner.child, enactor.child, deltaRounds));
    const reconcilerAfterDelta = await reconcilerRun(reconciler.child, reconcilerPasses);
    const reconcilerRss = await reconciler.child.stop();

    const janitor = await startRole('janitor', dataDir);
    const janitorTick = await janitor.child.command('tick');
    const janitorPrune = await janitor.child.command('prune');
    const janitorRss = await janitor.child.stop();
    const plannerRss = await planner.child.stop();
    const enactorRss = await enactor.child.stop();

    const api = await apiFigures(dataDir);
    const dns = await dnsFigures(dataDir);
    return {
      ...compute, baselineRssMb, deltas, reconcilerFirst: reconcilerFirst!, reconcilerSteady, reconcilerAfterDelta,
      publishFullMs: num(full, 'ms'), plannerInventoryMs: num(planner.ready, 'inventoryMs'),
      fullApplyMs: num(fullApply, 'ms'), janitorTick, janitorPrune,
      apiStartMs: api.apiStartMs, apiSpawnToListeningMs: api.apiSpawnToListeningMs, apiStatusMs: api.apiStatusMs,
      dnsStartMs: dns.dnsStartMs, dnsSpawnToAnswerMs: dns.dnsSpawnToAnswerMs, dnsAnswers: dns.dnsAnswers,
      rssMb: {
        planner: plannerRss, enactor: enactorRss, reconciler: reconcilerRss, janitor: janitorRss, api: api.rssMb,
        dns: dns.rssMb,
      },
    };
  } finally {
    await store.close();
  }
}

const ms = (value: number) => `${value.toFixed(value < 100 ? 1 : 0)} ms`;
const list = (values: readonly number[]) => values.map((value) => value.toFixed(0)).join(', ');
const names = (count: number) => count.toLocaleString('en');
const mb = (value: number) => `${value.toFixed(0)} MB`;

/** A verdict against a target stated for 1,000,000 names: at another size it is marked as a trial's. */
function judged(ok: boolean): string {
  return namesCount === issueNamesCount ? verdict(ok) : `${verdict(ok)} (trial size)`;
}

/** Names checked by each pass, when the pass result says (ReconcileResult.checked). */
function checkedOf(passes: readonly Reply[]): number[] | null {
  const counts = passes.map((pass) => pass.checked);
  return counts.every((count) => typeof count === 'number') ? counts as number[] : null;
}

/** The reconciler rows: ms per pass and names checked per pass. */
function reconcilerRows(figures: Figures): ResultRow[] {
  const described = (passes: readonly Reply[]) => {
    const counts = checkedOf(passes);
    const shown = counts === null ? '' : `; checked ${counts.map(names).join(', ')}`;
    return `${list(passes.map((pass) => num(pass, 'ms')))} ms${shown}`;
  };
  // Incremental: a pass after the first checks fewer names than the zone (the changes and a slice of the sweep).
  const incremental = (passes: readonly Reply[]) => {
    const counts = checkedOf(passes);
    return counts === null ? '' : judged(counts.every((count) => count < namesCount));
  };
  const target = 'cost ∝ changes + a bounded sweep slice';
  const { reconcilerSteady: steady, reconcilerAfterDelta: afterDelta } = figures;
  return [
    { metric: 'reconciler: first pass after start (ms; names checked)', value: described([figures.reconcilerFirst]) },
    {
      metric: `reconciler: ${steady.length} passes at steady state, ${reconcilerIntervalMs} ms apart`,
      value: described(steady), target, verdict: incremental(steady),
    },
    {
      metric: `reconciler: ${afterDelta.length} passes after a 1% generation (the first sees it)`,
      value: described(afterDelta), target, verdict: incremental(afterDelta),
    },
  ];
}

function generationRows(figures: Figures): ResultRow[] {
  const publishMs = figures.deltas.map((delta) => delta.publishMs);
  const enactMs = figures.deltas.map((delta) => delta.enactMs);
  const bothMs = figures.deltas.map((delta) => delta.publishMs + delta.enactMs);
  const median = (values: readonly number[]) => percentile(values, 50);
  const { janitorTick: tick, janitorPrune: prune } = figures;
  return [
    {
      metric: `1% generation (${names(namesCount / 100)} names): planner tick publishing it `
        + `(median of ${publishMs.length}; runs ${list(publishMs)} ms)`,
      value: ms(median(publishMs)),
    },
    {
      metric: `1% generation: enactor step enacting it (median of ${enactMs.length}; runs ${list(enactMs)} ms)`,
      value: ms(median(enactMs)), target: '<= 300 ms', verdict: judged(median(enactMs) <= 300),
    },
    {
      metric: '1% generation: published then enacted (median of the sums)',
      value: ms(median(bothMs)), target: '<= 300 ms', verdict: judged(median(bothMs) <= 300),
    },
    ...reconcilerRows(figures),
    {
      metric: `janitor: one tick after ${figures.deltas.length + 1} generations `
        + `(floor ${tick.floor}; deleted ${tick.versions} versions, ${tick.headers} plans)`,
      value: ms(num(tick, 'ms')),
    },
    { metric: `janitor: history prune (deleted ${prune.deleted})`, value: ms(num(prune, 'ms')) },
  ];
}

function rows(figures: Figures): ResultRow[] {
  const computeMs = percentile(figures.computeMs, 50);
  const namesPerSecond = namesCount / (figures.fullApplyMs / 1000);
  const size = `${names(namesCount)} names`;
  const rss = (role: keyof Figures['rssMb'], what: string): ResultRow => ({
    metric: `peak RSS: ${what}`, value: mb(figures.rssMb[role]), target: `<= ${rssTargetMb} MB`,
    verdict: judged(figures.rssMb[role] <= rssTargetMb),
  });
  return [
    {
      metric: `compute a plan, ${size} x ${targetsPerName} targets `
        + `(median of ${computeRuns}; runs ${list(figures.computeMs)} ms)`,
      value: ms(computeMs), target: '<= 2000 ms', verdict: judged(computeMs <= 2000),
    },
    {
      metric: 'planner: publish the full plan (its first tick: compute, validate, one SQLite transaction)',
      value: ms(figures.publishFullMs),
    },
    {
      metric: 'one enactor applying the full plan to the built-in SQLite provider',
      value: `${Math.round(namesPerSecond).toLocaleString('en')} names/s (${ms(figures.fullApplyMs)})`,
      target: '>= 50,000 names/s', verdict: judged(namesPerSecond >= 50_000),
    },
    ...generationRows(figures),
    {
      metric: `API start until listening, ${size} (buildApp to listening, in the API process)`,
      value: ms(figures.apiStartMs), target: '<= 2000 ms', verdict: judged(figures.apiStartMs <= 2000),
    },
    {
      metric: 'API: process spawn until listening (Node, tsx, modules, the inventory, then the above)',
      value: ms(figures.apiSpawnToListeningMs),
    },
    { metric: 'API: first GET /api/status after listening', value: ms(figures.apiStatusMs) },
    {
      metric: `DNS server: start until listening (snapshot of ${size} loaded, in the server process)`,
      value: ms(figures.dnsStartMs),
    },
    {
      metric: `DNS server: process spawn until the first answer (svc${namesCount - 1}: `
        + `${figures.dnsAnswers} addresses)`,
      value: ms(figures.dnsSpawnToAnswerMs),
    },
    rss('planner', 'planner process (inventory, full publish, 1% generations)'),
    rss('enactor', 'enactor process (full apply, 1% generations)'),
    rss('reconciler', `reconciler process (${1 + 2 * reconcilerPasses} passes)`),
    rss('janitor', 'janitor process (one tick, one prune)'),
    rss('api', 'API process (start, one status read)'),
    rss('dns', 'DNS server process (start, first answer, its snapshot copy written)'),
    { metric: 'peak RSS: plan computation alone (inventory, computePlan runs)', value: mb(figures.computeRssMb) },
    {
      metric: 'peak RSS: a child that loads nothing (Node and tsx, in every figure above)',
      value: mb(figures.baselineRssMb),
    },
  ];
}

/** What each figure is, and where the issue's other rows are measured. */
function notes(figures: Figures, loadAtStart: number): string[] {
  const trial = namesCount === issueNamesCount ? [] : [
    `**Trial at ${names(namesCount)} names** (DNSPLANE_BENCH_SCALE_NAMES): the targets are the issue's for`
      + ' 1,000,000 names; a verdict marked "trial size" says nothing about them.',
    '',
  ];
  const passes = [figures.reconcilerFirst, ...figures.reconcilerSteady, ...figures.reconcilerAfterDelta]
    .map((pass, index) => {
      const fields = Object.entries(pass).filter(([key]) => key !== 'ms').map(([key, value]) => `${key} ${value}`);
      return `pass ${index + 1}: ${ms(num(pass, 'ms'))}, ${fields.join(', ')}`;
    });
  return [
    ...trial,
    `${names(namesCount)} names × ${targetsPerName} targets (three AZs). Each role is its own process`,
    '(bench/scale-child.ts, the TypeScript sources through tsx) over one SQLite file, built by the roles\' one builder',
    `(src/roles/build.ts) from config settings ${JSON.stringify(scaleSettingsInput)}, the rest the config's defaults.`,
    'Times are measured inside each process around the call; peak RSS is VmHWM from /proc/<pid>/status of each',
    'process, read by this benchmark just before it stops the child.',
    '',
    '- Compute: computePlan over the whole inventory from an empty current plan, in a process of its own.',
    '- Publish: the planner\'s first tick (reads health, computes, validates, publishes every name in one',
    `  transaction). The planner generated its inventory first (${ms(figures.plannerInventoryMs)}, not counted); a`,
    '  real planner reads it from its config or the store and holds it as here, so its RSS counts it.',
    '- Enactor: one step from an empty DNS, paging through the plan '
      + `${names(scaleSettingsInput.enactor.batchNamesMax)} names at a time.`,
    '- 1% generation: this process flips the health of target 0 of every hundredth name (as a checker would; not',
    `  timed), then one planner tick publishes the ${names(namesCount / 100)} changed names and one enactor step`,
    `  applies them: ${deltaRounds} of them before the reconciler's passes and one between its two series. Only`,
    '  the flipped targets have a health row (as in core.bench.ts); with a checker the table holds a row per target',
    `  (${names(namesCount * targetsPerName)} here), which the planner reads whole on every tick (store.readHealth).`,
    `- Reconciler: tick() as its loop runs it, one interval (${reconcilerIntervalMs} ms) apart, on a converged zone`,
    '  (a pass that finds drift fails the run). What each pass returned (its numbers and flags): '
      + `${passes.join('; ')}.`,
    '- Janitor: its first tick (clean-up below the floor, at most the config\'s batchVersionsMax versions, then',
    '  tombstone compaction) and its first history prune.',
    '- API: the app of `dnsplane api` (bench/common.ts buildBenchApi, as bench/api.bench.ts) over the same file and',
    '  the inventory, from buildApp to listening, then one GET /api/status: work an API defers from its start to',
    '  its first requests shows in that row.',
    '- DNS: the server of `dnsplane serve` with one worker (src/dns startDns, in the child), from its start to',
    `  listening, then asked over UDP for the last name; its RSS is read once it has written ${snapshotFileName}.`,
    '',
    'Rows of issue 16 measured elsewhere: health decision → DNS answer p99, see the convergence section',
    '(bench/convergence.bench.ts); the store size after 100,000 generations of 1% churn, see the retention section',
    '(bench/retention.bench.ts); etcd with a full 100,000-name plan, see the etcd section (bench/etcd.bench.ts).',
    '',
    `Every role child runs with --max-old-space-size=${childHeapMb}: with Node's default heap limit (about 4 GB here)`,
    'the planner ran out of memory at 1,000,000 names.',
    '',
    `Load average (1 min) at the start: ${loadAtStart.toFixed(2)}, at the end: ${loadavg()[0]!.toFixed(2)}.`,
  ];
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'dnsplane-scale-'));
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const interrupted = () => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  process.once('exit', killAll);
  try {
    process.stdout.write(`scale: ${names(namesCount)} names in ${dataDir}\n`);
    const figures = await measure(dataDir);
    const title = `Scale: ${names(namesCount)} names on the embedded store, every role its own process`;
    writeSection('scale', title, 'npm run bench -- scale', rows(figures), notes(figures, loadAtStart));
  } finally {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
