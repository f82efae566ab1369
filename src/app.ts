/**
 * The composition root of `dnsgate serve`: builds every stage from the configuration,
 * starts them in dependency order, reloads on SIGHUP and stops cleanly on SIGTERM.
 *
 * Start-up order matters: identities and policies first (invalid ones stop start-up),
 * then the dataplane, then the state file is restored and pushed to the dataplane,
 * and only then do the listeners bind, so no answer goes out before the map is back.
 */
import { AdminServer } from './admin/server.js';
import { Metrics } from './admin/metrics.js';
import { Readiness } from './admin/readiness.js';
import { allowedEntriesReply } from './allowmap/api.js';
import { CnameMemory } from './allowmap/learn.js';
import { Learner } from './allowmap/learner.js';
import { AllowedMap } from './allowmap/map.js';
import { restoreState, saveState } from './allowmap/state-file.js';
import { ResponseCache } from './cache/response-cache.js';
import { ConfigError, type Config } from './config/load.js';
import { Rcode } from './dns/constants.js';
import type { Dataplane } from './dataplane/dataplane.js';
import { createDataplane } from './dataplane/create.js';
import { IdentityStore } from './identity/store.js';
import { KubeClient } from './kube/client.js';
import { resolveServiceUpstream } from './kube/service.js';
import { KubernetesSource } from './kube/source.js';
import { TcpListener } from './listen/tcp.js';
import { UdpListener } from './listen/udp.js';
import type { AnswerLog } from './logs/answer-log.js';
import { createDnsLog } from './logs/dns-log.js';
import { canonicalIp, type Endpoint } from './net/address.js';
import { Pipeline } from './pipeline.js';
import { LiveEngine, PolicyStore, explain, formatProblem, parseConnectionFilters, type PolicyLoad } from './policy/index.js';
import type { Pod } from './identity/pod.js';
import { formatUpstreamSpec } from './upstream/spec.js';
import { SourceError } from './yaml/documents.js';

/** How long SIGTERM waits for queries in flight. */
const DRAIN_TIMEOUT_MS = 5000;
/** How often expired entries leave the map (the kernel expires dataplane elements itself). */
const EXPIRY_SWEEP_MS = 250;

export interface AppLogger {
  info(message: string): void;
  error(message: string): void;
}

export const stderrLogger: AppLogger = {
  info: (message) => process.stderr.write(`dnsgate: ${message}\n`),
  error: (message) => process.stderr.write(`dnsgate: ${message}\n`),
};

/** Parts a test may supply instead of the configured ones. */
export interface AppOverrides {
  dataplane?: Dataplane;
}

export class App {
  readonly metrics = new Metrics();
  readonly readiness = new Readiness();
  readonly identity: IdentityStore;
  readonly policies: PolicyStore;
  readonly engine: LiveEngine;
  readonly map: AllowedMap;
  readonly dataplane: Dataplane;
  pipeline!: Pipeline;
  admin: AdminServer | undefined;
  readonly udpListeners: UdpListener[] = [];
  readonly tcpListeners: TcpListener[] = [];
  private log: AnswerLog | undefined;
  private kube: { client: KubeClient; source: KubernetesSource | undefined } | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopping: Promise<void> | undefined;
  private lastSave = Promise.resolve();
  private queuedSave: Promise<void> | undefined;

