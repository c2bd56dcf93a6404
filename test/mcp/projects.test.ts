import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js"
import { describe, expect, it } from "vitest"
import { client, ok, openSse, quietConfig, sendCommand, waitFor } from "../http/client.js"
import { useBroker, useBrokers } from "../support/useBroker.js"
import { call, callError, callRaw, join, openSession, rawSession, textOf, type McpSession } from "./support.js"

/**
 * MCP sessions in projects, on the real broker with the SDK's own clients: a session opened on
 * `/p/<project>/mcp` (or `/p/<project>/mcp/sse`) acts in that project only — its peers, commands,
 * messages, inbox and pushes — and its session id is refused under another project's path.
 */

const within = (base: string, project: string) => `${base}/p/${project}`

/** A tools/call posted with a session id to `url`: the status and the body as sent. */
const postWithSession = async (url: string, sessionId: string) => {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-session-id": sessionId,
      "mcp-protocol-version": "2025-06-18"
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "my_info", arguments: {} } })
  })
  return { status: res.status, body: (await res.json()) as { error?: { message: string; data?: { code: string; project: string } } } }
}

describe("MCP sessions of two projects with the same role names", () => {
  const broker = useBroker({ config: quietConfig })
  const sessions: Array<McpSession> = []
  const open = async (project: string, kind: "http" | "sse" = "http") => {
    const session = await openSession(within(broker.url, project), kind, { name: `test-${project}` })
    sessions.push(session)
    return session
  }

  it("see only their own project's peers, commands and messages", async () => {
    const alphaBoss = await open("alpha")
    const alphaWorker = await open("alpha")
    const betaBoss = await open("beta")
    const betaWorker = await open("beta", "sse")
    try {
      await join(alphaBoss, "orchestrator")
      const alphaWorkerId = await join(alphaWorker, "backend")
      await join(betaBoss, "orchestrator")
      const betaWorkerId = await join(betaWorker, "backend")

      // The same roles are free or taken per project: each project lists its own two peers.
      const alphaPeers = (await call(alphaBoss, "list_peers")).peers as Array<{ id: string; role: string }>
      const betaPeers = (await call(betaBoss, "list_peers")).peers as Array<{ id: string; role: string }>
      expect(alphaPeers.map((p) => p.role).sort()).toEqual(["backend", "orchestrator"])
      expect(betaPeers.map((p) => p.role).sort()).toEqual(["backend", "orchestrator"])
      expect(alphaPeers.map((p) => p.id)).toContain(alphaWorkerId)
      expect(alphaPeers.map((p) => p.id)).not.toContain(betaWorkerId)
      // REST agrees: the peers are in their projects, and project default has none of them.
      const restPeers = async (prefix: string) =>
        (ok(await client(`${broker.url}${prefix}`).get("/peers")).peers as Array<{ id: string }>).map((p) => p.id)
      expect(await restPeers("/p/alpha")).toContain(alphaWorkerId)
      expect(await restPeers("/p/beta")).toContain(betaWorkerId)
      expect(await restPeers("")).not.toContain(alphaWorkerId)
      expect(await restPeers("")).not.toContain(betaWorkerId)

      // A command to "backend" in alpha reaches alpha's backend only.
      const sent = await call(alphaBoss, "send_command", { target: "backend", action: "build", params: { n: 1 } })
      const commandId = sent.command.id as string
      const betaWait = await call(betaWorker, "wait_for_command", { timeout: 0.3 })
      expect(betaWait.command ?? null).toBeNull()
      const taken = await call(alphaWorker, "wait_for_command", { timeout: 5 })
      expect(taken.command).toMatchObject({ id: commandId, deliveredTo: alphaWorkerId })
      expect((await callError(betaBoss, "command_status", { id: commandId })).code).toBe("not_found")
      await call(alphaWorker, "ack_command", { id: commandId, result: "built" })
      expect((await call(alphaBoss, "wait_for_result", { command_id: commandId, timeout: 5 })).command.status).toBe("acked")

      // Messages on a channel of the same name are two channels.
      await call(alphaBoss, "send_message", { channel: "general", message: "from alpha" })
      const alphaRead = await call(alphaWorker, "read_messages", { channel: "general", since_id: 0 })
      const betaRead = await call(betaWorker, "read_messages", { channel: "general", since_id: 0 })
      expect(alphaRead.messages.map((m: { data: unknown }) => m.data)).toEqual(["from alpha"])
      expect(betaRead.messages).toEqual([])
    } finally {
      await Promise.all(sessions.splice(0).map((s) => s.close()))
    }
  })

  it("are told their project at initialize; project default's instructions are as before", async () => {
    const alpha = await open("alpha")
    const plain = await openSession(broker.url, "http")
    sessions.push(plain)
    try {
      expect(alpha.client.getInstructions()).toMatch(/works in project "alpha"/)
      expect(plain.client.getInstructions()).not.toMatch(/project/)
    } finally {
      await Promise.all(sessions.splice(0).map((s) => s.close()))
    }
  })

  it("inbox and resource updates come from the session's project only", async () => {
    const alpha = await open("alpha")
    const beta = await open("beta")
    const updates: Record<string, number> = { alpha: 0, beta: 0 }
    for (const [name, session] of [["alpha", alpha], ["beta", beta]] as const) {
      session.client.setNotificationHandler(ResourceUpdatedNotificationSchema, async () => {
        updates[name]!++
      })
    }
    try {
      await join(alpha, "inbox-worker")
      await join(beta, "inbox-worker")
      await alpha.client.subscribeResource({ uri: "broker://inbox" })
      await beta.client.subscribeResource({ uri: "broker://inbox" })
      const command = await sendCommand(client(within(broker.url, "alpha")), { target: "inbox-worker", action: "look" })
      await waitFor(() => updates.alpha! > 0, { what: "alpha's resources/updated" })
      const readInbox = async (session: McpSession) => {
        const read = await session.client.readResource({ uri: "broker://inbox" })
        return JSON.parse((read.contents[0] as { text: string }).text) as { commands: { waiting: number; ids: Array<string> } }
      }
      expect((await readInbox(alpha)).commands.ids).toEqual([command.id])
      expect((await readInbox(beta)).commands.waiting).toBe(0)
      // Beta's session heard nothing; a tool result there carries no inbox line.
      expect(updates.beta).toBe(0)
      expect(textOf(await callRaw(beta, "my_info"))).not.toMatch(/Inbox:/)
      expect(textOf(await callRaw(alpha, "my_info"))).toMatch(/Inbox: 1 command waiting/)
    } finally {
      await Promise.all(sessions.splice(0).map((s) => s.close()))
    }
  })

  it("a legacy SSE session posts its messages under its project's path", async () => {
    const stream = await openSse(`${within(broker.url, "alpha")}/mcp/sse`)
    try {
      const endpoint = await stream.next()
      expect(endpoint.event).toBe("endpoint")
      expect(endpoint.data).toMatch(/^\/p\/alpha\/mcp\/messages\?sessionId=/)
    } finally {
      stream.close()
    }
  })
})

