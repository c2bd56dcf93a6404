import { type HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { checkRequest, type GuardConfig } from "./guard.js"
import { errorJson } from "./respond.js"

/** Put the guard in front of an app: refused requests never reach a route, let alone the log. */
export const guarded =
  (config: GuardConfig) =>
  <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | HttpServerRequest.HttpServerRequest> =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const { path, search } = splitUrl(request.url)
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

/** The path and query of a request target, as `new URL` would give them, without parsing plain ones. */
const splitUrl = (target: string): { readonly path: string; readonly search: string } => {
  const mark = target.indexOf("?")
  const path = mark === -1 ? target : target.slice(0, mark)
  if (plainPath.test(path)) return { path, search: mark === -1 ? "" : target.slice(mark) }
  const url = new URL(target, "http://broker")
  return { path: url.pathname, search: url.search }
}
