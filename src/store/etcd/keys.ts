import { assert } from '../../util/assert.js';
import type { Generation } from '../../domain/types.js';

/**
 * Key paths of the etcd layout (below the configured prefix). The layout
 * itself is documented at the top of store.ts and in docs/etcd.md; this
 * module only spells it, so no other file builds a key by hand.
 */

/** Generations are zero-padded so that key order is numeric order. */
export const generationDigits = 12;
/**
 * Separates a name from the rest of its key; below every character a DNS name may contain, so key order is name order.
 */
export const nameSeparator = '!';

export function pad(generation: Generation): string {
  assert(
    Number.isSafeInteger(generation) && generation >= 0 && generation < 10 ** generationDigits,
    'internal',
    () => `generation ${generation} out of range`,
  );
  return String(generation).padStart(generationDigits, '0');
}

/** Asserts a name can be a key component without breaking name order (validated DNS names always can). */
export function checkKeyName(name: string): string {
  assert(name.length > 0, 'internal', 'empty name in an etcd key');
  // One pass, one assertion, no message built unless it fails: this runs for every key of every name of a plan.
  const separator = nameSeparator.charCodeAt(0);
  let index = 0;
  while (index < name.length && name.charCodeAt(index) > separator) index += 1;
  assert(index === name.length, 'internal', () => `name "${name}" has a character that would break key order`);
  return name;
}

/** Free-form components (alarm kinds, target ids, scopes) are URI-encoded so a "/" in them cannot forge another key. */
export function component(text: string): string {
  return encodeURIComponent(text);
}

export const keys = {
  latest: 'plan/latest',
  stage: 'plan/stage',
  headerPrefix: 'plan/header/',
  header: (generation: Generation) => `plan/header/${pad(generation)}`,
  deltaPrefix: 'plan/delta/',
  deltaOf: (generation: Generation) => `plan/delta/${pad(generation)}/`,
  deltaChunk: (generation: Generation, index: number) =>
    `plan/delta/${pad(generation)}/${String(index).padStart(6, '0')}`,
  versionPrefix: 'plan/version/',
  versionsOf: (name: string) => `plan/version/${checkKeyName(name)}${nameSeparator}`,
  version: (name: string, since: Generation) => `plan/version/${checkKeyName(name)}${nameSeparator}${pad(since)}`,
  supersededPrefix: 'plan/superseded/',
  supersededOf: (by: Generation) => `plan/superseded/${pad(by)}/`,
  superseded: (by: Generation, name: string, since: Generation) =>
    `plan/superseded/${pad(by)}/${checkKeyName(name)}${nameSeparator}${pad(since)}`,
  lease: (name: string) => `lease/${component(name)}`,
  enactorPrefix: 'enactor/',
  enactor: (id: string) => `enactor/${component(id)}`,
  inventoryLatest: 'inventory/latest',
  inventoryVersionPrefix: 'inventory/version/',
  inventoryVersion: (version: number) => `inventory/version/${pad(version)}`,
  inventoryData: (attempt: string) => `inventory/data/${component(attempt)}/`,
  inventoryChunk: (attempt: string, index: number) =>
    `inventory/data/${component(attempt)}/${String(index).padStart(6, '0')}`,
  checkerPrefix: 'checker/',
  checker: (id: string) => `checker/${component(id)}`,
  livePrefix: 'enactor-live/',
  live: (id: string) => `enactor-live/${component(id)}`,
  healthPrefix: 'health/',
  health: (target: string) => `health/${component(target)}`,
  historyPrefix: 'history/',
  historyOf: (name: string) => `history/${component(name)}${nameSeparator}`,
  alarmPrefix: 'alarm/',
  alarm: (kind: string, name: string) => `alarm/${component(kind)}/${component(name)}`,
  counterPrefix: 'counter/',
  counter: (name: string) => `counter/${component(name)}`,
  drainPrefix: 'drain/',
  drain: (target: string) => `drain/${component(target)}`,
  freezePrefix: 'freeze/',
  freeze: (scope: string) => `freeze/${component(scope)}`,
  adoptionPrefix: 'adoption/',
  /** An adoption grant of a (validated, normalized) name: its first grant, kept. */
  adoption: (name: string) => `adoption/${checkKeyName(name)}`,
  /** The installation's owner id and its former ones. */
  owner: 'owner',
  requestSequence: 'request-seq',
  requestPrefix: 'request/',
  requestsOf: (kind: string) => `request/${component(kind)}/`,
  request: (kind: string, id: number) => `request/${component(kind)}/${pad(id)}`,
  requestDone: (kind: string, id: number) => `request-done/${component(kind)}/${pad(id)}`,
  servedPrefix: 'served/',
  served: (name: string) => `served/${checkKeyName(name)}`,
  servedMeta: 'served-meta',
  /** A name removed by a plan: the removing generation, zero-padded (a first write at or below it is refused). */
  removed: (name: string) => `served-removed/${checkKeyName(name)}`,
  removedPrefix: 'served-removed/',
  /** The removal floor (providers/types.ts: RemovalCompaction), zero-padded: refuses first writes at or below it. */
  removalsFloor: 'served-removals-floor',
};

/** Splits "<name>!<since>" (the tail of a version or superseded key). */
export function splitNameSince(tail: string): { name: string; since: Generation } {
  const at = tail.lastIndexOf(nameSeparator);
  assert(at > 0 && tail.length - at - 1 === generationDigits, 'internal', () => `malformed version key tail "${tail}"`);
  return { name: tail.slice(0, at), since: Number(tail.slice(at + 1)) };
}
