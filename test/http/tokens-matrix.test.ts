import { beforeAll, describe, expect, it } from "vitest"
import { routes, type RouteSpec } from "../../src/http/routes.js"
import { useBroker, useBrokers } from "../support/useBroker.js"
import { client, ok, quietConfig } from "./client.js"

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

/**
 * Sends a route's request with a credential (none when `secret` is undefined), under a project's
 * prefix (`/p/<project>`, or "" for default) on the broker at `url`.
 */
const send = async (
  route: RouteSpec,
  secret: string | undefined,
  prefix = "",
  url = broker.url
): Promise<{ status: number; code?: string; message?: string }> => {
  const abort = new AbortController()
  const headers: Record<string, string> = { accept: "application/json" }
  if (secret !== undefined) headers.authorization = `Bearer ${secret}`
  const init: RequestInit = { method: route.method, headers, signal: abort.signal }
  if (route.method === "POST") {
    headers["content-type"] = "application/json"
    // Nothing a route would act on: refusals come before the body is read, and an allowed request is a 400.
    init.body = "{}"
  }
  if (route.tag === "mcp") headers.accept = "application/json, text/event-stream"
  const res = await fetch(`${url}${prefix}${target(route)}`, init)
  // Streams answer their headers at once: the status (and a refusal's body) is all this test needs.
  if (route.streams === true || route.writesRaw === true) {
    const status = res.status
    const text = status === 403 ? await res.text() : undefined
    abort.abort()
    const error = text === undefined ? undefined : (JSON.parse(text) as { error?: { code?: string; message?: string } }).error
    return { status, code: error?.code, message: error?.message }
  }
  const text = await res.text()
  let error: { code?: string; message?: string } | undefined
  try {
    error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error
  } catch {
    error = undefined
  }
  return { status: res.status, code: error?.code, message: error?.message }
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

// ---------------------------------------------------------------------------------------------
// The project dimension: the same routes asked in the token's project, in another, and unprefixed
// ---------------------------------------------------------------------------------------------

/**
 * Outside its own project a scoped token has no rights at all (403 `forbidden_project`, whatever
 * its role), but for what is not inside any project: `/healthz` (open), `/whoami` and the
 * dashboard's static files (who the caller is, in any project), and the whole broker's routes,
 * `/tokens` and `/projects`, which stay the global admin's (403 `admin_token_required`).
 */
const expectedElsewhere = (route: RouteSpec): string | undefined => {
  if (route.path === "/healthz" || route.path === "/whoami" || route.tag === "dashboard") return undefined
  if (route.tag === "tokens" || route.path === "/projects") return "admin_token_required"
  return "forbidden_project"
}

type Place = "alpha" | "beta" | "default"
const places: ReadonlyArray<Place> = ["alpha", "beta", "default"]
const prefixOf = (place: Place) => (place === "default" ? "" : `/p/${place}`)

/** Tokens of project alpha, one of project default minted without naming a project, and the global admin. */
type ProjectWho = "alpha viewer" | "alpha agent" | "alpha admin" | "default agent (no project given)" | "global"
const projectWhos: ReadonlyArray<ProjectWho> = ["alpha viewer", "alpha agent", "alpha admin", "default agent (no project given)", "global"]
const scope: Record<Exclude<ProjectWho, "global">, { readonly project: Place; readonly role: "viewer" | "agent" | "admin" }> = {
  "alpha viewer": { project: "alpha", role: "viewer" },
  "alpha agent": { project: "alpha", role: "agent" },
  "alpha admin": { project: "alpha", role: "admin" },
  "default agent (no project given)": { project: "default", role: "agent" }
}

const expectedInPlace = (route: RouteSpec, who: ProjectWho, place: Place): string | undefined => {
  if (who === "global") return undefined
  const { project, role } = scope[who]
  return place === project ? expectedRefusal(route, role) : expectedElsewhere(route)
}

/** The one log's head, as the global admin reads it: a refused request must not move it. */
const headNow = async (): Promise<number> =>
  ok(await c.get<{ log: { head: number } }>("/status", { headers: { authorization: `Bearer ${admin}` } })).log.head

describe("the rights matrix in projects: every route × tokens of project alpha (and default, and the global admin) × /p/alpha, /p/beta, unprefixed", () => {
  const projectSecrets: Partial<Record<ProjectWho, string>> = { global: admin }

  beforeAll(async () => {
    const auth = { headers: { authorization: `Bearer ${admin}` } }
    for (const role of ["viewer", "agent", "admin"] as const) {
      const minted = ok(await c.post<{ token: string; project: string }>("/tokens", { name: `matrix-alpha-${role}`, project: "alpha", role }, auth), [201])
      expect(minted.project).toBe("alpha")
      projectSecrets[`alpha ${role}`] = minted.token
    }
    // Minted without `project`: a token of project default, refused in alpha like alpha's are in beta.
    const plain = ok(await c.post<{ token: string; project: string }>("/tokens", { name: "matrix-plain-agent", role: "agent" }, auth), [201])
    expect(plain.project).toBe("default")
    projectSecrets["default agent (no project given)"] = plain.token
  })

  for (const place of places) {
    for (const route of routes) {
      for (const who of projectWhos) {
        const refusal = expectedInPlace(route, who, place)
        const asked = `${route.method} ${prefixOf(place)}${route.path}`
        it(`${asked} as ${who}: ${refusal === undefined ? "let through" : `403 ${refusal}`}`, async () => {
          const secret = projectSecrets[who]!
          if (refusal !== undefined) {
            const before = await headNow()
            const { status, code, message } = await send(route, secret, prefixOf(place))
            expect({ status, code }).toEqual({ status: 403, code: refusal })
            if (code === "forbidden_project") {
              // The refusal says where the token does work, so a client can go there.
              const own = scope[who as Exclude<ProjectWho, "global">].project
              expect(message).toContain(`(/p/${own}/…)`)
            }
            // Refused before anything ran: nothing was recorded.
            expect(await headNow()).toBe(before)
          } else {
            const { status, code } = await send(route, secret, prefixOf(place))
            expect(status, `${asked} as ${who} (${code})`).not.toBe(401)
            expect(["read_only_token", "project_admin_required", "admin_token_required", "forbidden_project"]).not.toContain(code)
            expect(status).toBeLessThan(500)
          }
        })
      }
    }
  }
})

describe("the project dimension on a broker without --token (trusted loopback)", () => {
  const brokers = useBrokers()

  /**
   * Loopback is trusted in every project; a scoped token presented there (one minted while the
   * broker ran with --token) narrows the request to its rights and its project: the same refusals
   * as with --token, decided by the same table.
   */
  it("no credential: every route in every project but the tokens routes; an alpha agent's token: alpha only", async () => {
    const dataDir = await brokers.dataDir("broker-matrix-")
    const first = await brokers.start({ dataDir, memory: false, token: admin, config: quietConfig })
    const minted = ok(
      await client(first.url).post<{ token: string }>("/tokens", { name: "loopback-alpha-agent", project: "alpha", role: "agent" }, {
        headers: { authorization: `Bearer ${admin}` }
      }),
      [201]
    )
    await first.close()
    const open = await brokers.start({ dataDir, memory: false, config: quietConfig })
    const loopbackHead = async () => ok(await client(open.url).get<{ log: { head: number } }>("/status")).log.head

    const wrong: Array<string> = []
    for (const place of places) {
      for (const route of routes) {
        const asked = `${route.method} ${prefixOf(place)}${route.path}`
        // Nobody named: trusted loopback, everywhere, but it mints, lists and revokes no tokens.
        const anonymous = await send(route, undefined, prefixOf(place), open.url)
        const anonymousExpected = route.tag === "tokens" ? "admin_token_required" : undefined
        if (anonymousExpected !== (anonymous.status === 403 ? anonymous.code : undefined) || anonymous.status >= 500) {
          wrong.push(`${asked} with no token: ${anonymous.status} ${anonymous.code}, expected ${anonymousExpected ?? "let through"}`)
        }
        // The alpha agent's token: an agent in alpha, nothing (but who it is) elsewhere.
        const expected = place === "alpha" ? expectedRefusal(route, "agent") : expectedElsewhere(route)
        const before = expected === undefined ? undefined : await loopbackHead()
        const scoped = await send(route, minted.token, prefixOf(place), open.url)
        const got = scoped.status === 403 ? scoped.code : undefined
        if (got !== expected || scoped.status === 401 || scoped.status >= 500) {
          wrong.push(`${asked} as alpha's agent: ${scoped.status} ${scoped.code}, expected ${expected ?? "let through"}`)
        }
        if (before !== undefined && (await loopbackHead()) !== before) wrong.push(`${asked} as alpha's agent was refused but recorded something`)
      }
    }
    expect(wrong).toEqual([])
  })
})
