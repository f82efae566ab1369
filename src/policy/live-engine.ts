/**
 * The PolicyEngine for whatever policies and identities are current. An engine belongs
 * to one pair: when either store holds a new set, the next use builds a new engine (and
 * with it every per-pod decision) from the new pair. Nothing subscribes, so nothing
 * depends on the order in which change listeners run.
 */
import type { IdentityStore } from '../identity/store.js';
import { PolicyEngine } from './engine.js';
import type { PolicyStore } from './store.js';

export class LiveEngine {
  private engine: PolicyEngine | undefined;

  constructor(
    private readonly policies: PolicyStore,
    private readonly identities: IdentityStore,
  ) {}

  get current(): PolicyEngine {
    const policies = this.policies.current;
    const identities = this.identities.current;
    if (this.engine?.policies !== policies || this.engine.identities !== identities) this.engine = new PolicyEngine(policies, identities);
    return this.engine;
  }
}
