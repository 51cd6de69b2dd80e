// Goal: the exhaustive model check holds: SPIN verifies the safe protocol
// (model/safe.pml) over its whole state space for small bounds, finds a
// counterexample for each mutant of it, and finds the incident's empty
// answer, rollback and dead end in the 2025 design (model/legacy.pml). A
// counterexample counts only when it stops at the assertion of the invariant
// it must break (check.sh reads the label of the assertion SPIN's replay
// stops at): a deadlock or another assertion is a failure.
// Method: model/check.sh, which runs SPIN and gcc (Debian packages spin and
// gcc, listed in scripts/test-packages.txt) and states each expectation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnProcess, repoRoot } from '../helpers/env.js';
import { join } from 'node:path';

test('SPIN: the safe model verifies, its mutants and the legacy model yield counterexamples', async () => {
  const check = spawnProcess('bash', [join(repoRoot, 'model', 'check.sh')]);
  const code = await check.exited;
  const output = check.stdout();
  assert.equal(code, 0, `${output}\n${check.stderr()}`);
  for (const line of [
    /PASS verified: safe-e3-n1-g3 .*errors 0, search complete: yes/,
    /PASS verified: safe-e2-n2-g3 .*errors 0, search complete: yes/,
    /PASS counterexample: mutant-janitor-deletes-unserved violates S4 at safe\.pml:\d+/,
    /PASS counterexample: mutant-no-cas violates S2 at safe\.pml:\d+/,
    /PASS counterexample: mutant-no-tombstone violates S2 at safe\.pml:\d+/,
    /PASS counterexample: mutant-compact-without-floor violates S2 at safe\.pml:\d+/,
    /PASS counterexample: legacy-empty-answer violates S1 at legacy\.pml:\d+/,
    /PASS counterexample: legacy-rollback violates S2 at legacy\.pml:\d+/,
    /PASS counterexample: legacy-dead-end violates L3 at legacy\.pml:\d+/,
  ]) assert.match(output, line);
  // The legacy trail reads as the incident: a stale plan applied over a newer one, then its clean-up empties the endpoint.
  assert.match(output, /applied plan 1 to endpoint 0 \(alias plan \d -> plan 1\)/);
  assert.match(output, /its ACTIVE plan: it answers nothing/);
});
