import { appendFile, readFile } from "node:fs/promises"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { useBroker, useBrokers } from "../support/useBroker.js"
import { client, type Client, type Command, connect, expectError, ok, quietConfig } from "./client.js"

/**
 * Projects over HTTP on the real broker: a project is a broker inside the broker. The same names in
 * two projects are two things; a reset resets one project; `/p/<project>/log`, `/status?at=` and
 * `/events` show one project; scoped tokens act in their own project only; projects survive restarts.
 */

const inProject = (base: () => string, project: string): Client => client(() => `${base()}/p/${project}`)

describe("projects are isolated from one another", () => {
  const broker = useBroker({ config: quietConfig })
  const root = broker.client
  const alpha = inProject(() => broker.url, "alpha")
  const beta = inProject(() => broker.url, "beta")

  it("the same channel, role and signal names are different things in each project", async () => {
    ok(await alpha.post("/channels/general/send", { from: "alpha" }))
    ok(await alpha.post("/channels/general/send", { from: "alpha", n: 2 }))
    ok(await beta.post("/channels/general/send", { from: "beta" }))
    const a = ok(await alpha.get<{ messages: Array<{ id: number; data: unknown }> }>("/channels/general/messages"))
    const b = ok(await beta.get<{ messages: Array<{ id: number; data: unknown }> }>("/channels/general/messages"))
    expect(a.messages.map((m) => m.data)).toEqual([{ from: "alpha" }, { from: "alpha", n: 2 }])
    expect(b.messages.map((m) => [m.id, m.data])).toEqual([[1, { from: "beta" }]])
    // Project default (no prefix) never heard of either.
    expect(ok(await root.get<{ messages: Array<unknown> }>("/channels/general/messages")).messages).toEqual([])

    ok(await alpha.post("/signals/ready", { data: { v: "alpha" } }))
    expect(ok(await beta.get<{ fired: boolean }>("/signals/ready")).fired).toBe(false)
    expect(ok(await alpha.get<{ fired: boolean; data: unknown }>("/signals/ready"))).toMatchObject({ fired: true, data: { v: "alpha" } })
  })

  it("a command to a role goes to that role in its project only", async () => {
    const sender = await connect(alpha, { role: "orchestrator" })
    const inBeta = await connect(beta, { role: "backend" })
    const inAlpha = await connect(alpha, { role: "backend" })
    const sent = ok(await alpha.post<Command>("/commands/send", { from: sender.id, target: "backend", action: "build" }))
    // Beta's backend waits and gets nothing; alpha's takes it.
    const betaWait = ok(await beta.get<{ command: Command | null; timedOut: boolean }>(`/commands/${inBeta.id}/wait?timeout=200`))
    expect(betaWait).toMatchObject({ command: null, timedOut: true })
    const taken = ok(await alpha.get<{ command: Command | null }>(`/commands/${inAlpha.id}/wait?timeout=2000`))
    expect(taken.command?.id).toBe(sent.id)
    // Ids are a project's too: beta cannot see, ack or wait on alpha's command, nor use alpha's peers.
    expectError(await beta.get(`/commands/${sent.id}`), 404, "not_found")
    expectError(await beta.post(`/commands/${sent.id}/ack`, { ok: true }, { headers: { "x-peer-id": inBeta.id } }), 404, "not_found")
    expectError(await beta.get(`/peers/${inAlpha.id}`), 404, "not_found")
    ok(await alpha.post(`/commands/${sent.id}/ack`, { ok: true, result: "built" }, { headers: { "x-peer-id": inAlpha.id } }))
    expect(ok(await alpha.get<{ command: Command }>(`/commands/${sent.id}/result?timeout=0`)).command.status).toBe("acked")
  })

  it("a peer id is a project's: the same id connects in two projects as two peers", async () => {
    const one = ok(await alpha.post<{ id: string; role: string }>("/peers/connect", { id: "twin", role: "one" }))
    const two = ok(await beta.post<{ id: string; role: string }>("/peers/connect", { id: "twin", role: "two" }))
    expect([one.role, two.role]).toEqual(["one", "two"])
    expect(ok(await alpha.get<{ role: string }>("/peers/twin")).role).toBe("one")
    expect(ok(await beta.get<{ role: string }>("/peers/twin")).role).toBe("two")
  })

  it("a reset clears its own project only", async () => {
    ok(await root.post("/channels/kept/send", { in: "default" }))
    ok(await beta.post("/channels/kept/send", { in: "beta" }))
    ok(await alpha.post("/reset"))
    const status = ok(await alpha.get<{ peers: Array<unknown>; channels: Array<unknown>; signals: Array<unknown> }>("/status"))
    expect([status.peers, status.channels, status.signals]).toEqual([[], [], []])
    expect(ok(await beta.get<{ channels: Array<{ name: string }> }>("/channels")).channels.map((c) => c.name).sort()).toEqual(["general", "kept"])
    expect(ok(await root.get<{ channels: Array<{ name: string }> }>("/channels")).channels.map((c) => c.name)).toEqual(["kept"])
    expect(ok(await beta.get<{ id: string }>("/peers/twin")).id).toBe("twin")
  })

  it("/p/<project>/log holds that project's events only, with their seqs in the one log", async () => {
    const lines = async (c: Client) =>
      (await c.get("/log")).text.trim().split("\n").map((line) => JSON.parse(line) as { seq: number; project?: string })
    const [alphas, betas, defaults] = [await lines(alpha), await lines(beta), await lines(root)]
    expect(betas.length).toBeGreaterThan(0)
    expect(alphas.every((event) => event.project === "alpha")).toBe(true)
    expect(betas.every((event) => event.project === "beta")).toBe(true)
    // Events of project default carry no project, as they always did; the unprefixed /log is project default's.
    expect(defaults.every((event) => event.project === undefined)).toBe(true)
    // Together they are the one log: every seq once, none missing.
    const seqs = [...alphas, ...betas, ...defaults].map((event) => event.seq).sort((a, b) => a - b)
    expect(seqs).toEqual(seqs.map((_, i) => i + 1))
  })

  it("/p/<project>/status?at= shows that project as it was", async () => {
    const before = ok(await beta.get<{ seq: number }>("/status")).seq
    ok(await beta.post("/channels/later/send", { late: true }))
    ok(await alpha.post("/channels/later/send", { late: "alpha" }))
    const past = ok(await beta.get<{ channels: Array<{ name: string }> }>(`/status?at=${before}`))
    expect(past.channels.map((c) => c.name)).not.toContain("later")
    const now = ok(await beta.get<{ channels: Array<{ name: string; count: number }> }>("/status"))
    expect(now.channels.find((c) => c.name === "later")?.count).toBe(1)
    const alphaPast = ok(await alpha.get<{ channels: Array<unknown> }>(`/status?at=${before}`))
    expect(alphaPast.channels).toEqual([])
  })

  it("/p/<project>/events streams that project's events only", async () => {
    const controller = new AbortController()
    const res = await fetch(`${broker.url}/p/beta/events`, { signal: controller.signal, headers: { accept: "text/event-stream" } })
    expect(res.status).toBe(200)
    ok(await alpha.post("/channels/sse/send", { not: "mine" }))
    ok(await beta.post("/channels/sse/send", { mine: true }))
    const reader = res.body!.getReader()
    let text = ""
    const deadline = Date.now() + 5000
    while (!text.includes('"mine":true') && Date.now() < deadline) {
      const { value, done } = await reader.read()
      if (done) break
      text += new TextDecoder().decode(value)
    }
    controller.abort()
    expect(text).toContain('"mine":true')
    expect(text).not.toContain('"not":"mine"')
    expect(text).not.toContain('"project":"alpha"')
  })

  it("GET /projects lists every project that holds anything, default first, with its counts", async () => {
    const { projects } = ok(await root.get<{ projects: Array<{ name: string; channels: number; peers: number }> }>("/projects"))
    expect(projects.map((p) => p.name)).toEqual(["default", "alpha", "beta"])
    expect(projects.find((p) => p.name === "beta")).toMatchObject({ channels: 4, peers: 2 })
  })

  it("a project name outside the syntax is a 400 that says what a name may be, and records nothing", async () => {
    const head = ok(await root.get<{ log: { head: number } }>("/status")).log.head
    for (const path of ["/p/Alpha/status", "/p//status", "/p/-x/channels/a/send", `/p/${"a".repeat(65)}/status`, "/p"]) {
      const res = await root.post(path, {})
      const error = expectError(res, 400, "bad_project")
      expect(error.error.message).toContain("a project name has 1–64 characters")
    }
    expect(ok(await root.get<{ log: { head: number } }>("/status")).log.head).toBe(head)
  })
})

