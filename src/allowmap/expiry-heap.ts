/** A binary min-heap of entries by expiry: O(log n) insert, extend and remove, O(1) peek. */
import type { AllowedEntry } from './entry.js';

export class ExpiryHeap {
  private readonly items: AllowedEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): AllowedEntry | undefined {
    return this.items[0];
  }

  push(entry: AllowedEntry): void {
    entry.heapIndex = this.items.length;
    this.items.push(entry);
    this.up(entry.heapIndex);
  }

  /** Restores order after `entry.expiresAt` changed either way. */
  update(entry: AllowedEntry): void {
    this.up(entry.heapIndex);
    this.down(entry.heapIndex);
  }

  remove(entry: AllowedEntry): void {
    const index = entry.heapIndex;
    if (index < 0) return;
    const last = this.items.pop() as AllowedEntry;
    entry.heapIndex = -1;
    if (last === entry) return;
    this.items[index] = last;
    last.heapIndex = index;
    this.update(last);
  }

  private up(index: number): void {
    const items = this.items;
    const entry = items[index];
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (items[parent].expiresAt <= entry.expiresAt) break;
      items[index] = items[parent];
      items[index].heapIndex = index;
      index = parent;
    }
    items[index] = entry;
    entry.heapIndex = index;
  }

  private down(index: number): void {
    const items = this.items;
    const length = items.length;
    const entry = items[index];
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && items[right].expiresAt < items[left].expiresAt ? right : left;
      if (items[child].expiresAt >= entry.expiresAt) break;
      items[index] = items[child];
      items[index].heapIndex = index;
      index = child;
    }
    items[index] = entry;
    entry.heapIndex = index;
  }
}
