/**
 * Just enough of the Prometheus text exposition format (0.0.4) for the broker: counters and
 * histograms updated synchronously on the hot path (an addition on a series the caller keeps), and
 * families of samples rendered at scrape time. No timers, no allocation per observation.
 */

export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

export type Labels = Readonly<Record<string, string>>

export interface Sample {
  /** Appended to the family name: `_bucket`, `_sum`, `_count` for histograms. */
  readonly suffix?: string
  readonly labels?: Labels
  readonly value: number
}

export interface Family {
  readonly name: string
  readonly help: string
  readonly type: "counter" | "gauge" | "histogram"
  readonly samples: ReadonlyArray<Sample>
}

export class CounterSeries {
  value = 0

  constructor(readonly labels: Labels) {}

  inc(by = 1): void {
    this.value += by
  }
}

/** A gauge kept up to date as things start and end (most gauges are computed at scrape time instead). */
export class GaugeSeries extends CounterSeries {
  dec(by = 1): void {
    this.value -= by
  }
}

/** Series are found by their labels once; callers on the hot path keep the series, not the labels. */
abstract class Vec<S extends { readonly labels: Labels }> {
  private readonly series = new Map<string, S>()

  constructor(
    readonly name: string,
    readonly help: string
  ) {}

  protected abstract make(labels: Labels): S

  with(labels: Labels = {}): S {
    const key = JSON.stringify(labels)
    let series = this.series.get(key)
    if (!series) this.series.set(key, (series = this.make(labels)))
    return series
  }

  protected all(): IterableIterator<S> {
    return this.series.values()
  }
}

/** Counters and gauges: one sample per series. */
abstract class ValueVec<S extends CounterSeries> extends Vec<S> {
  protected abstract readonly type: "counter" | "gauge"

  family(): Family {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      samples: [...this.all()].map((series) => ({ labels: series.labels, value: series.value }))
    }
  }
}

export class Counter extends ValueVec<CounterSeries> {
  protected readonly type = "counter"

  protected make(labels: Labels): CounterSeries {
    return new CounterSeries(labels)
  }
}

export class Gauge extends ValueVec<GaugeSeries> {
  protected readonly type = "gauge"

  protected make(labels: Labels): GaugeSeries {
    return new GaugeSeries(labels)
  }
}

/** One labelled series of a histogram: per-bucket counts (not cumulative until rendered), sum, count. */
export class HistogramSeries {
  readonly buckets: Float64Array
  sum = 0
  count = 0

  constructor(
    private readonly bounds: ReadonlyArray<number>,
    readonly labels: Labels
  ) {
    this.buckets = new Float64Array(bounds.length)
  }

  observe(value: number): void {
    const bounds = this.bounds
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.buckets[i]! += 1
        break
      }
    }
    this.sum += value
    this.count += 1
  }
}

export class Histogram extends Vec<HistogramSeries> {
  constructor(
    name: string,
    help: string,
    /** Upper bounds in ascending order; `+Inf` is implied. */
    readonly bounds: ReadonlyArray<number>
  ) {
    super(name, help)
  }

  protected make(labels: Labels): HistogramSeries {
    return new HistogramSeries(this.bounds, labels)
  }

  family(): Family {
    const samples: Array<Sample> = []
    for (const series of this.all()) {
      let cumulative = 0
      this.bounds.forEach((bound, i) => {
        cumulative += series.buckets[i]!
        samples.push({ suffix: "_bucket", labels: { ...series.labels, le: formatNumber(bound) }, value: cumulative })
      })
      samples.push({ suffix: "_bucket", labels: { ...series.labels, le: "+Inf" }, value: series.count })
      samples.push({ suffix: "_sum", labels: series.labels, value: series.sum })
      samples.push({ suffix: "_count", labels: series.labels, value: series.count })
    }
    return { name: this.name, help: this.help, type: "histogram", samples }
  }
}

const formatNumber = (value: number): string =>
  Number.isNaN(value) ? "NaN" : value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : String(value)

const escapeHelp = (text: string) => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
const escapeLabelValue = (text: string) => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')

const renderLabels = (labels: Labels | undefined): string => {
  if (labels === undefined) return ""
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`)
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`
}

/** The exposition: `# HELP`, `# TYPE`, then one line per sample, each family once. */
export const render = (families: ReadonlyArray<Family>): string => {
  const lines: Array<string> = []
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`)
    for (const sample of family.samples) {
      lines.push(`${family.name}${sample.suffix ?? ""}${renderLabels(sample.labels)} ${formatNumber(sample.value)}`)
    }
  }
  return `${lines.join("\n")}\n`
}
