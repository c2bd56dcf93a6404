import * as HttpRouter from "@effect/platform/HttpRouter"
import { Effect } from "effect"
import { errorJson } from "./respond.js"
import { eventStream, ndjsonExport } from "./Sse.js"
import { dashboardRoutes } from "./Static.js"
import { opsRoutes } from "./opsRoutes.js"
import { mcpRoutes } from "../mcp/Http.js"

/**
 * The routes served through the platform's router: streams, MCP, metrics and the dashboard. The
 * REST API runs on the transport's lean path (rest/handlers.ts); transport.ts decides which is which.
 */
export const router = HttpRouter.empty.pipe(
  HttpRouter.get("/events", eventStream),
  HttpRouter.get("/log", ndjsonExport),
  HttpRouter.concat(opsRoutes),
  HttpRouter.concat(mcpRoutes),
  HttpRouter.concat(dashboardRoutes)
)

/** The platform's app: unknown routes are JSON 404s, and a bug is a JSON 500, never a dropped socket. */
export const httpApp = router.pipe(
  Effect.catchTag("RouteNotFound", (error) => Effect.succeed(errorJson("not_found", `no route for ${error.request.method} ${error.request.url}`, 404))),
  Effect.catchAllDefect((defect) =>
    Effect.as(
      Effect.logError("request failed", defect),
      errorJson("internal", "the broker hit an internal error; see its log", 500)
    )
  )
)
