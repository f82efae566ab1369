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
  /** Appends `chunk`, whole lines; on rejection none of them is kept. */
  write(chunk: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface LineQueueLimits {
  /** Lines queued or being written, in bytes, beyond which new lines are dropped. */
  maxQueuedBytes: number;
}

const DEFAULT_LIMITS: LineQueueLimits = { maxQueuedBytes: 16 * 1024 * 1024 };
/** One write to a sink: small enough that a file rotates close to its size limit. */
export const CHUNK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

type Counter = { inc(value?: number): void };

/**
 * Lines as UTF-8, in chunks of whole lines, with the number of lines in each. A window
 * of thousands of lines kept as strings until written would outlive young-generation
 * collections and be collected again as old ones, in front of held answers; encoded
 * as they are rendered, each line's string dies young and the bytes wait outside the
 * JavaScript heap.
 */
export interface Lines {
  chunks: Buffer[];
  lineCounts: number[];
}

/** Encodes lines into chunks of at most `chunkBytes` (a longer line gets a chunk of its own). */
export class LineChunker {
  private readonly lines: Lines = { chunks: [], lineCounts: [] };
  private chunk: Buffer | undefined;
  private used = 0;
  private count = 0;

  constructor(private readonly chunkBytes = CHUNK_BYTES) {}

  /** Adds `line` (without its newline). */
  add(line: string): void {
    const bytes = Buffer.byteLength(line) + 1;
    if (this.chunk !== undefined && this.used + bytes > this.chunk.length) this.seal();
    // Outside Node's shared pool, so that a kept chunk keeps only itself.
    this.chunk ??= Buffer.allocUnsafeSlow(Math.max(this.chunkBytes, bytes));
    this.used += this.chunk.write(line, this.used);
    this.chunk[this.used++] = NEWLINE;
    this.count++;
  }

  /** The lines added, in order. */
  finish(): Lines {
    this.seal();
    return this.lines;
  }

  private seal(): void {
    if (this.chunk !== undefined && this.count > 0) {
      this.lines.chunks.push(this.chunk.subarray(0, this.used));
      this.lines.lineCounts.push(this.count);
    }
    this.chunk = undefined;
    this.used = 0;
    this.count = 0;
  }
}

export class LineQueue {
  private chunks: Buffer[] = [];
  private lineCounts: number[] = [];
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

  /** Queues each chunk that fits, and starts writing. */
  push(lines: Lines): void {
    let dropped = 0;
    for (let i = 0; i < lines.chunks.length; i++) {
      const chunk = lines.chunks[i];
      if (this.queuedBytes + chunk.length > this.limits.maxQueuedBytes) {
        dropped += lines.lineCounts[i];
        continue;
      }
      this.chunks.push(chunk);
      this.lineCounts.push(lines.lineCounts[i]);
      this.queuedBytes += chunk.length;
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
    let dropped = 0;
    for (let i = this.head; i < this.chunks.length; i++) {
      this.queuedBytes -= this.chunks[i].length;
      dropped += this.lineCounts[i];
    }
    this.droppedShutdown.inc(dropped);
    this.chunks = [];
    this.lineCounts = [];
    this.head = 0;
  }

  private async pump(): Promise<void> {
    while (this.head < this.chunks.length) {
      const chunk = this.chunks[this.head];
      const lineCount = this.lineCounts[this.head];
      this.head++;
      try {
        await this.target.write(chunk);
        this.written.inc(lineCount);
        this.recovered();
      } catch (error) {
        this.droppedError.inc(lineCount);
        this.failed(error);
      }
      this.queuedBytes -= chunk.length;
      this.compact();
    }
    this.pumping = undefined;
  }

  /** Drops written chunks from the arrays, in bulk so that each is moved O(1) times. */
  private compact(): void {
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.lineCounts = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks.splice(0, this.head);
      this.lineCounts.splice(0, this.head);
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
