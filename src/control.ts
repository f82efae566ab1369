/**
 * The control path, as pipeline.ts is the data path: what dnsgate does when its inputs
 * change, each written once and in order.
 *
 *   pods changed         → allowed entries follow their pods' IPs → relearn → commit
 *                          → the dataplane recompiles (pods move between classes)
 *   policies changed     → count, warnings → entries of rules that are gone leave the map
 *                          → relearn → commit → the dataplane recompiles
 *   (relearn: what the pods were answered before and the rules now allow is learnt)
 *   policies rejected    → count, say why; the previous set stays
 *   dataplane lost state → the next commit is a resync of the whole map
 *   every 250 ms         → expired entries leave the map → commit
 *   every --state-save-interval → the map is saved
 *
 * The policy engine needs no step: LiveEngine builds a new one when either set is new.
 */
import type { AllowedMapMetrics, Metrics } from './admin/metrics.js';
import type { AllowedMap } from './allowmap/map.js';
import type { StateFile } from './allowmap/state-file.js';
import type { Dataplane } from './dataplane/dataplane.js';
import type { IdentityStore } from './identity/store.js';
import type { PolicyStore } from './policy/index.js';
import type { Logger } from './util/logger.js';

/** How often expired entries leave the map (the kernel expires dataplane elements itself). */
const EXPIRY_SWEEP_MS = 250;

/** What the control path needs of the committer. */
export interface MapCommitter {
  /** Commit pending map changes soon. */
  kick(): void;
  /** The next commit replaces everything the dataplane holds. */
  resyncSoon(): void;
}

export interface ControlMetrics {
  reloads: Metrics['reloads'];
  allowed: AllowedMapMetrics;
}

export interface ControlParts {
  identity: IdentityStore;
  policies: PolicyStore;
  map: AllowedMap;
  /** Learns, under the current policies and pods, what the pods' retained mappings allow. */
  relearn(): void;
  dataplane: Dataplane;
  committer: MapCommitter;
  stateFile: StateFile | undefined;
  /** `--state-save-interval`. */
  stateSaveIntervalMs: number;
  metrics: ControlMetrics;
  logger: Logger;
}

export class ControlPath {
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly parts: ControlParts) {}

  /** Subscribes to every input. Called once the first pods and policies are in. */
  start(): void {
    const { identity, policies, dataplane, committer } = this.parts;
    identity.onChange(() => this.podsChanged());
    // Entries learnt for staged rules stay while their rules are staged.
    policies.onChange((set, warnings) => this.policiesChanged(new Set([...set.egressRules, ...(set.stagedView?.egressRules ?? [])].map((rule) => rule.ref)), warnings));
    policies.onReloadFailed((errors) => this.policiesRejected(errors));
    dataplane.onResyncNeeded(() => committer.resyncSoon());
    this.timers.push(setInterval(() => this.sweepExpired(), EXPIRY_SWEEP_MS));
    const stateFile = this.parts.stateFile;
    if (stateFile !== undefined) this.timers.push(setInterval(() => void stateFile.save(), this.parts.stateSaveIntervalMs));
    for (const timer of this.timers) timer.unref();
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
  }

  private podsChanged(): void {
    const { identity, map, committer, dataplane } = this.parts;
    const ipsByKey = new Map(identity.current.pods.map((pod) => [pod.key, pod.ips]));
    map.followPods((key) => ipsByKey.get(key));
    this.parts.relearn();
    committer.kick();
    void dataplane.syncPolicy();
  }

  private policiesChanged(rules: ReadonlySet<string>, warnings: readonly string[]): void {
    const { map, committer, dataplane, metrics, logger } = this.parts;
    metrics.reloads.labels('policies', 'ok').inc();
    for (const warning of warnings) logger.info(warning);
    map.retainRules((ref) => rules.has(ref));
    this.parts.relearn();
    committer.kick();
    void dataplane.syncPolicy();
  }

  private policiesRejected(errors: readonly string[]): void {
    this.parts.metrics.reloads.labels('policies', 'error').inc();
    this.parts.logger.error(`reload of policies kept the previous set: ${errors[0]}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}`);
  }

  private sweepExpired(): void {
    const expired = this.parts.map.expire();
    if (expired === 0) return;
    this.parts.metrics.allowed.expired.inc(expired);
    this.parts.committer.kick();
  }
}
