import { readFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { validateRecordSet } from '../domain/validate.js';
import type { ServedChange } from '../providers/types.js';
import type { ServedState } from '../providers/types.js';
import { decodeRecords, encodeRecords } from '../domain/codec.js';
import { assert, UserError } from '../util/assert.js';

/**
 * The copy of the served records a DNS server keeps in its data directory
 * (`dns-snapshot.json`), so that a `serve` restarted while its store cannot
 * be read (etcd down, a SQLite file it may not read) still has something
 * to answer from. One format for both stores: the etcd mirror
 * (src/providers/builtin/etcd.ts) and the SQLite source (source.ts) write
 * and read it through these functions.
 */

/** Format of the snapshot file; a file of another format is refused, not guessed at. */
const snapshotFormat = 1;
export const snapshotFileName = 'dns-snapshot.json';
export const snapshotIntervalDefaultMs = 5000;

/** Where a served source keeps its copy (the etcd mirror's options include these). */
export interface SnapshotCopyOptions {
  /**
   * A file the source keeps a copy of every served name in, rewritten (at
   * most every `snapshotIntervalMs`) while the store can be read and the
   * names move, so that a DNS server can start and answer while it cannot.
   */
  snapshotPath?: string;
  snapshotIntervalMs?: number;
  /** Called when the copy cannot be written (the source itself carries on). */
  onSnapshotError?: (error: Error) => void;
  /** Called when a server starts from the copy because the store cannot be read (`cause`). */
  onStartFromFile?: (path: string, cause: Error) => void;
}

/** One name in the snapshot file: name, generation, marker version, records (compact codec), change version. */
export type SnapshotEntry = [string, number, string, string, number];

export interface SnapshotFile {
  format: number;
  savedAtMs: number;
  /** The version the reader had reached (etcd: the mirror's revision; SQLite: served_version). */
  version: number;
  names: SnapshotEntry[];
}

/** An entry for one served state, at change version `version`. */
export function snapshotEntry(state: ServedState, version: number): SnapshotEntry {
  return [state.name, state.generation, state.version, encodeRecords(state.records), version];
}

/** The served state an entry holds. */
export function entryState(entry: SnapshotEntry): ServedState {
  const [name, generation, version, records] = entry;
  return { name, generation, version, records: decodeRecords(records) };
}

/**
 * Reads and checks a snapshot file; throws a UserError naming the file and
 * the problem, ending with `fallback` (why the file was needed).
 */
export function readSnapshotFile(path: string, fallback: string): SnapshotFile {
  const problem = (what: string) => new UserError(`DNS snapshot file ${path} is unusable (${what}), and ${fallback}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw problem((error as Error).message);
  }
  const file = parsed as Partial<SnapshotFile>;
  if (typeof file !== 'object' || file === null || file.format !== snapshotFormat) {
    throw problem(`format is not ${snapshotFormat}`);
  }
  if (!Number.isSafeInteger(file.version) || !Number.isSafeInteger(file.savedAtMs) || !Array.isArray(file.names)) {
    throw problem('version, savedAtMs or names missing');
  }
  const fileVersion = file.version as number;
  for (const entry of file.names) {
    const ok = Array.isArray(entry) && entry.length === 5 && typeof entry[0] === 'string'
      && Number.isSafeInteger(entry[1]) && typeof entry[2] === 'string'
      && typeof entry[3] === 'string' && Number.isSafeInteger(entry[4]);
    if (!ok) {
      throw problem(
        `entry ${JSON.stringify(entry).slice(0, 100)} is not [name, generation, version, records, mirrorVersion]`,
      );
    }
    if (entry[4] > fileVersion) throw problem(`${entry[0]} is at version ${entry[4]}, above the file's ${fileVersion}`);
    let problems: string[];
    try {
      problems = validateRecordSet(entry[0], decodeRecords(entry[3]));
    } catch (error) {
      problems = [(error as Error).message];
    }
    if (problems.length > 0) throw problem(`${entry[0]}: ${problems.join('; ')}`);
  }
  return file as SnapshotFile;
}

/** A page of a snapshot file being written: entries read at `version` (every page of one file: the same version). */
export interface SnapshotPage {
  version: number;
  names: readonly SnapshotEntry[];
}

/**
 * Writes the snapshot file page by page, so that a large zone's copy is never one array nor one string and the event
 * loop is free between two pages, to a temporary file of this process renamed over `path` once whole (several workers
 * may save at once): a reader finds the old copy or the new one, never a part. Returns the version written.
 */
export async function writeSnapshotPages(
  path: string, pages: Iterable<SnapshotPage> | AsyncIterable<SnapshotPage>, nowMs: number,
): Promise<number> {
  const temporary = `${path}.${process.pid}.tmp`;
  const file = await open(temporary, 'w');
  let version: number | null = null;
  try {
    let written = 0;
    for await (const page of pages) {
      if (version === null) {
        version = page.version;
        const valid = Number.isSafeInteger(version) && version >= 0;
        assert(valid, 'internal', `snapshot version ${version} is not a version`);
        await file.write(`{"format":${snapshotFormat},"savedAtMs":${nowMs},"version":${version},"names":[`);
      }
      assert(page.version === version, 'internal', () => `a snapshot page at ${page.version}, the file at ${version}`);
      if (page.names.length === 0) continue;
      await file.write(`${written === 0 ? '' : ','}${page.names.map((entry) => JSON.stringify(entry)).join(',')}`);
      written += page.names.length;
    }
    assert(version !== null, 'internal', 'a snapshot file of no page');
    await file.write(']}');
  } catch (error) {
    await file.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await file.close();
  await rename(temporary, path);
  return version;
}

/** Writes the snapshot file of `names`, all at hand (etcd's mirror holds them). */
export async function writeSnapshotFile(
  path: string,
  version: number,
  names: SnapshotEntry[],
  nowMs: number,
): Promise<void> {
  await writeSnapshotPages(path, [{ version, names }], nowMs);
}

/**
 * A snapshot file as a served reader (the shape the refresher reads): the
 * SQLite source serves from it when the store cannot be read at start.
 * Its versions are the store's served versions, so a refresh that reaches
 * the store later rebuilds from there (a fresh open).
 */
export class SnapshotFileReader {
  private readonly changes: ServedChange[];

  constructor(readonly file: SnapshotFile) {
    this.changes = file.names.map((entry) => ({ name: entry[0], version: entry[4], state: entryState(entry) }))
      .sort((a, b) => a.version - b.version);
  }

  currentVersion(): number {
    return this.file.version;
  }

  changesSince(afterVersion: number): { version: number; changes: ServedChange[] } {
    return { version: this.file.version, changes: this.changes.filter((change) => change.version > afterVersion) };
  }
}
