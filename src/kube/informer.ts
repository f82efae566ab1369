/**
 * Keeps a local copy of one Kubernetes resource: list, then watch from the list's
 * resourceVersion; relist when the watch says the version is too old (410), and retry
 * after errors. Every change is reported, so the caller can rebuild what it derives.
 */
import { KubeError, type KubeClient, type KubeList, type KubeObject } from './client.js';

const RETRY_MS = 1000;

export class Informer<T extends KubeObject> {
  private readonly objects = new Map<string, T>();
  private readonly abort = new AbortController();
  private synced: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    /** e.g. `/api/v1/pods` or `/apis/projectcalico.org/v3/networkpolicies`. */
    readonly path: string,
    /** The apiVersion and kind of the items (lists leave them out). */
    private readonly type: { apiVersion: string; kind: string },
    private readonly onChange: () => void,
    private readonly onError: (message: string) => void,
  ) {}

  /** Every object held, with apiVersion and kind set. */
  list(): T[] {
    return [...this.objects.values()];
  }

  /** Starts following the resource; resolves after the first complete list. */
  start(): Promise<void> {
    this.synced ??= new Promise((resolve, reject) => {
      void this.run(resolve, reject);
    });
    return this.synced;
  }

  stop(): void {
    this.abort.abort();
  }

  private async run(onSynced: () => void, onFirstFailure: (error: Error) => void): Promise<void> {
    let first = true;
    while (!this.abort.signal.aborted) {
      try {
        let version = await this.relist();
        if (first) {
          first = false;
          onSynced();
        }
        for (;;) {
          version = await this.follow(version);
          if (this.abort.signal.aborted) return;
        }
      } catch (error) {
        if (this.abort.signal.aborted) return;
        if (first) {
          onFirstFailure(error as Error);
          return;
        }
        if (!(error instanceof KubeError && error.status === 410)) {
          this.onError(`${this.path}: ${(error as Error).message}; retrying`);
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
        }
      }
    }
  }

  private async relist(): Promise<string> {
    const list = await this.client.get<KubeList<T>>(this.path, this.abort.signal);
    this.objects.clear();
    for (const item of list.items) this.objects.set(keyOf(item), this.typed(item));
    this.onChange();
    return list.metadata.resourceVersion ?? '0';
  }

  /** Applies watch events until the stream ends; returns the last version seen. */
  private async follow(version: string): Promise<string> {
    for await (const event of this.client.watch<T>(this.path, version, this.abort.signal)) {
      if (event.type === 'ERROR') {
        const status = (event.object as unknown as { code?: number }).code ?? 500;
        throw new KubeError(status, `watch error ${status}`);
      }
      version = event.object.metadata.resourceVersion ?? version;
      if (event.type === 'BOOKMARK') continue;
      const key = keyOf(event.object);
      if (event.type === 'DELETED') this.objects.delete(key);
      else this.objects.set(key, this.typed(event.object));
      this.onChange();
    }
    return version;
  }

  private typed(object: T): T {
    return { ...object, apiVersion: this.type.apiVersion, kind: this.type.kind };
  }
}

function keyOf(object: KubeObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}
