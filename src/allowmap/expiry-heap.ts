/**
 * A binary min-heap of entries by one of their times: O(log n) insert, update and
 * remove, O(1) peek. The map keeps two: every entry by `expiresAt` (when it leaves), and
 * the entries with a deferred extension by `programmedUntil` (when the dataplane would
 * drop them first). Each heap keeps an entry's position in a field of its own.
 */
import type { AllowedEntry } from './entry.js';

type TimeField = 'expiresAt' | 'programmedUntil';
type IndexField = 'heapIndex' | 'refreshIndex';

export class ExpiryHeap {
  private readonly items: AllowedEntry[] = [];

  constructor(
    private readonly time: TimeField = 'expiresAt',
    private readonly index: IndexField = 'heapIndex',
  ) {}

  get size(): number {
    return this.items.length;
  }

  peek(): AllowedEntry | undefined {
    return this.items[0];
  }

  has(entry: AllowedEntry): boolean {
    return entry[this.index] >= 0;
  }

  push(entry: AllowedEntry): void {
    entry[this.index] = this.items.length;
    this.items.push(entry);
    this.up(entry[this.index]);
  }

  /** Restores order after the entry's time changed either way. */
  update(entry: AllowedEntry): void {
    this.up(entry[this.index]);
    this.down(entry[this.index]);
  }

  remove(entry: AllowedEntry): void {
    const index = entry[this.index];
    if (index < 0) return;
    const last = this.items.pop() as AllowedEntry;
    entry[this.index] = -1;
    if (last === entry) return;
    this.items[index] = last;
    last[this.index] = index;
    this.update(last);
  }

  private up(index: number): void {
    const { items, time } = this;
    const entry = items[index];
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (items[parent][time] <= entry[time]) break;
      items[index] = items[parent];
      items[index][this.index] = index;
      index = parent;
    }
    items[index] = entry;
    entry[this.index] = index;
  }

  private down(index: number): void {
    const { items, time } = this;
    const length = items.length;
    const entry = items[index];
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && items[right][time] < items[left][time] ? right : left;
      if (items[child][time] >= entry[time]) break;
      items[index] = items[child];
      items[index][this.index] = index;
      index = child;
    }
    items[index] = entry;
    entry[this.index] = index;
  }
}
