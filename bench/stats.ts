/** Summaries of samples. */

export function sum(values: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i];
  return total;
}

export function mean(values: ArrayLike<number>): number {
  return values.length === 0 ? NaN : sum(values) / values.length;
}

/** The q-quantile (0 < q ≤ 1) of ascending `sorted`, by nearest rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export interface LatencySummary {
  count: number;
  averageUs: number;
  p50Us: number;
  p99Us: number;
}

export function summarizeLatencies(samplesUs: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samplesUs).sort();
  return { count: sorted.length, averageUs: mean(sorted), p50Us: quantile(sorted, 0.5), p99Us: quantile(sorted, 0.99) };
}
