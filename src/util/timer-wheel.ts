/**
 * Deadlines for many short-lived items without a timer each: a hashed wheel ticked by
 * one interval. Cancelling is O(1): an item's token changes, and the stale slot entry
 * is skipped when its tick comes.
 */

export interface Deadline {
  /** Changed by every schedule or cancel; entries with an older token are stale. */
  timerToken: number;
  onDeadline(): void;
}

export class TimerWheel {
  private readonly slots: { items: Deadline[]; tokens: number[]; dueAt: number[] }[];
  private cursor = 0;
  private lastTick: number;
  private interval: NodeJS.Timeout | undefined;
  private pending = 0;

  constructor(
    private readonly resolutionMs = 10,
    slotCount = 512,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.slots = Array.from({ length: slotCount }, () => ({ items: [], tokens: [], dueAt: [] }));
    this.lastTick = this.now();
  }

  schedule(item: Deadline, delayMs: number): void {
    const token = ++item.timerToken;
    const dueAt = this.now() + delayMs;
    const ticks = Math.max(1, Math.ceil(delayMs / this.resolutionMs));
    const slot = this.slots[(this.cursor + Math.min(ticks, this.slots.length - 1)) % this.slots.length];
    slot.items.push(item);
    slot.tokens.push(token);
    slot.dueAt.push(dueAt);
    this.pending++;
    if (this.interval === undefined) this.start();
  }

  cancel(item: Deadline): void {
    item.timerToken++;
  }

  private start(): void {
    this.lastTick = this.now();
    this.interval = setInterval(() => this.tick(), this.resolutionMs);
    this.interval.unref();
  }

  /** Runs every slot the clock has passed since the last tick. */
  tick(): void {
    const now = this.now();
    let steps = Math.floor((now - this.lastTick) / this.resolutionMs);
    if (steps <= 0) return;
    this.lastTick += steps * this.resolutionMs;
    steps = Math.min(steps, this.slots.length);
    for (let s = 0; s < steps; s++) {
      this.cursor = (this.cursor + 1) % this.slots.length;
      this.runSlot(this.slots[this.cursor], now);
    }
    if (this.pending === 0 && this.interval !== undefined) {
      clearInterval(this.interval);
      this.interval = undefined;
    }
  }

  private runSlot(slot: { items: Deadline[]; tokens: number[]; dueAt: number[] }, now: number): void {
    const { items, tokens, dueAt } = slot;
    if (items.length === 0) return;
    slot.items = [];
    slot.tokens = [];
    slot.dueAt = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (item.timerToken !== tokens[i]) {
        this.pending--;
        continue;
      }
      if (dueAt[i] > now + this.resolutionMs) {
        // Further away than one turn of the wheel: go round again.
        slot.items.push(item);
        slot.tokens.push(tokens[i]);
        slot.dueAt.push(dueAt[i]);
        continue;
      }
      this.pending--;
      item.onDeadline();
    }
  }
}
