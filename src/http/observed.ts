import { type HttpApp, HttpServerRequest, type HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Context, Effect, FiberRef, LogLevel } from "effect"
import { Metrics, type MetricsService } from "../broker/metrics/Metrics.js"
import { routeMatcher } from "./routeMatcher.js"
import { routes, type RouteSpec } from "./routes.js"

/**
 * Around the whole app (guard included): each answered request is timed into a histogram labelled
 * by method, route template and status, and logged at debug level with the same facts. Requests
 * whose client went away before the answer are neither timed nor logged.
 */

const matchRoute = routeMatcher(routes)

/** Requests no route serves (404s): one label, whatever the path. */
const unmatched = "unmatched"

type Kind = "answer" | "wait" | "stream"

/** Long polls are timed apart: a 30 s wait that ends on time is not a slow request. */
const kindOf = (route: RouteSpec | undefined, url: string): Kind => {
  if (route === undefined) return "answer"
  if (route.streams) return "stream"
  if (route.waits === undefined) return "answer"
  if (route.waits === "always") return "wait"
  const timeout = /[?&]timeout=([^&]*)/.exec(url)?.[1]
  if (timeout === undefined) return route.waits === "by default" ? "wait" : "answer"
  return Number(timeout) > 0 ? "wait" : "answer"
}

/** Recorders by kind, method, route and status, made once and kept: the hot path then only adds. */
const recorders = new WeakMap<MetricsService, Map<string, (seconds: number) => void>>()

const recorderFor = (metrics: MetricsService, kind: Kind, method: string, route: string, status: number) => {
  let cache = recorders.get(metrics)
  if (cache === undefined) recorders.set(metrics, (cache = new Map()))
  const key = `${kind} ${method} ${route} ${status}`
  let record = cache.get(key)
  if (record === undefined) {
    const labels = { method, route, status: String(status) }
    if (kind === "stream") {
      const counter = metrics.httpStreams.with(labels)
      record = () => counter.inc()
    } else {
      const histogram = (kind === "wait" ? metrics.httpWaitSeconds : metrics.httpRequestSeconds).with(labels)
      record = (seconds) => histogram.observe(seconds)
    }
    cache.set(key, record)
  }
  return record
}

export const observed = <E, R>(
  app: HttpApp.Default<E, R>
): HttpApp.Default<E, R | HttpServerRequest.HttpServerRequest | Metrics> =>
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext as Context.Context<HttpServerRequest.HttpServerRequest | Metrics>
    const request = Context.get(context, HttpServerRequest.HttpServerRequest)
    const metrics = Context.get(context, Metrics)
    const started = performance.now()
    return Effect.tap(app, (response: HttpServerResponse.HttpServerResponse) => {
      const seconds = (performance.now() - started) / 1000
      const route = matchRoute(request.method, request.url)
      const status = route?.writesRaw
        ? NodeHttpServerRequest.toServerResponse(request).statusCode
        : response.status
      const template = route?.path ?? unmatched
      const method = route?.method ?? request.method
      recorderFor(metrics, kindOf(route, request.url), method, template, status)(seconds)
      if (!LogLevel.greaterThanEqual(LogLevel.Debug, fiber.getFiberRef(FiberRef.currentMinimumLogLevel))) {
        return Effect.void
      }
      // The route template, not the URL: a dashboard login URL carries the token in its query.
      return Effect.logDebug("request").pipe(
        Effect.annotateLogs({ method: request.method, route: template, status, ms: Math.round(seconds * 1e5) / 100 })
      )
    })
  })
