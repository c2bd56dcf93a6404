import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Context, Effect, FiberRef, LogLevel } from "effect"
import { Metrics, type MetricsService } from "../broker/metrics/Metrics.js"
import { routeMatcher } from "./routeMatcher.js"
import { routes, type RouteSpec } from "./routes.js"

/**
 * Around the platform's routes (transport.ts does the same for the REST routes and refusals): each
 * answered request is timed into a histogram labelled by method, route template and status, and
 * logged at debug level with the same facts; long polls are also counted while they run. Requests
 * whose client went away before the answer are neither timed nor logged.
 */

export const matchRoute = routeMatcher(routes)

/** Requests no route serves (404s): one label, whatever the path. */
const unmatched = "unmatched"

export type Kind = "answer" | "wait" | "stream"
const kindIndex: Record<Kind, number> = { answer: 0, wait: 1, stream: 2 }

/** Long polls are timed apart: a 30 s wait that ends on time is not a slow request. */
export const kindOf = (route: RouteSpec | undefined, url: string): Kind => {
  if (route === undefined) return "answer"
  if (route.streams) return "stream"
  if (route.waits === undefined) return "answer"
  if (route.waits === "always") return "wait"
  const timeout = /[?&]timeout=([^&]*)/.exec(url)?.[1]
  if (timeout === undefined) return route.waits === "by default" ? "wait" : "answer"
  return Number(timeout) > 0 ? "wait" : "answer"
}

export type Recorder = (seconds: number) => void

/**
 * Recorders by route (or, for unmatched requests, by method), then status and kind: made once and
 * kept, so that the hot path does two map lookups and an addition.
 */
export class Recorders {
  private readonly byRoute = new Map<RouteSpec | string, Map<number, Recorder>>()

  constructor(private readonly metrics: MetricsService) {}

  for(route: RouteSpec | undefined, method: string, status: number, kind: Kind): Recorder {
    let byStatus = this.byRoute.get(route ?? method)
    if (byStatus === undefined) this.byRoute.set(route ?? method, (byStatus = new Map()))
    const key = status * 3 + kindIndex[kind]
    let record = byStatus.get(key)
    if (record === undefined) {
      const labels = { method: route?.method ?? method, route: route?.path ?? unmatched, status: String(status) }
      if (kind === "stream") {
        const counter = this.metrics.httpStreams.with(labels)
        record = () => counter.inc()
      } else {
        const histogram = (kind === "wait" ? this.metrics.httpWaitSeconds : this.metrics.httpRequestSeconds).with(labels)
        record = (seconds) => histogram.observe(seconds)
      }
      byStatus.set(key, record)
    }
    return record
  }
}

const recorders = new WeakMap<MetricsService, Recorders>()

export const recordersFor = (metrics: MetricsService): Recorders => {
  let found = recorders.get(metrics)
  if (found === undefined) recorders.set(metrics, (found = new Recorders(metrics)))
  return found
}

/** The route template, not the URL: a dashboard login URL carries the token in its query. */
export const logRequest = (method: string, route: RouteSpec | undefined, status: number, seconds: number) =>
  Effect.logDebug("request").pipe(
    Effect.annotateLogs({ method, route: route?.path ?? unmatched, status, ms: Math.round(seconds * 1e5) / 100 })
  )

/** The gauge of a route's parked long polls. */
export const parkedGauge = (metrics: MetricsService, route: RouteSpec) =>
  metrics.httpWaitsInFlight.with({ method: route.method, route: route.path })

/** Counts a long poll among the parked waits of its route while it runs, a client that goes away included. */
export const countedWhileParked = <A, E, R>(metrics: MetricsService, route: RouteSpec, wait: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const inFlight = parkedGauge(metrics, route)
    inFlight.inc()
    return Effect.ensuring(wait, Effect.sync(() => inFlight.dec()))
  })

export const observed = <E, R>(
  app: HttpApp.Default<E, R>
): HttpApp.Default<E, R | HttpServerRequest.HttpServerRequest | Metrics> =>
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext as Context.Context<HttpServerRequest.HttpServerRequest | Metrics>
    const request = Context.get(context, HttpServerRequest.HttpServerRequest)
    const metrics = Context.get(context, Metrics)
    const forMetrics = recordersFor(metrics)
    const route = matchRoute(request.method, request.url)
    const kind = kindOf(route, request.url)
    const started = performance.now()
    const record = (response: HttpServerResponse.HttpServerResponse) => {
      const seconds = (performance.now() - started) / 1000
      const status = route?.writesRaw ? NodeHttpServerRequest.toServerResponse(request).statusCode : response.status
      forMetrics.for(route, request.method, status, kind)(seconds)
      return { status, seconds }
    }
    const answered = !LogLevel.greaterThanEqual(LogLevel.Debug, fiber.getFiberRef(FiberRef.currentMinimumLogLevel))
      ? Effect.map(app, (response) => {
          record(response)
          return response
        })
      : Effect.tap(app, (response) => {
          const { status, seconds } = record(response)
          return logRequest(request.method, route, status, seconds)
        })
    return kind === "wait" && route !== undefined ? countedWhileParked(metrics, route, answered) : answered
  })
