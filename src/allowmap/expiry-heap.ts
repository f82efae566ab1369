/**
 * A binary min-heap of entries by one of their times: O(log n) insert, update and
 * remove. The map keeps two: every entry by `expiresAt` (when it leaves), and
 * the entries with a deferred extension by `programmedUntil` (when the dataplane would
 * drop them first). Each heap keeps an entry's position in a field of its own.
 *
 * The heap holds the time each entry was placed under (its key) beside it, in an array
 * of plain numbers: comparisons read no entry. A time that moved later may be left
 * unplaced: `soonest` places an entry anew only when it reaches the top, so a repeated
 * answer that extends an entry costs the heap nothing (it was a sift through the whole
 * heap, and a boxed number, per answer).
 */
import type { AllowedEntry } from './entry.js';

/** By expiry (`expiresAt`, `heapIndex`) or by what the dataplane holds (`programmedUntil`, `refreshIndex`). */
export type HeapOrder = 'expiry' | 'programmed';

export class ExpiryHeap {
  private readonly items: AllowedEntry[] = [];
  /** `keys[i]` is the time `items[i]` was placed under: never later than its time now. */
  private readonly keys: number[] = [];

  constructor(private readonly order: HeapOrder = 'expiry') {}

  get size(): number {
    return this.items.length;
  }

  /**
   * The entry whose time is soonest. Entries whose time moved later since they were
   * placed are placed anew on the way, so that what is returned is the true minimum.
   */
  soonest(): AllowedEntry | undefined {
    const { items, keys } = this;
    while (items.length > 0) {
      const time = this.timeOf(items[0]);
      if (time <= keys[0]) return items[0];
      keys[0] = time;
      this.down(0);
    }
    return undefined;
  }

  has(entry: AllowedEntry): boolean {
    return this.positionOf(entry) >= 0;
  }

  push(entry: AllowedEntry): void {
    this.items.push(entry);
    this.keys.push(this.timeOf(entry));
    this.up(this.items.length - 1);
  }

  /** Places the entry anew after its time changed: needed when it moved earlier, optional when later. */
  update(entry: AllowedEntry): void {
    const index = this.positionOf(entry);
    this.keys[index] = this.timeOf(entry);
    this.down(this.up(index));
  }

  remove(entry: AllowedEntry): void {
    const index = this.positionOf(entry);
    if (index < 0) return;
    const { items, keys } = this;
    const last = items.pop() as AllowedEntry;
    const lastKey = keys.pop() as number;
    this.place(entry, -1);
    if (last === entry) return;
    items[index] = last;
    keys[index] = lastKey;
    this.down(this.up(index));
  }

  private timeOf(entry: AllowedEntry): number {
    return this.order === 'expiry' ? entry.expiresAt : entry.programmedUntil;
  }

  private positionOf(entry: AllowedEntry): number {
    return this.order === 'expiry' ? entry.heapIndex : entry.refreshIndex;
  }

  private place(entry: AllowedEntry, index: number): void {
    if (this.order === 'expiry') entry.heapIndex = index;
    else entry.refreshIndex = index;
  }

  /** Moves items[index] towards the root while its key is smaller; returns where it ends. */
  private up(index: number): number {
    const { items, keys } = this;
    const entry = items[index];
    const key = keys[index];
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (keys[parent] <= key) break;
      items[index] = items[parent];
      keys[index] = keys[parent];
      this.place(items[index], index);
      index = parent;
    }
    items[index] = entry;
    keys[index] = key;
    this.place(entry, index);
    return index;
  }

  private down(index: number): void {
    const { items, keys } = this;
    const length = items.length;
    const entry = items[index];
    const key = keys[index];
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && keys[right] < keys[left] ? right : left;
      if (keys[child] >= key) break;
      items[index] = items[child];
      keys[index] = keys[child];
      this.place(items[index], index);
      index = child;
    }
    items[index] = entry;
    keys[index] = key;
    this.place(entry, index);
  }
}
