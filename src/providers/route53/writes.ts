import type { Change, ResourceRecordSet } from '@aws-sdk/client-route-53';
import type { Generation, RecordEntry } from '../../domain/types.js';
import { assert } from '../../util/assert.js';
import type { GuardedChange } from '../guard.js';
import { encodeMarker, encodeTombstone, tombstoneName } from '../marker.js';
import {
  awsName, encodeClaim, fromAwsName, markerPrefix, sameAnswer, txtValue, weightedSets, type NameSets,
} from './sets.js';

/**
 * One name's compare-and-swap in Route 53's terms: a list of changes for one
 * change batch that DELETEs exactly the sets read that it replaces and
 * CREATEs the new ones. Route 53 applies a batch all-or-nothing, a DELETE
 * must match exactly and a CREATE fails where the set exists, so if anything
 * moved since the read, the batch fails with InvalidChangeBatch naming the
 * record, and nothing of it is served. The DELETEs come before the CREATEs
 * (Route 53 applies the changes in order), and the new sets are created in
 * the same batch as the old are deleted, so the name never has zero answers
 * (S1). Three kinds of write (sets.ts says where each set lives):
 *
 * - first: a name read as absent (or never read). DELETEs the tombstones read
 *   (in the slot, or at the marker's place from an earlier version) or the
 *   claim read, CREATEs the weighted sets, the marker and the claim. A marker,
 *   a tombstone or a claim that appeared since makes a CREATE fail, as does an
 *   address set that collides with the weighted ones (a simple set of the same
 *   type, a CNAME, a weighted set of the same SetIdentifier).
 * - adoption: an unmanaged name, as read. DELETEs exactly every A, AAAA and
 *   CNAME set read, and the tombstone or claim read; CREATEs the weighted sets,
 *   the marker and the claim.
 * - update (or removal) of a served name: DELETEs the marker read and the
 *   weighted sets that change, CREATEs the new ones and the new marker; a
 *   removal DELETEs every address set, the marker and the slot read, and
 *   CREATEs the tombstone in the slot: nothing remains at or below the name.
 */

export type WriteKind = 'first' | 'adoption' | 'update';

export interface PreparedWrite {
  change: GuardedChange;
  version: string;
  changes: Change[];
  /** ResourceRecord elements and characters of Value elements, as AWS counts them against a batch's limits. */
  records: number;
  characters: number;
  /** The name's sets once the write is applied. */
  written: NameSets;
  /** The owner names (dnsplane's form) of the sets it changes: how a refused batch's messages map to this name. */
  owners: string[];
}

export interface BatchLimits {
  recordsMax: number;
  charactersMax: number;
}

export interface WriteSettings {
  zone: string;
  ttl: number;
  /** The owner id every marker, claim and tombstone written carries. */
  owner: string;
}

function txtSet(owner: string, strings: readonly Buffer[], ttl: number): ResourceRecordSet {
  return { Name: awsName(owner), Type: 'TXT', TTL: ttl, ResourceRecords: [{ Value: txtValue(strings) }] };
}

const remove = (set: ResourceRecordSet): Change => ({ Action: 'DELETE', ResourceRecordSet: set });
const create = (set: ResourceRecordSet): Change => ({ Action: 'CREATE', ResourceRecordSet: set });

