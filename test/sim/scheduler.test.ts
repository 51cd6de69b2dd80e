// Goal: the scheduler under the simulator is deterministic and faithful:
// virtual time only moves when it runs an event, ties run in registration
// order, a crash drops the actor's in-flight promise chain for good, a clock
// offset skews what an actor reads but not how long it sleeps, and a
// seed's random stream is the same every time. Method: small actors on a
// bare Scheduler, recording what ran when.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler, VirtualClock, simulationStartMs } from '../../src/sim/scheduler.js';
import { createRandom, longTailDelayMs, parseSeed } from '../../src/sim/random.js';

async function drain(scheduler: Scheduler, untilMs = Infinity): Promise<void> {
  for (let steps = 0; steps < 10_000 && (await scheduler.step(untilMs)) !== null; steps += 1);
}

test('actors interleave in virtual-time order; ties in registration order; sleep resolves only when time gets there', async () => {
  const scheduler = new Scheduler();
  const log: string[] = [];
  for (const [id, delays] of [['a', [5, 5]], ['b', [3, 7]], ['c', [10]]] as const) {
    const slot = scheduler.actor(id);
    const clock = new VirtualClock(scheduler, slot, 0);
    scheduler.start(slot, async () => {
      for (const delay of delays) {
        await clock.sleep(delay);
        log.push(`${id}@${clock.nowMs() - simulationStartMs}`);
      }
    }, (error) => assert.equal(error, null));
  }
  assert.deepEqual(log, [], 'nothing runs before the scheduler does');
  await drain(scheduler);
  // At 10 ms three waits are due: c's (registered at 0 ms), then b's (at 3 ms), then a's (at 5 ms).
  assert.deepEqual(log, ['b@3', 'a@5', 'c@10', 'b@10', 'a@10']);
});

test('a crash drops the in-flight chain: the old incarnation never resumes, a new one starts fresh', async () => {
  const scheduler = new Scheduler();
  const slot = scheduler.actor('e');
  const clock = new VirtualClock(scheduler, slot, 0);
  const log: string[] = [];
  scheduler.start(slot, async () => {
    for (let index = 0; index < 10; index += 1) {
      await clock.sleep(10);
      log.push(`old ${index}`);
    }
  }, () => log.push('old settled'));
  await scheduler.step(Infinity);
  scheduler.crash(slot);
  scheduler.start(slot, async () => {
    await clock.sleep(1);
    log.push('new');
  }, () => log.push('new settled'));
  await drain(scheduler);
  assert.deepEqual(log, ['old 0', 'new', 'new settled']);
});

test('clock skew: an offset shifts what an actor reads, not how long it sleeps', async () => {
  const scheduler = new Scheduler();
  const slot = scheduler.actor('skewed');
  const clock = new VirtualClock(scheduler, slot, -40);
  let woke = 0;
  scheduler.start(slot, async () => {
    await clock.sleep(100);
    woke = scheduler.nowMs;
  }, () => {});
  await drain(scheduler);
  assert.equal(woke, simulationStartMs + 100);
  assert.equal(clock.nowMs(), scheduler.nowMs - 40);
});

test('a seed gives the same stream every time; seeds parse as unsigned 64-bit integers', () => {
  const draw = (seed: bigint) => {
    const random = createRandom(seed);
    return Array.from({ length: 20 }, () => longTailDelayMs(random, 5, 0.2, 1000));
  };
  assert.deepEqual(draw(7n), draw(7n));
  assert.notDeepEqual(draw(7n), draw(8n));
  assert.ok(draw(7n).every((delay) => delay >= 0 && delay <= 1000));
  assert.equal(parseSeed('0xff'), 255n);
  assert.equal(parseSeed('18446744073709551615'), (1n << 64n) - 1n);
  assert.equal(parseSeed('18446744073709551616'), null);
  assert.equal(parseSeed('-1'), null);
});
