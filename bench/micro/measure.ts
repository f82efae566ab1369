/** Shared by the micro-benchmarks: a seeded PRNG and a timer for tight loops. */

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
}

/** mulberry32, so that every run measures the same inputs. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Nanoseconds per call of `step(i)` over `iterations` calls, after a warm-up of the same
 * length so the JIT has settled; the best of `rounds` rounds, as the least disturbed.
 * `step` returns a number that is summed, so the work cannot be optimised away.
 */
export function nanosecondsPerCall(iterations: number, step: (i: number) => number, rounds = 5): number {
  let sink = 0;
  for (let i = 0; i < iterations; i++) sink += step(i);
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < rounds; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink += step(i);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / iterations);
  }
  if (sink === -1) process.stdout.write('');
  return best;
}
