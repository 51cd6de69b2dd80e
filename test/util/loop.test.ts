// Goal: the pause every watching role takes between steps (WakeablePause) ends early on a wake, ends at once when
// woken while no pause was under way, ends with the role's signal, and leaves nothing attached to the role's signal —
// a role pauses many times a second for as long as it runs, so a listener (or, on Node 20, an AbortSignal.any
// composite) kept per pause would grow without bound. Method: the system clock with hour-long pauses (only a wake or
// the signal can end them), and the role signal's abort listeners counted with events.getEventListeners.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { WakeablePause } from '../../src/util/loop.js';
import { systemClock } from '../../src/util/clock.js';

const hourMs = 3_600_000;

test('a wake ends the pause under way, or the next one; the role signal ends it; nothing stays attached', async () => {
  const role = new AbortController();
  const pause = new WakeablePause(systemClock, role.signal, true);
  for (let round = 0; round < 1000; round += 1) {
    const paused = pause.pause(hourMs);
    pause.wake();
    await paused; // an hour-long pause that ends only because it was woken
  }
  assert.equal(getEventListeners(role.signal, 'abort').length, 0, 'no listener left on the role signal');
  pause.wake(); // no pause under way: the next one ends at once
  await pause.pause(hourMs);
  const last = pause.pause(hourMs);
  assert.equal(getEventListeners(role.signal, 'abort').length, 1, 'one listener while a pause is under way');
  role.abort();
  await last;
  assert.equal(getEventListeners(role.signal, 'abort').length, 0);
  await pause.pause(hourMs); // an aborted role does not pause
});

test('without a watch it is the plain sleep on the role signal', async () => {
  const role = new AbortController();
  const pause = new WakeablePause(systemClock, role.signal, false);
  const paused = pause.pause(hourMs);
  role.abort();
  await paused;
  assert.equal(getEventListeners(role.signal, 'abort').length, 0);
});
