/** Shared by the micro-benchmarks: the figure they report and a timer for tight loops. */

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
