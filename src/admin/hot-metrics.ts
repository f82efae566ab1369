/**
 * Counters and histograms for the per-query path. prom-client hashes the label set on
 * every observation, which costs more than the rest of forwarding a query; here each
 * series is a slot in a typed array bound once, and the registry reads the slots at
 * scrape time through prom-client's metric interface.
 */
import type { Registry } from './prom.js';

type Labels = Record<string, string>;

interface Series {
  labels: Labels;
}

abstract class HotMetric<S extends Series> {
  protected readonly series: S[] = [];
  private readonly byKey = new Map<string, S>();
  readonly aggregator = 'sum' as const;

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
  ) {
    registry.registerMetric(this as never);
  }

  /** The series for `labels`, created on first use; keep it and update it directly. */
  bind(labels: Labels): S {
    const key = JSON.stringify(labels);
    let series = this.byKey.get(key);
    if (series === undefined) {
      series = this.create(labels);
      this.byKey.set(key, series);
      this.series.push(series);
    }
    return series;
  }

  protected abstract create(labels: Labels): S;

  reset(): void {
    for (const series of this.series) this.clear(series);
  }

  protected abstract clear(series: S): void;
}

export interface CounterSeries extends Series {
  value: number;
}

export class HotCounter extends HotMetric<CounterSeries> {
  readonly type = 'counter' as const;

  protected create(labels: Labels): CounterSeries {
    return { labels, value: 0 };
  }

  protected clear(series: CounterSeries): void {
    series.value = 0;
  }

  async get(): Promise<unknown> {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.series.filter((s) => s.value > 0).map((s) => ({ labels: s.labels, value: s.value })),
    };
  }
}

export class HistogramSeries implements Series {
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;

  constructor(
    readonly labels: Labels,
    private readonly bounds: Float64Array,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
  }
}

export class HotHistogram extends HotMetric<HistogramSeries> {
  readonly type = 'histogram' as const;
  private readonly bounds: Float64Array;

  constructor(registry: Registry, name: string, help: string, buckets: readonly number[]) {
    super(registry, name, help);
    this.bounds = Float64Array.from(buckets);
  }

  protected create(labels: Labels): HistogramSeries {
    return new HistogramSeries(labels, this.bounds);
  }

  protected clear(series: HistogramSeries): void {
    series.counts.fill(0);
    series.sum = 0;
  }

  async get(): Promise<unknown> {
    const values: { labels: Labels; value: number; metricName: string }[] = [];
    for (const series of this.series) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += series.counts[i];
        values.push({ labels: { ...series.labels, le: String(bound) }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      cumulative += series.counts[this.bounds.length];
      values.push({ labels: { ...series.labels, le: '+Inf' }, value: cumulative, metricName: `${this.name}_bucket` });
      values.push({ labels: series.labels, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: series.labels, value: cumulative, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
