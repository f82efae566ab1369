/**
 * The control path, as pipeline.ts is the data path: what dnsgate does when its inputs
 * change, each written once and in order.
 *
 *   start-up             → pods, then policies (files, then the Kubernetes API); an
 *                          invalid first set stops start-up
 *   pods changed         → allowed entries follow their pods' IPs → relearn → commit
 *                          → the dataplane recompiles (pods move between classes)
 *   policies changed     → count, warnings → entries of rules that are gone leave the map
 *                          → relearn → commit → the dataplane recompiles
 *   (relearn: what the pods were answered before and the rules now allow is learnt)
 *   policies rejected    → count, say why; the previous set stays
 *   SIGHUP               → pods and policy files are read again; what cannot be read or
 *                          is invalid is counted and logged, and the previous set stays
 *   dataplane lost state → the next commit is a resync of the whole map
 *   every 250 ms         → expired entries leave the map → commit
 *   every --state-save-interval → the map is saved
 *
 * The policy engine needs no step: LiveEngine builds a new one when either set is new.
 */
import type { AllowedMapMetrics, Metrics } from './admin/metrics.js';
import type { Readiness } from './admin/readiness.js';
import type { Learner } from './allowmap/learner.js';
import type { AllowedMap } from './allowmap/map.js';
import type { StateFile } from './allowmap/state-file.js';
import type { Dataplane } from './dataplane/dataplane.js';
import type { IdentityStore } from './identity/store.js';
import type { KubeClient } from './kube/client.js';
import { KubernetesSource } from './kube/source.js';
import { formatProblem, type PolicyEngine, type PolicyLoad, type PolicyStore } from './policy/index.js';
import { ConfigError } from './util/errors.js';
import type { Logger } from './util/logger.js';
import { SourceError } from './yaml/documents.js';

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
  /** The engine of the current policies and pods, which relearning asks. */
  policy: { readonly current: PolicyEngine };
  map: AllowedMap;
  learner: Learner;
  dataplane: Dataplane;
  stateFile: StateFile | undefined;
  /** `--state-save-interval`. */
  stateSaveIntervalMs: number;
  readiness: Readiness;
  metrics: ControlMetrics;
  logger: Logger;
}

export class ControlPath {
  private readonly timers: NodeJS.Timeout[] = [];
  private kubernetes: KubernetesSource | undefined;

  constructor(private readonly parts: ControlParts) {
    parts.readiness.require('identities', 'pods are not loaded yet');
    parts.readiness.require('policies', 'policies are not loaded yet');
  }

  /**
   * Loads the first pods and policies: from their files, then, given a client, from
   * the Kubernetes API, which is watched from then on. What cannot be read or is
   * invalid throws ConfigError with the one line to print.
   */
  async loadFirst(kubernetes: KubeClient | undefined): Promise<void> {
    const { identity, policies, readiness, logger } = this.parts;
    try {
      await identity.load();
    } catch (error) {
      if (error instanceof SourceError) throw new ConfigError(error.message);
      throw error;
    }
    let load: PolicyLoad | undefined;
    if (policies.paths.length > 0) load = await policies.reload();
    if (load?.ok !== false && kubernetes !== undefined) load = await this.startKubernetes(kubernetes);
    if (load && !load.ok) {
      const more = load.errors.length > 1 ? ` (and ${load.errors.length - 1} more; see dnsgate validate)` : '';
      throw new ConfigError(`${kubernetes ? '--kubernetes: ' : ''}${formatProblem(load.errors[0])}${more}`);
    }
    // The last load holds the files and the API's resources together.
    for (const warning of load?.warnings ?? []) logger.info(formatProblem(warning));
    readiness.satisfy('identities');
    readiness.satisfy('policies');
  }

  private async startKubernetes(client: KubeClient): Promise<PolicyLoad> {
    const { identity, policies, logger } = this.parts;
    const source = new KubernetesSource(
      client,
      identity,
      policies,
      (message) => logger.error(message),
      policies.paths.length > 0 ? 'files' : 'api',
      (message) => logger.info(message),
    );
    this.kubernetes = source;
    try {
      return await source.start();
    } catch (error) {
      source.stop();
      throw new ConfigError(`--kubernetes: ${(error as Error).message}`);
    }
  }

  /**
   * Reacts to every input from now on: called once the first pods and policies are in
   * and the dataplane started. The policy files are watched only from here, so the
   * first set is loaded before any reload can run.
   */
  start(committer: MapCommitter): void {
    const { identity, policies, dataplane, stateFile } = this.parts;
    identity.onChange(() => this.podsChanged(committer));
    // Entries learnt for staged rules stay while their rules are staged.
    policies.onChange((set, warnings) => this.policiesChanged(committer, new Set([...set.egressRules, ...(set.stagedView?.egressRules ?? [])].map((rule) => rule.ref)), warnings));
    policies.onReloadFailed((errors) => this.policiesRejected(errors));
    dataplane.onResyncNeeded(() => committer.resyncSoon());
    this.timers.push(setInterval(() => this.sweepExpired(committer), EXPIRY_SWEEP_MS));
    if (stateFile !== undefined) this.timers.push(setInterval(() => void stateFile.save(), this.parts.stateSaveIntervalMs));
    for (const timer of this.timers) timer.unref();
    policies.watch();
  }

  /** SIGHUP: reads the pods and policy files again; on error the previous set stays and the reason is logged. */
  async reload(): Promise<void> {
    const { identity, policies, metrics, logger } = this.parts;
    try {
      await identity.load();
      metrics.reloads.labels('pods', 'ok').inc();
    } catch (error) {
      metrics.reloads.labels('pods', 'error').inc();
      logger.error(`reload of pods kept the previous set: ${(error as Error).message}`);
    }
    if (policies.paths.length > 0) await policies.reload();
  }

  /** Pods and policies stay as they are from now on; nothing expires or is saved on a timer. */
  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.kubernetes?.stop();
    this.parts.policies.close();
  }

  private podsChanged(committer: MapCommitter): void {
    const { identity, map, dataplane } = this.parts;
    const ipsByKey = new Map(identity.current.pods.map((pod) => [pod.key, pod.ips]));
    map.followPods((key) => ipsByKey.get(key));
    this.relearn();
    committer.kick();
    void dataplane.syncPolicy();
  }

  private policiesChanged(committer: MapCommitter, rules: ReadonlySet<string>, warnings: readonly string[]): void {
    const { map, dataplane, metrics, logger } = this.parts;
    metrics.reloads.labels('policies', 'ok').inc();
    for (const warning of warnings) logger.info(warning);
    map.retainRules((ref) => rules.has(ref));
    this.relearn();
    committer.kick();
    void dataplane.syncPolicy();
  }

  private policiesRejected(errors: readonly string[]): void {
    this.parts.metrics.reloads.labels('policies', 'error').inc();
    this.parts.logger.error(`reload of policies kept the previous set: ${errors[0]}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}`);
  }

  /** Learns what the pods' retained mappings allow under the current policies and pods. */
  private relearn(): void {
    const engine = this.parts.policy.current;
    const pods = new Map(engine.identities.pods.map((pod) => [pod.key, pod]));
    this.parts.learner.reapply((key) => {
      const pod = pods.get(key);
      if (pod === undefined) return undefined;
      const learning = engine.learningFor(pod);
      return { pod, learns: learning.learns, rules: learning };
    });
  }

  private sweepExpired(committer: MapCommitter): void {
    const expired = this.parts.map.expire();
    if (expired > 0) this.parts.metrics.allowed.expired.inc(expired);
    if (expired + this.parts.map.queueDueExtensions() > 0) committer.kick();
  }
}
