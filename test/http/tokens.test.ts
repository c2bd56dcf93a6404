import { describe, expect, it } from "vitest"
import { useBroker, useBrokers } from "../support/useBroker.js"
import { client, type Client, expectError, ok, quietConfig } from "./client.js"

/**
 * Scoped tokens over HTTP, on the real broker: minting (the secret shown once, a hash in the log),
 * listing, revoking at once, what each role may do, identity for tokens bound to a role, a broker
 * without --token, percent-encoded paths, resets and restarts.
 */

const admin = "tokens-admin-token"
const as = (secret: string) => ({ headers: { authorization: `Bearer ${secret}` } })
const asAdmin = as(admin)

interface Minted {
  name: string
  project: string
  role: string
  boundRole: string | null
  mintedAt: string
  token: string
}

const mint = async (c: Client, body: Record<string, unknown>): Promise<Minted> => ok(await c.post<Minted>("/tokens", body, asAdmin), 201)

describe("minting, listing and revoking tokens", () => {
  const broker = useBroker({ config: quietConfig, token: admin })
  const c = broker.client

  it("mints a token whose secret is shown once: the list and the log hold no secret, the log its sha-256", async () => {
    const minted = await mint(c, { name: "alice", project: "default", role: "viewer" })
    expect(minted).toMatchObject({ name: "alice", project: "default", role: "viewer", boundRole: null })
    expect(minted.token).toMatch(/^cib_[A-Za-z0-9_-]{43}$/)
    const { tokens } = ok(await c.get<{ tokens: Array<Record<string, unknown>> }>("/tokens", asAdmin))
    expect(tokens).toContainEqual({ name: "alice", project: "default", role: "viewer", boundRole: null, mintedAt: minted.mintedAt })
    const listed = JSON.stringify(tokens)
    expect(listed).not.toContain(minted.token)
    const log = (await c.get("/log", asAdmin)).text
    expect(log).not.toContain(minted.token)
    const { createHash } = await import("node:crypto")
    expect(log).toContain(createHash("sha256").update(minted.token).digest("hex"))
    // The project defaults to "default".
    expect((await mint(c, { name: "bob", role: "agent" })).project).toBe("default")
  })

  it("refuses bad fields with a clear 400 (a project name included), and a live name with 409", async () => {
    expect(expectError(await c.post("/tokens", { name: "No Caps", role: "viewer" }, asAdmin), 400, "bad_request").error.message).toContain(
      "token name"
    )
    expect(expectError(await c.post("/tokens", { name: "x", role: "root" }, asAdmin), 400, "bad_request").error.message).toBe(
      `role "root" is not a token role: use viewer, agent or admin`
    )
    expect(expectError(await c.post("/tokens", { name: "x", role: "viewer", project: "Web" }, asAdmin), 400, "bad_request").error.message).toBe(
      `project "Web" is not a valid project name: 1–64 characters: lower-case letters, digits, '_' or '-', starting with a letter or digit`
    )
    expect(expectError(await c.post("/tokens", { name: "x", role: "viewer", boundRole: "backend" }, asAdmin), 400, "bad_request").error.message).toBe(
      "only an agent token can be bound to a role, not a viewer token"
    )
    expectError(await c.post("/tokens", { role: "viewer" }, asAdmin), 400, "bad_request")
    await mint(c, { name: "twice", role: "viewer" })
    expectError(await c.post("/tokens", { name: "twice", role: "agent" }, asAdmin), 409, "conflict")
    expectError(await c.del("/tokens/nobody-has-this", asAdmin), 404, "not_found")
  })

  it("revokes at once: the next request with the token is 401, and the name can be minted again", async () => {
    const minted = await mint(c, { name: "carol", role: "agent" })
    ok(await c.get("/status", as(minted.token)))
    expect(ok(await c.del<Minted>("/tokens/carol", asAdmin))).toMatchObject({ name: "carol", role: "agent" })
    expectError(await c.get("/status", as(minted.token)), 401, "unauthorized")
    const again = await mint(c, { name: "carol", role: "viewer" })
    expectError(await c.get("/status", as(minted.token)), 401, "unauthorized")
    ok(await c.get("/status", as(again.token)))
  })

  it("viewer reads, agent writes but may not reset, project admin resets; none of them manages tokens", async () => {
    const viewer = (await mint(c, { name: "r-viewer", role: "viewer" })).token
    const agent = (await mint(c, { name: "r-agent", role: "agent" })).token
    const projectAdmin = (await mint(c, { name: "r-admin", role: "admin" })).token
    ok(await c.get("/peers", as(viewer)))
    expectError(await c.post("/peers/connect", { role: "w" }, as(viewer)), 403, "read_only_token")
    ok(await c.post("/peers/connect", { role: "w" }, as(agent)))
    expectError(await c.post("/reset", undefined, as(agent)), 403, "project_admin_required")
    for (const secret of [viewer, agent, projectAdmin]) {
      expectError(await c.get("/tokens", as(secret)), 403, "admin_token_required")
      expectError(await c.post("/tokens", { name: "sneaky", role: "admin" }, as(secret)), 403, "admin_token_required")
      expectError(await c.del("/tokens/r-viewer", as(secret)), 403, "admin_token_required")
    }
    ok(await c.post("/reset", undefined, as(projectAdmin)))
  })

  it("checks rights on the path as a router may decode it: /%74okens is /tokens, /%72eset is /reset", async () => {
    const agent = (await mint(c, { name: "pct-agent", role: "agent" })).token
    const viewer = (await mint(c, { name: "pct-viewer", role: "viewer" })).token
    expectError(await c.post("/%74okens", { name: "sneaky", role: "admin" }, as(agent)), 403, "admin_token_required")
    expectError(await c.get("/%74okens", as(agent)), 403, "admin_token_required")
    expectError(await c.del("/tokens/%70ct-viewer", as(agent)), 403, "admin_token_required")
    expectError(await c.post("/%72eset", undefined, as(agent)), 403, "project_admin_required")
    expectError(await c.post("/%72eset", undefined, as(viewer)), 403, "read_only_token")
    expectError(await c.post("/peers/%63onnect", { role: "w" }, as(viewer)), 403, "read_only_token")
    // Nothing was minted or revoked by any of them.
    const names = ok(await c.get<{ tokens: Array<{ name: string }> }>("/tokens", asAdmin)).tokens.map((token) => token.name)
    expect(names).toContain("pct-viewer")
    expect(names).not.toContain("sneaky")
  })

  it("a reset keeps the tokens: it clears peers, commands, channels and signals, not credentials", async () => {
    const minted = await mint(c, { name: "survivor", role: "viewer" })
    ok(await c.post("/reset", undefined, asAdmin))
    ok(await c.get("/status", as(minted.token)))
    expect(ok(await c.get<{ tokens: Array<{ name: string }> }>("/tokens", asAdmin)).tokens.map((t) => t.name)).toContain("survivor")
  })

  it("the dashboard logs in with a scoped token too, and keeps that token (not the admin's) in its cookie", async () => {
    const viewer = (await mint(c, { name: "dash-viewer", role: "viewer" })).token
    const res = await c.get(`/dashboard?token=${encodeURIComponent(viewer)}`, { redirect: "manual", headers: { accept: "text/html" } })
    expect(res.status).toBe(303)
    const cookie = res.headers.get("set-cookie") ?? ""
    expect(cookie).toContain(encodeURIComponent(viewer))
    expect(cookie).not.toContain(admin)
    const jar = { headers: { cookie: cookie.split(";")[0]! } }
    ok(await c.get("/status", jar))
    expectError(await c.post("/signals/from-dashboard", {}, jar), 403, "read_only_token")
  })
})

