/**
 * The queries one upstream has in flight over UDP, by upstream ID: a fixed table of
 * buckets, chained through the queries themselves, so that sending and answering a
 * query allocates nothing here.
 *
 * A Map rebuilt its table as the number in flight rose and fell (it shrinks at a
 * quarter full), many times a second under load; a table that outlived a
 * young-generation collection went to the old generation, and those were a tenth of
 * all dnsgate full promoted at 5,000 QPS. An array of the whole ID space would be
 * 256 KB per upstream of an idle agent; IDs are random, so with BUCKETS buckets the
 * chains stay short up to thousands in flight.
 */
import type { Query } from '../query.js';

const BUCKETS = 1024;
const BUCKET_MASK = BUCKETS - 1;

export class InFlightQueries {
  private readonly buckets: (Query | undefined)[] = new Array<Query | undefined>(BUCKETS).fill(undefined);
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): Query | undefined {
    for (let query = this.buckets[id & BUCKET_MASK]; query !== undefined; query = query.nextInFlight) {
      if (query.upstreamId === id) return query;
    }
    return undefined;
  }

  /** Adds `query` under `id`, which no query in flight has. */
  add(id: number, query: Query): void {
    const bucket = id & BUCKET_MASK;
    query.upstreamId = id;
    query.nextInFlight = this.buckets[bucket];
    this.buckets[bucket] = query;
    this.count++;
  }

  /** Removes the query under `id`, if there is one. */
  delete(id: number): void {
    const bucket = id & BUCKET_MASK;
    let previous: Query | undefined;
    for (let query = this.buckets[bucket]; query !== undefined; previous = query, query = query.nextInFlight) {
      if (query.upstreamId !== id) continue;
      if (previous === undefined) this.buckets[bucket] = query.nextInFlight;
      else previous.nextInFlight = query.nextInFlight;
      query.nextInFlight = undefined;
      this.count--;
      return;
    }
  }
}
