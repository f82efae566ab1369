/**
 * Group commit between the allowed map and the dataplane. Changes accumulate while a
 * batch is in flight and go together in the next one, so a burst of answers costs one
 * dataplane round trip per batch, not one per answer. Answers held for their IPs wait
 * on the next batch to complete: by then everything they need is in effect, whether
 * it travelled in that batch or in the one before.
 *
 * A failed batch fails the answers waiting on it; the next commit is then a resync of
 * the whole map, retried until the dataplane takes it. So is the next commit after the
 * dataplane says it lost what it held.
 */
import type { AllowedMap } from '../allowmap/map.js';
import type { Dataplane } from './dataplane.js';

const RESYNC_RETRY_MS = 1000;

export interface CommitListener<Waiter> {
  onCommitted(waiters: readonly Waiter[]): void;
  onFailed(waiters: readonly Waiter[], error: Error): void;
  onBatch(size: number, seconds: number): void;
}

export class Committer<Waiter> {
  private inFlight = false;
  private scheduled = false;
  private needsResync = false;
  private waiters: Waiter[] = [];
  private resyncWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(
    private readonly map: AllowedMap,
    private readonly dataplane: Dataplane,
    private readonly listener: CommitListener<Waiter>,
  ) {}

  /** Waits for the next batch; `waiter` is passed back when it completes or fails. */
  wait(waiter: Waiter): void {
    this.waiters.push(waiter);
    this.kick();
  }

  /** Commits pending map changes soon (once the replies of this I/O turn have joined). */
  kick(): void {
    if (this.inFlight || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.commit();
    });
  }

  /**
   * Replaces what the dataplane holds with the whole map (start-up, policy changes).
   * Resolves once it is in effect; rejects with the first failure, while retries go on.
   */
  resync(): Promise<void> {
    this.resyncSoon();
    return new Promise((resolve, reject) => this.resyncWaiters.push({ resolve, reject }));
  }

  /** The next commit replaces everything the dataplane holds (it lost what it held), retried until it takes it. */
  resyncSoon(): void {
    this.needsResync = true;
    this.kick();
  }

  private async commit(): Promise<void> {
    const waiters = this.waiters;
    this.waiters = [];
    const resync = this.needsResync;
    const pending = resync ? this.map.takeAll() : this.map.takeBatch();
    const resyncWaiters = resync ? this.resyncWaiters.splice(0) : [];
    this.inFlight = true;
    let failed = false;
    try {
      if (pending !== undefined) {
        const started = performance.now();
        if (resync) await this.dataplane.resync(pending.batch.upserts);
        else await this.dataplane.apply(pending.batch);
        this.map.markProgrammed(pending);
        this.listener.onBatch(pending.batch.upserts.length + pending.batch.removals.length, (performance.now() - started) / 1000);
      }
      if (resync) this.needsResync = false;
      this.listener.onCommitted(waiters);
      for (const waiter of resyncWaiters) waiter.resolve();
    } catch (error) {
      failed = true;
      this.needsResync = true;
      this.listener.onFailed(waiters, error as Error);
      for (const waiter of resyncWaiters) waiter.reject(error as Error);
      setTimeout(() => this.kick(), RESYNC_RETRY_MS).unref();
    } finally {
      this.inFlight = false;
    }
    if (!failed && (this.waiters.length > 0 || this.needsResync || this.map.hasChanges)) this.kick();
  }
}
