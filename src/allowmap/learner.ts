/**
 * Turns answers to enforced clients into allowed-map entries.
 *
 * Each answer's chain (answer-addresses.ts) is kept among the client's retained mappings first,
 * whatever the policy says, with its question; then every name on this chain, and every
 * name whose kept chain was left pending at the question, is looked up in the rules, and
 * the addresses an allowed name leads to (mappings.ts: within one answer's chain, or
 * across answers only through a question for the pending name) are learnt under its
 * rules. When policies or pods change, `reapply` does the same for every kept name, so a
 * new allow rule covers answers the pods already hold.
 */
import type { RecordTable } from '../dns/records.js';
import type { Pod } from '../identity/pod.js';
import type { Cidr } from '../net/cidr.js';
import type { Query } from '../query.js';
import type { EntryClient } from './entry.js';
import { readChain } from './answer-addresses.js';
import type { AllowedMap } from './map.js';
import type { RetainedMappings, StoredAddress } from './mappings.js';

/** The policy decisions learning needs for one client. */
export interface ClientRules {
  /** At least one policy with type Egress selects the client. */
  readonly enforced: boolean;
  /** References `TIER|POLICY|allow|INDEX` of the rules allowing `name` (empty when none). */
  allowingRuleRefs(name: string): readonly string[];
  /** The client's egress rules: an Allow rule's `nets` lets a special-purpose address be learnt. */
  readonly egressRules: readonly { rule: { action: string; destination: { nets: readonly Cidr[] } } }[];
}

/** What learning reads of a client's rules on every answer. */
export type LearningClientRules = Pick<ClientRules, 'allowingRuleRefs'>;

export class Learner {
  /** Each pod's entry client (see clientOf); a pod replaced by an identity update gets a new one. */
  private readonly clients = new WeakMap<Pod, EntryClient>();

  constructor(
    private readonly map: AllowedMap,
    private readonly mappings: RetainedMappings,
    private readonly scope: 'pod' | 'node',
    /** The pod's egress rules, read only for a special-purpose address (see listedInNets). */
    private readonly egressRulesOf: (pod: Pod) => ClientRules['egressRules'],
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Learns what `answer` teaches `pod` (the query's) under `rules`. Returns true when the
   * dataplane does not yet hold all of it, so the answer must wait.
   */
  learn(query: Query, pod: Pod, answer: Buffer, records: RecordTable, rules: LearningClientRules): boolean {
    const chain = readChain(answer, records);
    if (chain === undefined) return false;
    const now = this.now();
    this.mappings.record(pod.key, chain, now, (ttl) => this.map.lifetimeMs(ttl));
    const client = this.clientOf(pod, query.clientIp);
    const leading = this.mappings.namesLeadingTo(pod.key, chain.question, now);
    let mustWait = false;
    for (const name of leading) if (this.learnName(pod, client, name, rules, now)) mustWait = true;
    // The chain's names are distinct; those leading to the question are learnt already.
    for (const link of chain.links) if (!leading.includes(link.name) && this.learnName(pod, client, link.name, rules, now)) mustWait = true;
    return mustWait;
  }

  /**
   * Learns, under the current rules, what every client's kept mappings allow: after
   * policies or pods changed. `clientOf` gives a client's pod and rules, or undefined
   * when the pod is gone (its mappings go too).
   */
  reapply(clientOf: (podKey: string) => { pod: Pod; learns: boolean; rules: LearningClientRules } | undefined): void {
    const now = this.now();
    for (const key of this.mappings.clientKeys()) {
      const current = clientOf(key);
      if (current === undefined) {
        this.mappings.forget(key);
        continue;
      }
      if (!current.learns) continue;
      const client = this.clientOf(current.pod, current.pod.ips[0]);
      for (const name of this.mappings.namesOf(key)) this.learnName(current.pod, client, name, current.rules, now);
    }
  }

  /**
   * The entry client of `pod` asking from `queriedFrom`, one object for as long as both
   * stay: entries keep the client of their latest answer, and a new object per answer
   * would be a young object tied to an old entry, which every scavenge must then copy.
   */
  private clientOf(pod: Pod, queriedFrom: string): EntryClient | null {
    if (this.scope !== 'pod') return null;
    const known = this.clients.get(pod);
    if (known !== undefined && known.queriedFrom === queriedFrom) return known;
    const client = { key: pod.key, namespace: pod.namespace, name: pod.name, ips: pod.ips, queriedFrom };
    this.clients.set(pod, client);
    return client;
  }

  /** Learns the addresses `name` leads to when a rule allows it; true when one must be waited for. */
  private learnName(pod: Pod, client: EntryClient | null, name: string, rules: LearningClientRules, now: number): boolean {
    const refs = rules.allowingRuleRefs(name);
    if (refs.length === 0) return false;
    let mustWait = false;
    this.mappings.forEachAddress(pod.key, name, now, (ip, address: StoredAddress) => {
      if (address.special && !listedInNets(this.egressRulesOf(pod), ip)) return;
      if (this.map.learn(client, { ip, family: address.family, lifetimeMs: address.expiresAt - now, domain: name, rules: refs })) mustWait = true;
    });
    return mustWait;
  }
}

/** An Allow rule's `nets` lets a special-purpose address be learnt. */
function listedInNets(egressRules: ClientRules['egressRules'], ip: string): boolean {
  return egressRules.some(({ rule }) => rule.action === 'Allow' && rule.destination.nets.some((net) => net.contains(ip)));
}