describe("a token bound to a role acts only as peers of that role", () => {
  const broker = useBroker({ config: quietConfig, token: admin })
  const c = broker.client

  it("connects and acts as its role's peers; another role's peer, or no peer, is 403 token_role_mismatch", async () => {
    const bound = (await mint(c, { name: "backend-bot", role: "agent", boundRole: "backend" })).token
    const mine = ok(await c.post<{ id: string }>("/peers/connect", { role: "backend" }, as(bound)))
    const reviewer = ok(await c.post<{ id: string }>("/peers/connect", { id: "reviewer-1", role: "reviewer" }, asAdmin))

    const mismatch = expectError(await c.post("/peers/connect", { role: "reviewer" }, as(bound)), 403, "token_role_mismatch")
    expect(mismatch.error.message).toBe("this token is bound to role 'backend': it cannot connect a peer as 'reviewer'")
    // Taking over the reviewer's id under its own role is acting as it, too.
    expectError(await c.post("/peers/connect", { id: reviewer.id, role: "backend" }, as(bound)), 403, "token_role_mismatch")
    expectError(await c.post(`/peers/${reviewer.id}/heartbeat`, undefined, as(bound)), 403, "token_role_mismatch")
    expectError(await c.post(`/peers/${reviewer.id}/disconnect`, undefined, as(bound)), 403, "token_role_mismatch")
    expectError(await c.get(`/commands/${reviewer.id}/wait?timeout=0`, as(bound)), 403, "token_role_mismatch")
    expectError(await c.post("/commands/send", { from: reviewer.id, target: "backend", action: "x" }, as(bound)), 403, "token_role_mismatch")
    // A command's `from` defaults to "human", which is no peer.
    expectError(await c.post("/commands/send", { target: "backend", action: "x" }, as(bound)), 403, "token_role_mismatch")
    expectError(
      await c.post("/channels/general/send", { text: "hi" }, { headers: { ...as(bound).headers, "x-peer-id": reviewer.id } }),
      403,
      "token_role_mismatch"
    )
    expectError(await c.post(`/signals/done?from=${reviewer.id}`, {}, as(bound)), 403, "token_role_mismatch")

    // As its own peer, everything works; so does naming nobody.
    ok(await c.post(`/peers/${mine.id}/heartbeat`, undefined, as(bound)))
    const sent = ok(await c.post<{ id: string }>("/commands/send", { from: mine.id, target: reviewer.id, action: "review" }, as(bound)))
    ok(await c.post("/channels/general/send", { text: "hi" }, { headers: { ...as(bound).headers, "x-peer-id": mine.id } }))
    ok(await c.post("/signals/done", {}, as(bound)))
    expectError(await c.post(`/commands/${sent.id}/ack`, { from: reviewer.id }, as(bound)), 403, "token_role_mismatch")
    ok(await c.post(`/commands/${sent.id}/cancel`, { from: mine.id }, as(bound)))
    // Nothing the refusals tried is in the state.
    const peers = ok(await c.get<{ peers: Array<{ id: string; role: string; status: string }> }>("/peers", asAdmin)).peers
    expect(peers.find((peer) => peer.id === reviewer.id)).toMatchObject({ role: "reviewer", status: "online" })
  })
})

