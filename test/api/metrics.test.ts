// Goal: /metrics is valid Prometheus text, every name prefixed dnsplane_,
// exports what the roles in other processes wrote to the store (generations,
// enactor heartbeats, alarms, counters with labels by the documented
// convention), keeps label cardinality within the configured bounds, and
// moves when generations advance. Method: the app in-process over a real
// SQLite file with the real roles; the text is checked by a strict reader
// of the exposition format written for this test (prometheus.ts) and by
// Prometheus' own linter (`promtool check metrics`, from Debian's prometheus
// package), and the server-sent event stream is read from a real listening
// socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { parseCounterName, processMetricsPrefix } from '../../src/api/metrics.js';
import { assembleHistogram } from '../../src/api/metrics-counters.js';
import { countedTypes, rcodeNames } from '../../src/dns/counters.js';
import { Checker } from '../../src/health/checker.js';
import { durationBucketsSeconds, histogramDeltas, observeHistogram } from '../../src/store/counter-histogram.js';
import { seededRng, systemClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/log.js';
import { apiFixture, planAndEnact } from './helpers.js';
import { parseExposition, promtoolProblems, value } from './prometheus.js';

async function scrapeText(fixture: Awaited<ReturnType<typeof apiFixture>>): Promise<string> {
  const response = await fixture.app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(response.statusCode, 200);
  assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return response.body;
}

async function scrape(fixture: Awaited<ReturnType<typeof apiFixture>>) {
  return parseExposition(await scrapeText(fixture));
}

/** prom-client's default process metrics, whose names are prom-client's (the README says so); promtool flags three. */
function processMetricNames(): Set<string> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: processMetricsPrefix });
  return new Set(registry.getMetricsAsArray().map((metric) => metric.name));
}

/** promtool's problems with an exposition, except those with prom-client's default process metrics. */
function promtoolProblemsOfOurs(text: string): string[] {
  const processNames = processMetricNames();
  return promtoolProblems(text).filter((line) => !processNames.has(line.split(' ')[0]!));
}

test('metrics parse strictly and move when generations advance', async () => {
  const fixture = await apiFixture(5);
  try {
    const empty = await scrape(fixture);
    assert.equal(value(empty, 'dnsplane_generation_latest'), 0);
    await planAndEnact(fixture);
    const first = await scrape(fixture);
    assert.equal(value(first, 'dnsplane_generation_latest'), 1);
    assert.equal(value(first, 'dnsplane_name_generation_enacted', { name: 'svc0.dnsplane.test' }), 1);
    assert.equal(value(first, 'dnsplane_enactor_generation_enacted', { enactor: 'az1' }), 1);
    assert.equal(value(first, 'dnsplane_enactor_alive', { enactor: 'az1' }), 1);
    assert.equal(value(first, 'dnsplane_names', { state: 'converged' }), 5);
    assert.equal(first.types.get('dnsplane_planner_published_total'), 'counter');
    assert.equal(value(first, 'dnsplane_planner_published_total'), 1);

    // A new plan not yet enacted: the generation moves, svc0 lags behind it, then catches up.
    await fixture.install.store.setHealth('t0-0', 'down', 'operator');
    await fixture.roles.planner.tick();
    const planned = await scrape(fixture);
    assert.equal(value(planned, 'dnsplane_generation_latest'), 2);
    assert.equal(value(planned, 'dnsplane_names', { state: 'behind' }), 1);
    assert.equal(value(planned, 'dnsplane_name_plan_lag_generations', { name: 'svc0.dnsplane.test' }), 1);
    assert.equal(value(planned, 'dnsplane_enactor_plan_lag_generations', { enactor: 'az1' }), 1);
    assert.equal(value(planned, 'dnsplane_target_up', { target: 't0-0', source: 'operator' }), 0);
    await fixture.roles.enactor.step();
    const enacted = await scrape(fixture);
    assert.equal(value(enacted, 'dnsplane_name_generation_enacted', { name: 'svc0.dnsplane.test' }), 2);
    assert.equal(value(enacted, 'dnsplane_name_generation_enacted', { name: 'svc1.dnsplane.test' }), 1, 'unchanged names keep the generation that last changed them');
    assert.equal(value(enacted, 'dnsplane_name_plan_lag_generations', { name: 'svc1.dnsplane.test' }), 0, '...and do not lag');
    assert.equal(value(enacted, 'dnsplane_enactor_generation_enacted', { enactor: 'az1' }), 2);

    // A name emptied by hand: the reconciler alarms, repairs and counts; the next pass clears the alarm.
    fixture.install.store.db.prepare("UPDATE served SET records = '' WHERE name = 'svc3.dnsplane.test'").run();
    await fixture.roles.reconciler.tick();
    const alarmed = await scrape(fixture);
    assert.equal(value(alarmed, 'dnsplane_alarms_active', { kind: 'drift' }), 1);
    assert.equal(value(alarmed, 'dnsplane_alarms_raised_total', { kind: 'drift' }), 1);
    assert.equal(value(alarmed, 'dnsplane_reconciler_repairs_total'), 1);
    await fixture.roles.reconciler.tick();
    assert.equal(value(await scrape(fixture), 'dnsplane_alarms_active', { kind: 'drift' }), 0);
  } finally {
    await fixture.close();
  }
});

