/** An immutable set of known pods and namespaces with an O(1) lookup by pod IP. */
import { Namespace, Pod, namespaceLabels } from './pod.js';

const LOOPBACK_CLIENTS = ['127.0.0.1', '::1'];

export class IdentitySnapshot {
  private readonly byIp = new Map<string, Pod>();

  constructor(
    readonly pods: readonly Pod[],
    readonly namespaces: ReadonlyMap<string, Namespace>,
  ) {
    for (const pod of pods) for (const ip of pod.ips) this.byIp.set(ip, pod);
  }

  /**
   * The same pods, with loopback clients taken for the pod `key` (`namespace/name`):
   * a sidecar's or dev box's programs ask over 127.0.0.1 but are that pod. Undefined
   * when no such pod is known.
   */
  withLoopbackAs(key: string): IdentitySnapshot | undefined {
    const pod = this.pods.find((candidate) => candidate.key === key);
    if (pod === undefined) return undefined;
    const aliased = new IdentitySnapshot(this.pods, this.namespaces);
    for (const ip of LOOPBACK_CLIENTS) aliased.byIp.set(ip, pod);
    return aliased;
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
