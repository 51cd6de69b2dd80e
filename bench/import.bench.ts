/**
 * Import benchmark (issue 13): the import scenario of test/e2e/import.test.ts at the size, 10,000 names —
 * a Knot DNS zone of hand-made A/AAAA names imported with `dnsplane import`, applied, and taken over by `dnsplane up`
 * while a sampler asks Knot for 200 random names round-robin; no answer may differ from the name's original set until
 * a health change, which must then change that one answer. Every check is the test's assertion (a wrong answer fails
 * the run); the figures are what it took. Real processes: knotd, the CLI, `up` and its roles.
 */
import { loadavg } from 'node:os';
import { importScenario } from '../test/e2e/import-scenario.js';
import { writeSection } from './common.js';

const namesTotal = 10_000;

const load = loadavg()[0]!.toFixed(2);
const notes: string[] = [];
const figures = await importScenario(namesTotal, (line) => {
  notes.push(`- ${line}`);
  process.stdout.write(`${line}\n`);
});
writeSection('import', `Import, apply and takeover of a ${namesTotal.toLocaleString('en')}-name Knot zone`, 'npm run bench -- import', [
  { metric: 'wrong answers while importing, applying and taking over (continuous sampling)', value: `${figures.wrong} of ${figures.samples.toLocaleString('en')}`, target: '0', verdict: figures.wrong === 0 ? 'met' : 'NOT met' },
  { metric: '`dnsplane import` (AXFR, skeleton, validation), CLI process', value: `${(figures.importMs / 1000).toFixed(1)} s` },
  { metric: '`up` started → every name carries its marker (taken over)', value: `${(figures.takeoverMs / 1000).toFixed(1)} s` },
  { metric: 'health change → the sampled answer changed', value: `${figures.healthChangeMs} ms` },
  { metric: 'sampler queries unanswered within 1 s (asked again)', value: String(figures.timeouts) },
], [`Load average (1 min) at the start: ${load}.`, '', ...notes]);