test('store counters: labels by convention, invalid rows omitted and counted, cardinality bounded', async () => {
  const fixture = await apiFixture(6, { api: { metricsNamesMax: 2, metricsCounterSeriesMax: 6 } });
  try {
    await planAndEnact(fixture);
    const { store } = fixture.install;
    await store.incrementCounter('dns_queries{type="A",rcode="NOERROR"}', 7);
    await store.incrementCounter('dns_queries{type="AAAA",rcode="NXDOMAIN"}', 2);
    // The latency counter of older versions: a lone `_sum` is an incomplete histogram, left out and counted.
    await store.incrementCounter('health_probe_latency_ms_sum{target="t0-0"}', 40);
    await store.incrementCounter('alarms_fail-open', 1);
    await store.incrementCounter('bad{type=A}', 1);
    const first = await scrape(fixture);
    assert.equal(value(first, 'dnsplane_dns_queries_total', { type: 'A', rcode: 'NOERROR' }), 7);
    assert.equal(value(first, 'dnsplane_dns_queries_total', { type: 'AAAA', rcode: 'NXDOMAIN' }), 2);
    assert.ok(![...first.types.keys()].some((name) => name.includes('latency_ms')), 'no family of the old latency counter');
    assert.equal(value(first, 'dnsplane_alarms_raised_total', { kind: 'fail-open' }), 1);
    assert.equal(value(first, 'dnsplane_metrics_series_omitted', { source: 'counters' }), 2, 'the malformed row and the lone _sum');
    assert.equal(value(first, 'dnsplane_metrics_series_omitted', { source: 'names' }), 4, '6 names, 2 exported');
    assert.equal([...first.samples.keys()].filter((key) => key.startsWith('dnsplane_name_generation_enacted{')).length, 2);
    // A family that gains a label later is re-registered with the union of its labels.
    await store.incrementCounter('dns_queries{type="A",rcode="NOERROR",transport="tcp"}', 1);
    const second = await scrape(fixture);
    assert.equal(value(second, 'dnsplane_dns_queries_total', { type: 'A', rcode: 'NOERROR', transport: 'tcp' }), 1);
    assert.equal(value(second, 'dnsplane_dns_queries_total', { type: 'A', rcode: 'NOERROR' }), 7);
    // Beyond metricsCounterSeriesMax rows, further series are left out and counted.
    for (let i = 0; i < 3; i += 1) await store.incrementCounter(`zz_extra_${i}`, 1);
    const third = await scrape(fixture);
    assert.ok((value(third, 'dnsplane_metrics_series_omitted', { source: 'counters' }) ?? 0) >= 3);
  } finally {
    await fixture.close();
  }
});

