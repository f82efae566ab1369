/**
 * `--dataplane nftables`: the allowed-IP map and the egress policies of enforced pods,
 * enforced by one nftables table of dnsgate's own. See README.md.
 *
 * Every transaction goes through one queue, and is compiled when its turn comes, so a
 * batch of elements always names the sets of the table as it is at that moment.
 */
import { execFile, type ExecFileException } from 'node:child_process';
import type { NftablesMetrics } from '../../admin/metrics.js';
import type { DataplaneBatch, EntrySnapshot } from '../../allowmap/entry.js';
import type { PolicyEngine } from '../../policy/index.js';
import type { Logger } from '../../util/logger.js';
import type { Dataplane, RuleCounts } from '../dataplane.js';
import { CounterTotals, parseCountedRules } from './counters.js';
import { NftProcess } from './nft-process.js';
import { compileRuleset, type Ruleset, type RulesetOptions } from './ruleset.js';
import { NetlinkElements, fitsNetlink } from './netlink.js';
import { EMPTY_INVENTORY, batchCommands, commandsText, elementCommands, inventoryOf, parseInventory, swapText, type Inventory } from './transaction.js';
import { ConfigError } from '../../util/errors.js';

export interface NftablesOptions extends RulesetOptions {
  /**
   * The nft command: file and leading arguments (tests run it inside a network
   * namespace). When given, every transaction goes through it: dnsgate's own netlink
   * socket would reach the ruleset of dnsgate's namespace, which may not be nft's.
   */
  nft?: readonly [string, readonly string[]];
}

type Operation = 'start' | 'batch' | 'resync' | 'policy';

function firstLine(error: unknown): string {
  return ((error as Error).message ?? String(error)).trim().split('\n')[0];
}

