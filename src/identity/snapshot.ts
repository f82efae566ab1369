/** An immutable set of known pods and namespaces with an O(1) lookup by pod IP. */
import { Namespace, Pod, namespaceLabels } from './pod.js';

export class IdentitySnapshot {
  private readonly byIp = new Map<string, Pod>();

  constructor(
    readonly pods: readonly Pod[],
    readonly namespaces: ReadonlyMap<string, Namespace>,
  ) {
    for (const pod of pods) for (const ip of pod.ips) this.byIp.set(ip, pod);
  }

  static empty(): IdentitySnapshot {
    return new IdentitySnapshot([], new Map());
  }

  /** The pod that owns `ip` (canonical form, as Node reports peers), or undefined. */
  podByIp(ip: string): Pod | undefined {
    return this.byIp.get(ip);
  }

  namespace(name: string): Namespace {
    return this.namespaces.get(name) ?? { name, labels: namespaceLabels(name) };
  }
}
