/** `--dataplane none`: nothing enforces the map; every batch is in effect at once. */
import type { EntrySnapshot } from '../allowmap/entry.js';
import type { DataplaneBatch } from '../allowmap/entry.js';
import type { Dataplane } from './dataplane.js';

export class NoDataplane implements Dataplane {
  readonly name: string = 'none';

  start(): Promise<void> {
    return Promise.resolve();
  }

  apply(_batch: DataplaneBatch): Promise<void> {
    return Promise.resolve();
  }

  resync(_entries: readonly EntrySnapshot[]): Promise<void> {
    return Promise.resolve();
  }

  syncPolicy(): Promise<void> {
    return Promise.resolve();
  }

  onResyncNeeded(_listener: () => void): void {}

  unhealthyReason(): string | undefined {
    return undefined;
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