/** The changes of one write over the sets read (`current`), as the module comment says. */
export function prepareWrite(
  change: GuardedChange, kind: WriteKind, current: NameSets, version: string, settings: WriteSettings,
): PreparedWrite {
  const { name, generation } = change;
  const { ttl, owner } = settings;
  const removal = change.records === null;
  assert(!removal || kind === 'update', 'internal', `${name}: a removal of a name dnsplane does not serve`);
  assert(kind !== 'first' || current.addresses.length + current.cname.length === 0, 'internal',
    () => `${name}: a first write over address sets read`);
  const desired = removal ? [] : weightedSets(name, change.records as RecordEntry[], ttl);
  const replaceAll = kind !== 'update';
  const kept = replaceAll ? [] : current.addresses.filter((set) => desired.some((wanted) => sameAnswer(wanted, set)));
  const removed = current.addresses.filter((set) => !kept.includes(set));
  const created = desired.filter((wanted) => !kept.some((set) => sameAnswer(wanted, set)));
  // The slot is rewritten by every write that is not a plain update: a claim for a first write or an adoption, a
  // tombstone for a removal.
  const slotWritten = kind !== 'update' || removal;
  assert(!slotWritten || current.slot !== null, 'internal', () => `${name}: its slot was not read`);
  const slotName = tombstoneName(name, settings.zone);
  const newSlot = removal
    ? txtSet(slotName, encodeTombstone({ generation, version, owner }), ttl)
    : txtSet(slotName, encodeClaim(generation, version, owner), ttl);
  const newMarker = removal
    ? null
    : txtSet(`${markerPrefix}${name}`, encodeMarker({ generation, version, owner, records: change.records! }), ttl);
  const changes: Change[] = [
    ...current.marker.map(remove),
    ...removed.map(remove),
    ...(replaceAll ? current.cname.map(remove) : []),
    ...(slotWritten ? current.slot!.map(remove) : []),
    ...created.map(create),
    ...(newMarker === null ? [] : [create(newMarker)]),
    ...(slotWritten ? [create(newSlot)] : []),
  ];
  const addresses = [...kept, ...created];
  if (!removal) {
    // S1, asserted on what the batch leaves: at least one answer of positive weight.
    const answers = addresses.filter((set) => (set.Weight ?? 0) > 0).length;
    assert(answers > 0, 'S1', `${name}: the write would leave no weighted set of positive weight`);
  }
  const values = changes.flatMap((item) => item.ResourceRecordSet?.ResourceRecords ?? [])
    .map((record) => record.Value ?? '');
  const written: NameSets = {
    marker: newMarker === null ? [] : [newMarker], addresses, cname: replaceAll ? [] : current.cname,
    slot: slotWritten ? [newSlot] : current.slot,
  };
  const owners = [...new Set(changes.map((item) => fromAwsName(item.ResourceRecordSet?.Name ?? '')))];
  return {
    change, version, changes, records: values.length, characters: values.reduce((sum, value) => sum + value.length, 0),
    written, owners,
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
// "Tried to create resource record set [...] but it already exists"; "RRSet with DNS name <name>, type <type>
// (, SetIdentifier <id>) cannot be created as ..." when a set of the other routing kind (simple or weighted) is there;
// "RRSet of type <type> with DNS name <name> is not permitted because a conflicting RRSet of type  CNAME with the same
// DNS name already exists" when a CNAME is (AWS's text has the two spaces).
const triedOutcomes = 'it was not found|the values provided do not match the current values|it already exists';
const comparePatterns = [
  new RegExp(`Tried to (?:delete|create) resource record set \\[name='([^']+)', type='[A-Z]+'`
    + `(?:, set-identifier='[^']*')?\\] but (?:${triedOutcomes})`, 'g'),
  /RRSet with DNS name ([^\s,]+), type [A-Z]+(?:, SetIdentifier .*?)? cannot be created as (?:a non-weighted|other) /g,
  /RRSet of type [A-Z]+ with DNS name ([^\s,]+) is not permitted because a conflicting RRSet of type\s+CNAME /g,
];

/**
 * The dnsplane names whose records an InvalidChangeBatch names as a failed compare: each record's owner maps to the
 * name whose write changes it (`nameOf`: its marker, its slot, the name itself).
 */
export function conflictingNames(messages: readonly string[], nameOf: ReadonlyMap<string, string>): Set<string> {
  const names = new Set<string>();
  for (const message of messages) {
    for (const pattern of comparePatterns) {
      for (const match of message.matchAll(pattern)) {
        const name = nameOf.get(fromAwsName(match[1]!));
        if (name !== undefined) names.add(name);
      }
    }
  }
  return names;
}