  constructor(
    readonly config: Config,
    private readonly logger: AppLogger = stderrLogger,
    overrides: AppOverrides = {},
  ) {
    this.identity = new IdentityStore({ podsFile: config.pods, localPod: config.localPod });
    this.policies = new PolicyStore(config.policies);
    this.engine = new LiveEngine(this.policies, this.identity);
    this.map = new AllowedMap(
      { extraTtlMs: config.extraTtl, minTtlMs: config.minTtl, maxTtlMs: config.maxTtl, maxIpsPerName: config.maxIpsPerName, maxEntries: config.maxEntries },
      {
        onAdded: () => this.metrics.allowedLearnt.inc(),
        onEvicted: (reason, entry) => {
          this.metrics.allowedEvicted.labels(reason).inc();
          const limit = reason === 'entry-cap' ? `--max-entries ${config.maxEntries}` : `--max-ips-per-name ${config.maxIpsPerName}`;
          this.logger.error(`allowed map: ${limit} reached, evicted ${entry.ip}${entry.client ? ` of ${entry.client.key}` : ''}`);
        },
      },
    );
    this.metrics.allowedEntriesSource = () => this.map.size;
    this.dataplane = overrides.dataplane ?? createDataplane(config, this.engine, this.metrics, logger);
    this.readiness.require('listeners', 'listeners are not bound yet');
    this.readiness.require('identities', 'pods are not loaded yet');
    this.readiness.require('policies', 'policies are not loaded yet');
    this.readiness.require('dataplane', 'the dataplane is not synced yet');
    this.readiness.watch(() => this.dataplane.unhealthyReason());
  }

