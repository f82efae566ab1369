/**
 * Prometheus histograms read from `/metrics` text: the difference of two scrapes gives
 * the distribution of what happened in between, and its quantiles are estimated the
 * way Prometheus's histogram_quantile does (linear within a bucket).
 */

/** Cumulative count of observations ≤ `le` (seconds for duration histograms). */
export interface Bucket {
  le: number;
  count: number;
}

/** The buckets of histogram `name`, summed over its label sets; undefined when absent. */
export function parseHistogram(metricsText: string, name: string): Bucket[] | undefined {
  const counts = new Map<number, number>();
  const line = new RegExp(`^${name}_bucket\\{(?:[^}]*,)?le="([^"]+)"[^}]*\\} (\\S+)$`, 'gm');
  for (const match of metricsText.matchAll(line)) {
    const le = match[1] === '+Inf' ? Infinity : Number(match[1]);
    counts.set(le, (counts.get(le) ?? 0) + Number(match[2]));
  }
  if (counts.size === 0) return undefined;
  return [...counts].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/** Observations made after `before` was scraped, up to `after`. */
export function subtractHistogram(after: readonly Bucket[], before: readonly Bucket[]): Bucket[] {
  const earlier = new Map(before.map((bucket) => [bucket.le, bucket.count]));
  return after.map((bucket) => ({ le: bucket.le, count: bucket.count - (earlier.get(bucket.le) ?? 0) }));
}

export function addHistograms(a: readonly Bucket[], b: readonly Bucket[]): Bucket[] {
  const other = new Map(b.map((bucket) => [bucket.le, bucket.count]));
  return a.map((bucket) => ({ le: bucket.le, count: bucket.count + (other.get(bucket.le) ?? 0) }));
}

export function histogramCount(buckets: readonly Bucket[]): number {
  return buckets.at(-1)?.count ?? 0;
}

/**
 * The q-quantile, interpolated within the bucket it falls in; the highest finite bound
 * when it falls in +Inf; undefined with no observations.
 */
export function histogramQuantile(buckets: readonly Bucket[], q: number): number | undefined {
  const total = histogramCount(buckets);
  if (total <= 0) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return lowerBound;
      return lowerBound + ((bucket.le - lowerBound) * (rank - lowerCount)) / (bucket.count - lowerCount);
    }
    lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerBound;
}
