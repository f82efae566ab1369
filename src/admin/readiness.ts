/** Named start-up conditions; `/readyz` is 200 once all of them hold. */
export class Readiness {
  private readonly waiting = new Map<string, string>();

  /** Registers a condition that does not hold yet, with the reason shown meanwhile. */
  require(name: string, reason: string): void {
    this.waiting.set(name, reason);
  }

  satisfy(name: string): void {
    this.waiting.delete(name);
  }

  /** A condition that held may stop holding (a dataplane that lost sync). */
  unsatisfy(name: string, reason: string): void {
    this.waiting.set(name, reason);
  }

  get ready(): boolean {
    return this.waiting.size === 0;
  }

  reasons(): string[] {
    return [...this.waiting.values()];
  }
}
