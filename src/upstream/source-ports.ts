/**
 * The source ports of dnsgate's own upstream traffic, UDP and TCP alike. Interception in
 * a pod's own network namespace (sidecar) captures every DNS packet the pod sends to a
 * target, dnsgate's included, and user IDs cannot tell dnsgate from the app (they may
 * share one, root included): these ports can. The range lies above Linux's default
 * ephemeral range (32768-60999), so no other program lands in it by chance; a program
 * that binds one of them on purpose only reaches, uncaptured, the DNS servers it could
 * ask through dnsgate anyway, and enforcement still applies to what it learns.
 */
import { randomInt } from 'node:crypto';

export interface SourcePorts {
  first: number;
  last: number;
}

/**
 * Used only with interception in the pod's netns (`--intercept` and `--nft-hook
 * output`): elsewhere upstream sockets take the kernel's random ephemeral ports, a range
 * six times as wide against forged replies.
 */
export const UPSTREAM_SOURCE_PORTS: SourcePorts = { first: 61000, last: 65535 };

/** A random port of `range` for one socket, or 0 (the kernel's pick) without one. */
export function sourcePort(range: SourcePorts | undefined): number {
  return range === undefined ? 0 : randomInt(range.first, range.last + 1);
}
