/**
 * The DNS log: answers are aggregated per window, and every `--log-flush-interval`
 * (up to 10 % later, as Felix's jittered ticker, so that the nodes of a cluster do not
 * all write at once) the window is rendered and handed to the sinks, and the next one
 * starts. `close()` flushes the window in progress and waits for the sinks.
 */
import type { Logger } from '../util/logger.js';
import type { LogMetrics } from '../admin/metrics.js';
import type { Config } from '../config/options.js';
import type { RecordTable } from '../dns/records.js';
import type { IdentityStore } from '../identity/store.js';
import type { Query } from '../query.js';
import type { UpstreamServer } from '../upstream/server.js';
import type { AnswerLog } from './answer-log.js';
import { Aggregator } from './aggregator.js';
import { WallClock, formatTime } from './clock.js';
import { RotatingFile } from './file-sink.js';
import type { AggregationKind } from './identity-fields.js';
import { LineQueue } from './line-queue.js';
import { renderWindow } from './render.js';
import { StreamTarget } from './stream-sink.js';

/** Felix's flush ticker waits between the interval and 10 % more. */
const JITTER = 0.1;
/** Longest wait at shutdown for the sinks to take the last window. */
const CLOSE_TIMEOUT_MS = 5000;
const MIB = 1024 * 1024;

export interface DnsLogOptions {
  kind: AggregationKind;
  perNodeLimit: number;
  includeLabels: boolean;
  flushIntervalMs: number;
  /** The `host` field. */
  host: string;
}

export class DnsLog implements AnswerLog {
  private readonly aggregator: Aggregator;
  private readonly clock = new WallClock();
  private windowStart: bigint;
  private timer: NodeJS.Timeout | undefined;
  /** The last flush; each waits for the one before, so windows reach the sinks in order. */
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: DnsLogOptions,
    private readonly identity: IdentityStore,
    private readonly sinks: readonly LineQueue[],
    private readonly logger: Logger,
  ) {
    this.aggregator = new Aggregator(options.kind, options.perNodeLimit);
    this.windowStart = this.clock.now();
    this.schedule();
  }

  record(query: Query, answer: Buffer, records: RecordTable | undefined, upstream: UpstreamServer | undefined, answeredAt: number): void {
    this.aggregator.add(query, answer, records, upstream, answeredAt);
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    await this.flush();
    await Promise.all(this.sinks.map((sink) => sink.close(CLOSE_TIMEOUT_MS)));
  }

  /** Ends the window now and hands its records to the sinks once rendered. */
  private flush(): Promise<void> {
    const end = this.clock.now();
    const window = this.aggregator.take();
    const context = {
      kind: this.options.kind,
      includeLabels: this.options.includeLabels,
      host: this.options.host,
      identities: this.identity.current,
      startTime: formatTime(this.windowStart),
      endTime: formatTime(end),
    };
    this.windowStart = end;
    this.flushing = this.flushing.then(async () => {
      try {
        const lines = await renderWindow(window, context);
        if (lines.chunks.length > 0) for (const sink of this.sinks) sink.push(lines);
      } catch (error) {
        // One window lost, said so; the next ones still go out.
        this.logger.error(`DNS log: the window ending ${context.endTime} was lost: ${(error as Error).message}`);
      }
    });
    return this.flushing;
  }

  private schedule(): void {
    const delay = flushDelay(this.options.flushIntervalMs, Math.random());
    this.timer = setTimeout(() => {
      void this.flush();
      this.schedule();
    }, delay);
    // Stopping the process is App.stop's call, and it flushes through close().
    this.timer.unref();
  }
}

/** The wait before a flush, in [interval, 1.1 × interval) for `random` in [0, 1). */
export function flushDelay(intervalMs: number, random: number): number {
  return intervalMs * (1 + JITTER * random);
}

/** The settings of the DNS log. */
export type DnsLogConfig = Pick<Config, 'logDir' | 'logStdout' | 'logMaxFileSizeMb' | 'logMaxFiles' | 'logAggregation' | 'logPerNodeLimit' | 'logIncludeLabels' | 'logFlushInterval' | 'nodeName'>;

/** The DNS log `config` asks for, or undefined when it names no sink. */
export function createDnsLog(config: DnsLogConfig, identity: IdentityStore, metrics: LogMetrics, logger: Logger): DnsLog | undefined {
  const sinks: LineQueue[] = [];
  if (config.logDir !== undefined) {
    sinks.push(new LineQueue('file', new RotatingFile(config.logDir, config.logMaxFileSizeMb * MIB, config.logMaxFiles), metrics, logger));
  }
  if (config.logStdout) sinks.push(new LineQueue('stdout', new StreamTarget(process.stdout), metrics, logger));
  if (sinks.length === 0) return undefined;
  const options: DnsLogOptions = {
    kind: config.logAggregation as AggregationKind,
    perNodeLimit: config.logPerNodeLimit,
    includeLabels: config.logIncludeLabels,
    flushIntervalMs: config.logFlushInterval,
    host: config.nodeName,
  };
  return new DnsLog(options, identity, sinks, logger);
}