describe("a session id used under another project's path", () => {
  const broker = useBroker({ config: quietConfig })

  it("Streamable HTTP: refused 400 wrong_project, naming the session's project; the session goes on", async () => {
    const session = await openSession(within(broker.url, "alpha"), "http")
    try {
      await join(session, "owner")
      const sessionId = session.http!.sessionId!
      for (const url of [`${within(broker.url, "beta")}/mcp`, `${broker.url}/mcp`]) {
        const refused = await postWithSession(url, sessionId)
        expect(refused.status).toBe(400)
        expect(refused.body.error?.data).toEqual({ code: "wrong_project", project: "alpha" })
        expect(refused.body.error?.message).toMatch(/belongs to project alpha.*\/p\/alpha\/mcp/)
      }
      // Nothing was created in beta, and the session still acts in alpha.
      expect(ok(await client(within(broker.url, "beta")).get("/peers")).peers).toEqual([])
      expect((await call(session, "my_info")).connected).toBe(true)
    } finally {
      await session.close()
    }
  })

  it("a session of project default used under /p/<project>: refused, pointing at /mcp", async () => {
    const raw = await rawSession(broker.url)
    const refused = await postWithSession(`${within(broker.url, "beta")}/mcp`, raw.sessionId)
    expect(refused.status).toBe(400)
    expect(refused.body.error?.data).toEqual({ code: "wrong_project", project: "default" })
    expect(refused.body.error?.message).toMatch(/send its requests to \/mcp\b/)
  })

  it("legacy SSE: a post under another project's messages path is refused 400", async () => {
    const stream = await openSse(`${within(broker.url, "alpha")}/mcp/sse`)
    try {
      const endpoint = (await stream.next()).data
      const sessionId = new URL(endpoint, broker.url).searchParams.get("sessionId")!
      const res = await fetch(`${within(broker.url, "beta")}/mcp/messages?sessionId=${sessionId}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" })
      })
      expect(res.status).toBe(400)
      const body = (await res.json()) as { error: { message: string; data: unknown } }
      expect(body.error.data).toEqual({ code: "wrong_project", project: "alpha" })
      expect(body.error.message).toMatch(/\/p\/alpha\/mcp\/messages/)
      // Under its own path it is answered (on the stream: 202 here).
      const own = await fetch(`${broker.url}${endpoint}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" })
      })
      expect(own.status).toBe(202)
    } finally {
      stream.close()
    }
  })
})

