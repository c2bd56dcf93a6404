import { beforeAll, describe, expect, it } from "vitest"
import { routes, type RouteSpec } from "../../src/http/routes.js"
import { useBroker } from "../support/useBroker.js"
import { ok, quietConfig } from "./client.js"

/**
 * Every route of the table (src/http/routes.ts) × every kind of credential → the status the rights
 * table promises (docs/security.md). Generated from the table, so a route added there is in this
 * matrix without anyone writing a line, and its expected rights follow from what it is (the method,
 * and the few routes named below), not from the code under test.
 */

const admin = "matrix-admin-token"
const broker = useBroker({ config: quietConfig, token: admin })
const c = broker.client

type Who = "viewer" | "agent" | "admin" | "global"
const everyone: ReadonlyArray<Who> = ["viewer", "agent", "admin", "global"]
const secrets: Record<Who, string> = { viewer: "", agent: "", admin: "", global: admin }

/** What the rights table says, written out here on its own. */
const expectedRefusal = (route: RouteSpec, who: Who): string | undefined => {
  if (who === "global" || route.path === "/healthz") return undefined
  // Credentials, and the view across projects, are the whole broker's.
  if (route.tag === "tokens" || route.path === "/projects") return "admin_token_required"
  const writes = (route.method !== "GET" && route.tag !== "mcp") || route.path === "/commands/:peerId/wait"
  // Decisions a project's people keep over its agents: a reset, a redelivery of a dead command, and
  // the approval gate's approve and reject.
  const administers =
    route.path === "/reset" ||
    ["redeliver", "approve", "reject"].some((verb) => route.path === `/commands/:commandId/${verb}`)
  if (who === "viewer" && (writes || administers)) return "read_only_token"
  if (who === "agent" && administers) return "project_admin_required"
  return undefined
}

/** A concrete request for a route: names for its params, no wait, no stream left open. */
const target = (route: RouteSpec): string => {
  const path = route.path.replace(/:\w+/g, "matrix-x").replace("*", "index.html")
  return route.waits === "by default" ? `${path}?timeout=0` : path
}

const send = async (route: RouteSpec, secret: string): Promise<{ status: number; code?: string }> => {
  const abort = new AbortController()
  const headers: Record<string, string> = { authorization: `Bearer ${secret}`, accept: "application/json" }
  const init: RequestInit = { method: route.method, headers, signal: abort.signal }
  if (route.method === "POST") {
    headers["content-type"] = "application/json"
    // Nothing a route would act on: refusals come before the body is read, and an allowed request is a 400.
    init.body = "{}"
  }
  if (route.tag === "mcp") headers.accept = "application/json, text/event-stream"
  const res = await fetch(`${broker.url}${target(route)}`, init)
  // Streams answer their headers at once: the status is all this test needs.
  if (route.streams === true || route.writesRaw === true) {
    const status = res.status
    const text = status === 403 ? await res.text() : undefined
    abort.abort()
    return { status, code: text === undefined ? undefined : (JSON.parse(text) as { error?: { code?: string } }).error?.code }
  }
  const text = await res.text()
  let code: string | undefined
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code
  } catch {
    code = undefined
  }
  return { status: res.status, code }
}

describe("the rights matrix: every route × viewer, agent, project admin, global admin", () => {
  beforeAll(async () => {
    const auth = { headers: { authorization: `Bearer ${admin}` } }
    for (const role of ["viewer", "agent", "admin"] as const) {
      const minted = ok(await c.post<{ token: string }>("/tokens", { name: `matrix-${role}`, project: "default", role }, auth), [201])
      secrets[role] = minted.token
    }
  })

  it("covers every route of the table", () => {
    expect(routes.length).toBeGreaterThan(30)
    expect(routes.some((route) => route.tag === "tokens")).toBe(true)
  })

  for (const route of routes) {
    for (const who of everyone) {
      const refusal = expectedRefusal(route, who)
      it(`${route.method} ${route.path} as ${who}: ${refusal === undefined ? "let through" : `403 ${refusal}`}`, async () => {
        const { status, code } = await send(route, secrets[who])
        if (refusal !== undefined) {
          expect({ status, code }).toEqual({ status: 403, code: refusal })
        } else {
          // Let through: whatever the route answers (200, 400 for the empty body, 404 for no such name), never a refusal of rights.
          expect(status, `${route.method} ${target(route)} as ${who} (${code})`).not.toBe(401)
          expect(["read_only_token", "project_admin_required", "admin_token_required"]).not.toContain(code)
          expect(status).toBeLessThan(500)
        }
      })
    }
  }

  it("an unknown or revoked token is 401 on every route but /healthz", async () => {
    const auth = { headers: { authorization: `Bearer ${admin}` } }
    const doomed = ok(await c.post<{ token: string }>("/tokens", { name: "matrix-doomed", role: "agent" }, auth), [201])
    ok(await c.del("/tokens/matrix-doomed", auth))
    for (const route of routes) {
      for (const secret of [doomed.token, "cib_not-a-token"]) {
        const { status } = await send(route, secret)
        expect(status, `${route.method} ${route.path}`).toBe(route.path === "/healthz" ? 200 : 401)
      }
    }
  })
})
