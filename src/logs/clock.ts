/**
 * Wall-clock time in nanoseconds for the records' `start_time` and `end_time`. `Date`
 * has milliseconds only, so the monotonic clock supplies the rest, anchored to the
 * wall clock; when the wall clock is stepped (NTP, suspend) the anchor follows it.
 */

/** Further than this from `Date.now()`, the anchor is reset. */
const MAX_DRIFT_MS = 1000;

export class WallClock {
  private anchorWallNs = 0n;
  private anchorMonotonicNs = 0n;

  constructor() {
    this.anchor();
  }

  /** Nanoseconds since the Unix epoch. */
  now(): bigint {
    const ns = this.anchorWallNs + (process.hrtime.bigint() - this.anchorMonotonicNs);
    if (Math.abs(Number(ns / 1_000_000n) - Date.now()) <= MAX_DRIFT_MS) return ns;
    this.anchor();
    return this.anchorWallNs;
  }

  private anchor(): void {
    this.anchorWallNs = BigInt(Date.now()) * 1_000_000n;
    this.anchorMonotonicNs = process.hrtime.bigint();
  }
}

/**
 * RFC 3339 UTC as Go writes a `time.Time` in JSON (`RFC3339Nano`): nanoseconds with
 * trailing zeros trimmed, no fraction at all when it is zero: `…05.48828054Z`, `…05Z`.
 */
export function formatTime(ns: bigint): string {
  const seconds = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19);
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return fraction === '' ? `${seconds}Z` : `${seconds}.${fraction}Z`;
}
