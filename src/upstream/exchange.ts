/** What the upstream exchanges report back to the pool. */
import { replyMatchesQuery } from '../dns/message.js';
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

/**
 * Whether `reply` answers `query`, the query in flight under the reply's ID (undefined
 * when none is); a reply that does not is reported to `events` as dropped.
 */
export function answersQuery(reply: Buffer, query: Query | undefined, events: ExchangeEvents): query is Query {
  if (query === undefined) {
    events.onDropped('unknown-id');
    return false;
  }
  // A query sent with 0x20 randomisation saved its client's casing: its reply must echo the random one.
  if (!replyMatchesQuery(reply, query.message, query.questionEnd, query.clientName !== undefined)) {
    events.onDropped('question');
    return false;
  }
  return true;
}
