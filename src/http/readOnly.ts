import { type HttpApp, HttpServerRequest } from "@effect/platform"
import { Effect } from "effect"
import { isWrite } from "./guard.js"
import { errorJson } from "./respond.js"

/** A command wait is a GET, but it claims a command and records a heartbeat. */
const claims = (method: string, path: string) => method === "GET" && /^\/commands\/[^/]+\/wait$/.test(path)

/**
 * Whether a read-only broker (a replayed export) refuses this request before any route runs. MCP
 * is let through: its reading tools work, and its writing tools fail when the log refuses them.
 */
const refusedWhenReadOnly = (method: string, path: string): boolean =>
  (isWrite(method) && path !== "/mcp" && !path.startsWith("/mcp/")) || claims(method, path)

/** 405 `read_only` for every request that would append to the log. */
export const readOnly = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    refusedWhenReadOnly(request.method, new URL(request.url, "http://broker").pathname)
      ? Effect.succeed(
          errorJson("read_only", `this broker replays an exported log read-only; ${request.method} ${request.url} would change it`, 405)
        )
      : app
  )