test('counter row names: the label convention and its refusals', () => {
  const counter = (family: string, labels: Record<string, string> = {}) => ({ family, labels, part: 'counter' });
  assert.deepEqual(parseCounterName('enactor_cas_conflicts'), counter('dnsplane_enactor_cas_conflicts_total'));
  assert.deepEqual(parseCounterName('dns_queries{type="A",rcode="NOERROR"}'), counter('dnsplane_dns_queries_total', { type: 'A', rcode: 'NOERROR' }));
  assert.deepEqual(parseCounterName('x{v="a\\"b\\\\c\\nd"}'), counter('dnsplane_x_total', { v: 'a"b\\c\nd' }));
  assert.deepEqual(parseCounterName('alarms_fail-open'), counter('dnsplane_alarms_raised_total', { kind: 'fail-open' }));
  assert.deepEqual(parseCounterName('requests_total'), counter('dnsplane_requests_total'));
  assert.deepEqual(parseCounterName('odd-name.x'), counter('dnsplane_odd_name_x_total'));
  // Histogram parts: the family is the histogram's name, `le` is taken out of a bucket's labels.
  assert.deepEqual(parseCounterName('h_seconds_bucket{le="0.25",op="a"}'), { family: 'dnsplane_h_seconds', labels: { op: 'a' }, part: 'bucket', bound: 0.25 });
  assert.deepEqual(parseCounterName('h_seconds_bucket{le="+Inf"}'), { family: 'dnsplane_h_seconds', labels: {}, part: 'bucket', bound: Infinity });
  assert.deepEqual(parseCounterName('h_seconds_sum'), { family: 'dnsplane_h_seconds', labels: {}, part: 'sum' });
  assert.deepEqual(parseCounterName('h_seconds_count{op="a"}'), { family: 'dnsplane_h_seconds', labels: { op: 'a' }, part: 'count' });
  const refused = [
    '', 'x{a=1}', 'x{a="1"', 'x{__a="1"}', 'x{a="1",a="2"}', 'x{1a="1"}', `x{a="${'y'.repeat(2000)}"}`,
    'h_bucket', 'h_bucket{le="fast"}', 'h_sum{le="1"}', 'x{le="1"}', 'x_total_count', '_sum',
  ];
  for (const bad of refused) assert.equal(parseCounterName(bad), null, bad);
});

test('every family passes promtool check metrics, from the first scrape to a busy one', async () => {
  // Goal: Prometheus' own linter accepts the exposition (counters end in _total, gauges do not, units are base units,
  // histograms are whole, every family has HELP). Method: promtool on an empty installation's first scrape, then on
  // one after plans, alarms, DNS counters, probe durations and an unknown counter and histogram from another process.
  const fixture = await apiFixture(4);
  try {
    assert.deepEqual(promtoolProblemsOfOurs(await scrapeText(fixture)), [], 'the first scrape');
    await planAndEnact(fixture);
    const { store } = fixture.install;
    await store.raiseAlarm('drift', 'svc0.dnsplane.test', 'test');
    await store.incrementCounter('dns_queries{type="A"}', 3);
    await store.incrementCounter('dns_responses{rcode="NXDOMAIN"}', 1);
    await store.incrementCounter('enactor_cas_conflicts', 2);
    await store.incrementCounter('future_feature_events{kind="x"}', 1);
    await observeHistogram(store, 'health_probe_duration_seconds', [0.002, 0.03, 0.3, 30]);
    await observeHistogram(store, 'future_wait_seconds', [0.5], [0.1, 1]);
    const text = await scrapeText(fixture);
    assert.deepEqual(promtoolProblemsOfOurs(text), [], 'a busy scrape');
    const busy = parseExposition(text);
    assert.equal(busy.types.get('dnsplane_future_feature_events_total'), 'counter');
    assert.equal(busy.types.get('dnsplane_future_wait_seconds'), 'histogram');
    assert.equal(value(busy, 'dnsplane_future_wait_seconds_bucket', { le: '1' }), 1);
    // Every family has HELP text; the process metrics are the only ones promtool may flag.
    const helpless = text.split('\n').filter((line) => line.startsWith('# HELP ') && line.split(' ').length < 4);
    assert.deepEqual(helpless, []);
    assert.ok(promtoolProblems(text).every((line) => line.startsWith(processMetricsPrefix)));
  } finally {
    await fixture.close();
  }
});

