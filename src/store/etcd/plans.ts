import { randomUUID } from 'node:crypto';
import type { ICompare, IRangeRequest, IRequestOp } from 'etcd3';
import { decodeRecords, encodeRecords } from '../../domain/codec.js';
import { assert } from '../../util/assert.js';
import type { Clock } from '../../util/clock.js';
import type { Generation, PlanChange, PlanEntry, PlanHeader, RecordEntry } from '../../domain/types.js';
import type {
  LeaseGrant, PlanReadOptions, PlanView, PublishRequest, PublishResult, SupersededVersion,
} from '../types.js';
import {
  batchOps, compare, forEachConcurrently, prefixEnd, revisionOf, scanPageKeys, writeConcurrency, type EtcdConnection,
  type KeyValue,
} from './client.js';
import { keys, nameSeparator, pad, splitNameSince } from './keys.js';

/**
 * Plans on etcd: fenced, staged publication and revision-pinned reads. See
 * the key layout at the top of store.ts.
 */

/** A delta chunk holds at most this many bytes: far below etcd's 1.5 MiB request limit, several fit in one read. */
export const chunkBytesMax = 512 * 1024;
/** Delta chunks asked for per page (at most 2 MiB per response). */
const chunksPerPage = 4;
/** Above this many changed names, their current versions are found by one keys-only scan instead of one range each. */
const sinceScanThreshold = 4096;
/** A plan changing at most this many names is read-checked in one transaction and, if it fits, written in one. */
const smallPlanNamesMax = 100;
/** Version keys per page of a paged plan read (scanVisible), at most. */
const visiblePageKeysMax = 10_000;
/** Paged reads of at least this many names a page read the next page ahead (read). */
const readAheadPageMin = 100;
/** A read whose pinned revision was compacted away starts again, at most this often. */
const readAttemptsMax = 3;
/** The value of a version that removes its name (explicit operator removal). */
const removedValue = '-';

interface StoredHeader extends PlanHeader {
  attempt: string;
  deltaChunks: number;
}

interface StageRecord {
  generation: Generation;
  attempt: string;
  holder: string;
  token: number;
}

function toHeader(stored: StoredHeader): PlanHeader {
  const { attempt: _attempt, deltaChunks: _chunks, ...header } = stored;
  return header;
}

function encodeVersion(records: readonly RecordEntry[] | null): string {
  return records === null ? removedValue : encodeRecords(records);
}

function decodeVersion(text: string): RecordEntry[] | null {
  return text === removedValue ? null : decodeRecords(text);
}