describe("a session of a project across a broker restart", () => {
  const brokers = useBrokers()

  it("resumes in its project as the same peer; its id under another project's path is still refused", async () => {
    const dataDir = await brokers.dataDir("mcp-projects-")
    let broker = await brokers.start({ dataDir, memory: false, config: quietConfig })
    const port = Number(new URL(broker.url).port)
    const session = await openSession(within(broker.url, "alpha"), "http")
    try {
      const peerId = await join(session, "keeper")
      const sessionId = session.http!.sessionId!
      await broker.close()
      broker = await brokers.start({ dataDir, memory: false, port, config: quietConfig })
      // The broker no longer has the session in memory; the log says its peer is alpha's.
      const refused = await postWithSession(`${within(broker.url, "beta")}/mcp`, sessionId)
      expect(refused.status).toBe(400)
      expect(refused.body.error?.data).toEqual({ code: "wrong_project", project: "alpha" })
      const info = await waitFor(async () => {
        const result = await callRaw(session, "my_info")
        return result.isError ? undefined : result.structuredContent
      })
      expect(info).toMatchObject({ connected: true, you: { id: peerId, role: "keeper" } })
      const command = await sendCommand(client(within(broker.url, "alpha")), { target: "keeper", action: "after restart" })
      expect((await call(session, "wait_for_command", { timeout: 5 })).command.id).toBe(command.id)
    } finally {
      await session.close()
    }
  })
})

describe("a project's scoped token over MCP", () => {
  const admin = "mcp-projects-admin"
  const broker = useBroker({ config: quietConfig, token: admin })
  const asAdmin = { headers: { authorization: `Bearer ${admin}` } }
  const mint = async (name: string, role: string, project: string): Promise<string> =>
    ok(await broker.client.post<{ token: string }>("/tokens", { name, role, project }, asAdmin), 201).token

  it("has its rights in its project's sessions, and opens none in another project", async () => {
    const agent = await mint("alpha-agent", "agent", "alpha")
    const projectAdmin = await mint("alpha-admin", "admin", "alpha")
    const session = await openSession(within(broker.url, "alpha"), "http", { token: agent })
    const adminSession = await openSession(within(broker.url, "alpha"), "sse", { token: projectAdmin })
    try {
      const listed = (await session.client.listTools()).tools.map((tool) => tool.name)
      expect(listed).toEqual(expect.arrayContaining(["connect", "send_command", "send_message"]))
      expect(listed).not.toContain("reset_broker")
      await join(session, "alpha-worker")
      await call(session, "send_message", { channel: "notes", message: "hi" })
      expect((await callError(session, "reset_broker")).code).toBe("project_admin_required")
      expect((await adminSession.client.listTools()).tools.map((tool) => tool.name)).toContain("reset_broker")
      await call(adminSession, "reset_broker")
    } finally {
      await Promise.all([session.close(), adminSession.close()])
    }
    // Under another project's path (or project default's) the guard refuses it before MCP sees it.
    for (const path of ["/mcp", "/p/beta/mcp"]) {
      const res = await fetch(`${broker.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${agent}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } }
        })
      })
      expect(res.status, path).toBe(403)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("forbidden_project")
    }
  })
})
