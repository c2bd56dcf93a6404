import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Effect } from "effect"
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { extname, join, normalize, sep } from "node:path"
import { fileURLToPath } from "node:url"
import { defaultProject } from "../core/projects.js"
import { projectOfRequest } from "../input/project.js"
import type { Denial } from "./guard.js"
import { errorJson, type Reply } from "./respond.js"

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

/** `/` is the dashboard's door, in each project: `/p/<project>/` opens that project's dashboard. */
const toDashboard = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
  const project = projectOfRequest(NodeHttpServerRequest.toIncomingMessage(request))
  return HttpServerResponse.redirect(project === defaultProject ? "/dashboard" : `/p/${project}/dashboard`, { status: 302 })
})

export const dashboardRoutes = HttpRouter.empty.pipe(
  HttpRouter.get("/", toDashboard),
  HttpRouter.get("/dashboard", serveFile("index.html")),
  HttpRouter.get(
    "/dashboard/*",
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const path = decodeURIComponent(new URL(request.url, "http://broker").pathname).slice("/dashboard/".length)
      return serveFile(path === "" ? "index.html" : path)
    })
  )
)

/**
 * What a browser gets for the dashboard without its token (the guard's `dashboardLogin`), instead
 * of a JSON 401 a person cannot act on: how to log in, where the token is, and a field to paste it
 * into. The form GETs /dashboard?token=…, which the guard turns into the login cookie. Static
 * text, no script, nothing from the request echoed back but the project's prefix (`/p/<project>`,
 * a name the transport has checked: lower-case letters, digits, `_` and `-`), so that the form
 * logs in to the dashboard of the project asked for.
 */
export const dashboardLoginPage = (denial: Denial, prefix = ""): Reply => {
  const heading = denial.dashboardLogin === "wrong" ? "That token is wrong" : "This broker needs a token"
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>claude-ipc-broker: ${heading.toLowerCase()}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 42em; margin: 3em auto; padding: 0 1em; color: #1f2328; background: #fff; }
  code { font: 0.95em ui-monospace, monospace; background: #eff1f3; padding: 0.1em 0.3em; border-radius: 4px; }
  input { font: inherit; padding: 0.3em; width: 22em; max-width: 100%; }
  button { font: inherit; padding: 0.3em 0.9em; }
  @media (prefers-color-scheme: dark) { body { color: #e6edf3; background: #0d1117; } code { background: #262c36; } }
</style>
</head>
<body>
<h1>${heading}</h1>
<p>The dashboard opens with the broker's token once: add <code>?token=&lt;token&gt;</code> to its address,
e.g. <code>/dashboard?token=&lt;token&gt;</code>. The broker then keeps the token in a cookie and drops it
from the address bar.</p>
<form method="get" action="${prefix}/dashboard">
<label>Token <input name="token" type="password" autocomplete="off" required></label>
<button type="submit">Open the dashboard</button>
</form>
<p>Where the token is:</p>
<ul>
<li>the broker was started with <code>--token</code> or <code>BROKER_TOKEN</code>: it is that value;</li>
<li>otherwise the broker made one at start (it does when bound beyond loopback, e.g. <code>--host 0.0.0.0</code>):
its start-up output shows it on the <code>token:</code> line, and the <code>login:</code> line is the whole link.
A generated token is not stored anywhere; restart with <code>--token</code> to keep one.</li>
</ul>
</body>
</html>
`
  return {
    status: denial.status,
    body,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    }
  }
}
