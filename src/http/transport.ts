import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, FiberRef, FiberRefs, LogLevel, Runtime } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import { Broker } from "../broker/Broker.js"
import { BrokerConfig } from "../broker/Config.js"
import { Metrics } from "../broker/metrics/Metrics.js"
import { EventLog, type EventLogService } from "../log/EventLog.js"
import { checkRequest, type GuardConfig } from "./guard.js"
import { countedWhileParked, kindOf, type Kind, logRequest, matchRoute, observed, parkedGauge, recordersFor } from "./observed.js"
import { refusedWhenReadOnly } from "./readOnly.js"
import { splitUrl } from "./requestTarget.js"
import { templateSegments } from "./routeMatcher.js"
import { dashboardLoginPage } from "./Static.js"
import { brokerErrorReply, errorReply, type Reply } from "./respond.js"
import { directHandlers } from "./rest/direct.js"
import { restHandlers } from "./rest/handlers.js"
import type { DirectHandler } from "./rest/direct.js"
import type { RestRequest } from "./rest/request.js"
import type { RouteSpec } from "./routes.js"
import { attachPrincipal } from "../input/principal.js"
import { attachProject, projectTarget } from "../input/project.js"
import { preview } from "../input/problems.js"

export interface TransportOptions {
  readonly guard: GuardConfig
  /** Refuse whatever would append to the log (a replayed export). */
  readonly readOnly: boolean
}

const internalError = errorReply("internal", "the broker hit an internal error; see its log", 500)

/** The `:params` of a matched route, URI-decoded (a segment that does not decode is kept as sent). */
const paramsOf = (template: string, path: string): Record<string, string> => {
  const params: Record<string, string> = {}
  if (!template.includes(":")) return params
  const names = templateSegments(template)
  const values = path.split("/")
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!
    if (!name.startsWith(":")) continue
    const value = values[i]!
    try {
      params[name.slice(1)] = value.includes("%") ? decodeURIComponent(value) : value
    } catch {
      params[name.slice(1)] = value
    }
  }
  return params
}

/** "POST /channels/:name/send", as the handler maps are keyed: made once per route. */
const routeKeys = new WeakMap<RouteSpec, string>()
const routeKey = (route: RouteSpec): string => {
  let key = routeKeys.get(route)
  if (key === undefined) routeKeys.set(route, (key = `${route.method} ${route.path}`))
  return key
}

const noHeaders: ReadonlyArray<string> = []

/**
 * `X-Log-Head` / `X-Log-Behind` on a log shared by several nodes (JetStream): the last seq this node
 * had applied when it answered, and how many stored events it had not applied yet, so that a client
 * can tell a node that is behind from one that is up to date. None on a single process's log.
 */
const positionHeaders = (position: EventLogService["position"]): (() => ReadonlyArray<string>) => {
  if (position === undefined) return () => noHeaders
  return () => {
    const { head, behind } = position()
    return ["x-log-head", String(head), "x-log-behind", String(behind)]
  }
}

const write = (res: ServerResponse, answer: Reply, extra: ReadonlyArray<string>): void => {
  const length = Buffer.byteLength(answer.body)
  if (length === 0) res.writeHead(answer.status, extra.length === 0 ? answer.headers : { ...answer.headers, ...pairs(extra) })
  else if (answer.headers === undefined) {
    // A flat array: Node takes it without walking an object, for the commonest answer there is.
    const head = ["content-type", "application/json", "content-length", String(length)]
    res.writeHead(answer.status, extra.length === 0 ? head : head.concat(extra))
  } else {
    const position = extra.length === 0 ? undefined : pairs(extra)
    res.writeHead(answer.status, { "content-type": "application/json", "content-length": length, ...answer.headers, ...position })
  }
  res.end(answer.body)
}

const pairs = (flat: ReadonlyArray<string>): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) headers[flat[i]!] = flat[i + 1]!
  return headers
}

/**
 * Where every HTTP request enters. The guard and the read-only check come first, for every route;
 * then a hot REST route (direct.ts: sends, command waits, acks, result waits) runs synchronously,
 * with callbacks and no fiber; another REST route runs on a lean path (one fiber per request);
 * both write their answer straight to the socket. Everything else (event streams, MCP, the
 * dashboard, metrics, 404s) goes to the platform's router. Both paths exist for speed: the
 * platform's per-request machinery (its request and response objects, a scope, the router's
 * context) cost more than everything a channel send does itself, and so did a fiber per send
 * (docs/benchmarks.md).
 */
