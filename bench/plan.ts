/**
 * How long and how hard each target is driven. Every target gets the same load in
 * each of two interleaved rounds; with seven targets the whole run stays under three
 * minutes on a 2-core machine.
 */
export const PLAN = {
  rounds: 2,
  /** dnsperf clients (source ports), all from the pod's address. */
  clients: 4,
  /** Unrecorded load first, so that every target (and V8's JIT) is warm. */
  warmupSeconds: 1,
  saturateSeconds: 5,
  /** The fixed rate at which latency is compared. */
  latencyQps: 2000,
  latencySeconds: 3,
  /** New names per second in the hold-time burst (each asked once). */
  burstQps: 500,
} as const;
