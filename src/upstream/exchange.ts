/** What the upstream exchanges report back to the pool. */
import type { Query } from '../query.js';

export interface ExchangeEvents {
  /** A reply that passed the source, ID and question checks. */
  onReply(query: Query, reply: Buffer): void;
  /** The attempt cannot complete (connection lost or refused); try elsewhere. */
  onAttemptFailed(query: Query, reason: string): void;
  /** A packet that did not match a query in flight. */
  onDropped(reason: 'source' | 'unknown-id' | 'question' | 'malformed'): void;
}
