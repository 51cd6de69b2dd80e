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
 * Asserts `condition`; `invariant` names the rule (S1..S6, L3 or "internal"). On a hot path, pass what the
 * message is about as `subject` rather than in a template: it is put in front of the message ("subject: message")
 * only when the assertion fails, so a loop over 100,000 names builds no message string per name.
 */
export function assert(condition: unknown, invariant: string, message: string, subject?: unknown): asserts condition {
  if (condition) return;
  throw new InvariantViolation(invariant, subject === undefined ? message : `${String(subject)}: ${message}`);
}

/** A user-facing error: bad input that changed nothing. Exit code 2 in the CLI, 400 in the API. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}
