import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimerWheel, type Deadline } from '../../src/util/timer-wheel.js';

function item(fired: string[], name: string): Deadline {
  return { timerToken: 0, onDeadline: () => fired.push(name) };
}

test('items fire once their delay has passed, in any slot and across turns', () => {
  let now = 0;
  const wheel = new TimerWheel(10, 8, () => now);
  const fired: string[] = [];
  wheel.schedule(item(fired, 'soon'), 15);
  wheel.schedule(item(fired, 'late'), 250); // more than one turn of 8 x 10 ms
  now = 30;
  wheel.tick();
  assert.deepEqual(fired, ['soon']);
  now = 200;
  wheel.tick();
  assert.deepEqual(fired, ['soon']);
  now = 260;
  wheel.tick();
  assert.deepEqual(fired, ['soon', 'late']);
});

test('a cancelled or rescheduled item fires only for its latest schedule', () => {
  let now = 0;
  const wheel = new TimerWheel(10, 64, () => now);
  const fired: string[] = [];
  const cancelled = item(fired, 'cancelled');
  const moved = item(fired, 'moved');
  wheel.schedule(cancelled, 20);
  wheel.schedule(moved, 20);
  wheel.cancel(cancelled);
  wheel.schedule(moved, 100);
  now = 50;
  wheel.tick();
  assert.deepEqual(fired, []);
  now = 120;
  wheel.tick();
  assert.deepEqual(fired, ['moved']);
});
