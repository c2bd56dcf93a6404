import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { extname, join, normalize, sep } from "node:path"
import { fileURLToPath } from "node:url"
import { errorJson } from "./respond.js"

/** The dashboard's built files (web/dist) when they exist, else the source folder (the placeholder). */
const webRoot = (() => {
  const web = fileURLToPath(new URL("../../web/", import.meta.url))
  const built = join(web, "dist")
  return existsSync(join(built, "index.html")) ? built : web
})()

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2"
}

const notFound = errorJson("not_found", "no such file", 404)

const serveFile = (relative: string) =>
  Effect.gen(function* () {
    const path = normalize(join(webRoot, relative))
    if (!path.startsWith(webRoot.endsWith(sep) ? webRoot : webRoot + sep)) return notFound
    const content = yield* Effect.tryPromise(() => readFile(path)).pipe(Effect.option)
    if (content._tag === "None") return notFound
    return HttpServerResponse.uint8Array(content.value, {
      contentType: contentTypes[extname(path)] ?? "application/octet-stream",
      headers: { "cache-control": relative === "index.html" ? "no-cache" : "public, max-age=3600" }
    })
  })

export const dashboardRoutes = HttpRouter.empty.pipe(
  HttpRouter.get("/", Effect.succeed(HttpServerResponse.redirect("/dashboard", { status: 302 }))),
  HttpRouter.get("/dashboard", serveFile("index.html")),
  HttpRouter.get(
    "/dashboard/*",
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const path = decodeURIComponent(new URL(request.url, "http://broker").pathname).slice("/dashboard/".length)
      return serveFile(path === "" ? "index.html" : path)
    })
  )
)
