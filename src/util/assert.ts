/**
 * Invariant assertions that stay on in production. A broken invariant is a
 * bug in dnsplane, never a user error: it must stop the step loudly rather
 * than let a wrong record reach DNS (see DESIGN.md §2).
 */
export class InvariantViolation extends Error {
  readonly invariant: string;
  constructor(invariant: string, message: string) {
    super(`invariant ${invariant} violated: ${message}`);
    this.name = 'InvariantViolation';
    this.invariant = invariant;
  }
}

/**
 * Asserts `condition`; `invariant` names the rule (S1..S6, L3 or "internal"). On a hot path, do not build the
 * message in a template on every call: pass it as a function (called only when the assertion fails), or pass what
 * it is about as `subject` (put in front, "subject: message", only on failure), so a loop over 100,000 names builds
 * no message string per name.
 */
export function assert(
  condition: unknown, invariant: string, message: string | (() => string), subject?: unknown,
): asserts condition {
  if (condition) return;
  const text = typeof message === 'string' ? message : message();
  throw new InvariantViolation(invariant, subject === undefined ? text : `${String(subject)}: ${text}`);
}

/** A user-facing error: bad input that changed nothing. Exit code 2 in the CLI, 400 in the API. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}
