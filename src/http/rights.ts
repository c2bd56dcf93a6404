import type { Access } from "../core/principal.js"
import { routeMatcher } from "./routeMatcher.js"
import { routes, type RouteSpec } from "./routes.js"

/**
 * What each route of the table does, for the rights table (src/core/principal.ts): derived from the
 * method, with the exceptions named here, so that a route added to routes.ts is covered without
 * anyone remembering to list it (test/http/tokens-matrix.test.ts walks the table).
 */
export const accessOfRoute = (route: RouteSpec): Access => {
  if (route.path === "/healthz") return "open"
  if (route.path === "/whoami") return "self"
  if (route.path === "/projects") return "broker"
  if (route.tag === "tokens") return "tokens"
  // A person's decisions over the project's agents: a reset, a redelivery (else two agents could
  // keep redelivering what crashes each other, with no one deciding), and the approval gate.
  if (route.path === "/reset" || personOnly.has(route.path)) return "admin"
  // MCP is JSON-RPC over POST: each tool is checked against the session's principal (src/mcp/tools/rights.ts).
  if (route.tag === "mcp") return "read"
  // A command wait is a GET, but it claims a command and records a heartbeat.
  if (route.path === "/commands/:peerId/wait") return "write"
  return route.method === "GET" ? "read" : "write"
}

const personOnly = new Set(["/commands/:commandId/redeliver", "/commands/:commandId/approve", "/commands/:commandId/reject"])

const match = routeMatcher(routes)
const order: ReadonlyArray<Access> = ["open", "self", "read", "write", "admin", "broker", "tokens"]

/** A path as a router that decodes percent-escapes may see it; the path as sent when it does not decode. */
const decoded = (path: string): string => {
  if (!path.includes("%")) return path
  try {
    return decodeURIComponent(path)
  } catch {
    return path
  }
}

/**
 * The dashboard's own files (`/`, `/dashboard`, `/dashboard/…`): the same static page and bundle for
 * everyone, holding no data, so any caller the guard let in may load them, in any project. A scoped
 * token opening another project's dashboard (or `/dashboard`, project default's) gets the page, which
 * asks `/whoami` and goes to the token's own project; its data requests are what the rights decide.
 * Plain paths only: a `..` or an escape is not a file of the dashboard but whatever it resolves to.
 */
const isDashboardFile = (method: string, path: string): boolean =>
  (method === "GET" || method === "HEAD") &&
  (path === "/" || path === "/dashboard" || path.startsWith("/dashboard/")) &&
  !path.includes("..") &&
  !path.includes("%")

/** A request for no route: a read if it is a GET (the answer is a 404), else a write. */
const accessOf = (method: string, path: string): Access => {
  if (isDashboardFile(method, path)) return "self"
  const route = match(method, path)
  if (route !== undefined) return accessOfRoute(route)
  return method === "GET" || method === "HEAD" ? "read" : "write"
}

/**
 * What a request does, taken on the path as sent and as decoded, the stricter of the two: a router
 * that decodes `/%74okens` into `/tokens` must not serve a request the check took for an unknown
 * path. Unknown writes count as writes, so a viewer's are refused whatever route they might reach.
 */
export const requestAccess = (method: string, path: string): Access => {
  const raw = accessOf(method, path)
  const plain = decoded(path)
  if (plain === path) return raw
  const other = accessOf(method, plain)
  return order.indexOf(other) > order.indexOf(raw) ? other : raw
}

/** Whether a path may reach a tokens route, as sent or decoded: the one thing trusted loopback may not do. */
export const mayBeTokensPath = (path: string): boolean => path.startsWith("/tokens") || decoded(path).startsWith("/tokens")
