/**
 * The PolicyEngine for whatever policies and identities are current. Either store
 * changing drops the engine, and with it every per-pod decision; the next query builds a
 * new one from the new pair.
 */
import type { IdentityStore } from '../identity/store.js';
import { PolicyEngine } from './engine.js';
import type { PolicyStore } from './store.js';

export class LiveEngine {
  private engine: PolicyEngine | undefined;

  constructor(
    private readonly policies: PolicyStore,
    private readonly identities: IdentityStore,
  ) {
    const invalidate = (): void => {
      this.engine = undefined;
    };
    policies.onChange(invalidate);
    identities.onChange(invalidate);
  }

  get current(): PolicyEngine {
    this.engine ??= new PolicyEngine(this.policies.current, this.identities.current);
    return this.engine;
  }
}
