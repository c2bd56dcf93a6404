import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Effect } from "effect"
import { Broker } from "../broker/Broker.js"
import { BrokerConfig } from "../broker/Config.js"
import { exposition } from "../broker/metrics/exposition.js"
import { Metrics } from "../broker/metrics/Metrics.js"
import { prometheusContentType } from "../broker/metrics/prometheus.js"
import { principalOf } from "../input/principal.js"
import { projectOfRequest } from "../input/project.js"
import { EventLog } from "../log/EventLog.js"
import { version } from "../version.js"
import { openApiJson } from "./openApi.js"

/** What operators and tools read about the broker itself: metrics and the API description. */

/**
 * The projects a scrape shows: every one to whoever may look across projects (the admin token,
 * trusted loopback), as `GET /projects` does; to a scoped token only its own (the guard let it in
 * for its own project only), so that a project's viewer token can scrape its project's gauges
 * without learning of other projects. The log's, HTTP's and the process's families are the broker's.
 */
const scrapedProjects = Effect.gen(function* () {
  const broker = yield* Broker
  const request = NodeHttpServerRequest.toIncomingMessage(yield* HttpServerRequest.HttpServerRequest)
  return principalOf(request)?.kind === "scoped" ? [projectOfRequest(request)] : broker.projects()
})

const scrape = Effect.gen(function* () {
  const broker = yield* Broker
  const log = yield* EventLog
  const health = (yield* broker.health).status
  const cpu = process.cpuUsage()
  const memory = process.memoryUsage()
  const text = exposition({
    metrics: yield* Metrics,
    projects: (yield* scrapedProjects).map((name) => ({ name, state: broker.project(name).projection })),
    head: yield* broker.head,
    stats: yield* broker.stats,
    config: yield* BrokerConfig,
    backend: log.backend,
    version,
    // As /healthz's status code: a degraded cluster node (a lagging view) still answers 200.
    healthy: health === "ok" || health === "degraded",
    process: {
      residentBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      startTimeSeconds: performance.timeOrigin / 1000
    }
  })
  return HttpServerResponse.text(text, { contentType: prometheusContentType, headers: { "cache-control": "no-store" } })
})

export const opsRoutes = HttpRouter.empty.pipe(
  HttpRouter.get("/metrics", scrape),
  HttpRouter.get(
    "/openapi.json",
    Effect.sync(() => HttpServerResponse.text(openApiJson(), { contentType: "application/json" }))
  )
)
