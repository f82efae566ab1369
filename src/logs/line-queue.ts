/**
 * Between a flush and a sink: lines wait here and are written in order, one batch at
 * a time, while DNS goes on. The queue is bounded in bytes; when the sink falls behind
 * (slow disk) new lines are dropped, and when a write fails (disk full, read-only) its
 * lines are dropped, both counted in `dnsgate_log_records_dropped_total`. Nothing here
 * ever waits on the DNS path.
 */
import type { Logger } from '../util/logger.js';
import { errorText } from '../util/errors.js';
import type { LogMetrics } from '../admin/metrics.js';

/** Where lines end up: a file or a stream. */
export interface LineTarget {
  /** Appends `chunk`, whole lines of `bytes` bytes in all; on rejection none of them is kept. */
  write(chunk: string, bytes: number): Promise<void>;
  close(): Promise<void>;
}

export interface LineQueueLimits {
  /** Lines queued or being written, in bytes, beyond which new lines are dropped. */
  maxQueuedBytes: number;
  /** Lines joined into one write, so that a file rotates close to its size limit. */
  batchBytes: number;
}

const DEFAULT_LIMITS: LineQueueLimits = { maxQueuedBytes: 16 * 1024 * 1024, batchBytes: 64 * 1024 };

type Counter = { inc(value?: number): void };

/**
 * Lines, each ending in a newline, with their sizes in bytes. The renderer measures
 * each line as it makes it: measuring flattens a line built by concatenation, a copy,
 * and a window of thousands of lines would do it all at once here, between two turns
 * of the event loop, in front of held answers.
 */
export interface Lines {
  text: string[];
  bytes: number[];
}

export class LineQueue {
  private lines: string[] = [];
  private sizes: number[] = [];
  private head = 0;
  private queuedBytes = 0;
  private pumping: Promise<void> | undefined;
  /** The error of the failing streak, logged once when it starts. */
  private failure: string | undefined;
  private readonly written: Counter;
  private readonly droppedFull: Counter;
  private readonly droppedError: Counter;
  private readonly droppedShutdown: Counter;

  constructor(
    /** The `sink` label of the metrics, and the name in messages. */
    readonly name: string,
    private readonly target: LineTarget,
    metrics: LogMetrics,
    private readonly logger: Logger,
    private readonly limits: LineQueueLimits = DEFAULT_LIMITS,
  ) {
    this.written = metrics.recordsWritten.labels(name);
    this.droppedFull = metrics.recordsDropped.labels(name, 'queue_full');
    this.droppedError = metrics.recordsDropped.labels(name, 'write_error');
    this.droppedShutdown = metrics.recordsDropped.labels(name, 'shutdown');
  }

  /** Queues each line that fits, and starts writing. */
  push(lines: Lines): void {
    let dropped = 0;
    for (let i = 0; i < lines.text.length; i++) {
      const bytes = lines.bytes[i];
      if (this.queuedBytes + bytes > this.limits.maxQueuedBytes) {
        dropped++;
        continue;
      }
      this.lines.push(lines.text[i]);
      this.sizes.push(bytes);
      this.queuedBytes += bytes;
    }
    if (dropped > 0) this.droppedFull.inc(dropped);
    this.pumping ??= this.pump();
  }

  /**
   * Resolves once every queued line is written, or after `timeoutMs` (a hung disk must
   * not hold up shutdown), when what is still queued is dropped and the target is left open.
   */
  async close(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      (this.pumping ?? Promise.resolve()).then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!timedOut) {
      await this.target.close();
      return;
    }
    for (let i = this.head; i < this.lines.length; i++) this.queuedBytes -= this.sizes[i];
    this.droppedShutdown.inc(this.lines.length - this.head);
    this.lines = [];
    this.sizes = [];
    this.head = 0;
  }

  private async pump(): Promise<void> {
    while (this.head < this.lines.length) {
      const start = this.head;
      let bytes = this.sizes[start];
      let end = start + 1;
      while (end < this.lines.length && bytes + this.sizes[end] <= this.limits.batchBytes) bytes += this.sizes[end++];
      const chunk = this.lines.slice(start, end).join('');
      this.head = end;
      try {
        await this.target.write(chunk, bytes);
        this.written.inc(end - start);
        this.recovered();
      } catch (error) {
        this.droppedError.inc(end - start);
        this.failed(error);
      }
      this.queuedBytes -= bytes;
      this.compact();
    }
    this.pumping = undefined;
  }

  /** Drops written lines from the arrays, in bulk so that each line is moved O(1) times. */
  private compact(): void {
    if (this.head === this.lines.length) {
      this.lines = [];
      this.sizes = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.lines.length) {
      this.lines.splice(0, this.head);
      this.sizes.splice(0, this.head);
      this.head = 0;
    }
  }

  private failed(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = errorText(error);
    this.logger.error(`DNS log ${this.name}: cannot write (${this.failure}); dropping records until it can`);
  }

  private recovered(): void {
    if (this.failure === undefined) return;
    this.failure = undefined;
    this.logger.info(`DNS log ${this.name}: writing again`);
  }
}
