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
      const target = splitUrl(request.url)
      if (target === undefined) return Effect.succeed(errorJson("bad_request", "the request target is not a valid URL", 400))
      const { path, search } = target
      const verdict = checkRequest(
        {
          method: request.method,
          path,
          // Only a dashboard login reads it: not parsed for every request.
          get query() {
            return new URLSearchParams(search)
          },
          headers: request.headers
        },
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

/** Paths made of plain segments only: for them the WHATWG parser would change nothing. */
const plainPath = /^(?:\/[A-Za-z0-9_:-][A-Za-z0-9_.:-]*)*\/?$/

/**
 * The path and query of a request target, as `new URL` would give them, without parsing plain ones;
 * undefined for a target that is no URL at all.
 */
const splitUrl = (target: string): { readonly path: string; readonly search: string } | undefined => {
  const mark = target.indexOf("?")
  const path = mark === -1 ? target : target.slice(0, mark)
  if (plainPath.test(path)) return { path, search: mark === -1 ? "" : target.slice(mark) }
  const url = requestUrl(target)
  return url === undefined ? undefined : { path: url.pathname, search: url.search }
}
