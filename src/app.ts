/**
 * The composition root of `dnsgate serve`: builds every stage from the configuration,
 * starts them in dependency order and stops them in the reverse. What happens when
 * inputs change (SIGHUP included) is the control path's (control.ts); what happens to
 * a query is the pipeline's (pipeline.ts).
 *
 * Start-up order matters: identities and policies first (invalid ones stop start-up),
 * then the dataplane, then the state file is restored and pushed to the dataplane,
 * and only then do the listeners bind, so no answer goes out before the map is back.
 */
import { rm, writeFile } from 'node:fs/promises';
import { Metrics } from './admin/metrics.js';
import { Readiness } from './admin/readiness.js';
import type { AdminServer } from './admin/server.js';
import { AdminServers } from './admin/servers.js';
import { registerRuleCountMetrics } from './admin/staged.js';
import { reportedMapEvents } from './allowmap/events.js';
import { StateHandover } from './allowmap/handover.js';
import { Learner } from './allowmap/learner.js';
import { AllowedMap } from './allowmap/map.js';
import { RetainedMappings } from './allowmap/mappings.js';
import { StateFile } from './allowmap/state-file.js';
import { ResponseCache } from './cache/response-cache.js';
import type { Config } from './config/options.js';
import { ControlPath } from './control.js';
import { Rcode } from './dns/constants.js';
import { Committer } from './dataplane/committer.js';
import type { Dataplane } from './dataplane/dataplane.js';
import { createDataplane } from './dataplane/create.js';
import { IdentityStore } from './identity/store.js';
import { Interception } from './intercept/interception.js';
import { KubeClient } from './kube/client.js';
import { resolveServiceUpstream } from './kube/service.js';
import { Listeners } from './listen/listeners.js';
import type { AnswerLog } from './logs/answer-log.js';
import { createDnsLog } from './logs/dns-log.js';
import type { Endpoint } from './net/address.js';
import { Pipeline, type HeldAnswer } from './pipeline.js';
import { LiveEngine, PolicyStore } from './policy/index.js';
import { UpstreamPool } from './upstream/pool.js';
import { UPSTREAM_SOURCE_PORTS } from './upstream/source-ports.js';
import { formatUpstreamSpec } from './upstream/spec.js';
import { stderrLogger, type Logger } from './util/logger.js';
import { TimerWheel } from './util/timer-wheel.js';

/** How long SIGTERM waits for queries in flight. */
const DRAIN_TIMEOUT_MS = 5000;
/** CNAME links kept per retained name, each way: real chains have a few. */
const LINKS_PER_NAME = 32;

/** Parts a test may supply instead of the configured ones. */
export interface AppOverrides {
  dataplane?: Dataplane;
}

/** What exists only once `start` built it. */
interface Serving {
  pipeline: Pipeline;
  upstream: UpstreamPool;
  committer: Committer<HeldAnswer>;
  log: AnswerLog | undefined;
}