export const requestListener = <E, R>(platformApp: HttpApp.Default<E, R>, options: TransportOptions) =>
  Effect.gen(function* () {
    const broker = yield* Broker
    const config = yield* BrokerConfig
    /** Each project's REST handlers, made once it is first asked for, bound to that project's broker. */
    const projectRoutes = new Map<string, { readonly handlers: ReturnType<typeof restHandlers>; readonly directs: ReturnType<typeof directHandlers> }>()
    const routesOf = (project: string) => {
      let routes = projectRoutes.get(project)
      if (routes === undefined) {
        const projectBroker = broker.project(project)
        routes = { handlers: restHandlers(projectBroker, config, options.readOnly), directs: directHandlers(projectBroker, config) }
        projectRoutes.set(project, routes)
      }
      return routes
    }
    const guard = { ...options.guard, tokenFor: broker.tokenFor }
    const logPosition = positionHeaders((yield* EventLog).position)
    const metrics = yield* Metrics
    const recorders = recordersFor(metrics)
    const platform = yield* NodeHttpServer.makeHandler(observed(platformApp))
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const debug = LogLevel.greaterThanEqual(
      LogLevel.Debug,
      FiberRefs.getOrDefault(runtime.fiberRefs, FiberRef.currentMinimumLogLevel)
    )

    /** Answer, unless the client has gone, and time and log the request like the platform's routes. */
    const finish = (
      res: ServerResponse,
      route: RouteSpec | undefined,
      method: string,
      kind: Kind,
      started: number,
      answer: Reply
    ): void => {
      if (res.destroyed) return
      write(res, answer, logPosition())
      const seconds = (performance.now() - started) / 1000
      recorders.for(route, method, answer.status, kind)(seconds)
      if (debug) runFork(logRequest(method, route, answer.status, seconds))
    }

    /** A hot route: its handler answers through a callback, once; a client that goes away stops it. */
    const runDirect = (
      handler: DirectHandler,
      request: RestRequest,
      res: ServerResponse,
      route: RouteSpec,
      method: string,
      kind: Kind,
      started: number
    ): void => {
      const parked = kind === "wait" ? parkedGauge(metrics, route) : undefined
      parked?.inc()
      let answered = false
      const answer = (reply: Reply) => {
        if (answered) return
        answered = true
        parked?.dec()
        finish(res, route, method, kind, started, reply)
      }
      let stop: (() => void) | void
      try {
        stop = handler(request, answer)
      } catch (defect) {
        runFork(Effect.logError("request failed", defect))
        return answer(internalError)
      }
      if (answered || stop === undefined) return
      const cancel = stop
      res.once("close", () => {
        if (answered) return
        answered = true
        parked?.dec()
        cancel()
      })
    }

    return (req: IncomingMessage, res: ServerResponse): void => {
      const started = performance.now()
      const method = req.method ?? "GET"
      const url = req.url ?? "/"
      const target = splitUrl(url)
      if (target === undefined) {
        return finish(res, undefined, method, "answer", started, errorReply("bad_request", "the request target is not a valid URL", 400))
      }
      // `/p/<project>/…` is the route `…` of that project; every other path is project default's.
      const scope = projectTarget(target.path)
      if (!scope.ok) return finish(res, undefined, method, "answer", started, errorReply("bad_project", scope.message, 400))
      const { path, project } = scope
      const route = matchRoute(method, path)
      const kind = kindOf(route, url)
      const verdict = checkRequest(
        {
          method,
          path,
          project,
          prefix: scope.prefix,
          search: target.search,
          headers: req.headers
        },
        guard
      )
      if (!verdict.ok) {
        const refusal = verdict.dashboardLogin ? dashboardLoginPage(verdict, scope.prefix) : errorReply(verdict.code, verdict.message, verdict.status)
        return finish(res, route, method, kind, started, refusal)
      }
      if ("login" in verdict) {
        const { location, cookie } = verdict.login
        const redirect = { status: 303, body: "", headers: { location, "set-cookie": cookie, "cache-control": "no-store" } }
        return finish(res, route, method, kind, started, redirect)
      }
      if (options.readOnly && refusedWhenReadOnly(method, path)) {
        const message = `this broker replays an exported log read-only; ${method} ${preview(target.path)} would change it`
        return finish(res, route, method, kind, started, errorReply("read_only", message, 405))
      }
      const key = route && routeKey(route)
      const { directs, handlers } = routesOf(project)
      const direct = key && directs.get(key)
      const handler = key && handlers.get(key)
      if (!direct && !handler) {
        // The platform's routes (MCP sessions) read the principal off the request; REST handlers get it passed.
        if (verdict.principal !== undefined) attachPrincipal(req, verdict.principal)
        // And the project: they route the path without its prefix, and serve the project the prefix named.
        if (scope.prefix !== "") {
          attachProject(req, project)
          req.url = path + target.search
        }
        // Streams, metrics, the dashboard: the position as the request began.
        const position = logPosition()
        for (let i = 0; i + 1 < position.length; i += 2) res.setHeader(position[i]!, position[i + 1]!)
        return platform(req, res)
      }

      const request: RestRequest = {
        params: paramsOf(route!.path, path),
        search: target.search.slice(1),
        source: req,
        principal: verdict.principal
      }
      if (direct) return runDirect(direct, request, res, route!, method, kind, started)
      if (!handler) return
      const answered = handler(request).pipe(
        Effect.catchAll((error) => Effect.succeed(brokerErrorReply(error))),
        Effect.catchAllDefect((defect) => Effect.as(Effect.logError("request failed", defect), internalError)),
        Effect.map((answer) => finish(res, route, method, kind, started, answer))
      )
      const fiber = runFork(kind === "wait" ? countedWhileParked(metrics, route!, answered) : answered)
      if (fiber.unsafePoll() === null) {
        // A client that goes away ends its request: a parked wait stops waiting (and claims nothing).
        res.once("close", () => {
          if (!res.writableEnded) fiber.unsafeInterruptAsFork(HttpServerError.clientAbortFiberId)
        })
      }
    }
  })
