import { timingSafeEqual, createHash } from "node:crypto"
import { globalAdmin, refusalFor, trustedLoopback, type Principal } from "../core/principal.js"
import type { TokenRecord } from "../core/tokens.js"
import { preview } from "../input/problems.js"
import { mayBeTokensPath, requestAccess } from "./rights.js"

/**
 * Who may talk to the broker, decided before any route runs (REST, SSE, MCP and the dashboard
 * alike). Pure: the request's facts in, a verdict out; the transport applies it.
 */
export interface GuardConfig {
  /** Bearer token every request but /healthz must carry; undefined = no token (loopback only). */
  readonly token: string | undefined
  /** Origins allowed besides the broker's own (e.g. a dashboard served elsewhere). */
  readonly allowedOrigins: ReadonlyArray<string>
  /** The live scoped token a presented secret is (the broker's projection); none when absent. */
  readonly tokenFor?: (secret: string) => TokenRecord | undefined
}

export interface RequestFacts {
  readonly method: string
  /** The path without the query string, and without the `/p/<project>` prefix, which `prefix` holds (empty for `default`). */
  readonly path: string
  readonly project?: string
  readonly prefix?: string
  /** The query string, `?` included when there is one; parsed only where a login reads it. */
  readonly search: string
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
}

export interface Denial {
  readonly ok: false
  readonly status: 401 | 403 | 415
  readonly code: string
  readonly message: string
  /**
   * A person's browser opening the dashboard without its token (or with a wrong one): it gets a
   * page that says how to log in (src/http/Static.ts) rather than the JSON envelope API clients get.
   * "missing" or "wrong" says which.
   */
  readonly dashboardLogin?: "missing" | "wrong"
}

/**
 * Let through, with who the request is (none for `/healthz` without credentials), and for a
 * dashboard login the cookie to set.
 */
export type Verdict =
  | { readonly ok: true; readonly principal?: Principal }
  | { readonly ok: true; readonly principal: Principal; readonly login: { readonly cookie: string; readonly location: string } }
  | Denial

export const tokenCookie = "broker_token"

const loopbackHosts = new Set(["localhost", "127.0.0.1", "[::1]", "::1"])

/** Whether binding to `host` keeps the broker reachable from this machine only. */
export const isLoopback = (host: string): boolean => loopbackHosts.has(host) || host.startsWith("127.")

const header = (facts: RequestFacts, name: string): string | undefined => {
  const value = facts.headers[name]
  return Array.isArray(value) ? value[0] : (value as string | undefined)
}

/** Compare digests so that neither the content nor the length of the token leaks through timing. */
export const sameToken = (given: string, expected: string): boolean =>
  timingSafeEqual(createHash("sha256").update(given).digest(), createHash("sha256").update(expected).digest())

const hostName = (host: string): string => {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1)
  const colon = host.lastIndexOf(":")
  return colon === -1 ? host : host.slice(0, colon)
}

const cookieValue = (cookies: string | undefined, name: string): string | undefined => {
  for (const part of (cookies ?? "").split(";")) {
    const [key, ...rest] = part.trim().split("=")
    if (key !== name) continue
    // A cookie that does not decode (`%ff`) is no token: kept as sent, it matches none.
    try {
      return decodeURIComponent(rest.join("="))
    } catch {
      return rest.join("=")
    }
  }
  return undefined
}

const deny = (status: 401 | 403 | 415, code: string, message: string): Denial => ({ ok: false, status, code, message })

/** The admin token, or a live scoped token, that a presented secret is. */
const principalFor = (secret: string, config: GuardConfig): Principal | undefined => {
  if (config.token !== undefined && sameToken(secret, config.token)) return globalAdmin
  const token = config.tokenFor?.(secret)
  return token === undefined ? undefined : { kind: "scoped", token }
}

/** The rights table's answer for a principal that has been resolved. */
const permitted = (facts: RequestFacts, principal: Principal): Verdict => {
  // The common cases skip the route lookup: the admin may do anything, loopback all but tokens.
  if (principal.kind === "global" || (principal.kind === "loopback" && !mayBeTokensPath(facts.path))) return { ok: true, principal }
  const refused = refusalFor(principal, requestAccess(facts.method, facts.path), facts.project)
  return refused === undefined ? { ok: true, principal } : deny(refused.status, refused.code, refused.message)
}

/** Where the token comes from, for a person who does not have it at hand. */
const whereTheTokenIs = "the broker's --token or BROKER_TOKEN, or the token its start-up output printed"

/**
 * Paths an MCP client asks for: the endpoints, and the OAuth discovery Claude Code tries when a
 * server answers 401 (GET /.well-known/oauth-protected-resource and
 * /.well-known/oauth-authorization-server, then POST /register). Claude Code shows the body of
 * that last 401 ("Dynamic Client Registration rejected (HTTP 401): …"), so it is where the
 * instructions must be. The broker has no OAuth: discovery stays behind the token like every
 * route, and these 401s end it.
 */
const isMcpClientPath = (path: string) => path.startsWith("/mcp") || path.startsWith("/.well-known/") || path === "/register"

/** The Host header when it looks like one, to make a pasteable command; a placeholder otherwise. */
const brokerAddress = (host: string) => (/^[A-Za-z0-9.\-:[\]]{1,255}$/.test(host) ? `http://${host}` : "http://<broker>")