describe("a broker without --token", () => {
  const broker = useBroker({ config: quietConfig })
  const c = broker.client

  it("keeps working on loopback as before, but mints no tokens: that needs --token", async () => {
    ok(await c.post("/peers/connect", { role: "w" }))
    ok(await c.post("/reset"))
    const refused = expectError(await c.post("/tokens", { name: "x", role: "viewer" }), 403, "admin_token_required")
    expect(refused.error.message).toContain("--token")
    expectError(await c.get("/tokens"), 403, "admin_token_required")
    expectError(await c.post("/%74okens", { name: "x", role: "viewer" }), 403, "admin_token_required")
    expectError(await c.del("/tokens/x"), 403, "admin_token_required")
  })
})

describe("tokens across a restart", () => {
  const { start, dataDir } = useBrokers()

  it("a token minted before a restart works after it; one revoked before it stays revoked; a token's broker-wide uniqueness holds", async () => {
    const dir = await dataDir("broker-tokens-")
    const first = await start({ dataDir: dir, memory: false, token: admin, config: quietConfig })
    const c1 = client(first.url)
    const kept = ok(await c1.post<Minted>("/tokens", { name: "kept", role: "agent" }, asAdmin), 201)
    const gone = ok(await c1.post<Minted>("/tokens", { name: "gone", role: "viewer" }, asAdmin), 201)
    ok(await c1.del("/tokens/gone", asAdmin))
    await first.close()

    const second = await start({ dataDir: dir, memory: false, token: admin, config: quietConfig })
    const c2 = client(second.url)
    ok(await c2.post("/peers/connect", { role: "w" }, as(kept.token)))
    expectError(await c2.get("/status", as(gone.token)), 401, "unauthorized")
    expectError(await c2.post("/tokens", { name: "kept", role: "viewer" }, asAdmin), 409, "conflict")
    expect(ok(await c2.get<{ tokens: Array<{ name: string }> }>("/tokens", asAdmin)).tokens.map((t) => t.name)).toEqual(["kept"])
  })
})
