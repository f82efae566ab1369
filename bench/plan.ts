/**
 * How long and how hard each target is driven. Every target gets the same load in
 * each of two interleaved rounds.
 */
export const PLAN = {
  rounds: 2,
  /** dnsperf clients (source ports), all from the pod's address. */
  clients: 4,
  /** After start-up, before any load: how long the target sits before its idle RSS is read. */
  idleSeconds: 10,
  /** Unrecorded load first, so that every target (and V8's JIT) is warm. */
  warmupSeconds: 1,
  saturateSeconds: 4,
  /** The fixed rate at which CPU time per answered query is compared, the main efficiency figure. */
  cpuQps: 5000,
  cpuSeconds: 5,
  /** The fixed rate at which latency is compared. */
  latencyQps: 2000,
  latencySeconds: 3,
  /** The fixed rate at which RSS under load is read (sampled throughout, the largest kept). */
  memoryQps: 10_000,
  memorySeconds: 3,
  /** New names per second in the hold-time burst (each asked once). */
  burstQps: 500,
  /**
   * Never-seen names per second under an allowed wildcard in the churn run, and how long
   * it lasts by default: long enough that the first half fills every bound (RSS grows for
   * about a minute at this rate) and the second shows whether it stays there.
   */
  churnQps: 500,
  churnSeconds: 120,
} as const;
