/**
 * The current policy set of `--policies`, replaced whole (one reference swap) when the
 * files change, so a query never sees half a set. An invalid reload keeps the previous
 * set and reports why.
 */
import { watch as watchPath, statSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { loadPolicies, type PolicyFile, type PolicyLoad } from './loader.js';
import { PolicySet } from './policy-set.js';
import { formatProblem } from './problems.js';
import { errorText } from '../util/errors.js';

export interface PolicyStoreOptions {
  /** Quiet time after the last file event before reloading. */
  debounceMs?: number;
}

const DEFAULT_DEBOUNCE_MS = 200;

export class PolicyStore {
  private policies = PolicySet.empty();
  private digest: string | undefined;
  private apiFiles: readonly PolicyFile[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly changeListeners: ((policies: PolicySet, warnings: readonly string[]) => void)[] = [];
  private readonly failureListeners: ((errors: readonly string[]) => void)[] = [];

  constructor(
    readonly paths: readonly string[],
    private readonly options: PolicyStoreOptions = {},
  ) {}

  get current(): PolicySet {
    return this.policies;
  }

  /**
   * Reads the files again. A valid set that differs from the current one replaces it
   * and is announced to `onChange`; an invalid one leaves the current set and goes to
   * `onReloadFailed`. Calls run one after another, so the last one wins.
   */
  reload(): Promise<PolicyLoad> {
    const run = this.queue.then(() => this.loadAndSwap());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resources from the Kubernetes API, loaded with the files from now on; reloads. */
  setApiResources(files: readonly PolicyFile[]): Promise<PolicyLoad> {
    this.apiFiles = files;
    return this.reload();
  }

  /** Reloads (debounced) whenever something under the paths changes. */
  watch(): void {
    if (this.watchers.length > 0) return;
    for (const path of this.paths) {
      // A file is watched through its directory: editors and ConfigMap volumes replace
      // files by rename, which a watch on the file itself would not survive.
      let isDirectory = false;
      try {
        isDirectory = statSync(path).isDirectory();
      } catch {
        // Watch where it would appear.
      }
      const name = basename(path);
      try {
        const watcher = watchPath(isDirectory ? path : dirname(path), { recursive: isDirectory, persistent: false }, (_event, filename) => {
          const changed = filename === null ? undefined : String(filename);
          // `..data` and its siblings are how a ConfigMap volume swaps in new content.
          if (isDirectory || changed === undefined || changed === name || changed.startsWith('..')) this.scheduleReload();
        });
        watcher.on('error', () => this.scheduleReload());
        this.watchers.push(watcher);
      } catch (error) {
        const reason = errorText(error);
        this.notifyFailure([formatProblem({ file: path, line: 1, col: 1, severity: 'error', message: `cannot watch: ${reason}` })]);
      }
    }
  }

  close(): void {
    clearTimeout(this.timer);
    for (const watcher of this.watchers.splice(0)) watcher.close();
  }

  /** Called after the current set was replaced, with the new set's warnings as lines. */
  onChange(listener: (policies: PolicySet, warnings: readonly string[]) => void): void {
    this.changeListeners.push(listener);
  }

  /** Called when a reload found errors (one `file:line:col: message` line each) and kept the previous set. */
  onReloadFailed(listener: (errors: readonly string[]) => void): void {
    this.failureListeners.push(listener);
  }

  private scheduleReload(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload(), this.options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.timer.unref();
  }

  private async loadAndSwap(): Promise<PolicyLoad> {
    const result = await loadPolicies(this.paths, this.apiFiles);
    if (!result.ok) {
      this.notifyFailure(result.errors.map(formatProblem));
    } else if (result.digest !== this.digest) {
      this.digest = result.digest;
      this.policies = result.policies;
      const warnings = result.warnings.map(formatProblem);
      for (const listener of this.changeListeners) listener(result.policies, warnings);
    }
    return result;
  }

  private notifyFailure(errors: readonly string[]): void {
    for (const listener of this.failureListeners) listener(errors);
  }
}
