/**
 * Deadlines for many short-lived items without a timer each: a hashed wheel ticked by
 * one interval. Each item records where its entry is, so that cancelling is O(1) and
 * lets go of the item at once: most deadlines (a query's upstream timeout) are
 * cancelled within a millisecond, and a wheel that kept them until their tick would
 * hold every query of the last seconds, pushing each into V8's old generation.
 */

export interface Deadline {
  /** Where the item's entry is, -1 when it has none; the wheel's to set. */
  timerSlot: number;
  timerIndex: number;
  onDeadline(): void;
}

interface Slot {
  /** A cancelled entry leaves a hole. */
  items: (Deadline | undefined)[];
  dueAt: number[];
}

function emptySlot(): Slot {
  return { items: [], dueAt: [] };
}

export class TimerWheel {
  private readonly slots: Slot[];
  private cursor = 0;
  /** The time the cursor stands for; behind the clock while the event loop is busy. */
  private lastTick: number;
  private interval: NodeJS.Timeout | undefined;
  /** Entries that are not holes. */
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

  /** Sets the item's deadline, replacing any earlier one. */
  schedule(item: Deadline, delayMs: number): void {
    this.cancel(item);
    if (this.interval === undefined) this.start();
    this.place(item, this.now() + delayMs);
    this.pending++;
  }

  cancel(item: Deadline): void {
    if (item.timerSlot < 0) return;
    const slot = this.slots[item.timerSlot];
    if (slot.items[item.timerIndex] === item) {
      slot.items[item.timerIndex] = undefined;
      this.pending--;
    }
    item.timerSlot = -1;
    item.timerIndex = -1;
  }

  /** Forgets every deadline and stops ticking. */
  clear(): void {
    clearInterval(this.interval);
    this.interval = undefined;
    for (let index = 0; index < this.slots.length; index++) {
      for (const item of this.slots[index].items) if (item !== undefined) item.timerSlot = item.timerIndex = -1;
      this.slots[index] = emptySlot();
    }
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
  private place(item: Deadline, dueAt: number): void {
    const ticks = Math.max(1, Math.ceil((dueAt - this.lastTick) / this.resolutionMs));
    const index = (this.cursor + Math.min(ticks, this.slots.length - 1)) % this.slots.length;
    const slot = this.slots[index];
    item.timerSlot = index;
    item.timerIndex = slot.items.length;
    slot.items.push(item);
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
      this.slots[this.cursor] = emptySlot();
      for (let i = 0; i < slot.items.length; i++) {
        const item = slot.items[i];
        if (item === undefined) continue;
        item.timerSlot = item.timerIndex = -1;
        if (slot.dueAt[i] < now + this.resolutionMs) {
          this.pending--;
          due.push(item);
        } else {
          later.items.push(item);
          later.dueAt.push(slot.dueAt[i]);
        }
      }
    }
    this.lastTick += steps * this.resolutionMs;
    for (let i = 0; i < later.items.length; i++) this.place(later.items[i] as Deadline, later.dueAt[i]);
    // Fired last, so that what they schedule is placed against the settled cursor.
    for (const item of due) item.onDeadline();
    if (this.pending === 0 && this.interval !== undefined) {
      clearInterval(this.interval);
      this.interval = undefined;
    }
  }
}
