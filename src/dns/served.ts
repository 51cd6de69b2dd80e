import type { ServedChange } from '../providers/types.js';

/** The two reads the snapshot refresh needs (BuiltinSqliteProvider has both). */
export interface ServedReader {
  currentVersion(): number;
  changesSince(afterVersion: number): { version: number; changes: ServedChange[] };
}

/**
 * Where the DNS server reads served state from, and where it raises its
 * alarms. `open` throws when the store cannot be read; the refresher then
 * serves its last good snapshot (fail static).
 */
export interface ServedSource {
  /** The reader to use now; `fresh` means a new store was opened and the snapshot must be rebuilt from nothing. */
  open(): { reader: ServedReader; fresh: boolean };
  /** Optional asynchronous set-up before the first `open` (etcd: load every name and start watching). */
  start?(): Promise<void>;
  raiseAlarm(kind: string, message: string): Promise<void>;
  clearAlarm(kind: string): Promise<void>;
  /** Optional: calls `onChange` soon after the store may have changed; returns a function that stops watching. */
  watch?(onChange: () => void): () => void;
  close(): Promise<void>;
}
