/**
 * What `serve` does with `--intercept`: resolves the targets (and follows Services),
 * installs interception for this process's listeners, takes it over once the process
 * is ready, and releases it at stop. See interceptor.ts for the kernel side.
 */
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { InterceptMetrics } from '../admin/metrics.js';
import { ConfigError } from '../util/errors.js';
import type { KubeClient } from '../kube/client.js';
import type { BoundListener } from '../listen/listeners.js';
import type { UpstreamSpec } from '../upstream/spec.js';
import type { Logger } from '../util/logger.js';
import { Interceptor } from './interceptor.js';
import type { Hook, Instance, Target } from './rules.js';
import { SERVICE_POLL_MS, resolveTargets } from './targets.js';

export interface InterceptionConfig {
  intercept: UpstreamSpec[];
  nftTable: string;
  nftHook: Hook;
}

/** NodeLocal DNSCache's link-local address and interface, as its manifests set them up. */
const NODELOCAL_DNS = { address: '169.254.20.10', interface: 'nodelocaldns' };

/**
 * NodeLocal DNSCache binds the kube-dns Service IP on the node and exempts it from
 * conntrack (NOTRACK): a pod's DNS never reaches a NAT rule, and interception on the
 * node cannot work beside it. Its interface is looked up in sysfs: node-cache never
 * sets it up, and networkInterfaces() lists only interfaces that are up and running.
 */
function nodeLocalDnsCache(): string | undefined {
  if (existsSync(`/sys/class/net/${NODELOCAL_DNS.interface}`)) return `interface ${NODELOCAL_DNS.interface}`;
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    if (addresses?.some((address) => address.address === NODELOCAL_DNS.address)) return `address ${NODELOCAL_DNS.address} on ${name}`;
  }
  return undefined;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

export class Interception {
  private readonly interceptor: Interceptor;
  private poller: NodeJS.Timeout | undefined;
  private failing = false;

  constructor(
    private readonly config: InterceptionConfig,
    metrics: InterceptMetrics,
    private readonly logger: Logger,
    nft?: readonly [string, readonly string[]],
  ) {
    // Before anything is installed: beside NodeLocal DNSCache nothing of it would work.
    const cache = config.nftHook === 'forward' ? nodeLocalDnsCache() : undefined;
    if (cache !== undefined) {
      throw new ConfigError(`--intercept: NodeLocal DNSCache runs on this node (${cache}); it answers the Service IP itself, untracked, so pods' DNS cannot be intercepted: remove it, or run dnsgate without --intercept`);
    }
    this.interceptor = new Interceptor({ table: config.nftTable, hook: config.nftHook, nft }, metrics, logger);
  }

  /**
   * Per family, the first UDP and TCP listener. On the node (forward), pods reach the
   * listener from outside, so it may not be a loopback address.
   */
  private instanceOf(udp: readonly BoundListener[], tcp: readonly BoundListener[]): Instance {
    const instance: Instance = { udp: {}, tcp: {} };
    for (const [kind, listeners] of [['udp', udp], ['tcp', tcp]] as const) {
      for (const { endpoint, port } of listeners) {
        if (instance[kind][endpoint.family] !== undefined) continue;
        if (this.config.nftHook === 'forward' && isLoopback(endpoint.host)) {
          throw new ConfigError(`--intercept: pods cannot reach --listen ${endpoint.host}; with --nft-hook forward, listen on an address of the node`);
        }
        instance[kind][endpoint.family] = { ...endpoint, port };
      }
    }
    return instance;
  }

  /** Installs interception for the bound listeners and resolves the targets. Nothing is intercepted yet. */
  async install(udp: readonly BoundListener[], tcp: readonly BoundListener[], kube: KubeClient | undefined): Promise<void> {
    const instance = this.instanceOf(udp, tcp);
    let targets: Target[];
    try {
      targets = await resolveTargets(this.config.intercept, kube);
    } catch (error) {
      throw error instanceof ConfigError ? error : new ConfigError((error as Error).message);
    }
    await this.interceptor.install(instance);
    this.interceptor.setTargets(targets);
    if (this.config.intercept.some((spec) => spec.kind === 'k8s-service')) {
      this.poller = setInterval(() => void this.poll(kube), SERVICE_POLL_MS);
      this.poller.unref();
    }
  }

  /** Once this process is ready: DNS to the targets comes here from now on. */
  async takeOver(): Promise<boolean> {
    try {
      return await this.interceptor.takeOver();
    } catch (error) {
      throw new ConfigError(`--intercept: cannot take interception over in table inet ${this.config.nftTable}: ${(error as Error).message.split('\n')[0]}`);
    }
  }

  /** Whether a predecessor still runs: another instance's listeners hold their lease (until LEASE_MS after it stopped). */
  predecessorRunning(): Promise<boolean> {
    return this.interceptor.otherInstanceLeased();
  }

  /** At stop, before the listeners stop taking queries; whether a successor had taken over. */
  async release(): Promise<boolean> {
    clearInterval(this.poller);
    return this.interceptor.release();
  }

  /** A Service that cannot be read keeps its last addresses. */
  private async poll(kube: KubeClient | undefined): Promise<void> {
    try {
      this.interceptor.setTargets(await resolveTargets(this.config.intercept, kube));
      if (this.failing) this.logger.info('intercept: targets read again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.logger.error(`intercept: keeping the last targets: ${(error as Error).message}`);
      this.failing = true;
    }
  }
}