export class App {
  readonly metrics = new Metrics();
  readonly readiness = new Readiness();
  readonly identity: IdentityStore;
  readonly policies: PolicyStore;
  readonly engine: LiveEngine;
  readonly map: AllowedMap;
  readonly mappings: RetainedMappings;
  readonly learner: Learner;
  readonly dataplane: Dataplane;
  private readonly stateFile: StateFile | undefined;
  private readonly control: ControlPath;
  private readonly adminServers: AdminServers;
  private readonly handover: StateHandover;
  private readonly interception: Interception | undefined;
  private kube: KubeClient | undefined;
  private serving: Serving | undefined;
  private listeners: Listeners | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly config: Config,
    private readonly logger: Logger = stderrLogger,
    overrides: AppOverrides = {},
  ) {
    this.identity = new IdentityStore({ podsFile: config.pods, localPod: config.localPod });
    this.policies = new PolicyStore(config.policies);
    this.engine = new LiveEngine(this.policies, this.identity);
    const limits = {
      extraTtlMs: config.extraTtl,
      minTtlMs: config.minTtl,
      maxTtlMs: config.maxTtl,
      maxIpsPerName: config.maxIpsPerName,
      maxEntries: config.maxEntries,
      maxDomainsPerEntry: config.maxNamesPerEntry,
    };
    this.map = new AllowedMap(limits, reportedMapEvents(limits, this.metrics.allowed, logger));
    this.metrics.allowed.entriesSource = () => this.map.size;
    this.mappings = new RetainedMappings(
      { namesPerClient: config.maxNamesPerPod, totalNames: config.maxEntries, addressesPerName: config.maxIpsPerName, linksPerName: LINKS_PER_NAME },
      (what, count) => this.metrics.allowed.learningDropped.labels(what).inc(count),
    );
    this.metrics.allowed.retainedNamesSource = () => this.mappings.size;
    this.learner = new Learner(this.map, this.mappings, config.scope, (pod) => this.engine.current.forClient(pod).egressRules);
    this.stateFile = config.stateFile === undefined ? undefined : new StateFile(config.stateFile, this.map, this.mappings, config.scope, logger);
    this.dataplane = overrides.dataplane ?? createDataplane(config, this.engine, this.metrics.nftables, logger);
    registerRuleCountMetrics(this.metrics.registry, () => this.dataplane.ruleCounts?.());
    this.interception = config.intercept.length > 0 ? new Interception(config, this.metrics.intercept, logger) : undefined;
    this.control = new ControlPath({
      identity: this.identity,
      policies: this.policies,
      policy: this.engine,
      map: this.map,
      learner: this.learner,
      dataplane: this.dataplane,
      stateFile: this.stateFile,
      stateSaveIntervalMs: config.stateSaveInterval,
      readiness: this.readiness,
      metrics: this.metrics,
      logger,
    });
    this.handover = new StateHandover({
      stateFile: this.stateFile,
      identities: () => this.identity.current,
      predecessorRunning: () => this.interception?.predecessorRunning() ?? Promise.resolve(false),
      complete: () => this.dataplane.mapComplete?.(),
      commit: () => this.serving?.committer.kick(),
      logger,
    });
    this.readiness.require('dataplane', 'the dataplane is not synced yet');
    this.readiness.watch(() => this.dataplane.unhealthyReason());
    this.readiness.require('listeners', 'listeners are not bound yet');
    const api = { map: this.map, policy: this.engine, scope: config.scope, ruleCounts: () => this.dataplane.ruleCounts?.() };
    this.adminServers = new AdminServers(config, this.metrics, this.readiness, api, logger);
  }

  /** The --admin server, once started. */
  get admin(): AdminServer | undefined {
    return this.adminServers.admin;
  }

  /** Starts serving. Throws ConfigError for problems the user must fix (exit 2). */
  async start(): Promise<void> {
    const config = this.config;
    if (config.kubernetes || [...config.upstream, ...config.intercept].some((spec) => spec.kind === 'k8s-service')) this.kube = KubeClient.fromEnvironment();
    await this.control.loadFirst(config.kubernetes ? this.kube : undefined);
    const serving = this.buildServing(await this.resolveUpstreams());
    this.serving = serving;
    await this.dataplane.start();
    this.control.start(serving.committer);
    await this.restoreState(serving.committer);
    await serving.upstream.start();
    this.readiness.watch(() => serving.upstream.unhealthyReason());
    await this.adminServers.start();
    await this.serveDns(serving.pipeline);
  }

  /** The saved map goes back into the dataplane before any query is taken. */
  private async restoreState(committer: Committer<HeldAnswer>): Promise<void> {
    await this.stateFile?.restore(this.identity.current);
    await committer.resync();
    this.readiness.satisfy('dataplane');
  }

  /** Binds the listeners and, with --intercept, takes the DNS over: from then on dnsgate is ready. */
  private async serveDns(pipeline: Pipeline): Promise<void> {
    const listeners = new Listeners(this.config, pipeline, this.metrics.tcp, this.logger);
    this.listeners = listeners;
    await listeners.bind();
    await this.interception?.install(listeners.bound.udp, listeners.bound.tcp, this.kube);
    // Ready means serving the intercepted DNS: a predecessor may be stopped from then on.
    this.handover.begin((await this.interception?.takeOver()) === true);
    this.readiness.satisfy('listeners');
    if (this.config.readyFile !== undefined) await writeFile(this.config.readyFile, `${process.pid}\n`);
    this.logger.info(`serving DNS on ${listeners.describe()} (udp+tcp), upstream ${this.config.upstream.map(formatUpstreamSpec).join(', ')}`);
  }

  /** The data path and what it drives: log, upstream pool, committer, deadlines. */
  private buildServing(upstreams: readonly Endpoint[]): Serving {
    const config = this.config;
    const wheel = new TimerWheel();
    const log = createDnsLog(config, this.identity, this.metrics.log, this.logger);
    let upstream: UpstreamPool | undefined;
    let committer: Committer<HeldAnswer> | undefined;
    const pipeline = new Pipeline(
      {
        identity: this.identity,
        cache: config.cacheSize > 0 ? new ResponseCache(config.cacheSize) : undefined,
        log,
        metrics: this.metrics.query,
        clock: wheel,
        upstream: (listener) =>
          (upstream = new UpstreamPool(upstreams, {
                upstreamTimeoutMs: config.upstreamTimeout,
                queryTimeoutMs: config.queryTimeout,
                caseRandomization: config.upstreamCaseRandomization,
                // In the pod's netns, interception tells dnsgate's own queries apart by these.
                sourcePorts: config.intercept.length > 0 && config.nftHook === 'output' ? UPSTREAM_SOURCE_PORTS : undefined,
              }, listener, this.metrics.upstream, wheel)),
        committer: (listener) => (committer = new Committer(this.map, this.dataplane, listener)),
      },
      {
        policy: { forClient: (pod) => this.engine.current.forClient(pod), learningFor: (pod) => this.engine.current.learningFor(pod) },
        map: this.map,
        learner: this.learner,
        holdAnswers: config.policyMode === 'DelayDNSResponse',
        maxHoldMs: config.maxHold,
        holdTimeoutAction: config.holdTimeoutAction,
        // Audit mode refuses no answer: what would be denied is only counted.
        denyRcode: config.denyResponse === 'off' || config.audit ? undefined : config.denyResponse === 'refused' ? Rcode.Refused : Rcode.NXDomain,
        clusterDomains: config.clusterDomain,
      },
    );
    if (upstream === undefined || committer === undefined) throw new Error('the pipeline built no upstream or committer');
    return { pipeline, upstream, committer, log };
  }

  private resolveUpstreams(): Promise<Endpoint[]> {
    return Promise.all(
      this.config.upstream.map((spec) => (spec.kind === 'address' ? spec.endpoint : resolveServiceUpstream(this.kube!, spec))),
    );
  }

  /** SIGHUP: the control path reads pods and policies again. */
  reload(): Promise<void> {
    return this.control.reload();
  }

  /** Stops taking queries, answers those in flight, saves state, flushes logs and closes everything. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.adminServers.stopWaiting();
      if (this.config.readyFile !== undefined) await rm(this.config.readyFile, { force: true });
      // DNS goes straight to the targets again (unless a successor took it over) before
      // the listeners stop taking queries.
      const replaced = await this.interception?.release();
      // Sources first: pods and policies stay as they are while the queries drain.
      this.control.stop();
      this.listeners?.stopAccepting();
      await this.serving?.pipeline.drain(DRAIN_TIMEOUT_MS);
      this.serving?.pipeline.stop();
      this.serving?.upstream.stop();
      await this.handover.end(replaced === true);
      await this.serving?.log?.close();
      this.listeners?.close();
      await this.dataplane.stop();
      await this.kube?.close();
      await this.adminServers.close();
    })();
    return this.stopping;
  }
}