/** The 401 for a request with no credentials at all: what to send, and for Claude Code how. */
const tokenNeeded = (facts: RequestFacts, host: string): string => {
  const general = `this broker needs a token: send 'Authorization: Bearer <token>' (${whereTheTokenIs})`
  if (!isMcpClientPath(facts.path)) return general
  return (
    `${general}. For Claude Code: claude mcp add --transport http broker ${brokerAddress(host)}/mcp ` +
    `--header "Authorization: Bearer <token>", or run 'claude-ipc-broker mcp-config --url ${brokerAddress(host)} --token <token>' ` +
    `for the entry in each harness's format`
  )
}

/**
 * A browser opening a dashboard page: a top-level GET that accepts HTML. `/` counts, since it
 * only redirects there. Scripts and API clients (Accept: application/json, or none) keep JSON.
 */
const isDashboardPage = (facts: RequestFacts) =>
  facts.method === "GET" &&
  (facts.path === "/" || facts.path === "/dashboard" || facts.path.startsWith("/dashboard/")) &&
  (header(facts, "accept") ?? "").includes("text/html")

export const isWrite = (method: string) => method !== "GET" && method !== "HEAD" && method !== "OPTIONS"

export const checkRequest = (facts: RequestFacts, config: GuardConfig): Verdict => {
  const host = header(facts, "host") ?? ""
  // Without a token the broker trusts whoever can reach it, so it must only be reachable by name
  // as localhost: a page on another site that rebinds its DNS name to 127.0.0.1 is refused here.
  if (config.token === undefined && !loopbackHosts.has(hostName(host).toLowerCase())) {
    return deny(403, "forbidden_host", `requests must name a loopback host, not ${preview(host)}`)
  }

  const origin = header(facts, "origin")
  if (origin !== undefined && origin !== "null") {
    let originHost: string | undefined
    try {
      originHost = new URL(origin).host
    } catch {
      originHost = undefined
    }
    if (originHost !== host && !config.allowedOrigins.includes(origin)) {
      return deny(403, "forbidden_origin", `requests from origin ${preview(origin)} are not allowed`)
    }
  } else if (origin === "null") {
    return deny(403, "forbidden_origin", "requests from an opaque origin are not allowed")
  }

  // A browser can post a form or text/plain cross-site without asking first; it cannot send JSON.
  if (isWrite(facts.method)) {
    const type = (header(facts, "content-type") ?? "").split(";")[0]!.trim().toLowerCase()
    const length = header(facts, "content-length")
    const hasBody = (length !== undefined && length !== "0") || header(facts, "transfer-encoding") !== undefined
    if ((hasBody || type !== "") && type !== "application/json") {
      return deny(415, "unsupported_media_type", "writes must send Content-Type: application/json")
    }
  }

  const authorization = header(facts, "authorization")
  const bearer = authorization === undefined ? undefined : /^Bearer\s+(.+)$/i.exec(authorization)?.[1]?.trim()
  const cookie = cookieValue(header(facts, "cookie"), tokenCookie)

  if (config.token === undefined) {
    // No admin token: loopback is trusted, as it always was. A scoped token presented anyway (one
    // minted under an earlier --token) narrows the request to its rights; any other is ignored.
    const token = (bearer === undefined ? undefined : config.tokenFor?.(bearer)) ?? (cookie === undefined ? undefined : config.tokenFor?.(cookie))
    return permitted(facts, token === undefined ? trustedLoopback : { kind: "scoped", token })
  }
  if (facts.path === "/healthz") return { ok: true }

  if (authorization !== undefined) {
    const principal = bearer === undefined ? undefined : principalFor(bearer, config)
    if (principal !== undefined) return permitted(facts, principal)
    return deny(401, "unauthorized", `the bearer token is wrong, or was revoked: it must be ${whereTheTokenIs}, or a live token the admin minted`)
  }
  const fromCookie = cookie === undefined ? undefined : principalFor(cookie, config)
  if (fromCookie !== undefined) return permitted(facts, fromCookie)

  // The dashboard logs in once with ?token=…, then keeps the token in a cookie scripts cannot read.
  const query = new URLSearchParams(facts.search)
  const fromQuery = query.get("token")
  if (facts.method === "GET" && facts.path.startsWith("/dashboard") && fromQuery !== null) {
    const principal = principalFor(fromQuery, config)
    if (principal === undefined) {
      const wrong = deny(401, "unauthorized", `the token is wrong, or was revoked: it must be ${whereTheTokenIs}`)
      return isDashboardPage(facts) ? { ...wrong, dashboardLogin: "wrong" } : wrong
    }
    const rest = new URLSearchParams(query)
    rest.delete("token")
    const search = rest.toString()
    return {
      ok: true,
      principal,
      login: {
        cookie: `${tokenCookie}=${encodeURIComponent(fromQuery)}; HttpOnly; SameSite=Strict; Path=/`,
        location: `${facts.prefix ?? ""}${facts.path}${search === "" ? "" : `?${search}`}`
      }
    }
  }
  const missing = deny(401, "unauthorized", tokenNeeded(facts, host))
  return isDashboardPage(facts) ? { ...missing, dashboardLogin: "missing" } : missing
}
