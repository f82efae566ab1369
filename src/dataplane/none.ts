/** `--dataplane none`: nothing enforces the map; every batch is in effect at once. */
import type { Dataplane } from './dataplane.js';

export class NoDataplane implements Dataplane {
  readonly name = 'none';

  start(): Promise<void> {
    return Promise.resolve();
  }

  apply(): Promise<void> {
    return Promise.resolve();
  }

  resync(): Promise<void> {
    return Promise.resolve();
  }

  syncPolicy(): Promise<void> {
    return Promise.resolve();
  }

  onResyncNeeded(): void {}

  unhealthyReason(): string | undefined {
    return undefined;
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
