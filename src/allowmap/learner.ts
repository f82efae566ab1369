/** Turns an answer to an enforced client into allowed-map entries. */
import type { RecordTable } from '../dns/records.js';
import type { Pod } from '../identity/pod.js';
import type { Query } from '../query.js';
import type { EntryClient } from './entry.js';
import { type CnameMemory, addressesToLearn } from './answer-addresses.js';
import type { AllowedMap } from './map.js';

/** The policy decisions learning needs for one client. */
export interface ClientRules {
  /** At least one policy with type Egress selects the client. */
  readonly enforced: boolean;
  /** References `TIER|POLICY|allow|INDEX` of the rules allowing `name` (empty when none). */
  allowingRuleRefs(name: string): readonly string[];
}

export class Learner {
  constructor(
    private readonly map: AllowedMap,
    private readonly memory: CnameMemory,
    private readonly scope: 'pod' | 'node',
  ) {}

  /**
   * Learns what `answer` teaches `pod` (the query's) under `rules`. Returns true when the
   * dataplane does not yet hold all of it, so the answer must wait.
   */
  learn(query: Query, pod: Pod, answer: Buffer, records: RecordTable, rules: Pick<ClientRules, 'allowingRuleRefs'>): boolean {
    const client: EntryClient | null =
      this.scope === 'pod' ? { key: pod.key, namespace: pod.namespace, name: pod.name, ips: pod.ips, queriedFrom: query.clientIp } : null;
    const addresses = addressesToLearn(answer, records, client?.key ?? '', rules, this.memory, this.map);
    let mustWait = false;
    for (const address of addresses) if (this.map.learn(client, address)) mustWait = true;
    return mustWait;
  }
}
