/** `--dataplane none`: nothing enforces the map; every batch is in effect at once. */
import type { Dataplane } from './dataplane.js';

export class NoDataplane implements Dataplane {
  readonly name = 'none';

  apply(): Promise<void> {
    return Promise.resolve();
  }

  resync(): Promise<void> {
    return Promise.resolve();
  }

  unhealthyReason(): string | undefined {
    return undefined;
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
