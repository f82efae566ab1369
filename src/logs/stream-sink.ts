/** A writable stream as a sink: stdout for `--log-stdout`, read by `kubectl logs`. */
import type { Writable } from 'node:stream';
import type { LineTarget } from './line-queue.js';

/** Streams given an 'error' listener, so that each gets one however many sinks share it. */
const guarded = new WeakSet<Writable>();

export class StreamTarget implements LineTarget {
  constructor(private readonly stream: Writable) {
    // A closed stdout (EPIPE) must cost log lines, not the process: the failed write's
    // callback reports it, and without a listener the 'error' event would throw.
    if (!guarded.has(stream)) {
      stream.on('error', () => undefined);
      guarded.add(stream);
    }
  }

  write(chunk: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stream.write(chunk, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** The stream belongs to the process, so it stays open. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
