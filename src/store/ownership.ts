import { checkDnsName, normalizeName } from '../domain/names.js';
import { checkOwnerId } from '../domain/owner.js';
import { assert, UserError } from '../util/assert.js';
import type { OwnerIdentity } from './types.js';

/**
 * The rules of Adoptions and Ownership (src/store/types.ts), written once for every store (SQLite, etcd, the
 * simulator's memory store): what a grant and an owner id must be, and what a migration may do. Each store only
 * decides atomically; what it decides is said here.
 */

/** Why `name` cannot be granted adoption, or null: a grant is looked up by the qualified, normalized name. */
export function adoptionNameProblem(name: string): string | null {
  const problem = checkDnsName(name);
  if (problem !== null) return `name "${name}" ${problem}`;
  if (normalizeName(name) !== name) return `name "${name}" is not normalized (lower case, no trailing dot)`;
  return null;
}

/** Refuses (UserError, nothing stored) a grant that would not record a name, who allowed it and why. */
export function checkGrant(name: string, actor: string, reason: string): void {
  const problem = adoptionNameProblem(name);
  if (problem !== null) throw new UserError(`adoption refused: ${problem}`);
  if (actor.trim().length === 0) throw new UserError(`adoption of ${name} refused: no actor (who allows it)`);
  if (reason.trim().length === 0) throw new UserError(`adoption of ${name} refused: no reason (why it is allowed)`);
}

/** Refuses (UserError, nothing stored) an id that is not an owner id. */
export function checkedOwnerId(id: string): string {
  const problem = checkOwnerId(id);
  if (problem !== null) throw new UserError(problem);
  return id;
}

/**
 * The identity after migrating `current` to `owner`: the owner id before joins `former` (oldest first). Refused with
 * a UserError before any identity is stored, and for an id that is the owner or a former one (an id comes back to no
 * installation: markers it wrote may already have been rewritten).
 */
export function migratedIdentity(current: OwnerIdentity | null, owner: string): OwnerIdentity {
  checkedOwnerId(owner);
  if (current === null) {
    throw new UserError(
      `owner migration to "${owner}" refused: no owner id is stored yet (an installation gets one when it first runs)`,
    );
  }
  if (current.owner === owner) throw new UserError(`owner migration refused: "${owner}" is already the owner id`);
  if (current.former.includes(owner)) {
    throw new UserError(`owner migration refused: "${owner}" is a former owner id of this installation`);
  }
  const next = { owner, former: [...current.former, current.owner] };
  assert(!next.former.includes(next.owner), 'internal', `owner id ${owner} would be both owner and former`);
  return next;
}

/** The stored form of an identity as JSON text (etcd's value; SQLite keeps `former` as a JSON array column). */
export function encodeIdentity(identity: OwnerIdentity): string {
  return JSON.stringify({ owner: identity.owner, former: identity.former });
}

/** An identity read back from a store, checked: a stored identity that is not one is a bug, not a user's error. */
export function storedIdentity(value: { owner?: unknown; former?: unknown }): OwnerIdentity {
  const { owner, former } = value;
  assert(typeof owner === 'string' && checkOwnerId(owner) === null, 'internal', `stored owner id ${String(owner)}`);
  assert(
    Array.isArray(former) && former.every((id) => typeof id === 'string' && id !== owner),
    'internal',
    `stored former owner ids ${JSON.stringify(former)}`,
  );
  return { owner, former: [...(former as string[])] };
}
