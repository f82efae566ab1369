/** Named start-up conditions, and checks asked at each request; `/readyz` is 200 once all of them hold. */
export class Readiness {
  private readonly waiting = new Map<string, string>();
  private readonly checks: (() => string | undefined)[] = [];

  /** Registers a condition that does not hold yet, with the reason shown meanwhile. */
  require(name: string, reason: string): void {
    this.waiting.set(name, reason);
  }

  satisfy(name: string): void {
    this.waiting.delete(name);
  }

  /** Adds a condition evaluated at each request: undefined while it holds, else why not (a dataplane's health). */
  watch(check: () => string | undefined): void {
    this.checks.push(check);
  }

  get ready(): boolean {
    return this.reasons().length === 0;
  }

  reasons(): string[] {
    const failing = this.checks.map((check) => check()).filter((reason): reason is string => reason !== undefined);
    return [...this.waiting.values(), ...failing];
  }
}
