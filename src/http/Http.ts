import * as HttpRouter from "@effect/platform/HttpRouter"
import { Effect } from "effect"
import { errorJson } from "./respond.js"
import { eventStream, ndjsonExport } from "./Sse.js"
import { dashboardRoutes } from "./Static.js"
import { opsRoutes } from "./opsRoutes.js"

/**
 * The routes of this transport served through the platform's router: streams, metrics and the
 * dashboard. The REST API runs on the transport's lean path (rest/handlers.ts); transport.ts decides
 * which is which. Other transports on the same port (MCP) are added by src/server.ts, so that this
 * folder knows none of them.
 */
export const router = HttpRouter.empty.pipe(
  HttpRouter.get("/events", eventStream),
  HttpRouter.get("/log", ndjsonExport),
  HttpRouter.concat(opsRoutes),
  HttpRouter.concat(dashboardRoutes)
)

/** A request target in a message: enough to recognise it, never a whole 16 KB one. */
const shownTarget = (url: string) => (url.length > 100 ? `${url.slice(0, 100)}…` : url)

/** The platform's app: unknown routes are JSON 404s, and a bug is a JSON 500, never a dropped socket. */
export const platformApp = <R>(routes: HttpRouter.HttpRouter<never, R>) =>
  routes.pipe(
    Effect.catchTag("RouteNotFound", (error) =>
      Effect.succeed(errorJson("not_found", `no route for ${error.request.method} ${shownTarget(error.request.url)}`, 404))
    ),
    Effect.catchAllDefect((defect) =>
      Effect.as(
        Effect.logError("request failed", defect),
        errorJson("internal", "the broker hit an internal error; see its log", 500)
      )
    )
  )
