import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TimerWheel, type Deadline } from '../../src/util/timer-wheel.js';

function item(fired: string[], name: string): Deadline {
  return { timerSlot: -1, timerIndex: -1, onDeadline: () => fired.push(name) };
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

test('an item scheduled while the ticks lag fires on time, not a turn late', () => {
  let now = 0;
  const wheel = new TimerWheel(10, 64, () => now);
  const fired: string[] = [];
  wheel.schedule(item(fired, 'first'), 5);
  now = 300; // the event loop was busy: no tick for 300 ms
  wheel.schedule(item(fired, 'second'), 100);
  now = 310;
  wheel.tick();
  assert.deepEqual(fired, ['first']);
  now = 395;
  wheel.tick();
  assert.deepEqual(fired, ['first']);
  now = 405;
  wheel.tick();
  assert.deepEqual(fired, ['first', 'second'], 'due at 400, fired at the first tick after it');
});

test('what a deadline schedules is placed against the settled wheel', () => {
  let now = 0;
  const wheel = new TimerWheel(10, 64, () => now);
  const fired: string[] = [];
  const chained: Deadline = { timerSlot: -1, timerIndex: -1, onDeadline: () => { fired.push('first'); wheel.schedule(item(fired, 'second'), 50); } };
  wheel.schedule(chained, 20);
  now = 100; // several ticks at once
  wheel.tick();
  assert.deepEqual(fired, ['first']);
  now = 155;
  wheel.tick();
  assert.deepEqual(fired, ['first', 'second']);
});

test('a cancelled item is let go at once, not kept until its slot comes round', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const wheel = new TimerWheel(10, 64, () => 0);
  const fired: string[] = [];
  const kept = item(fired, 'kept');
  let cancelled: Deadline | undefined = item(fired, 'cancelled');
  const ref = new WeakRef(cancelled);
  wheel.schedule(kept, 100);
  wheel.schedule(cancelled, 100);
  wheel.cancel(cancelled);
  cancelled = undefined;
  // WeakRef targets stay alive until the current job ends.
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  assert.equal(ref.deref(), undefined, 'the wheel still referred to the cancelled item');
  wheel.clear();
});
