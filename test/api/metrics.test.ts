// Goal: /metrics is valid Prometheus text, every name prefixed dnsplane_,
// exports what the roles in other processes wrote to the store (generations,
// enactor heartbeats, alarms, counters with labels by the documented
// convention), keeps label cardinality within the configured bounds, and
// moves when generations advance. Method: the app in-process over a real
// SQLite file with the real roles; the text is checked by a strict reader
// of the exposition format written for this test (prometheus.ts), and the
// server-sent event stream is read from a real listening socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCounterName } from '../../src/api/metrics.js';
import { apiFixture, planAndEnact } from './helpers.js';
import { parseExposition, value } from './prometheus.js';

async function scrape(fixture: Awaited<ReturnType<typeof apiFixture>>) {
  const response = await fixture.app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(response.statusCode, 200);
  assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return parseExposition(response.body);
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
    await store.incrementCounter('health_probe_latency_ms_sum{target="t0-0"}', 40);
    await store.incrementCounter('alarms_fail-open', 1);
    await store.incrementCounter('bad{type=A}', 1);
    const first = await scrape(fixture);
    assert.equal(value(first, 'dnsplane_dns_queries_total', { type: 'A', rcode: 'NOERROR' }), 7);
    assert.equal(value(first, 'dnsplane_dns_queries_total', { type: 'AAAA', rcode: 'NXDOMAIN' }), 2);
    assert.equal(first.types.get('dnsplane_health_probe_latency_ms_sum'), 'counter');
    assert.equal(value(first, 'dnsplane_health_probe_latency_ms_sum', { target: 't0-0' }), 40);
    assert.equal(value(first, 'dnsplane_alarms_raised_total', { kind: 'fail-open' }), 1);
    assert.equal(value(first, 'dnsplane_metrics_series_omitted', { source: 'counters' }), 1, 'the malformed row');
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
  assert.deepEqual(parseCounterName('enactor_cas_conflicts'), { family: 'dnsplane_enactor_cas_conflicts_total', labels: {} });
  assert.deepEqual(parseCounterName('dns_queries{type="A",rcode="NOERROR"}'), { family: 'dnsplane_dns_queries_total', labels: { type: 'A', rcode: 'NOERROR' } });
  assert.deepEqual(parseCounterName('x{v="a\\"b\\\\c\\nd"}'), { family: 'dnsplane_x_total', labels: { v: 'a"b\\c\nd' } });
  assert.deepEqual(parseCounterName('alarms_fail-open'), { family: 'dnsplane_alarms_raised_total', labels: { kind: 'fail-open' } });
  assert.deepEqual(parseCounterName('requests_total'), { family: 'dnsplane_requests_total', labels: {} });
  assert.deepEqual(parseCounterName('odd-name.x'), { family: 'dnsplane_odd_name_x_total', labels: {} });
  for (const bad of ['', 'x{a=1}', 'x{a="1"', 'x{__a="1"}', 'x{a="1",a="2"}', 'x{1a="1"}', `x{a="${'y'.repeat(2000)}"}`]) {
    assert.equal(parseCounterName(bad), null, bad);
  }
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