  /** Starts serving. Throws ConfigError for problems the user must fix (exit 2). */
  async start(): Promise<void> {
    const config = this.config;
    if (config.kubernetes || config.upstream.some((spec) => spec.kind === 'k8s-service')) {
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

    this.log = createDnsLog(config, this.identity, this.metrics, this.logger);
    this.pipeline = new Pipeline(
      {
        upstreams: await this.resolveUpstreams(),
        upstreamTimeoutMs: config.upstreamTimeout,
        queryTimeoutMs: config.queryTimeout,
        cache: config.cacheSize > 0 ? new ResponseCache(config.cacheSize) : undefined,
      },
      this.identity,
      this.log,
      this.metrics,
      {
        policy: { forClient: (pod) => this.engine.current.forClient(pod) },
        map: this.map,
        learner: new Learner(this.map, new CnameMemory(), config.scope),
        dataplane: this.dataplane,
        holdAnswers: config.policyMode === 'DelayDNSResponse',
        maxHoldMs: config.maxHold,
        holdTimeoutAction: config.holdTimeoutAction,
        denyRcode: config.denyResponse === 'off' ? undefined : config.denyResponse === 'refused' ? Rcode.Refused : Rcode.NXDomain,
      },
    );
    await this.dataplane.start();
    const syncPolicy = (): void => void this.dataplane.syncPolicy();
    this.policies.onChange(syncPolicy);
    this.identity.onChange(() => {
      const podsByKey = new Map(this.identity.current.pods.map((pod) => [pod.key, pod.ips]));
      this.map.followPods((key) => podsByKey.get(key));
      this.pipeline.committer.kick();
      syncPolicy();
    });
    await this.restoreMap();
    await this.pipeline.committer.resync();
    this.readiness.satisfy('dataplane');
    await this.pipeline.upstream.start();

    if (config.admin) {
      this.admin = new AdminServer(config.admin, this.metrics, this.readiness);
      this.addApiRoutes(this.admin);
      await bindOrExplain('--admin', config.admin, () => this.admin!.listen());
    }
    for (const endpoint of config.listen) {
      const udp = new UdpListener(endpoint, this.pipeline);
      const tcp = new TcpListener(endpoint, this.pipeline, this.metrics, {
        idleTimeoutMs: config.tcpIdleTimeout,
        maxConnections: config.tcpMaxConnections,
      });
      await bindOrExplain('--listen', endpoint, () => udp.listen());
      await bindOrExplain('--listen', endpoint, () => tcp.listen());
      this.udpListeners.push(udp);
      this.tcpListeners.push(tcp);
    }
    this.readiness.satisfy('listeners');
    this.startTimers();
    const listening = this.udpListeners.map((l) => `${l.endpoint.host}:${l.port}`).join(', ');
    this.logger.info(`serving DNS on ${listening} (udp+tcp), upstream ${config.upstream.map(formatUpstreamSpec).join(', ')}`);
  }

  private async startKubernetesSource(client: KubeClient): Promise<PolicyLoad> {
    const source = new KubernetesSource(client, this.identity, this.policies, (message) => this.logger.error(message));
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

  /**
   * The first set must be valid or start-up stops; only later changes are reloads, so
   * the listeners that report them come after it.
   */
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
    this.policies.onReloadFailed((errors) => {
      this.metrics.reloads.labels('policies', 'error').inc();
      this.logger.error(`reload of policies kept the previous set: ${errors[0]}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}`);
    });
    this.policies.onChange((policies, warnings) => {
      this.metrics.reloads.labels('policies', 'ok').inc();
      for (const warning of warnings) this.logger.info(warning);
      const refs = new Set(policies.egressRules.map((rule) => rule.ref));
      this.map.retainRules((ref) => refs.has(ref));
      this.pipeline?.committer.kick();
    });
    if (this.config.policies.length > 0) this.policies.watch();
  }

  private async restoreMap(): Promise<void> {
    const path = this.config.stateFile;
    if (path === undefined) return;
    const result = await restoreState(path, this.map, this.config.scope, this.identity.current);
    if (result.problem) this.logger.error(result.problem);
    else if (result.restored > 0) this.logger.info(`restored ${result.restored} allowed entries from ${path}`);
  }

  /**
   * Saves run one after another, as two at once would write the same temporary file,
   * and one waiting to start serves every caller until it starts.
   */
  private saveMap(): Promise<void> {
    const path = this.config.stateFile;
    if (path === undefined) return Promise.resolve();
    this.queuedSave ??= this.lastSave.then(async () => {
      this.queuedSave = undefined;
      try {
        await saveState(path, this.map, this.config.scope);
      } catch (error) {
        this.logger.error(`cannot save state to ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    });
    this.lastSave = this.queuedSave;
    return this.queuedSave;
  }

  private startTimers(): void {
    const sweep = setInterval(() => {
      const expired = this.map.expire();
      if (expired === 0) return;
      this.metrics.allowedExpired.inc(expired);
      this.pipeline.committer.kick();
    }, EXPIRY_SWEEP_MS);
    this.timers.push(sweep);
    if (this.config.stateFile !== undefined) this.timers.push(setInterval(() => void this.saveMap(), this.config.stateSaveInterval));
    for (const timer of this.timers) timer.unref();
  }

  private addApiRoutes(admin: AdminServer): void {
    admin.addRoute('/v1/allowed', (params) =>
      allowedEntriesReply(this.map, params, (ip) => {
        const engine = this.engine.current;
        const pod = engine.identities.podByIp(ip);
        return { podKey: pod?.key, rules: new Set(engine.forClient(pod).egressRules.map((rule) => rule.ref)) };
      }),
    );
    admin.addRoute('/v1/explain', (params) => {
      const client = params.get('client');
      const name = params.get('name');
      if (client === null || name === null) return { status: 400, body: { error: 'client and name are required' } };
      if (canonicalIp(client) === undefined) return { status: 400, body: { error: `client: not an IP address: ${JSON.stringify(client)}` } };
      let filters;
      try {
        filters = parseConnectionFilters(params.get('protocol') ?? undefined, params.get('port') ?? undefined);
      } catch (error) {
        return { status: 400, body: { error: (error as Error).message } };
      }
      const learnt = (pod: Pod, domain: string) => this.map.learntFor(this.config.scope === 'pod' ? pod.key : undefined, domain);
      return { status: 200, body: explain(this.engine.current, { client, name, ...filters }, learnt) };
    });
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
      for (const timer of this.timers) clearInterval(timer);
      // Sources first: pods and policies stay as they are while the queries drain.
      this.kube?.source?.stop();
      this.policies.close();
      for (const listener of this.udpListeners) listener.stopAccepting();
      for (const listener of this.tcpListeners) listener.stopAccepting();
      await this.pipeline?.drain(DRAIN_TIMEOUT_MS);
      this.pipeline?.stop();
      await this.saveMap();
      await this.log?.close();
      for (const listener of this.udpListeners) listener.close();
      await this.dataplane.stop();
      await this.kube?.client.close();
      await this.admin?.close();
    })();
    return this.stopping;
  }
}

async function bindOrExplain(flag: string, endpoint: Endpoint, bind: () => Promise<void>): Promise<void> {
  try {
    await bind();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(`${flag} ${endpoint.host}:${endpoint.port}: cannot bind (${code})`);
  }
}
