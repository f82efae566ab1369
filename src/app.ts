/**
 * The composition root of `dnsgate serve`: builds every stage from the configuration,
 * starts them in dependency order, reloads on SIGHUP and stops cleanly on SIGTERM. What
 * happens when inputs change is the control path's (control.ts); what happens to a
 * query is the pipeline's (pipeline.ts).
 *
 * Start-up order matters: identities and policies first (invalid ones stop start-up),
 * then the dataplane, then the state file is restored and pushed to the dataplane,
 * and only then do the listeners bind, so no answer goes out before the map is back.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { AdminServer } from './admin/server.js';
import { Metrics } from './admin/metrics.js';
import { Readiness } from './admin/readiness.js';
import { addApiRoutes, type ApiSources } from './admin/routes.js';
import { registerRuleCountMetrics } from './admin/staged.js';
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
import { KubernetesSource } from './kube/source.js';
import { TcpListener } from './listen/tcp.js';
import { UdpListener } from './listen/udp.js';
import type { AnswerLog } from './logs/answer-log.js';
import { createDnsLog } from './logs/dns-log.js';
import { isLoopback, type Endpoint } from './net/address.js';
import { Pipeline, type HeldAnswer } from './pipeline.js';
import { LiveEngine, PolicyStore, formatProblem, type PolicyLoad } from './policy/index.js';
import { UpstreamPool } from './upstream/pool.js';
import { UPSTREAM_SOURCE_PORTS } from './upstream/source-ports.js';
import { formatUpstreamSpec } from './upstream/spec.js';
import { stderrLogger, type Logger } from './util/logger.js';
import { TimerWheel } from './util/timer-wheel.js';
import { SourceError } from './yaml/documents.js';
import { ConfigError, errorText } from './util/errors.js';

/** How long SIGTERM waits for queries in flight. */
const DRAIN_TIMEOUT_MS = 5000;
/** How often a taken admin port is tried again during a handover. */
const ADMIN_RETRY_MS = 1000;
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
  private readonly handover: StateHandover;
  admin: AdminServer | undefined;
  adminPrivate: AdminServer | undefined;
  readonly udpListeners: UdpListener[] = [];
  readonly tcpListeners: TcpListener[] = [];
  private serving: Serving | undefined;
  private control: ControlPath | undefined;
  private kube: { client: KubeClient; source: KubernetesSource | undefined } | undefined;
  private readonly interception: Interception | undefined;
  private readonly adminRetries: NodeJS.Timeout[] = [];
  private stopping: Promise<void> | undefined;

  constructor(
    readonly config: Config,
    private readonly logger: Logger = stderrLogger,
    overrides: AppOverrides = {},
  ) {
    this.identity = new IdentityStore({ podsFile: config.pods, localPod: config.localPod });
    this.policies = new PolicyStore(config.policies);
    this.engine = new LiveEngine(this.policies, this.identity);
    this.map = new AllowedMap(
      {
        extraTtlMs: config.extraTtl,
        minTtlMs: config.minTtl,
        maxTtlMs: config.maxTtl,
        maxIpsPerName: config.maxIpsPerName,
        maxEntries: config.maxEntries,
        maxDomainsPerEntry: config.maxNamesPerEntry,
      },
      {
        onAdded: () => this.metrics.allowed.learnt.inc(),
        onDomainDropped: () => this.metrics.allowed.learningDropped.labels('entry-names').inc(),
        onEvicted: (reason, entry) => {
          this.metrics.allowed.evicted.labels(reason).inc();
          const limit = reason === 'entry-cap' ? `--max-entries ${config.maxEntries}` : `--max-ips-per-name ${config.maxIpsPerName}`;
          this.logger.error(`allowed map: ${limit} reached, evicted ${entry.ip}${entry.client ? ` of ${entry.client.key}` : ''}`);
        },
      },
    );
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
    this.handover = new StateHandover({
      stateFile: this.stateFile,
      identities: () => this.identity.current,
      predecessorRunning: () => this.interception?.predecessorRunning() ?? Promise.resolve(false),
      complete: () => this.dataplane.mapComplete?.(),
      commit: () => this.serving?.committer.kick(),
      logger,
    });
    this.readiness.require('listeners', 'listeners are not bound yet');
    this.readiness.require('identities', 'pods are not loaded yet');
    this.readiness.require('policies', 'policies are not loaded yet');
    this.readiness.require('dataplane', 'the dataplane is not synced yet');
    this.readiness.watch(() => this.dataplane.unhealthyReason());
  }

  /** What the admin API reads, for each admin listener. */
  private apiSources(): ApiSources {
    return { map: this.map, policy: this.engine, scope: this.config.scope, ruleCounts: () => this.dataplane.ruleCounts?.() };
  }

  /** Starts serving. Throws ConfigError for problems the user must fix (exit 2). */
  async start(): Promise<void> {
    const config = this.config;
    if (config.kubernetes || [...config.upstream, ...config.intercept].some((spec) => spec.kind === 'k8s-service')) {
      this.kube = { client: KubeClient.fromEnvironment(), source: undefined };
    }
    try {
      await this.identity.load();
    } catch (error) {
      if (error instanceof SourceError) throw new ConfigError(error.message);
      throw error;
    }
    await this.loadPolicies();
    this.readiness.satisfy('identities');
    this.readiness.satisfy('policies');

    const serving = this.buildServing(await this.resolveUpstreams());
    this.serving = serving;
    await this.dataplane.start();
    this.control = new ControlPath({
      identity: this.identity,
      policies: this.policies,
      map: this.map,
      relearn: () => this.relearn(),
      dataplane: this.dataplane,
      committer: serving.committer,
      stateFile: this.stateFile,
      stateSaveIntervalMs: config.stateSaveInterval,
      metrics: this.metrics,
      logger: this.logger,
    });
    this.control.start();
    if (config.policies.length > 0) this.policies.watch();
    await this.stateFile?.restore(this.identity.current);
    await serving.committer.resync();
    this.readiness.satisfy('dataplane');
    await serving.upstream.start();

    this.readiness.watch(() => serving.upstream.unhealthyReason());
    if (config.admin) {
      const token = await readAdminToken(config.adminTokenFile);
      const admin = new AdminServer(config.admin, this.metrics, this.readiness, { open: isLoopback(config.admin.host), token });
      this.admin = admin;
      addApiRoutes(admin, this.apiSources());
      await this.listenAdmin(admin);
    }
    if (config.adminPrivate) {
      const admin = new AdminServer(config.adminPrivate, this.metrics, this.readiness);
      this.adminPrivate = admin;
      addApiRoutes(admin, this.apiSources());
      await this.listenAdmin(admin, '--admin-private');
    }
    for (const endpoint of config.listen) await this.bindListeners(endpoint, serving.pipeline);
    const bound = (listeners: readonly (UdpListener | TcpListener)[]) => listeners.map((listener) => ({ endpoint: listener.endpoint, port: listener.port }));
    await this.interception?.install(bound(this.udpListeners), bound(this.tcpListeners), this.kube?.client);
    // Ready means serving the intercepted DNS: a predecessor may be stopped from then on.
    this.handover.begin((await this.interception?.takeOver()) === true);
    this.readiness.satisfy('listeners');
    if (config.readyFile !== undefined) await writeFile(config.readyFile, `${process.pid}\n`);
    const listening = this.udpListeners.map((l) => `${l.endpoint.host}:${l.port}`).join(', ');
    this.logger.info(`serving DNS on ${listening} (udp+tcp), upstream ${config.upstream.map(formatUpstreamSpec).join(', ')}`);
  }

  /**
   * A UDP and a TCP listener on `endpoint`. With --intercept, a port still held (by the
   * predecessor during an upgrade) is no error: the listeners take a free port of the
   * same address, and interception sends the DNS there once this process is ready.
   */
  private async bindListeners(endpoint: Endpoint, pipeline: Pipeline): Promise<void> {
    const options = { idleTimeoutMs: this.config.tcpIdleTimeout, maxConnections: this.config.tcpMaxConnections };
    for (let port = endpoint.port; ; port = 0) {
      const udp = new UdpListener({ ...endpoint, port }, pipeline);
      try {
        await udp.listen();
      } catch (error) {
        udp.close();
        if (this.interception && port !== 0 && (error as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        return bindOrExplain('--listen', endpoint, () => Promise.reject(error as Error));
      }
      const tcp = new TcpListener({ ...endpoint, port: udp.port }, pipeline, this.metrics.tcp, options);
      try {
        await tcp.listen();
      } catch (error) {
        udp.close();
        // The free UDP port may be taken for TCP: try another.
        if (this.interception && (error as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        return bindOrExplain('--listen', endpoint, () => Promise.reject(error as Error));
      }
      if (port !== endpoint.port) this.logger.info(`--listen ${endpoint.host}:${endpoint.port} is taken (a predecessor still running?): listening on port ${udp.port}, where interception sends DNS`);
      this.udpListeners.push(udp);
      this.tcpListeners.push(tcp);
      return;
    }
  }

  /**
   * With --intercept, a taken admin port (a predecessor on the host network during an
   * upgrade) is served once it is free; until then the predecessor answers there, and
   * probes use --ready-file.
   */
  private async listenAdmin(admin: AdminServer, flag = '--admin'): Promise<void> {
    const endpoint = admin.endpoint;
    try {
      await admin.listen();
    } catch (error) {
      if (!this.interception || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') return bindOrExplain(flag, endpoint, () => Promise.reject(error as Error));
      this.logger.info(`${flag} ${endpoint.host}:${endpoint.port} is taken (a predecessor still running?): serving it once it is free`);
      const retry = setInterval(() => {
        admin.listen().then(() => {
          clearInterval(retry);
          this.logger.info(`admin server on ${endpoint.host}:${endpoint.port}`);
        }, () => undefined);
      }, ADMIN_RETRY_MS);
      this.adminRetries.push(retry);
    }
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

  /** Learns what the pods' retained mappings allow under the current policies and pods. */
  private relearn(): void {
    const engine = this.engine.current;
    const pods = new Map(engine.identities.pods.map((pod) => [pod.key, pod]));
    this.learner.reapply((key) => {
      const pod = pods.get(key);
      if (pod === undefined) return undefined;
      const learning = engine.learningFor(pod);
      return { pod, learns: learning.learns, rules: learning };
    });
  }

  private async startKubernetesSource(client: KubeClient): Promise<PolicyLoad> {
    const source = new KubernetesSource(
      client,
      this.identity,
      this.policies,
      (message) => this.logger.error(message),
      this.config.policies.length > 0 ? 'files' : 'api',
      (message) => this.logger.info(message),
    );
    this.kube!.source = source;
    try {
      return await source.start();
    } catch (error) {
      source.stop();
      throw new ConfigError(`--kubernetes: ${(error as Error).message}`);
    }
  }

  private resolveUpstreams(): Promise<Endpoint[]> {
    return Promise.all(
      this.config.upstream.map((spec) => (spec.kind === 'address' ? spec.endpoint : resolveServiceUpstream(this.kube!.client, spec))),
    );
  }

  /** The first set must be valid or start-up stops; later changes are the control path's. */
  private async loadPolicies(): Promise<void> {
    let load: PolicyLoad | undefined;
    if (this.config.policies.length > 0) load = await this.policies.reload();
    if (load?.ok !== false && this.config.kubernetes) load = await this.startKubernetesSource(this.kube!.client);
    if (load && !load.ok) {
      const more = load.errors.length > 1 ? ` (and ${load.errors.length - 1} more; see dnsgate validate)` : '';
      throw new ConfigError(`${this.config.kubernetes ? '--kubernetes: ' : ''}${formatProblem(load.errors[0])}${more}`);
    }
    // The last load holds the files and the API's resources together.
    for (const warning of load?.warnings ?? []) this.logger.info(formatProblem(warning));
  }

  /** SIGHUP: reloads pods and policies; on error the previous set stays and the reason is logged. */
  async reload(): Promise<void> {
    try {
      await this.identity.load();
      this.metrics.reloads.labels('pods', 'ok').inc();
    } catch (error) {
      this.metrics.reloads.labels('pods', 'error').inc();
      this.logger.error(`reload of pods kept the previous set: ${(error as Error).message}`);
    }
    if (this.config.policies.length > 0) await this.policies.reload();
  }

  /** Stops taking queries, answers those in flight, saves state, flushes logs and closes everything. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.control?.stop();
      for (const retry of this.adminRetries) clearInterval(retry);
      if (this.config.readyFile !== undefined) await rm(this.config.readyFile, { force: true });
      // DNS goes straight to the targets again (unless a successor took it over) before
      // the listeners stop taking queries.
      const replaced = await this.interception?.release();
      // Sources first: pods and policies stay as they are while the queries drain.
      this.kube?.source?.stop();
      this.policies.close();
      for (const listener of this.udpListeners) listener.stopAccepting();
      for (const listener of this.tcpListeners) listener.stopAccepting();
      await this.serving?.pipeline.drain(DRAIN_TIMEOUT_MS);
      this.serving?.pipeline.stop();
      this.serving?.upstream.stop();
      await this.handover.end(replaced === true);
      await this.serving?.log?.close();
      for (const listener of this.udpListeners) listener.close();
      await this.dataplane.stop();
      await this.kube?.client.close();
      await this.admin?.close();
      await this.adminPrivate?.close();
    })();
    return this.stopping;
  }
}

/** The API token of --admin-token-file; a file that cannot be read, or is empty, stops start-up. */
async function readAdminToken(path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined;
  let token: string;
  try {
    token = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    throw new ConfigError(`--admin-token-file ${path}: cannot read (${errorText(error)})`);
  }
  if (token === '') throw new ConfigError(`--admin-token-file ${path}: the file is empty`);
  return token;
}

async function bindOrExplain(flag: string, endpoint: Endpoint, bind: () => Promise<void>): Promise<void> {
  try {
    await bind();
  } catch (error) {
    const code = errorText(error);
    throw new ConfigError(`${flag} ${endpoint.host}:${endpoint.port}: cannot bind (${code})`);
  }
}
