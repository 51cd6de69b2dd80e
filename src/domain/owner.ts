import { randomBytes } from 'node:crypto';

/**
 * Owner ids: who wrote a marker (issue #13). Every installation has one, stored once in its store; every marker and
 * tombstone it writes carries it, and a name whose marker carries another installation's id is never written,
 * removed or cleaned up.
 */

/** Lower-case letters, digits and dashes, 1-32 characters, starting with a letter or digit: one TXT-safe token. */
export const ownerIdPattern = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** The problem with `id` as an owner id, or null when it is one. */
export function checkOwnerId(id: string): string | null {
  return ownerIdPattern.test(id)
    ? null
    : `owner id "${id}" must be 1-32 lower-case letters, digits or dashes, starting with a letter or digit`;
}

/** A fresh owner id for an installation that has none: "dp-" and 10 random base-32 characters (50 bits). */
export function newOwnerId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = randomBytes(10);
  let id = 'dp-';
  for (const byte of bytes) id += alphabet[byte & 31];
  return id;
}
