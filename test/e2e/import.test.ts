// Goal: an existing zone becomes managed without a moment of different answers (issue 13). A Knot DNS zone of
// 2,000 names here (10,000 in `npm run bench -- import`; 1-3 addresses each, some with IPv6 too) is imported with `dnsplane import`, the file is applied to
// a fresh installation whose provider is that Knot, and `dnsplane up` runs until its enactors have written their
// marker at every name — each first write replacing the name's hand-made records with the plan's in one UPDATE.
// From before the import until after that takeover, a sampler asks Knot for 200 random names round-robin: no answer
// may ever differ from the name's original address set (order aside), and none may be NXDOMAIN or empty. Then a
// health change (an operator marks one target down: the skeleton has no checks, so nothing else can) must change
// that name's answer, and only that one. A re-import of the managed zone is the same inventory (`diff` says no
// change). Method: real processes (knotd, the CLI, `up` and its roles); a UDP client on dns-packet as the sampler;
// the markers counted by a signed zone transfer through the provider's own transfer code.
import { test } from 'node:test';
import { importScenario } from './import-scenario.js';

// Issue 13 asks for 10,000 names; at 10,000 the scenario takes minutes here (up's first takeover of every name), too
// long and too heavy beside the other tests of a CI run: `npm run bench -- import` runs it at 10,000 and records the
// figures in BENCHMARKS.md. Here 2,000 names keep every path (AXFR, the skeleton, apply, takeover, the health change).
const namesTotal = 2_000;

test(`a ${namesTotal.toLocaleString('en')}-name Knot zone imported, applied and taken over by up: no sampled answer changes until a health change`, async (t) => {
  await importScenario(namesTotal, (line) => t.diagnostic(line));
});
