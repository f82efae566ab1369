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

interface Slot {
  items: Deadline[];
  tokens: number[];
  dueAt: number[];
}

function emptySlot(): Slot {
  return { items: [], tokens: [], dueAt: [] };
}

export class TimerWheel {
  private readonly slots: Slot[];
  private cursor = 0;
  /** The time the cursor stands for; behind the clock while the event loop is busy. */
  private lastTick: number;
  private interval: NodeJS.Timeout | undefined;
  private pending = 0;

  constructor(
    private readonly resolutionMs = 10,
    slotCount = 512,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.slots = Array.from({ length: slotCount }, emptySlot);
    this.lastTick = this.now();
  }

  /** The wheel's time, in milliseconds. */
  now(): number {
    return this.clock();
  }

  schedule(item: Deadline, delayMs: number): void {
    if (this.interval === undefined) this.start();
    this.place(item, ++item.timerToken, this.now() + delayMs);
    this.pending++;
  }

  cancel(item: Deadline): void {
    item.timerToken++;
  }

  /** Forgets every deadline and stops ticking. */
  clear(): void {
    clearInterval(this.interval);
    this.interval = undefined;
    for (let index = 0; index < this.slots.length; index++) this.slots[index] = emptySlot();
    this.pending = 0;
  }

  private start(): void {
    this.lastTick = this.now();
    this.interval = setInterval(() => this.tick(), this.resolutionMs);
    this.interval.unref();
  }

  /**
   * Puts an entry in the slot the cursor reaches at `dueAt`, counted from the time the
   * cursor stands for rather than from now: counted from now, an entry scheduled while
   * the ticks lag would come up early and wait a whole turn more.
   */
  private place(item: Deadline, token: number, dueAt: number): void {
    const ticks = Math.max(1, Math.ceil((dueAt - this.lastTick) / this.resolutionMs));
    const slot = this.slots[(this.cursor + Math.min(ticks, this.slots.length - 1)) % this.slots.length];
    slot.items.push(item);
    slot.tokens.push(token);
    slot.dueAt.push(dueAt);
  }

  /** Runs every slot the clock has passed since the last tick. */
  tick(): void {
    const now = this.now();
    const steps = Math.floor((now - this.lastTick) / this.resolutionMs);
    if (steps <= 0) return;
    const due: Deadline[] = [];
    const later = emptySlot();
    for (let step = 0; step < Math.min(steps, this.slots.length); step++) {
      this.cursor = (this.cursor + 1) % this.slots.length;
      const slot = this.slots[this.cursor];
      for (let i = 0; i < slot.items.length; i++) {
        const item = slot.items[i];
        if (item.timerToken !== slot.tokens[i]) {
          this.pending--;
        } else if (slot.dueAt[i] < now + this.resolutionMs) {
          this.pending--;
          due.push(item);
        } else {
          later.items.push(item);
          later.tokens.push(slot.tokens[i]);
          later.dueAt.push(slot.dueAt[i]);
        }
      }
      this.slots[this.cursor] = emptySlot();
    }
    this.lastTick += steps * this.resolutionMs;
    for (let i = 0; i < later.items.length; i++) this.place(later.items[i], later.tokens[i], later.dueAt[i]);
    // Fired last, so that what they schedule is placed against the settled cursor.
    for (const item of due) item.onDeadline();
    if (this.pending === 0 && this.interval !== undefined) {
      clearInterval(this.interval);
      this.interval = undefined;
    }
  }
}
