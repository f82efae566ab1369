/**
 * Everything the bench starts (processes, namespaces, files) is registered in a scope
 * as it is created, so that it is stopped in reverse order whether a run ends, fails
 * or is interrupted.
 */

type Stopper = () => Promise<void> | void;

async function runStopper(stop: Stopper): Promise<void> {
  try {
    await stop();
  } catch (error) {
    console.error(`bench cleanup: ${(error as Error).message}`);
  }
}

export class Scope {
  private readonly stoppers: Stopper[] = [];
  private closed: Promise<void> | undefined;

  /** Registers how to undo something just created. */
  defer(stop: Stopper): void {
    // Created after the scope closed (an interrupt while it was starting): undo it at once.
    if (this.closed !== undefined) void this.closed.then(() => runStopper(stop));
    else this.stoppers.push(stop);
  }

  /** A scope closed with this one, or earlier by its owner. */
  child(): Scope {
    const child = new Scope();
    this.defer(() => child.close());
    return child;
  }

  /** Runs every stopper once, newest first; a failing one is reported and the rest still run. */
  close(): Promise<void> {
    this.closed ??= this.stopAll();
    return this.closed;
  }

  private async stopAll(): Promise<void> {
    for (let stop = this.stoppers.pop(); stop !== undefined; stop = this.stoppers.pop()) await runStopper(stop);
  }
}
