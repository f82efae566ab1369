/** The current identity snapshot, replaced whole on reload so a query never sees half of one. */
import { SourceError } from '../yaml/documents.js';
import { IdentitySnapshot } from './snapshot.js';
import { loadPodsFile } from './podfile.js';

export interface IdentityStoreOptions {
  podsFile?: string;
  /** `namespace/name` of the pod loopback clients are (sidecar and dev modes). */
  localPod?: string;
}

export class IdentityStore {
  private snapshot = IdentitySnapshot.empty();
  private readonly listeners: (() => void)[] = [];

  constructor(readonly options: IdentityStoreOptions = {}) {}

  get current(): IdentitySnapshot {
    return this.snapshot;
  }

  /** Loads the pods file (if any); on error the previous snapshot stays and the error is thrown. */
  async load(): Promise<void> {
    const { podsFile } = this.options;
    if (podsFile === undefined) return;
    this.replace(await loadPodsFile(podsFile), podsFile);
  }

  /** Installs `snapshot` from `source` (for errors); throws, keeping the current one, when --local-pod is not in it. */
  replace(snapshot: IdentitySnapshot, source: string): void {
    const { localPod } = this.options;
    let installed = snapshot;
    if (localPod !== undefined) {
      const aliased = snapshot.withLoopbackAs(localPod);
      if (aliased === undefined) throw new SourceError(source, `--local-pod ${localPod}: no such pod`);
      installed = aliased;
    }
    this.snapshot = installed;
    for (const listener of this.listeners) listener();
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }
}
