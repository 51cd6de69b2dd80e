import type { Change, ResourceRecordSet } from '@aws-sdk/client-route-53';
import type { Generation, RecordEntry } from '../../domain/types.js';
import { assert } from '../../util/assert.js';
import type { GuardedChange } from '../guard.js';
import { encodeMarker, encodeTombstone } from '../marker.js';
import { awsName, fromAwsName, markerPrefix, sameAnswer, txtValue, weightedSets, type NameSets } from './sets.js';

/**
 * One name's compare-and-swap in Route 53's terms: a list of changes for one
 * change batch that DELETEs the exact marker TXT that was read (or, for a
 * name never written, CREATEs the marker, which fails if one appeared) and
 * the exact weighted sets that change, then CREATEs the new sets and the new
 * marker. Route 53 applies a batch all-or-nothing, so if anything moved since
 * the read, the batch fails with InvalidChangeBatch naming the record, and
 * nothing of it is served. The DELETEs come before the CREATEs (Route 53
 * applies the changes in order), and the new sets are created in the same
 * batch as the old are deleted, so the name never has zero answers (S1).
 */

export interface PreparedWrite {
  change: GuardedChange;
  version: string;
  changes: Change[];
  /** ResourceRecord elements and characters of Value elements, as AWS counts them against a batch's limits. */
  records: number;
  characters: number;
  /** The name's sets once the write is applied. */
  written: NameSets;
}

export interface BatchLimits {
  recordsMax: number;
  charactersMax: number;
}

function markerSet(name: string, strings: readonly Buffer[], ttl: number): ResourceRecordSet {
  const owner = awsName(`${markerPrefix}${name}`);
  return { Name: owner, Type: 'TXT', TTL: ttl, ResourceRecords: [{ Value: txtValue(strings) }] };
}

function markerStrings(change: GuardedChange, version: string): Buffer[] {
  const generation: Generation = change.generation;
  if (change.records === null) return encodeTombstone({ generation, version });
  return encodeMarker({ generation, version, records: change.records as RecordEntry[] });
}

/**
 * The changes of one write over the sets read (`current`): for a first
 * write the marker is CREATEd (a tombstone read is DELETEd first); otherwise
 * the marker read is DELETEd and the new one CREATEd. Weighted sets that stay
 * as they are are left alone; the others are DELETEd exactly as read and the
 * new ones CREATEd. A removal DELETEs every address set and leaves a tombstone.
 */
export function prepareWrite(change: GuardedChange, current: NameSets, version: string, ttl: number): PreparedWrite {
  const name = change.name;
  const desired = change.records === null ? [] : weightedSets(name, change.records, ttl);
  const kept = current.addresses.filter((set) => desired.some((wanted) => sameAnswer(wanted, set)));
  const removed = current.addresses.filter((set) => !kept.includes(set));
  const created = desired.filter((wanted) => !kept.some((set) => sameAnswer(wanted, set)));
  const newMarker = markerSet(name, markerStrings(change, version), ttl);
  const changes: Change[] = [
    ...current.marker.map((set): Change => ({ Action: 'DELETE', ResourceRecordSet: set })),
    ...removed.map((set): Change => ({ Action: 'DELETE', ResourceRecordSet: set })),
    ...created.map((set): Change => ({ Action: 'CREATE', ResourceRecordSet: set })),
    { Action: 'CREATE', ResourceRecordSet: newMarker },
  ];
  const addresses = [...kept, ...created];
  if (change.records !== null) {
    // S1, asserted on what the batch leaves: at least one answer of positive weight.
    const answers = addresses.filter((set) => (set.Weight ?? 0) > 0).length;
    assert(answers > 0, 'S1', `${name}: the write would leave no weighted set of positive weight`);
  }
  const values = changes.flatMap((item) => item.ResourceRecordSet?.ResourceRecords ?? [])
    .map((record) => record.Value ?? '');
  return {
    change, version, changes, records: values.length, characters: values.reduce((sum, value) => sum + value.length, 0),
    written: { marker: [newMarker], addresses },
  };
}

/** Writes packed in order into batches within AWS's limits; one name's write is never split. */
export function packWrites(writes: readonly PreparedWrite[], limits: BatchLimits): PreparedWrite[][] {
  const batches: PreparedWrite[][] = [];
  let batch: PreparedWrite[] = [];
  let records = 0;
  let characters = 0;
  for (const write of writes) {
    const fits = write.records <= limits.recordsMax && write.characters <= limits.charactersMax;
    assert(fits, 'internal', `${write.change.name} exceeds a batch`);
    const full = records + write.records > limits.recordsMax || characters + write.characters > limits.charactersMax;
    if (batch.length > 0 && full) {
      batches.push(batch);
      batch = [];
      records = 0;
      characters = 0;
    }
    batch.push(write);
    records += write.records;
    characters += write.characters;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

// The records AWS names when a compare fails: "Tried to delete resource record set [name='...', type='...'
// (, set-identifier='...')] but it was not found" / "... but the values provided do not match the current values",
// "Tried to create resource record set [...] but it already exists", and "RRSet with DNS name <name>, type <type>
// (, SetIdentifier <id>) cannot be created as ..." when a hand-made set of the other routing kind appeared.
const triedOutcomes = 'it was not found|the values provided do not match the current values|it already exists';
const comparePatterns = [
  new RegExp(`Tried to (?:delete|create) resource record set \\[name='([^']+)', type='[A-Z]+'`
    + `(?:, set-identifier='[^']*')?\\] but (?:${triedOutcomes})`, 'g'),
  /RRSet with DNS name ([^\s,]+), type [A-Z]+(?:, SetIdentifier .*?)? cannot be created as (?:a non-weighted|other) /g,
];

/** The dnsplane names whose records an InvalidChangeBatch names as a failed compare (a marker maps to its name). */
export function conflictingNames(messages: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const message of messages) {
    for (const pattern of comparePatterns) {
      for (const match of message.matchAll(pattern)) {
        const record = fromAwsName(match[1]!);
        names.add(record.startsWith(markerPrefix) ? record.slice(markerPrefix.length) : record);
      }
    }
  }
  return names;
}
