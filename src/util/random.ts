/** 16-bit random IDs from a pre-filled CSPRNG pool, cheap enough for every query. */
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 8192;

export class RandomIds {
  private readonly pool = new Uint16Array(POOL_SIZE);
  private next = POOL_SIZE;

  nextId(): number {
    if (this.next === POOL_SIZE) {
      randomFillSync(this.pool);
      this.next = 0;
    }
    return this.pool[this.next++];
  }
}