describe("scoped tokens act in their own project only", () => {
  const admin = "projects-admin-token"
  const broker = useBroker({ config: quietConfig, token: admin })
  const as = (secret: string) => ({ headers: { authorization: `Bearer ${secret}` } })
  const mint = async (name: string, project: string, role: string) =>
    ok(await broker.client.post<{ token: string }>("/tokens", { name, project, role }, as(admin)), 201).token

  it("agent, viewer and project admin in their project; 403 forbidden_project in any other, default included", async () => {
    const agent = await mint("web-agent", "web", "agent")
    const viewer = await mint("web-viewer", "web", "viewer")
    const projectAdmin = await mint("web-admin", "web", "admin")
    const web = inProject(() => broker.url, "web")
    const api = inProject(() => broker.url, "api")

    ok(await web.post("/channels/c/send", { by: "agent" }, as(agent)))
    ok(await web.get("/channels/c/messages", as(viewer)))
    expectError(await web.post("/channels/c/send", { by: "viewer" }, as(viewer)), 403, "read_only_token")
    expectError(await web.post("/reset", undefined, as(agent)), 403, "project_admin_required")
    ok(await web.post("/reset", undefined, as(projectAdmin)))

    for (const token of [agent, viewer, projectAdmin]) {
      const refused = expectError(await api.get("/status", as(token)), 403, "forbidden_project")
      expect(refused.error.message).toContain("a token works in its own project only (/p/web/…)")
      expectError(await broker.client.get("/channels", as(token)), 403, "forbidden_project")
      expectError(await api.post("/channels/c/send", { x: 1 }, as(token)), 403, "forbidden_project")
      // Only the admin token looks across projects.
      expectError(await broker.client.get("/projects", as(token)), 403, "admin_token_required")
    }
    // Who am I answers anywhere: the token's project, and what it may do where it asked.
    const here = ok(await web.get<{ project: string; may: { read: boolean; write: boolean } }>("/whoami", as(agent)))
    expect(here).toMatchObject({ project: "web", may: { read: true, write: true } })
    const there = ok(await broker.client.get<{ project: string; may: { read: boolean } }>("/whoami", as(agent)))
    expect(there).toMatchObject({ project: "web", may: { read: false } })
    // The admin token does anything anywhere.
    ok(await api.post("/channels/c/send", { by: "admin" }, as(admin)))
    expect(ok(await broker.client.get<{ projects: Array<{ name: string }> }>("/projects", as(admin))).projects.map((p) => p.name)).toEqual([
      "default",
      "api"
    ])
  })
})

