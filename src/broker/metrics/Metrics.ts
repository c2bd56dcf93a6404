import { Context, Layer } from "effect"
import { eventTypes } from "../../core/events.js"
import { Counter, type CounterSeries, Gauge, Histogram } from "./prometheus.js"

/**
 * What the broker counts as it runs, for `GET /metrics`. Only what cannot be read off the broker at
 * scrape time lives here (appends, fsync and request durations); gauges such as peers by status are
 * computed from the projection when scraped, so they cost nothing in between.
 */
export interface MetricsService {
  /** Events appended to the log since this process started (replayed ones are not counted). */
  readonly eventsAppended: Counter
  /** Counts one appended event; called for every event the broker applies from the live log. */
  readonly eventAppended: (type: string) => void
  /** The file log's fdatasync of one group-committed batch. */
  readonly fsyncSeconds: Histogram
  /** Requests that answer (not long polls, not streams), by method, route template and status. */
  readonly httpRequestSeconds: Histogram
  /** Long polls (a wait with a timeout) and MCP calls, which may block for up to `maxWaitMs`. */
  readonly httpWaitSeconds: Histogram
  /** Streams (`/events`, `/log`, MCP streams) opened or refused: their duration says nothing. */
  readonly httpStreams: Counter
  /** Long polls and MCP calls in progress, by route: which kind of wait is parked. */
  readonly httpWaitsInFlight: Gauge
  /** Times the state could not simply follow the log, by kind (see ProjectionFault). */
  readonly projectionFaults: Counter
  readonly projectionFault: (kind: ProjectionFault) => void
}

/**
 * `gap`: the live feed skipped events, which were re-read from the log; `repair_failed`: they could
 * not be; `apply_failed`: an event could not be applied to the state. The last two stop the broker.
 */
export type ProjectionFault = "gap" | "repair_failed" | "apply_failed"
const projectionFaultKinds: ReadonlyArray<ProjectionFault> = ["gap", "repair_failed", "apply_failed"]

export class Metrics extends Context.Tag("claude-ipc-broker/Metrics")<Metrics, MetricsService>() {
  static layer = Layer.sync(Metrics, () => makeMetrics())
}

export const metricPrefix = "claude_ipc_broker"

export const makeMetrics = (): MetricsService => {
  const eventsAppended = new Counter(
    `${metricPrefix}_events_appended_total`,
    "Events appended to the log since this broker started, by type (on a shared log, every node's)."
  )
  const byType = new Map<string, CounterSeries>()
  // Every known type from the start, so that rate() has a series before the first event of a type.
  for (const type of eventTypes) byType.set(type, eventsAppended.with({ type }))
  const projectionFaults = new Counter(
    `${metricPrefix}_projection_faults_total`,
    "Times this broker's state could not simply follow the log: gap (re-read from the log), repair_failed, apply_failed."
  )
  // Every kind from the start, so that an alert on increase() sees the first one.
  for (const kind of projectionFaultKinds) projectionFaults.with({ kind })
  return {
    projectionFaults,
    projectionFault: (kind) => projectionFaults.with({ kind }).inc(),
    eventsAppended,
    eventAppended: (type) => {
      let series = byType.get(type)
      if (series === undefined) byType.set(type, (series = eventsAppended.with({ type })))
      series.inc()
    },
    fsyncSeconds: new Histogram(
      `${metricPrefix}_fsync_duration_seconds`,
      "fdatasync of one group-committed batch of the file log.",
      [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]
    ),
    httpRequestSeconds: new Histogram(
      `${metricPrefix}_http_request_duration_seconds`,
      "From the request's headers to the answer, for requests that neither wait nor stream.",
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
    ),
    httpWaitSeconds: new Histogram(
      `${metricPrefix}_http_wait_duration_seconds`,
      "From the request's headers to the answer, for long polls with a timeout and MCP calls.",
      [0.005, 0.05, 0.25, 1, 5, 15, 30, 60, 120, 300]
    ),
    httpStreams: new Counter(
      `${metricPrefix}_http_streams_total`,
      "Streams opened or refused (/events, /log, MCP streams), by route and status."
    ),
    httpWaitsInFlight: new Gauge(
      `${metricPrefix}_http_waits_in_flight`,
      "Long polls with a timeout and MCP calls being answered now, by route."
    )
  }
}
