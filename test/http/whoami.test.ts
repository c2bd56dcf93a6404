import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { expectError, ok, quietConfig } from "./client.js"

/**
 * `GET /whoami` on the real broker: each kind of credential is told who it is and what the rights
 * table lets it do (docs/security.md), with no secret and no hash in the answer.
 */

const admin = "whoami-admin-token"
const as = (secret: string) => ({ headers: { authorization: `Bearer ${secret}` } })

interface Minted {
  readonly token: string
}

describe("GET /whoami on a broker with --token", () => {
  const broker = useBroker({ config: quietConfig, token: admin })
  const c = broker.client
  const mint = async (body: Record<string, unknown>) => ok(await c.post<Minted>("/tokens", body, as(admin)), 201).token

  it("tells each token its name, project, role and what it may do, and never its secret or hash", async () => {
    const viewer = await mint({ name: "alice", role: "viewer" })
    const agent = await mint({ name: "backend-bot", role: "agent", boundRole: "backend" })
    const projectAdmin = await mint({ name: "lead", role: "admin" })

    const asViewer = ok(await c.get<Record<string, unknown>>("/whoami", as(viewer)))
    expect(asViewer).toEqual({
      kind: "scoped",
      name: "alice",
      project: "default",
      role: "viewer",
      boundRole: null,
      may: { read: true, write: false, admin: false, tokens: false }
    })
    expect(ok(await c.get("/whoami", as(agent)))).toEqual({
      kind: "scoped",
      name: "backend-bot",
      project: "default",
      role: "agent",
      boundRole: "backend",
      may: { read: true, write: true, admin: false, tokens: false }
    })
    expect(ok(await c.get("/whoami", as(projectAdmin)))).toMatchObject({
      kind: "scoped",
      role: "admin",
      may: { read: true, write: true, admin: true, tokens: false }
    })
    expect(ok(await c.get("/whoami", as(admin)))).toEqual({
      kind: "global",
      project: "default",
      may: { read: true, write: true, admin: true, tokens: true }
    })

    const { createHash } = await import("node:crypto")
    const text = (await c.get("/whoami", as(viewer))).text
    expect(text).not.toContain(viewer)
    expect(text).not.toContain(createHash("sha256").update(viewer).digest("hex"))
  })

  it("answers the dashboard's cookie too, and 401 without credentials or with a revoked token", async () => {
    const viewer = await mint({ name: "dash-alice", role: "viewer" })
    expect(ok(await c.get("/whoami", { headers: { cookie: `broker_token=${encodeURIComponent(viewer)}` } }))).toMatchObject({
      name: "dash-alice",
      may: { write: false }
    })
    expectError(await c.get("/whoami"), 401, "unauthorized")
    ok(await c.del("/tokens/dash-alice", as(admin)))
    expectError(await c.get("/whoami", as(viewer)), 401, "unauthorized")
  })
})

describe("GET /whoami on a broker without --token", () => {
  const broker = useBroker({ config: quietConfig })
  const c = broker.client

  it("is trusted loopback: everything but tokens", async () => {
    expect(ok(await c.get("/whoami"))).toEqual({
      kind: "loopback",
      project: "default",
      may: { read: true, write: true, admin: true, tokens: false }
    })
  })
})
