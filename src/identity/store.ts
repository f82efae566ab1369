/** The current identity snapshot, replaced whole on reload so a query never sees half of one. */
import { IdentitySnapshot } from './snapshot.js';
import { loadPodsFile } from './podfile.js';

export class IdentityStore {
  private snapshot = IdentitySnapshot.empty();
  private readonly listeners: (() => void)[] = [];

  constructor(readonly podsFile: string | undefined) {}

  get current(): IdentitySnapshot {
    return this.snapshot;
  }

  /** Loads the pods file (if any); on error the previous snapshot stays and the error is thrown. */
  async load(): Promise<void> {
    if (this.podsFile === undefined) return;
    this.replace(await loadPodsFile(this.podsFile));
  }

  replace(snapshot: IdentitySnapshot): void {
    this.snapshot = snapshot;
    for (const listener of this.listeners) listener();
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }
}
