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
 *
 * A dataplane that applies batches in the order they are sent (`pipelines`: netlink,
 * where the kernel applies a batch inside the send) gets the next batch without waiting
 * for the last one's answer (one at a time: MAX_PIPELINED), so an answer arriving
 * meanwhile waits for one round trip, not two. Its waiters are released only once every batch before it is in effect too,
 * since what they need may have travelled in one of those; when one of those failed,
 * they fail with it. Resyncs never overlap a batch.
 */
import type { AllowedMap } from '../allowmap/map.js';
import type { Dataplane } from './dataplane.js';

const RESYNC_RETRY_MS = 1000;
/**
 * Batches in flight at most when pipelining: the one being answered and the next. More
 * would only pile up behind a dataplane that is busy (say, with a policy swap), each a
 * few answers, and their acknowledgements would crowd the netlink socket's buffer;
 * meanwhile the rest accumulate into the next batch, as without pipelining.
 */
const MAX_PIPELINED = 2;

export interface CommitListener<Waiter> {
  onCommitted(waiters: readonly Waiter[]): void;
  onFailed(waiters: readonly Waiter[], error: Error): void;
  onBatch(size: number, seconds: number): void;
}

export class Committer<Waiter> {
  private inFlight = 0;
  private scheduled = false;
  private needsResync = false;
  private waiters: Waiter[] = [];
  private resyncWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  /** Settles true once every batch sent so far is in effect, false once one of them was not. */
  private allApplied: Promise<boolean> = Promise.resolve(true);

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
    if (this.scheduled || !this.mayCommit()) return;
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

  /** Nothing in flight, or a batch (not a resync) that may follow the one that is. */
  private mayCommit(): boolean {
    return this.inFlight === 0 || (this.inFlight < MAX_PIPELINED && !this.needsResync && (this.dataplane.pipelines?.() ?? false));
  }

  private async commit(): Promise<void> {
    // A resync asked for meanwhile waits for the batches in flight; the last of them kicks again.
    if (!this.mayCommit()) return;
    const waiters = this.waiters;
    this.waiters = [];
    const resync = this.needsResync;
    const pending = resync ? this.map.takeAll() : this.map.takeBatch();
    const resyncWaiters = resync ? this.resyncWaiters.splice(0) : [];
    // A resync replaces everything, so what failed before it no longer matters.
    const earlier = resync ? Promise.resolve(true) : this.allApplied;
    let settle: (applied: boolean) => void = () => undefined;
    this.allApplied = new Promise((resolve) => (settle = resolve));
    this.inFlight++;
    let failure: Error | undefined;
    try {
      if (pending !== undefined) {
        const started = performance.now();
        if (resync) await this.dataplane.resync(pending.batch.upserts);
        else await this.dataplane.apply(pending.batch);
        this.map.markProgrammed(pending);
        this.listener.onBatch(pending.batch.upserts.length + pending.batch.removals.length, (performance.now() - started) / 1000);
      }
    } catch (error) {
      failure = error as Error;
    }
    if (failure === undefined && !(await earlier)) failure = new Error('an earlier dataplane batch failed');
    settle(failure === undefined);
    this.inFlight--;
    if (failure === undefined) {
      if (resync) this.needsResync = false;
      this.listener.onCommitted(waiters);
      for (const waiter of resyncWaiters) waiter.resolve();
      if (this.waiters.length > 0 || this.needsResync || this.map.hasChanges) this.kick();
    } else {
      this.needsResync = true;
      this.listener.onFailed(waiters, failure);
      for (const waiter of resyncWaiters) waiter.reject(failure);
      setTimeout(() => this.kick(), RESYNC_RETRY_MS).unref();
    }
  }
}