export class NftablesDataplane implements Dataplane {
  readonly name = 'nftables';
  private readonly nft: readonly [string, readonly string[]];
  private readonly process: NftProcess;
  /**
   * Where batches of learnt elements go when they fit one sendmsg; nft otherwise, or when
   * netlink is not available. nft goes only once the netlink batches sent before it are
   * answered: one the package could not send at once (the kernel short of buffers) would
   * otherwise reach the kernel after an nft transaction queued behind it.
   */
  private netlink: NetlinkElements | undefined;
  /** What the kernel holds, as of the last transaction that replaced the table. */
  private ruleset: Ruleset | undefined;
  private inventory: Inventory = EMPTY_INVENTORY;
  /** After a failure the table may not be what dnsgate last made it: read it again before replacing it. */
  private inventoryStale = false;
  /**
   * Until the map is complete, learnt sets keep elements this process does not know:
   * those an earlier run learnt, still in force (fail-static), and those a predecessor
   * still running learns during an upgrade. Later resyncs write them whole.
   */
  private keepUnknownElements = true;
  /**
   * The sets the table held before this process installed it: until the map is
   * complete, resyncs write elements anew there, since an element an earlier run left
   * may have a shorter timeout than the restored entry's (see elementCommands).
   */
  private earlierSets: ReadonlySet<string> = new Set();
  private problem: string | undefined;
  private resyncListener: (() => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private compiled: { engine: PolicyEngine; ruleset: Ruleset } | undefined;
  /** A policy swap queued and not yet compiled: later changes ride on it. */
  private pendingSwap: Promise<void> | undefined;
  private readonly counterTotals = new CounterTotals();
  /** A counter reading in flight, shared by whoever asks meanwhile (each rule's growth is added once). */
  private counting: Promise<RuleCounts> | undefined;

  constructor(
    private readonly options: NftablesOptions,
    private readonly policy: { readonly current: PolicyEngine },
    private readonly metrics: NftablesMetrics,
    private readonly logger: Logger,
  ) {
    this.nft = options.nft ?? ['nft', []];
    this.process = new NftProcess([this.nft[0], [...this.nft[1], '-i']], (reason) => this.lostProcess(reason));
  }

  private get table(): string {
    return `inet ${this.options.table}`;
  }

  async start(): Promise<void> {
    this.inventory = await this.readInventory(true);
    this.earlierSets = new Set(this.inventory.sets);
    try {
      await this.enqueue(() => this.swap('start'));
    } catch (error) {
      throw new ConfigError(`--dataplane nftables: cannot install table ${this.table}: ${firstLine(error)}`);
    }
    const ruleset = this.ruleset as Ruleset;
    const keptLearnt = ruleset.learntSets.filter((set) => this.earlierSets.has(set.name)).length;
    const netlink = this.options.nft === undefined ? await NetlinkElements.open(this.options.table) : 'nft runs in another network namespace';
    if (typeof netlink !== 'string') this.netlink = netlink;
    this.logger.info(
      `nftables: table ${this.table} on hook ${this.options.hook}: ${ruleset.enforcedPods} enforced pods in ${ruleset.classes} chains, ${ruleset.learntSets.length} learnt sets (${keptLearnt} kept with their elements); learnt elements through ${typeof netlink === 'string' ? `nft (${netlink})` : 'netlink'}`,
    );
  }

  /**
   * A batch over netlink is in the kernel once sent, so the queue goes on at once and
   * only the caller waits for the acknowledgement (see `pipelines`); through nft the
   * queue waits for it.
   */
  apply(batch: DataplaneBatch): Promise<void> {
    const sent = this.enqueue(async (): Promise<{ acknowledged: Promise<void> }> => {
      const ruleset = this.ruleset;
      if (ruleset === undefined) throw new Error(`nftables: table ${this.table} is not installed`);
      const { commands, count } = batchCommands(ruleset, batch, Date.now());
      if (commands.length === 0) return { acknowledged: Promise.resolve() };
      const netlink = this.usableNetlink();
      const counted = () => void this.metrics.elements.inc(count);
      if (netlink && fitsNetlink(commands)) return { acknowledged: this.run('batch', () => netlink.run(commands)).then(counted) };
      await this.netlink?.answered();
      await this.run('batch', () => this.process.run(commandsText(ruleset.options.table, commands)));
      counted();
      return { acknowledged: Promise.resolve() };
    });
    return sent.then(({ acknowledged }) => acknowledged);
  }

  /** Batches may follow one another unanswered while they go over netlink. */
  pipelines(): boolean {
    return this.usableNetlink() !== undefined;
  }

  resync(entries: readonly EntrySnapshot[]): Promise<void> {
    return this.enqueue(async () => {
      await this.swap('resync', entries);
      this.problem = undefined;
    });
  }

  mapComplete(): void {
    this.keepUnknownElements = false;
    this.earlierSets = new Set();
  }

  syncPolicy(): Promise<void> {
    if (this.ruleset === undefined) return Promise.resolve();
    this.pendingSwap ??= this.enqueue(async () => {
      this.pendingSwap = undefined;
      const before = new Set(this.inventory.sets);
      await this.swap('policy');
      // A learnt set that is new (a rule newly in force, an address family newly in use)
      // starts empty; entries the map already holds for it come with a resync.
      if ((this.ruleset as Ruleset).learntSets.some((set) => !before.has(set.name))) this.resyncListener?.();
    }).catch(() => this.resyncListener?.());
    return this.pendingSwap;
  }

  onResyncNeeded(listener: () => void): void {
    this.resyncListener = listener;
  }

  unhealthyReason(): string | undefined {
    return this.problem;
  }

  ruleCounts(): Promise<RuleCounts> {
    this.counting ??= this.listTable()
      .then(({ error, stdout, stderr }) => {
        if (error) throw new Error(`nft list table failed: ${firstLine(stderr) || error.message}`);
        return this.counterTotals.update(parseCountedRules(stdout));
      })
      .finally(() => (this.counting = undefined));
    return this.counting;
  }

  /** Stops nft and leaves the table in place: enforcement goes on while dnsgate is away (fail-static). */
  async stop(): Promise<void> {
    await this.queue;
    await this.netlink?.answered();
    await this.process.stop();
    this.netlink?.close();
  }

  /** Compiles the current policies and pods and replaces the table with them (and `entries`, when given) in one transaction. */
  private async swap(operation: Exclude<Operation, 'batch'>, entries?: readonly EntrySnapshot[]): Promise<void> {
    const started = performance.now();
    await this.netlink?.answered();
    if (this.inventoryStale) this.inventory = await this.readInventory(false);
    // A swap may replace counting chains, whose counters start again: what they counted is read first.
    if (this.ruleset?.counts) await this.ruleCounts().catch(() => undefined);
    const ruleset = this.compile();
    let text = swapText(ruleset, this.inventory, { flushLearnt: entries !== undefined && !this.keepUnknownElements });
    let count = 0;
    if (entries !== undefined) {
      const elements = elementCommands(ruleset, entries, Date.now(), this.earlierSets);
      text += commandsText(ruleset.options.table, elements.commands);
      count = elements.count;
    }
    await this.run(operation, () => this.process.run(text));
    this.ruleset = ruleset;
    this.inventory = inventoryOf(ruleset);
    this.inventoryStale = false;
    this.metrics.elements.inc(count);
    this.metrics.swapDuration.labels(operation).observe((performance.now() - started) / 1000);
  }

  /** The ruleset of the current policies and pods; an engine is immutable, so its ruleset is compiled once. */
  private compile(): Ruleset {
    const engine = this.policy.current;
    if (this.compiled?.engine !== engine) this.compiled = { engine, ruleset: compileRuleset(engine, this.options) };
    return this.compiled.ruleset;
  }

  private async run(operation: Operation, transaction: () => Promise<void>): Promise<void> {
    try {
      await transaction();
    } catch (error) {
      this.metrics.errors.labels(operation).inc();
      this.inventoryStale = true;
      this.problem = `nftables ${operation} failed: ${firstLine(error)}; resyncing`;
      this.logger.error(this.problem);
      throw error;
    }
  }

  /** The netlink socket while it works; once it failed, batches go through nft for the rest of the run. */
  private usableNetlink(): NetlinkElements | undefined {
    const reason = this.netlink?.unusableReason;
    if (reason !== undefined) {
      this.netlink = undefined;
      this.logger.error(`nftables: learnt elements through nft from now on: ${reason}`);
    }
    return this.netlink;
  }

  private lostProcess(reason: string): void {
    this.metrics.restarts.inc();
    this.inventoryStale = true;
    this.problem = `nftables: ${reason}; restarting nft and resyncing`;
    this.logger.error(this.problem);
    this.resyncListener?.();
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The objects of the table, by name, from a one-shot `nft -j -t list table` (terse: no
   * elements). At start-up its failures say whether nft is there and may change the ruleset.
   */
  private async readInventory(startUp: boolean): Promise<Inventory> {
    const { error, stdout, stderr } = await this.listTable();
    if (!error) return parseInventory(stdout);
    const said = firstLine(stderr);
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ConfigError(`--dataplane nftables: ${this.nft[0]} not found; install nftables`);
    if (/No such file or directory/.test(said)) return EMPTY_INVENTORY;
    if (/Operation not permitted|Permission denied/.test(said)) {
      throw new ConfigError(`--dataplane nftables: nft may not read or change the ruleset: ${said}; dnsgate needs root or CAP_NET_ADMIN`);
    }
    throw startUp ? new ConfigError(`--dataplane nftables: nft failed: ${said || error.message}`) : new Error(`nft list table failed: ${said || error.message}`);
  }

  /** A one-shot `nft -j -t list table`: every object and rule of the table, without set elements (terse). */
  private listTable(): Promise<{ error: ExecFileException | null; stdout: string; stderr: string }> {
    const [file, prefix] = this.nft;
    return new Promise((resolve) => {
      execFile(file, [...prefix, '-j', '-t', 'list', 'table', 'inet', this.options.table], { maxBuffer: 1 << 30 }, (error, stdout, stderr) => resolve({ error, stdout, stderr }));
    });
  }
}