test('DNS query and response counters, CAS conflicts, alarms raised and probe durations are exported at zero from the first scrape', async () => {
  // Goal: dashboards and alerts can be written before the first event. Method: the first scrape of an installation
  // nothing has run against, each known series read by name and label.
  const fixture = await apiFixture(2);
  try {
    const empty = await scrape(fixture);
    for (const type of [...countedTypes, 'OTHER']) assert.equal(value(empty, 'dnsplane_dns_queries_total', { type }), 0, type);
    for (const rcode of rcodeNames) assert.equal(value(empty, 'dnsplane_dns_responses_total', { rcode }), 0, rcode);
    assert.equal(value(empty, 'dnsplane_enactor_cas_conflicts_total'), 0);
    assert.equal(value(empty, 'dnsplane_alarms_raised_total', { kind: 'drift' }), 0);
    assert.equal(value(empty, 'dnsplane_health_probes_total', { result: 'fail' }), 0);
    assert.equal(empty.types.get('dnsplane_health_probe_duration_seconds'), 'histogram');
    for (const bound of [...durationBucketsSeconds.map(String), '+Inf']) assert.equal(value(empty, 'dnsplane_health_probe_duration_seconds_bucket', { le: bound }), 0, bound);
    assert.equal(value(empty, 'dnsplane_health_probe_duration_seconds_count'), 0);
    assert.equal(value(empty, 'dnsplane_metrics_series_omitted', { source: 'counters' }), 0, 'known series are not counted against the bound');
    // A row adds to its zero series rather than beside it.
    await fixture.install.store.incrementCounter('enactor_cas_conflicts', 4);
    assert.equal(value(await scrape(fixture), 'dnsplane_enactor_cas_conflicts_total'), 4);
  } finally {
    await fixture.close();
  }
});

test('the checker publishes probe durations as a histogram in seconds', async () => {
  // Goal: the latency of probes reaches /metrics as a Prometheus histogram, not a counter of milliseconds. Method: the
  // real Checker over the fixture's store with a probe answering in known times, then one scrape.
  const fixture = await apiFixture(1);
  try {
    const latenciesMs = new Map([['a', 3], ['b', 40], ['c', 700]]);
    const checker = new Checker(
      { id: 'c1', intervalMs: 1000, timeoutMs: 500, viewTtlMs: 5000, concurrency: 4, jitterFraction: 0, rise: 1, fall: 1, selfDoubt: { fraction: 1, minTargets: 100 }, maxWithdrawFraction: 1 },
      {
        store: fixture.install.store, clock: systemClock, rng: seededRng(1), log: silentLogger,
        inventory: () => [{ name: 'svc0.dnsplane.test', targets: [...latenciesMs.keys()].map((id, index) => ({ id, address: `127.0.0.${index + 1}`, az: 'az', capacity: 100, check: { http: `http://127.0.0.1:1/${id}` } })) }],
        probe: async (spec) => ({ ok: true, latencyMs: latenciesMs.get(String(spec.http).split('/').pop()!)! }),
      },
    );
    await checker.round();
    const metrics = await scrape(fixture);
    assert.equal(value(metrics, 'dnsplane_health_probe_duration_seconds_count'), 3);
    assert.ok(Math.abs(value(metrics, 'dnsplane_health_probe_duration_seconds_sum')! - 0.743) < 1e-9);
    assert.equal(value(metrics, 'dnsplane_health_probe_duration_seconds_bucket', { le: '0.005' }), 1);
    assert.equal(value(metrics, 'dnsplane_health_probe_duration_seconds_bucket', { le: '0.05' }), 2);
    assert.equal(value(metrics, 'dnsplane_health_probe_duration_seconds_bucket', { le: '0.5' }), 2);
    assert.equal(value(metrics, 'dnsplane_health_probe_duration_seconds_bucket', { le: '1' }), 3);
    assert.equal(value(metrics, 'dnsplane_health_probes_total', { result: 'ok' }), 3);
  } finally {
    await fixture.close();
  }
});

