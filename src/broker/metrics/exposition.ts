import { heldCount } from "../../core/machines/channel.js"
import { commandStatuses } from "../../core/machines/command.js"
import { peerStatus, type PeerStatus } from "../../core/machines/peer.js"
import type { ProjectState } from "../../core/projectView.js"
import { commandCounts } from "../../core/views.js"
import type { BrokerConfigShape } from "../Config.js"
import { metricPrefix, type MetricsService } from "./Metrics.js"
import { type Family, render } from "./prometheus.js"

/** Everything one scrape reads; the gauges are computed from it now, not maintained in between. */
export interface ScrapeInput {
  readonly metrics: MetricsService
  /** Every project's state, `default` first: the state gauges carry a `project` label. */
  readonly projects: ReadonlyArray<{ readonly name: string; readonly state: ProjectState }>
  readonly head: number
  readonly stats: { readonly waits: number; readonly subscribers: number }
  readonly config: BrokerConfigShape
  readonly backend: string
  readonly version: string
  /** What /healthz answers: 200 (true) or 503. */
  readonly healthy: boolean
  readonly process: {
    readonly residentBytes: number
    readonly heapUsedBytes: number
    readonly cpuSeconds: number
    readonly startTimeSeconds: number
  }
}

const peerStatuses: ReadonlyArray<PeerStatus> = ["online", "stale", "offline"]

const gauge = (name: string, help: string, samples: Family["samples"]): Family => ({ name, help, type: "gauge", samples })

/** The text `GET /metrics` answers. */
export const exposition = (input: ScrapeInput): string => {
  const { metrics, projects, stats, config } = input
  const perProject = projects.map(({ name: project, state }) => {
    const peers = Object.fromEntries(peerStatuses.map((status) => [status, 0])) as Record<PeerStatus, number>
    for (const peer of state.peers.values()) peers[peerStatus(peer)] += 1
    const messages = { held: 0, trimmed: 0 }
    for (const { context } of state.channels.values()) {
      messages.held += heldCount(context)
      messages.trimmed += context.trimmed
    }
    return { project, peers, commands: commandCounts(state), channels: state.channels.size, messages }
  })
  // The projection's seq is the whole log's: every project's view shares it.
  const seq = projects[0]?.state.seq ?? 0
  const name = (suffix: string) => `${metricPrefix}_${suffix}`

  const families: Array<Family> = [
    gauge(name("info"), "The broker's version and log backend.", [
      { labels: { version: input.version, backend: input.backend }, value: 1 }
    ]),
    metrics.eventsAppended.family(),
    gauge(name("log_head"), "Seq of the last durable event in the log.", [{ value: input.head }]),
    gauge(name("projection_seq"), "Seq of the last event applied to this broker's state.", [{ value: seq }]),
    gauge(name("healthy"), "1 when /healthz answers 200; 0 while the state is behind the log or has stopped following it.", [
      { value: input.healthy ? 1 : 0 }
    ]),
    metrics.projectionFaults.family(),
    gauge(
      name("peers"),
      "Peers by project and status.",
      perProject.flatMap(({ project, peers }) => peerStatuses.map((status) => ({ labels: { project, status }, value: peers[status] })))
    ),
    gauge(
      name("commands"),
      "Commands by project and status (settled ones stay until the project's reset).",
      perProject.flatMap(({ project, commands }) =>
        commandStatuses.map((status) => ({ labels: { project, status }, value: commands[status] }))
      )
    ),
    gauge(
      name("channels"),
      "Channels with at least one message, by project.",
      perProject.map(({ project, channels }) => ({ labels: { project }, value: channels }))
    ),
    gauge(
      name("channel_messages"),
      "Channel messages held by the state, and dropped from it by retention (they stay in the log), by project.",
      perProject.flatMap(({ project, messages }) =>
        (["held", "trimmed"] as const).map((state) => ({ labels: { project, state }, value: messages[state] }))
      )
    ),
    gauge(name("waiters"), "Parked long polls (REST and MCP) with a timeout above 0.", [{ value: stats.waits }]),
    gauge(name("waiters_max"), "Parked long polls allowed (maxWaits); more get 429.", [{ value: config.maxWaits }]),
    gauge(name("sse_clients"), "Open GET /events streams.", [{ value: stats.subscribers }]),
    gauge(name("sse_clients_max"), "Open /events streams allowed (maxSubscribers); more get 429.", [
      { value: config.maxSubscribers }
    ]),
    metrics.httpRequestSeconds.family(),
    metrics.httpWaitSeconds.family(),
    metrics.httpStreams.family(),
    metrics.httpWaitsInFlight.family(),
    // Only the file log syncs; the memory log has nothing to sync and JetStream syncs on its servers.
    ...(input.backend === "file" ? [metrics.fsyncSeconds.family()] : []),
    {
      name: "process_cpu_seconds_total",
      help: "User and system CPU time spent, in seconds.",
      type: "counter",
      samples: [{ value: input.process.cpuSeconds }]
    },
    gauge("process_resident_memory_bytes", "Resident memory size in bytes.", [{ value: input.process.residentBytes }]),
    gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.", [
      { value: input.process.startTimeSeconds }
    ]),
    gauge("nodejs_heap_used_bytes", "V8 heap in use, in bytes.", [{ value: input.process.heapUsedBytes }])
  ]
  return render(families)
}