/** Delta chunks: "name<TAB>records" lines, in name order, split so that no chunk exceeds chunkBytesMax. */
export function encodeDeltaChunks(changes: readonly PlanChange[]): string[] {
  const sorted = [...changes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const chunks: string[] = [];
  let lines: string[] = [];
  let bytes = 0;
  for (const change of sorted) {
    const line = `${change.name}\t${encodeVersion(change.records)}`;
    assert(line.length + 1 <= chunkBytesMax, 'internal', () => `${change.name}: one record set exceeds a chunk`);
    if (bytes + line.length + 1 > chunkBytesMax) {
      chunks.push(lines.join('\n'));
      lines = [];
      bytes = 0;
    }
    lines.push(line);
    bytes += line.length + 1;
  }
  if (lines.length > 0) chunks.push(lines.join('\n'));
  return chunks;
}

function decodeDeltaChunk(text: string): { name: string; records: RecordEntry[] | null }[] {
  if (text.length === 0) return [];
  return text.split('\n').map((line) => {
    const tab = line.indexOf('\t');
    assert(tab > 0, 'internal', () => `malformed delta line "${line.slice(0, 80)}"`);
    return { name: line.slice(0, tab), records: decodeVersion(line.slice(tab + 1)) };
  });
}

/** What identifies a paged read: the same plan, range and page size after the same name. */
function readAheadKey(generation: Generation, options: PlanReadOptions): string {
  return JSON.stringify([generation, options.sinceAfter ?? 0, options.afterName ?? '', options.limit ?? null]);
}

function isCompacted(error: unknown): boolean {
  return /compacted/i.test((error as Error).message ?? '');
}

export class EtcdPlans {
  /** The last merged delta read (plans are immutable, so a delta (p, g] never changes while plan g exists). */
  private deltaCache: { key: string; entries: PlanEntry[] } | null = null;
  /** The page read ahead of the last full page of a paged read (read). */
  private readAhead: { key: string; page: Promise<PlanView | null> } | null = null;

  constructor(private readonly etcd: EtcdConnection, private readonly clock: Clock) {}

  private key(path: string): Buffer {
    return this.etcd.key(path);
  }

  /** The newest published generation and the revision of its pointer (0, 0 before the first plan). */
  async latest(revision?: number): Promise<{ generation: Generation; modRevision: number }> {
    const kv = await this.etcd.get(keys.latest, revision);
    return kv === null
      ? { generation: 0, modRevision: 0 }
      : { generation: Number(kv.value.toString()), modRevision: revisionOf(kv.mod_revision) };
  }

  /** Why `grant` does not hold its lease at the store, or null when it does (the fencing check). */
  private leaseProblem(kv: KeyValue | undefined, grant: LeaseGrant): string | null {
    const stale = `lease ${grant.name} token ${grant.token} is no longer held by ${grant.holder}`;
    if (kv === undefined) return stale;
    if (revisionOf(kv.create_revision) !== grant.token) return stale;
    const holder = (JSON.parse(kv.value.toString()) as { holder: string }).holder;
    return holder === grant.holder ? null : stale;
  }

  /** Re-reads lease and pointer to say why a guarded write failed. */
  private async classifyFailure(request: PublishRequest): Promise<PublishResult> {
    const { responses } = await this.etcd.readMany([
      { key: this.key(keys.lease(request.lease.name)) },
      { key: this.key(keys.latest) },
    ]);
    const problem = this.leaseProblem(responses[0]!.kvs[0], request.lease);
    if (problem !== null) return { ok: false, reason: 'fenced', detail: problem };
    const latestKv = responses[1]!.kvs[0];
    const latest = latestKv === undefined ? 0 : Number(latestKv.value.toString());
    if (latest !== request.baseGeneration) {
      return {
        ok: false,
        reason: 'stale-base',
        detail: `plan computed against generation ${request.baseGeneration} but ${latest} is the newest`,
      };
    }
    return {
      ok: false,
      reason: 'fenced',
      detail: `another publication of generation ${latest + 1} started meanwhile `
        + `under lease token ${request.lease.token}`,
    };
  }

  /**
   * Publication (DESIGN.md S6; "a lease is not a lock"): every write
   * compares the leader key's create revision (the caller's fencing token)
   * and the mod revision of the generation pointer. A plan that fits in one
   * etcd transaction is published by that one transaction. A larger one in
   * three phases: (1) a stage record for generation base+1; (2) the plan's
   * data in bounded transactions, each also comparing the stage record's
   * revision, so a planner that lost its lease (or an older attempt of its
   * own) cannot add to it; (3) one transaction that flips the pointer and
   * writes the header. Readers only see generations up to the pointer, so
   * they never see half a plan.
   */
  async publish(request: PublishRequest): Promise<PublishResult> {
    const names = request.changes.map((change) => change.name);
    assert(new Set(names).size === names.length, 'internal', 'a plan changes each name at most once');
    const generation = request.baseGeneration + 1;
    const leaseKey = this.key(keys.lease(request.lease.name));
    const latestKey = this.key(keys.latest);
    const leftovers = this.key(keys.deltaOf(generation));
    const small = names.length <= smallPlanNamesMax;
    // One consistent read: lease, pointer, any leftover of an earlier attempt at this generation, and (for a small
    // plan) each changed name's current version.
    const reads: IRangeRequest[] = [
      { key: leaseKey },
      { key: latestKey },
      { key: leftovers, range_end: prefixEnd(leftovers), limit: 1, keys_only: true },
    ];
    if (small) reads.push(...names.map((name) => this.newestVersionRange(name, request.baseGeneration, true)));
    const { responses } = await this.etcd.readMany(reads);
    const problem = this.leaseProblem(responses[0]!.kvs[0], request.lease);
    if (problem !== null) return { ok: false, reason: 'fenced', detail: problem };
    const latestKv = responses[1]!.kvs[0];
    const latest = latestKv === undefined ? 0 : Number(latestKv.value.toString());
    if (latest !== request.baseGeneration) {
      return {
        ok: false,
        reason: 'stale-base',
        detail: `plan computed against generation ${request.baseGeneration} but ${latest} is the newest`,
      };
    }
    assert(generation === latest + 1, 'S6', `generation ${generation} does not follow ${latest}`);
    const guards: ICompare[] = [
      compare.created(leaseKey, request.lease.token),
      compare.modified(latestKey, latestKv === undefined ? 0 : revisionOf(latestKv.mod_revision)),
    ];
    const chunks = encodeDeltaChunks(request.changes);
    const header = this.newHeader(request, generation, chunks.length);
    if (small && responses[2]!.kvs.length === 0) {
      const previous = this.sincesFrom(responses.slice(3));
      const ops = [...this.planDataOps(request.changes, chunks, generation, previous), ...this.flipOps(header)];
      if (batchOps(ops).length === 1) return this.commit(request, header, guards, ops);
    }
    return this.publishStaged(request, header, chunks, guards);
  }

  private newHeader(request: PublishRequest, generation: Generation, deltaChunks: number): StoredHeader {
    return {
      generation, baseGeneration: request.baseGeneration, createdAtMs: this.clock.nowMs(),
      plannerId: request.lease.holder,
      fencingToken: request.lease.token, namesTotal: request.namesTotal, namesChanged: request.changes.length,
      forced: request.forced, note: request.note, inventoryVersion: request.inventoryVersion ?? 0,
      attempt: randomUUID(), deltaChunks,
    };
  }

  /** The three phases of a publication too large for one transaction (see publish). */
  private async publishStaged(
    request: PublishRequest,
    header: StoredHeader,
    chunks: readonly string[],
    guards: ICompare[],
  ): Promise<PublishResult> {
    const { generation } = header;
    const stage: StageRecord = {
      generation,
      attempt: header.attempt,
      holder: request.lease.holder,
      token: request.lease.token,
    };
    const staged = await this.etcd.txn({
      compare: guards,
      success: [{ request_put: { key: this.key(keys.stage), value: Buffer.from(JSON.stringify(stage)) } }],
    });
    if (!staged.succeeded) return this.classifyFailure(request);
    const stageRevision = revisionOf(staged.header.revision);
    const stageGuards = [...guards, compare.modified(this.key(keys.stage), stageRevision)];
    if (!(await this.removeLeftovers(generation, stageRevision, stageGuards))) return this.classifyFailure(request);
    const previous = await this.currentSinces(
      request.changes.map((change) => change.name),
      generation - 1,
      stageRevision,
    );
    // Delta chunks first: they list every name, so the next attempt can find what this one leaves if it dies.
    const chunkOps = this.planDataOps([], chunks, generation, previous);
    if (!(await this.etcd.writeGuarded(chunkOps, stageGuards))) return this.classifyFailure(request);
    if (!(await this.etcd.writeGuarded(this.planDataOps(request.changes, [], generation, previous), stageGuards))) {
      return this.classifyFailure(request);
    }
    return this.commit(request, header, stageGuards, this.flipOps(header));
  }

  private flipOps(header: StoredHeader): IRequestOp[] {
    return [
      { request_put: { key: this.key(keys.latest), value: Buffer.from(String(header.generation)) } },
      { request_put: { key: this.key(keys.header(header.generation)), value: Buffer.from(JSON.stringify(header)) } },
      { request_delete_range: { key: this.key(keys.stage) } },
    ];
  }

  /**
   * The publishing transaction. An error with an unknown outcome (a timeout) is resolved by reading whether this
   * attempt's header exists.
   */
  private async commit(
    request: PublishRequest,
    header: StoredHeader,
    guards: ICompare[],
    ops: IRequestOp[],
  ): Promise<PublishResult> {
    try {
      const committed = await this.etcd.txn({ compare: guards, success: ops });
      if (!committed.succeeded) return this.classifyFailure(request);
    } catch (error) {
      const written = await this.etcd.get(keys.header(header.generation));
      if (written === null || (JSON.parse(written.value.toString()) as StoredHeader).attempt !== header.attempt) {
        throw error;
      }
    }
    assert(
      header.generation > request.baseGeneration,
      'S6',
      `published ${header.generation} over ${request.baseGeneration}`,
    );
    return { ok: true, header: toHeader(header) };
  }

  /**
   * Removes what an earlier, unfinished attempt at `generation` left
   * (never visible: above the pointer). Every attempt writes its delta
   * chunks before any version, so the chunks name every leftover version.
   */
  private async removeLeftovers(generation: Generation, revision: number, guards: ICompare[]): Promise<boolean> {
    const prefix = this.key(keys.deltaOf(generation));
    const ops: IRequestOp[] = [];
    for await (const page of this.etcd.scan(prefix, prefixEnd(prefix), revision, { pageKeys: chunksPerPage })) {
      for (const kv of page) {
        for (const line of decodeDeltaChunk(kv.value.toString())) {
          ops.push({ request_delete_range: { key: this.key(keys.version(line.name, generation)) } });
        }
      }
    }
    ops.push({ request_delete_range: { key: prefix, range_end: prefixEnd(prefix) } });
    const superseded = this.key(keys.supersededOf(generation));
    ops.push({ request_delete_range: { key: superseded, range_end: prefixEnd(superseded) } });
    return this.etcd.writeGuarded(ops, guards);
  }

  /** Delta chunks, one version key per changed name, and a superseded marker for each version it replaces. */
  private planDataOps(
    changes: readonly PlanChange[],
    chunks: readonly string[],
    generation: Generation,
    previous: ReadonlyMap<string, Generation>,
  ): IRequestOp[] {
    const ops: IRequestOp[] = chunks.map((chunk, index) => ({
      request_put: { key: this.key(keys.deltaChunk(generation, index)), value: Buffer.from(chunk) },
    }));
    for (const change of changes) {
      ops.push({
        request_put: {
          key: this.key(keys.version(change.name, generation)),
          value: Buffer.from(encodeVersion(change.records)),
        },
      });
      const since = previous.get(change.name);
      if (since === undefined) continue;
      assert(
        since < generation,
        'S6',
        () => `${change.name}: version ${since} is not below the new generation ${generation}`,
      );
      ops.push({
        request_put: { key: this.key(keys.superseded(generation, change.name, since)), value: Buffer.alloc(0) },
      });
    }
    return ops;
  }

  /** Names and sinces from keys-only newest-version ranges. */
  private sincesFrom(responses: readonly { kvs: KeyValue[] }[]): Map<string, Generation> {
    const found = new Map<string, Generation>();
    for (const response of responses) {
      const kv = response.kvs[0];
      if (kv === undefined) continue;
      const { name, since } = splitNameSince(this.etcd.path(kv.key).slice(keys.versionPrefix.length));
      found.set(name, since);
    }
    return found;
  }

  /** For each name, the `since` of its newest version at or below `generation` (absent: the name has none). */
  async currentSinces(
    names: readonly string[],
    generation: Generation,
    revision: number,
  ): Promise<Map<string, Generation>> {
    const found = new Map<string, Generation>();
    if (names.length > sinceScanThreshold) {
      const wanted = new Set(names);
      const prefix = this.key(keys.versionPrefix);
      for await (const page of this.etcd.scan(prefix, prefixEnd(prefix), revision, { keysOnly: true })) {
        for (const kv of page) {
          const { name, since } = splitNameSince(this.etcd.path(kv.key).slice(keys.versionPrefix.length));
          if (wanted.has(name) && since <= generation && since > (found.get(name) ?? 0)) found.set(name, since);
        }
      }
      return found;
    }
    const ranges: IRangeRequest[] = names.map((name) => this.newestVersionRange(name, generation, true));
    const { responses } = await this.etcd.readMany(ranges, revision);
    return this.sincesFrom(responses);
  }

  /** A range for the newest version of `name` at or below `generation` (key order is since order within a name). */
  private newestVersionRange(name: string, generation: Generation, keysOnly: boolean): IRangeRequest {
    return {
      key: this.key(keys.versionsOf(name)), range_end: this.key(keys.version(name, generation + 1)),
      sort_order: 'Descend', sort_target: 'Key', limit: 1, keys_only: keysOnly,
    };
  }

  private parseVersion(kv: KeyValue): PlanEntry {
    const { name, since } = splitNameSince(this.etcd.path(kv.key).slice(keys.versionPrefix.length));
    return { name, since, records: decodeVersion(kv.value.toString()) };
  }

  /**
   * A paged read (a page of `limit` names after `afterName`) that came back full is most likely followed by the next
   * page (the enactor's and the reconciler's paging loops): that page is read ahead, while the caller works on this
   * one, so the read overlaps the caller's writes instead of waiting between them. At most one page, wasted when the
   * caller stops there.
   */
  async read(generation: Generation, options: PlanReadOptions = {}): Promise<PlanView | null> {
    const ahead = this.takeReadAhead(generation, options);
    const view = ahead === null
      ? await this.readRetrying(generation, options)
      : await this.confirmed(ahead, generation, options);
    const limit = options.limit;
    if (view !== null && options.names === undefined && limit !== undefined && limit >= readAheadPageMin
      && view.entries.length === limit) {
      const next: PlanReadOptions = { ...options, afterName: view.entries[limit - 1]!.name };
      const page = this.readRetrying(generation, next);
      page.catch(() => undefined); // Looked at only if taken (takeReadAhead); a failure there reads afresh.
      this.readAhead = { key: readAheadKey(generation, next), page };
    }
    return view;
  }

  private takeReadAhead(generation: Generation, options: PlanReadOptions): Promise<PlanView | null> | null {
    const ahead = this.readAhead;
    this.readAhead = null;
    if (ahead === null || options.names !== undefined || ahead.key !== readAheadKey(generation, options)) return null;
    return ahead.page;
  }

  /**
   * A page read ahead, as a read now would answer it: the page's entries were read at an earlier revision (a plan's
   * entries never change while its header exists: the janitor deletes a plan's data only once it is below every hold,
   * versions before headers), and the header is read now, so a plan cleaned up meanwhile reads as gone (null), as it
   * would. A read ahead that failed is read again.
   */
  private async confirmed(
    ahead: Promise<PlanView | null>, generation: Generation, options: PlanReadOptions,
  ): Promise<PlanView | null> {
    let view: PlanView | null;
    try {
      view = await ahead;
    } catch {
      return this.readRetrying(generation, options);
    }
    if (view === null) return null;
    const header = await this.etcd.get(keys.header(generation));
    return header === null ? null : view;
  }

  private async readRetrying(generation: Generation, options: PlanReadOptions): Promise<PlanView | null> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.readOnce(generation, options);
      } catch (error) {
        // The pinned revision was compacted between pages of this read: read again at a newer one.
        if (!isCompacted(error) || attempt >= readAttemptsMax) throw error;
      }
    }
  }

  private async readOnce(generation: Generation, options: PlanReadOptions): Promise<PlanView | null> {
    const headerPrefix = this.key(keys.headerPrefix);
    const { responses, revision } = await this.etcd.readMany([
      { key: this.key(keys.header(generation)) },
      { key: headerPrefix, range_end: prefixEnd(headerPrefix), limit: 1, keys_only: true },
    ]);
    const headerKv = responses[0]!.kvs[0];
    if (headerKv === undefined) return null;
    const header = toHeader(JSON.parse(headerKv.value.toString()) as StoredHeader);
    assert(header.generation === generation, 'internal', `header of ${generation} says ${header.generation}`);
    if (options.names !== undefined) {
      const entries = await this.entriesAtRevision(options.names, generation, revision);
      return { header, entries: options.names.filter((name) => entries.has(name)).map((name) => entries.get(name)!) };
    }
    const sinceAfter = options.sinceAfter ?? 0;
    const oldestKv = responses[1]!.kvs[0];
    const oldest = oldestKv === undefined
      ? generation
      : Number(this.etcd.path(oldestKv.key).slice(keys.headerPrefix.length));
    let entries: PlanEntry[];
    if (sinceAfter >= generation) {
      entries = [];
    } else if (sinceAfter > 0 && sinceAfter + 1 >= oldest) {
      // Every plan in (sinceAfter, generation] still exists, so their delta chunks hold exactly what changed.
      entries = pageOf(await this.mergedDelta(sinceAfter, generation, revision), options.afterName, options.limit);
    } else {
      entries = await this.scanVisible(generation, sinceAfter, revision, options.afterName, options.limit);
    }
    return { header, entries };
  }

  /** The versions introduced in (sinceAfter, generation] that are visible at `generation`, in name order (cached). */
  private async mergedDelta(sinceAfter: Generation, generation: Generation, revision: number): Promise<PlanEntry[]> {
    const cacheKey = `${sinceAfter}:${generation}`;
    if (this.deltaCache?.key === cacheKey) return this.deltaCache.entries;
    const newest = new Map<string, PlanEntry>();
    const start = this.key(keys.deltaOf(sinceAfter + 1));
    const end = this.key(keys.deltaOf(generation + 1));
    for await (const page of this.etcd.scan(start, end, revision, { pageKeys: chunksPerPage })) {
      for (const kv of page) {
        const since = Number(this.etcd.path(kv.key).slice(keys.deltaPrefix.length).split('/')[0]);
        assert(
          since > sinceAfter && since <= generation,
          'internal',
          () => `delta chunk of ${since} outside (${sinceAfter}, ${generation}]`,
        );
        for (const line of decodeDeltaChunk(kv.value.toString())) {
          if ((newest.get(line.name)?.since ?? 0) < since) {
            newest.set(line.name, { name: line.name, since, records: line.records });
          }
        }
      }
    }
    const entries = [...newest.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.deltaCache = { key: cacheKey, entries };
    return entries;
  }

  /**
   * Scans version keys in name order from `afterName`: per name the newest version at or below `generation`, if newer
   * than `sinceAfter`.
   */
  private async scanVisible(
    generation: Generation,
    sinceAfter: Generation,
    revision: number,
    afterName: string | undefined,
    limit: number | undefined,
  ): Promise<PlanEntry[]> {
    const entries: PlanEntry[] = [];
    const wanted = limit ?? Number.POSITIVE_INFINITY;
    const prefix = this.key(keys.versionPrefix);
    // The character after the separator: the first key of any name greater than afterName.
    const start = afterName === undefined || afterName === ''
      ? prefix
      : this.key(`${keys.versionPrefix}${afterName}${String.fromCharCode(nameSeparator.charCodeAt(0) + 1)}`);
    let current: string | null = null;
    let best: PlanEntry | null = null;
    const finish = () => {
      if (best !== null && best.since > sinceAfter) entries.push(best);
      best = null;
    };
    // A page as large as the entries asked for and one more key (the next name's, which completes the last name):
    // a page of an enactor's full read is one range, not several of scanPageKeys.
    const pageKeys = limit === undefined ? scanPageKeys : Math.max(1, Math.min(limit + 1, visiblePageKeysMax));
    for await (const page of this.etcd.scan(start, prefixEnd(prefix), revision, { pageKeys })) {
      for (const kv of page) {
        const entry = this.parseVersion(kv);
        if (entry.name !== current) {
          // Versions of one name are adjacent and in since order, so the previous name is complete.
          finish();
          if (entries.length >= wanted) return entries;
          current = entry.name;
        }
        if (entry.since <= generation) best = entry;
      }
    }
    finish();
    return entries.slice(0, wanted === Number.POSITIVE_INFINITY ? undefined : wanted);
  }

  async entriesAt(names: readonly string[], generation: Generation): Promise<Map<string, PlanEntry>> {
    const { generation: latest } = await this.latest();
    return this.entriesAtRevision(names, Math.min(generation, latest), undefined);
  }

  /** Each name's newest version at or below `generation`, all read at one revision. */
  private async entriesAtRevision(
    names: readonly string[],
    generation: Generation,
    revision: number | undefined,
  ): Promise<Map<string, PlanEntry>> {
    const entries = new Map<string, PlanEntry>();
    if (names.length === 0 || generation <= 0) return entries;
    const { responses } = await this.etcd.readMany(
      names.map((name) => this.newestVersionRange(name, generation, false)),
      revision,
    );
    for (const response of responses) {
      const kv = response.kvs[0];
      if (kv !== undefined) {
        const entry = this.parseVersion(kv);
        entries.set(entry.name, entry);
      }
    }
    return entries;
  }

  async listHeaders(limit: number): Promise<PlanHeader[]> {
    const prefix = this.key(keys.headerPrefix);
    const kvs = await this.etcd.rangeUpTo(
      { key: prefix, range_end: prefixEnd(prefix), sort_order: 'Descend', sort_target: 'Key' },
      limit,
    );
    return kvs.map((kv) => toHeader(JSON.parse(kv.value.toString()) as StoredHeader));
  }

  async oldest(): Promise<Generation> {
    const prefix = this.key(keys.headerPrefix);
    const response = await this.etcd.range({ key: prefix, range_end: prefixEnd(prefix), limit: 1, keys_only: true });
    const kv = response.kvs[0];
    return kv === undefined ? 0 : Number(this.etcd.path(kv.key).slice(keys.headerPrefix.length));
  }

  async listSuperseded(floor: Generation, limit: number): Promise<SupersededVersion[]> {
    const { generation: latest } = await this.latest();
    // Markers above the pointer belong to an unpublished attempt: never candidates.
    const bound = Math.min(floor, latest);
    if (bound <= 0) return [];
    const kvs = await this.etcd.rangeUpTo(
      { key: this.key(keys.supersededPrefix), range_end: this.key(keys.supersededOf(bound + 1)) },
      limit,
    );
    return kvs.map((kv) => {
      const tail = this.etcd.path(kv.key).slice(keys.supersededPrefix.length);
      const slash = tail.indexOf('/');
      const { name, since } = splitNameSince(tail.slice(slash + 1));
      return { name, since, supersededBy: Number(tail.slice(0, slash)) };
    });
  }

  /**
   * Deletes superseded versions (each only if its superseded marker is
   * still there) and the headers, with their delta chunks, below
   * `headersBelow`. Several transactions: each deletion is safe on its own.
   */
  async deleteData(
    versions: readonly SupersededVersion[],
    headersBelow: Generation,
  ): Promise<{ versions: number; headers: number }> {
    const { generation: latest } = await this.latest();
    assert(headersBelow <= latest, 'S4', `clean-up below ${headersBelow} would delete the newest plan ${latest}`);
    const versionOps: IRequestOp[] = versions.map((version) => {
      assert(
        version.supersededBy > version.since,
        'S4',
        () => `version ${version.name}@${version.since} superseded by ${version.supersededBy}`,
      );
      const marker = this.key(keys.superseded(version.supersededBy, version.name, version.since));
      return {
        request_txn: {
          compare: [{ key: marker, target: 'Create', result: 'Greater', create_revision: 0 }],
          success: [
            { request_delete_range: { key: this.key(keys.version(version.name, version.since)) } },
            { request_delete_range: { key: marker } },
          ],
        },
      };
    });
    let versionsDeleted = 0;
    await forEachConcurrently(batchOps(versionOps), writeConcurrency, async (batch) => {
      const response = await this.etcd.txn({ success: batch });
      versionsDeleted += response.responses.filter((op) => op.response_txn?.succeeded === true).length;
    });
    const headersDeleted = await this.deleteHeadersBelow(headersBelow);
    return { versions: versionsDeleted, headers: headersDeleted };
  }

  private async deleteHeadersBelow(headersBelow: Generation): Promise<number> {
    if (headersBelow <= 0) return 0;
    const response = await this.etcd.range({
      key: this.key(keys.headerPrefix),
      range_end: this.key(keys.header(headersBelow)),
      keys_only: true,
    });
    const ops: IRequestOp[] = [];
    for (const kv of response.kvs) {
      const generation = Number(this.etcd.path(kv.key).slice(keys.headerPrefix.length));
      assert(generation < headersBelow, 'S4', `header ${generation} is not below ${headersBelow}`);
      const delta = this.key(keys.deltaOf(generation));
      ops.push({
        request_txn: {
          success: [
            { request_delete_range: { key: kv.key } },
            { request_delete_range: { key: delta, range_end: prefixEnd(delta) } },
          ],
        },
      });
    }
    let deleted = 0;
    for (const batch of batchOps(ops)) {
      const result = await this.etcd.txn({ success: batch });
      // Each header's own delete is the first op of its nested transaction.
      deleted += result.responses
        .filter((op) => Number(op.response_txn?.responses[0]?.response_delete_range?.deleted ?? 0) > 0)
        .length;
    }
    return deleted;
  }
}

/** A page of a name-ordered list: names after `afterName`, at most `limit`. */
function pageOf(entries: readonly PlanEntry[], afterName: string | undefined, limit: number | undefined): PlanEntry[] {
  let low = 0;
  if (afterName !== undefined && afterName !== '') {
    let high = entries.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (entries[middle]!.name <= afterName) low = middle + 1;
      else high = middle;
    }
  }
  return entries.slice(low, limit === undefined ? undefined : low + limit);
}
