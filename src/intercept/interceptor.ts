/**
 * `--intercept`: takes the DNS of pods to the targets over to this process's listeners,
 * through dnsgate's nftables table (rules.ts), whatever `--dataplane` is.
 *
 * Lifecycle of one process:
 *   install   the sets exist, this instance's listeners are leased (their late replies
 *             are rewritten from the moment they exist);
 *   takeOver  once ready: the chains point at this instance, in one transaction, and it
 *             refreshes the targets' lease from then on. A predecessor still running
 *             keeps answering what it holds, and its replies are still rewritten;
 *   release   at a clean stop: when this instance is still the owner, the targets go
 *             at once (the same state a crash leaves once the lease runs out); when a
 *             successor took over, nothing changes.
 */
import { execFile } from 'node:child_process';
import { ConfigError } from '../util/errors.js';
import type { InterceptMetrics } from '../admin/metrics.js';
import { NftProcess } from '../dataplane/nftables/nft-process.js';
import type { Logger } from '../util/logger.js';
import { LEASE_MS, REFRESH_MS, chainNames, chainsText, leaseText, releaseText, setsText, udpCaptureRule, type Hook, type Instance, type Target } from './rules.js';

export interface InterceptorOptions {
  table: string;
  hook: Hook;
  /** The nft command: file and leading arguments (tests run it inside a network namespace). */
  nft?: readonly [string, readonly string[]];
}

function firstLine(error: unknown): string {
  return ((error as Error).message ?? String(error)).trim().split('\n')[0];
}

function targetKey(target: Target): string {
  return `${target.ip}|${target.port}`;
}

export class Interceptor {
  private readonly nft: readonly [string, readonly string[]];
  private readonly process: NftProcess;
  private instance: Instance | undefined;
  private targets: Target[] = [];
  private dropped: Target[] = [];
  private owning = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly created = performance.now();
  private failing = false;

  constructor(
    private readonly options: InterceptorOptions,
    private readonly metrics: InterceptMetrics,
    private readonly logger: Logger,
  ) {
    this.nft = options.nft ?? ['nft', []];
    this.process = new NftProcess([this.nft[0], [...this.nft[1], '-i']], (reason) => this.logger.error(`intercept: ${reason}; restarting nft`));
  }

  /** Makes the sets and leases this instance's listeners. ConfigError when nft is missing or may not change the ruleset. */
  async install(instance: Instance): Promise<void> {
    this.instance = instance;
    await this.checkNft();
    try {
      await this.process.run(setsText(this.options.table) + leaseText(this.change([])));
    } catch (error) {
      throw new ConfigError(`--intercept: cannot install interception in table inet ${this.options.table}: ${firstLine(error)}`);
    }
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  /** The targets to intercept from now on (a Service's addresses change). */
  setTargets(targets: readonly Target[]): void {
    const wanted = new Set(targets.map(targetKey));
    this.dropped.push(...this.targets.filter((target) => !wanted.has(targetKey(target))));
    this.targets = [...new Map(targets.map((target) => [targetKey(target), target])).values()];
    if (this.owning) void this.refresh();
  }

  /** Points interception at this instance; whether a predecessor was still running. */
  async takeOver(): Promise<boolean> {
    const instance = this.instance as Instance;
    const predecessor = await this.otherInstanceLeased();
    this.owning = true;
    await this.process.run(chainsText(this.options.table, this.options.hook, instance) + leaseText(this.change(this.targets)));
    this.metrics.owner.set(1);
    if (predecessor) {
      this.metrics.handovers.inc();
      this.metrics.handoverDuration.observe((performance.now() - this.created) / 1000);
    }
    const targets = this.targets.map((target) => (target.ip.includes(':') ? `[${target.ip}]:${target.port}` : `${target.ip}:${target.port}`));
    this.logger.info(`intercepting DNS to ${targets.join(', ') || 'no target yet'}${predecessor ? ', taken over from the running predecessor' : ''}`);
    return predecessor;
  }

  /**
   * Stops refreshing. The owner ends interception at once, so DNS goes straight to the
   * targets; an instance a successor replaced leaves everything to it. Nothing else in
   * the table changes: enforcement stays. Resolves with whether a successor had taken over.
   */
  async release(): Promise<boolean> {
    clearInterval(this.timer);
    this.timer = undefined;
    let replaced = false;
    try {
      if (this.owning) {
        replaced = !(await this.stillOwner());
        if (!replaced) await this.process.run(releaseText(this.options.table));
      }
    } catch (error) {
      this.logger.error(`intercept: could not end interception (${firstLine(error)}); it ends when its lease runs out, within ${LEASE_MS / 1000} s`);
    }
    this.owning = false;
    this.metrics.owner.set(0);
    await this.process.stop();
    return replaced;
  }

  private change(targets: readonly Target[]): Parameters<typeof leaseText>[0] {
    const dropped = this.dropped;
    this.dropped = [];
    return { table: this.options.table, instance: this.instance as Instance, targets, dropped };
  }

  private async refresh(): Promise<void> {
    const text = leaseText(this.change(this.owning ? this.targets : []));
    if (text === '') return;
    try {
      await this.process.run(text);
      if (this.failing) this.logger.info('intercept: lease refreshed again');
      this.failing = false;
    } catch (error) {
      this.metrics.leaseFailures.inc();
      if (!this.failing) this.logger.error(`intercept: lease refresh failed: ${firstLine(error)}`);
      this.failing = true;
    }
  }

  /** Whether the capture chain still sends UDP to this instance, or a successor replaced it. */
  private async stillOwner(): Promise<boolean> {
    const chain = await this.list(['list', 'chain', 'inet', this.options.table, chainNames(this.options.hook).capture]);
    const instance = this.instance as Instance;
    return Object.entries(instance.udp).some(([family, listener]) => chain.includes(udpCaptureRule(Number(family) as 4 | 6, listener).split(' daddr set ')[1]));
  }

  /** Whether another instance's listener holds a lease: a predecessor that still runs. */
  async otherInstanceLeased(): Promise<boolean> {
    const instance = this.instance as Instance;
    for (const family of [4, 6] as const) {
      const text = await this.list(['list', 'set', 'inet', this.options.table, `intercept_instances${family}`]);
      const mine = instance.udp[family];
      const elements = [...text.matchAll(/([0-9a-f.:]+) \. (\d+)(?: timeout| expires|,| })/g)];
      if (elements.some(([, host, port]) => !(mine && host === mine.host && Number(port) === mine.port))) return true;
    }
    return false;
  }

  private list(args: readonly string[]): Promise<string> {
    const [file, prefix] = this.nft;
    return new Promise((resolve, reject) => {
      execFile(file, [...prefix, ...args], (error, stdout, stderr) => (error ? reject(new Error(String(stderr).trim() || error.message)) : resolve(stdout)));
    });
  }

  private async checkNft(): Promise<void> {
    const [file, prefix] = this.nft;
    await new Promise<void>((resolve, reject) => {
      execFile(file, [...prefix, 'list', 'tables'], (error, _stdout, stderr) => {
        if (!error) return resolve();
        const said = String(stderr).trim().split('\n')[0] ?? '';
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') reject(new ConfigError(`--intercept: ${file} not found; install nftables`));
        else if (/Operation not permitted|Permission denied/.test(said)) reject(new ConfigError(`--intercept: nft may not change the ruleset: ${said}; dnsgate needs root or CAP_NET_ADMIN`));
        else reject(new ConfigError(`--intercept: nft failed: ${said || error.message}`));
      });
    });
  }
}
