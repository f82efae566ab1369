/** One trusted upstream: its address, health, and the exchanges that talk to it. */
import type { Endpoint } from '../net/address.js';
import { formatEndpoint } from '../net/address.js';

/** Consecutive failed attempts after which an upstream is skipped until it answers a probe. */
export const MAX_FAILS = 2;

export class UpstreamServer {
  readonly label: string;
  healthy = true;
  consecutiveFailures = 0;
  /** Why the last attempt failed: timeout, connection, unreachable, busy, or a socket error code. */
  lastFailure: string | undefined;

  constructor(
    readonly index: number,
    readonly endpoint: Endpoint,
  ) {
    this.label = formatEndpoint(endpoint);
  }

  /** No socket could reach it (no route): unhealthy at once. */
  recordUnreachable(reason: string): void {
    this.lastFailure = reason;
    this.healthy = false;
  }

  /** Returns true when this success brought the upstream back. */
  recordSuccess(): boolean {
    this.consecutiveFailures = 0;
    if (this.healthy) return false;
    this.healthy = true;
    return true;
  }

  /** Returns true when this failure made the upstream unhealthy. */
  recordFailure(reason: string): boolean {
    this.lastFailure = reason;
    this.consecutiveFailures++;
    if (!this.healthy || this.consecutiveFailures < MAX_FAILS) return false;
    this.healthy = false;
    return true;
  }
}