describe("projects across restarts", () => {
  const brokers = useBrokers()

  it("come back from the log, with or without a checkpoint, each as it was", async () => {
    const dataDir = await brokers.dataDir()
    const first = await brokers.start({ memory: false, dataDir, config: quietConfig })
    const alpha = inProject(() => first.url, "alpha")
    ok(await alpha.post("/channels/c/send", { n: 1 }))
    ok(await client(first.url).post("/channels/c/send", { n: "default" }))
    const peer = await connect(alpha, { role: "worker" })
    const sent = ok(await alpha.post<Command>("/commands/send", { from: "human", target: "worker", action: "go" }))
    const statusOf = async (base: string) => ({
      alpha: ok(await client(`${base}/p/alpha`).get<Record<string, unknown>>("/status")),
      root: ok(await client(base).get<Record<string, unknown>>("/status"))
    })
    const comparable = (status: Record<string, unknown>) => ({ ...status, startedAt: undefined, peers: undefined })
    const before = await statusOf(first.url)
    await first.close() // writes a checkpoint

    const second = await brokers.start({ memory: false, dataDir, config: quietConfig })
    const after = await statusOf(second.url)
    expect(comparable(after.alpha)).toEqual(comparable(before.alpha))
    expect(comparable(after.root)).toEqual(comparable(before.root))
    const taken = ok(await client(`${second.url}/p/alpha`).get<{ command: Command | null }>(`/commands/${peer.id}/wait?timeout=2000`))
    expect(taken.command?.id).toBe(sent.id)
    await second.close()

    // Without a checkpoint: the whole log is replayed, and a line of the log says which project each event is of.
    const { rm } = await import("node:fs/promises")
    await rm(join(dataDir, "checkpoint.json"), { force: true })
    await rm(join(dataDir, "checkpoints.ndjson"), { force: true })
    const log = await readFile(join(dataDir, "events.ndjson"), "utf8")
    expect(log).toContain('"project":"alpha"')
    await appendFile(join(dataDir, "events.ndjson"), "")
    const third = await brokers.start({ memory: false, dataDir, config: quietConfig })
    const alphaAgain = ok(await client(`${third.url}/p/alpha`).get<{ channels: Array<{ name: string; count: number }> }>("/channels"))
    expect(alphaAgain.channels).toEqual([expect.objectContaining({ name: "c", count: 1 })])
    const commands = ok(await client(`${third.url}/p/alpha`).get<{ commands: Array<Command> }>("/commands"))
    expect(commands.commands.map((c) => [c.id, c.status])).toEqual([[sent.id, "delivered"]])
    expect(ok(await client(third.url).get<{ commands: Array<Command> }>("/commands")).commands).toEqual([])
  })
})
