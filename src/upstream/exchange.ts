/** What the upstream exchanges report back to the pool. */
import type { Query } from '../query.js';

export type DropReason = 'unknown-id' | 'question' | 'malformed';

export interface ExchangeEvents {
  /** A reply that passed the source, ID and question checks. */
  onReply(query: Query, reply: Buffer): void;
  /** The attempt cannot complete (connection lost or refused); try elsewhere. */
  onAttemptFailed(query: Query, reason: string): void;
  /** A reply from the upstream's address that matched no query in flight. */
  onDropped(reason: DropReason): void;
}
