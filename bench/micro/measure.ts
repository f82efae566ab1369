/** Shared by the micro-benchmarks: the figure they report, a timer for tight loops and a seeded PRNG. */

export interface Figure {
  name: string;
  value: number;
  unit: string;
}

/**
 * Nanoseconds per call of `fn`, the best of `rounds` timed batches of `iterations`
 * calls, after a warm-up so the JIT has settled. The results are kept in a sink so the
 * work cannot be optimised away.
 */
export function nsPerCall(fn: (i: number) => unknown, iterations = 200_000, rounds = 5): number {
  let sink: unknown;
  for (let i = 0; i < Math.min(iterations, 20_000); i++) sink = fn(i);
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink = fn(i);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / iterations);
  }
  if (sink === Symbol.for('never')) console.log(sink);
  return best;
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
