import type { RecordTable } from '../dns/records.js';
import type { Query } from '../query.js';
import type { UpstreamServer } from '../upstream/server.js';

/** The log stage: sees every answer sent, on the hot path, so it must be cheap. */
export interface AnswerLog {
  /**
   * `records` is the walk of `answer` when it came from an upstream (undefined for
   * answers dnsgate wrote itself); it is only valid during the call. `answer` is not
   * modified after the call and may be kept.
   */
  record(query: Query, answer: Buffer, records: RecordTable | undefined, upstream: UpstreamServer | undefined, answeredAt: number): void;
  /** Writes what is buffered (the current window at shutdown) and releases the sinks. */
  close(): Promise<void>;
}