test('histogram rows: one bucket row per observation, and a scrape between two row writes still reads a valid histogram', () => {
  const deltas = histogramDeltas('h_seconds', [0.25, 0.0625, 3, 0.5, 1], [0.1, 1]);
  assert.deepEqual(Object.fromEntries(deltas), { 'h_seconds_bucket{le="0.1"}': 1, 'h_seconds_bucket{le="1"}': 3, 'h_seconds_bucket{le="+Inf"}': 1, h_seconds_sum: 4.8125, h_seconds_count: 5 });
  assert.equal(histogramDeltas('h_seconds', []).size, 0, 'no rows for no observations');
  assert.throws(() => histogramDeltas('h_seconds', [-1]), /not negative/);
  assert.throws(() => histogramDeltas('h_seconds', [1], [1, 0.5]), /increase/);
  // Exported buckets are running sums of the rows; the count's row not yet written for the last two: +Inf covers them.
  const torn = assembleHistogram('dnsplane_h_seconds', [0.1, 1], { labels: {}, buckets: new Map([[1, 4], [0.1, 5], [Infinity, 1]]), sum: 1, count: 8 });
  assert.deepEqual(torn.map((entry) => [entry.metricName, entry.labels.le, entry.value]), [
    ['dnsplane_h_seconds_bucket', '0.1', 5], ['dnsplane_h_seconds_bucket', '1', 9], ['dnsplane_h_seconds_bucket', '+Inf', 10],
    ['dnsplane_h_seconds_sum', undefined, 1], ['dnsplane_h_seconds_count', undefined, 10],
  ]);
  // A row of a bound the family no longer exports counts toward the next wider bucket.
  const moved = assembleHistogram('dnsplane_h_seconds', [1], { labels: {}, buckets: new Map([[0.5, 2]]), sum: 1, count: 2 });
  assert.deepEqual(moved.map((entry) => entry.value), [2, 2, 1, 2]);
});

/** Reads `event: status` messages from a listening app's /api/events. */
async function eventStream(address: string) {
  const response = await fetch(`${address}/api/events`);
  assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    reader,
    async next(deadlineMs: number): Promise<{ generation: { latest: number } }> {
      const deadline = Date.now() + deadlineMs;
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').find((line) => line.startsWith('data: '));
          if (block.includes('event: status') && data !== undefined) return JSON.parse(data.slice(6));
          continue;
        }
        assert.ok(Date.now() < deadline, 'no status event in time');
        const { value: chunk, done } = await reader.read();
        assert.ok(!done, 'stream ended early');
        buffer += decoder.decode(chunk, { stream: true });
      }
    },
  };
}

test('server-sent events: a status at once, on every change, and end when the server closes', async () => {
  // A heartbeat interval far above the deadline below: a change can only arrive in time if it is pushed on change.
  const fixture = await apiFixture(3, {}, { eventsTickMs: 20, eventsPushIntervalMs: 60_000 });
  try {
    const stream = await eventStream(await fixture.app.listen({ host: '127.0.0.1', port: 0 }));
    assert.equal((await stream.next(5000)).generation.latest, 0, 'sent on connect');
    await planAndEnact(fixture);
    let status = await stream.next(10_000);
    while (status.generation.latest !== 1) status = await stream.next(10_000);
    const closing = fixture.app.close();
    for (;;) {
      const { done } = await stream.reader.read();
      if (done) break;
    }
    await closing;
  } finally {
    await fixture.close();
  }
});

test('server-sent events: an unchanged status is still sent every push interval', async () => {
  const fixture = await apiFixture(2, {}, { eventsTickMs: 20, eventsPushIntervalMs: 100 });
  try {
    const stream = await eventStream(await fixture.app.listen({ host: '127.0.0.1', port: 0 }));
    for (let i = 0; i < 4; i += 1) assert.equal((await stream.next(10_000)).generation.latest, 0);
  } finally {
    await fixture.close();
  }
});
