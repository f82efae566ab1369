/**
 * Extensions waiting for a dataplane batch, which takes a few at a time behind what
 * answers wait for. Those the sweep found due (the dataplane drops the entry within
 * seconds) go before those queued early, by the half-lifetime rule, whatever the order
 * they came in: a backlog of early ones must not hold a due one past its timeout.
 */
import type { AllowedEntry } from './entry.js';

export class ExtensionQueue {
  private readonly due = new Set<AllowedEntry>();
  private readonly early = new Set<AllowedEntry>();

  get size(): number {
    return this.due.size + this.early.size;
  }

  has(entry: AllowedEntry): boolean {
    return this.due.has(entry) || this.early.has(entry);
  }

  addDue(entry: AllowedEntry): void {
    this.early.delete(entry);
    this.due.add(entry);
  }

  addEarly(entry: AllowedEntry): void {
    if (!this.due.has(entry)) this.early.add(entry);
  }

  delete(entry: AllowedEntry): void {
    this.due.delete(entry);
    this.early.delete(entry);
  }

  clear(): void {
    this.due.clear();
    this.early.clear();
  }

  /** Takes up to `count`, due ones first, each in the order queued. */
  take(count: number): AllowedEntry[] {
    const taken: AllowedEntry[] = [];
    for (const queue of [this.due, this.early]) {
      for (const entry of queue) {
        if (taken.length >= count) return taken;
        taken.push(entry);
        queue.delete(entry);
      }
    }
    return taken;
  }
}
