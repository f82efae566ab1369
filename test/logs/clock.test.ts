/** Record times: Go's RFC 3339 with nanoseconds (trailing zeros trimmed), from a nanosecond wall clock. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WallClock, formatTime } from '../../src/logs/clock.js';

test('formatTime writes time.RFC3339Nano: nanoseconds, trailing zeros trimmed, no fraction when zero', () => {
  assert.equal(formatTime(1_767_225_600_123_456_789n), '2026-01-01T00:00:00.123456789Z');
  assert.equal(formatTime(1_767_225_605_000_000_007n), '2026-01-01T00:00:05.000000007Z');
  assert.equal(formatTime(1_767_225_637_202_059_360n), '2026-01-01T00:00:37.20205936Z');
  assert.equal(formatTime(1_767_225_600_500_000_000n), '2026-01-01T00:00:00.5Z');
  assert.equal(formatTime(1_767_225_600_000_000_000n), '2026-01-01T00:00:00Z');
});

test('WallClock follows Date.now with sub-millisecond steps and never goes back', async () => {
  const clock = new WallClock();
  let previous = clock.now();
  const fractions = new Set<bigint>();
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    const now = clock.now();
    assert.ok(now >= previous, 'monotonic');
    assert.ok(Math.abs(Number(now / 1_000_000n) - Date.now()) <= 5, 'close to Date.now');
    fractions.add(now % 1_000_000n);
    previous = now;
  }
  assert.ok(fractions.size > 1 && [...fractions].some((ns) => ns !== 0n), 'carries nanoseconds below the millisecond');
});
