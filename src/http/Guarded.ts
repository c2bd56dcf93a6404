import { type HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { checkRequest, type GuardConfig } from "./guard.js"
import { errorJson } from "./respond.js"

/**
 * The request target as a URL. A target like `//host/x` is a path, not a scheme-relative URL (which
 * would throw on a host like `%F4`), so a path gets the origin prefixed rather than resolved.
 */
const requestUrl = (target: string): URL | undefined => {
  try {
    return new URL(target.startsWith("/") ? `http://broker${target}` : target, "http://broker")
  } catch {
    return undefined
  }
}

/** Put the guard in front of an app: refused requests never reach a route, let alone the log. */
export const guarded =
  (config: GuardConfig) =>
  <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | HttpServerRequest.HttpServerRequest> =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const url = requestUrl(request.url)
      if (url === undefined) return Effect.succeed(errorJson("bad_request", "the request target is not a valid URL", 400))
      const verdict = checkRequest(
        { method: request.method, path: url.pathname, query: url.searchParams, headers: request.headers },
        config
      )
      if (!verdict.ok) {
        return Effect.succeed(errorJson(verdict.code, verdict.message, verdict.status))
      }
      if ("login" in verdict) {
        return Effect.succeed(
          HttpServerResponse.redirect(verdict.login.location, {
            status: 303,
            headers: { "set-cookie": verdict.login.cookie, "cache-control": "no-store" }
          })
        )
      }
      return app
    })
