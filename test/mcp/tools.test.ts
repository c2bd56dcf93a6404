import { Effect } from "effect"
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { client as rest, ok, quietConfig, sendCommand, within } from "../http/client.js"
import { startBroker, type TestBroker } from "../support/broker.js"
import { call, callError, callRaw, join, openSession, textOf, type McpSession, type TransportKind } from "./support.js"

/**
 * The tools over both transports, driven by the SDK's own Client against the real broker. Each
 * pairing runs the same scenarios: the session under test speaks `kind`, its counterpart the other.
 */

const allTools = [
  "connect",
  "my_info",
  "list_peers",
  "send_command",
  "wait_for_command",
  "ack_command",
  "wait_for_result",
  "cancel_command",
  "command_status",
  "send_message",
  "read_messages",
  "signal",
  "wait_for_signal",
  "clear_signal",
  "subscribe",
  "unsubscribe",
  "broker_status",
  "reset_broker",
  "disconnect"
]

let broker: TestBroker
let sessions: Array<McpSession> = []

const open = async (kind: TransportKind) => {
  const session = await openSession(broker.url, kind)
  sessions.push(session)
  return session
}

beforeAll(async () => {
  broker = await startBroker({ config: quietConfig })
})
afterAll(async () => {
  await broker?.close()
})
beforeEach(async () => {
  ok(await rest(broker.url).post("/reset"))
})
afterEach(async () => {
  await Promise.all(sessions.map((session) => session.close()))
  sessions = []
})

describe.each([
  ["http", "sse"],
  ["sse", "http"]
] as Array<[TransportKind, TransportKind]>)("over %s (counterpart over %s)", (kind, other) => {
  it("lists the tools, with the wait timeouts in seconds", async () => {
    const session = await open(kind)
    const { tools } = await session.client.listTools()
    expect(tools.map((tool) => tool.name).sort()).toEqual([...allTools].sort())
    for (const tool of tools) {
      expect(tool.description?.length, tool.name).toBeGreaterThan(10)
      const properties = (tool.inputSchema.properties ?? {}) as Record<string, { description?: string; maximum?: number }>
      for (const name of ["timeout", "wait", "ttl"]) {
        if (properties[name]) expect(properties[name]!.description, `${tool.name}.${name}`).toMatch(/seconds/)
      }
      // Waits fit the clients: Claude Code backgrounds a call after 2 minutes.
      for (const name of ["timeout", "wait"]) {
        if (properties[name]) expect(properties[name]!.maximum, `${tool.name}.${name}`).toBe(110)
      }
    }
    expect(session.client.getInstructions()).toMatch(/connect\(\)/)
    // The tool list is read by every session on every turn: keep it small (docs/mcp.md has the count).
    expect(JSON.stringify({ tools }).length).toBeLessThan(5_900)
  })

  it("connect() without a role registers nothing and shows roles taken and free", async () => {
    const worker = await open(other)
    await join(worker, "backend")
    await sendCommand(rest(broker.url), { target: "tester", action: "e2e" })
    const session = await open(kind)
    const before = (await rest(broker.url).get("/peers")).body.peers.length
    const shown = await call(session, "connect")
    expect(shown.connected).toBe(false)
    expect(shown.roles.taken).toEqual(["backend"])
    expect(shown.roles.free).toContain("tester")
    expect(shown.waiting).toEqual({ tester: 1 })
    expect(shown.online.map((peer: { role: string }) => peer.role)).toEqual(["backend"])
    expect(shown.next).toMatch(/ask the user/i)
    expect((await rest(broker.url).get("/peers")).body.peers.length).toBe(before)
  })

  it("tools that act as a peer fail with a clear tool error before connect(role)", async () => {
    const session = await open(kind)
    for (const [name, args] of [
      ["wait_for_command", { timeout: 0 }],
      ["send_command", { target: "x", action: "y" }],
      ["ack_command", { id: "cmd-1" }],
      ["send_message", { channel: "c", message: "m" }],
      ["signal", { name: "s" }]
    ] as const) {
      const error = await callError(session, name, args)
      expect(error.code, name).toBe("not_connected")
      expect(error.message).toMatch(/connect\(/)
    }
    expect(await call(session, "my_info")).toMatchObject({ connected: false, you: null, transport: kind })
  })

  it("two sessions in different roles: send → wait → ack → wait_for_result", async () => {
    const orchestrator = await open(kind)
    const backend = await open(other)
    const orchestratorId = await join(orchestrator, "orchestrator")
    const backendId = await join(backend, "backend")

    const waiting = call(backend, "wait_for_command", { timeout: 20 })
    const sent = await call(orchestrator, "send_command", {
      target: "backend",
      action: "build",
      params: { target: "api" }
    })
    expect(sent.command).toMatchObject({ target: "backend", action: "build", from: orchestratorId })
    // Pending, or already delivered if the backend's wait was parked when the command was sent
    // (its claim is appended together with the command).
    expect(sent.command.status === "pending" || sent.command.deliveredTo === backendId).toBe(true)
    expect(sent.note).toBeNull()

    const got = await within(waiting, 15_000, "wait_for_command")
    expect(got).toMatchObject({ timedOut: false, redelivered: false })
    expect(got.command).toMatchObject({
      id: sent.command.id,
      action: "build",
      params: { target: "api" },
      status: "delivered",
      deliveredTo: backendId
    })
    expect(got.command.leaseExpiresAt).toEqual(expect.any(String))

    const result = call(orchestrator, "wait_for_result", { command_id: sent.command.id, timeout: 20 })
    const acked = await call(backend, "ack_command", { id: sent.command.id, result: { built: true } })
    expect(acked.command).toMatchObject({ status: "acked", result: { built: true } })
    const done = await within(result, 15_000, "wait_for_result")
    expect(done).toMatchObject({ timedOut: false, command: { status: "acked", result: { built: true } } })

    // Either session can look at it: who sent it, who took it, who acked it.
    const status = await callRaw(backend, "command_status", { id: sent.command.id })
    const detail = status.structuredContent?.command as { attempts: number; history: Array<{ type: string; by: string | null }> }
    expect(detail).toMatchObject({ status: "acked", attempts: 1 })
    expect(detail.history.map((entry) => [entry.type, entry.by])).toEqual([
      ["command.sent", orchestratorId],
      ["command.delivered", backendId],
      ["command.acked", backendId]
    ])
    expect(textOf(status)).toMatch(/command\.delivered by mcp-/)
    expect((await callError(backend, "command_status", { id: "cmd-nope" })).code).toBe("not_found")

    const failed = await call(orchestrator, "send_command", { target: backendId, action: "deploy" })
    const got2 = await call(backend, "wait_for_command", { timeout: 10 })
    expect(got2.command.id).toBe(failed.command.id)
    await call(backend, "ack_command", { id: failed.command.id, ok: false, result: "no credentials" })
    const outcome = await callRaw(orchestrator, "wait_for_result", { command_id: failed.command.id, timeout: 5 })
    expect(outcome.structuredContent?.command).toMatchObject({ status: "failed", result: "no credentials" })
    expect(textOf(outcome)).toMatch(/FAILED/)
  })

  it("a command sent over REST reaches the session that waits for its role", async () => {
    const session = await open(kind)
    const peerId = await join(session, "frontend")
    const waiting = call(session, "wait_for_command", { timeout: 20 })
    const command = await sendCommand(rest(broker.url), { target: "frontend", action: "restyle", params: [1, 2] })
    const got = await within(waiting, 15_000, "wait_for_command")
    expect(got.command).toMatchObject({ id: command.id, params: [1, 2], deliveredTo: peerId })
    await call(session, "ack_command", { id: command.id, result: "done" })
    const body = ok(await rest(broker.url).get(`/commands/${command.id}/result?timeout=0`))
    expect(body.command).toMatchObject({ status: "acked", result: "done" })
  })

  it("a wait that finds nothing times out and says to wait again", async () => {
    const session = await open(kind)
    await join(session, "idle")
    const result = await callRaw(session, "wait_for_command", { timeout: 0.2 })
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toMatchObject({ command: null, timedOut: true })
    expect(textOf(result)).toMatch(/wait_for_command again/)
  })

  it("channels: post, read since an id, and a waiting read woken by a post", async () => {
    const writer = await open(kind)
    const reader = await open(other)
    await join(writer, "backend")
    await join(reader, "tester")
    await call(writer, "send_message", { channel: "results", message: { step: 1 } })
    await call(writer, "send_message", { channel: "results", message: "two" })

    const all = await call(reader, "read_messages", { channel: "results" })
    expect(all.messages.map((m: { data: unknown }) => m.data)).toEqual([{ step: 1 }, "two"])
    expect(all.lastId).toBe(2)
    const after1 = await call(reader, "read_messages", { channel: "results", since_id: 1 })
    expect(after1.messages.map((m: { id: number }) => m.id)).toEqual([2])

    const empty = await call(reader, "read_messages", { channel: "results", since_id: 2 })
    expect(empty).toMatchObject({ messages: [], lastId: 2 })

    const waiting = call(reader, "read_messages", { channel: "results", since_id: 2, wait: 20 })
    const posted = await call(writer, "send_message", { channel: "results", message: { step: 3 } })
    const woke = await within(waiting, 15_000, "waiting read")
    expect(woke.messages).toMatchObject([{ id: 3, data: { step: 3 }, from: posted.message.from }])
  })

  it("channels: a read behind a retention trim gets what is left and is told what it missed", async () => {
    const writer = await open(kind)
    const reader = await open(other)
    await join(writer, "backend")
    await join(reader, "tester")
    for (let step = 1; step <= 4; step++) await call(writer, "send_message", { channel: "trimmed", message: { step } })
    // The sweeper's decision, recorded as it would be: keep the messages from id 3 on.
    const third = broker.broker.projection.channels.get("trimmed")!.context.seqs[2]!
    await Effect.runPromise(broker.broker.record([{ type: "channel.trimmed", data: { channel: "trimmed", beforeSeq: third, reason: "max_messages" } }]))

    const raw = await callRaw(reader, "read_messages", { channel: "trimmed", since_id: 1 })
    expect(raw.structuredContent).toMatchObject({ firstId: 3, lastId: 4 })
    expect((raw.structuredContent as { messages: Array<{ id: number }> }).messages.map((m) => m.id)).toEqual([3, 4])
    expect(textOf(raw)).toMatch(/Message #2 was dropped by retention/)
  })

  it("signals: a wait woken by signal, a set signal answers at once, clear re-arms it", async () => {
    const a = await open(kind)
    const b = await open(other)
    await join(a, "orchestrator")
    await join(b, "tester")

    const waiting = call(b, "wait_for_signal", { name: "ready-for-e2e", timeout: 20 })
    await call(a, "signal", { name: "ready-for-e2e", data: { build: 42 } })
    const woke = await within(waiting, 15_000, "wait_for_signal")
    expect(woke).toMatchObject({ timedOut: false, signal: { name: "ready-for-e2e", fired: true, data: { build: 42 } } })

    expect(await call(b, "wait_for_signal", { name: "ready-for-e2e", timeout: 5 })).toMatchObject({ timedOut: false })
    expect((await call(a, "clear_signal", { name: "ready-for-e2e" })).signal.fired).toBe(false)
    const timedOut = await call(b, "wait_for_signal", { name: "ready-for-e2e", timeout: 0.2 })
    expect(timedOut).toMatchObject({ timedOut: true, signal: { fired: false } })
  })

  it("reports bad arguments, unknown commands and unknown tools as tool errors", async () => {
    const session = await open(kind)
    await join(session, "backend")
    const bad = await callError(session, "wait_for_command", { timeout: "soon" })
    expect(bad.code).toBe("bad_request")
    expect(bad.message).toMatch(/timeout/)
    expect((await callError(session, "send_command", { target: "not a name!", action: "x" })).code).toBe("bad_request")
    expect((await callError(session, "ack_command", { id: "cmd-nope" })).code).toBe("not_found")
    expect((await callError(session, "wait_for_result", { command_id: "cmd-nope", timeout: 0 })).code).toBe("not_found")
    expect((await callError(session, "no_such_tool")).code).toBe("unknown_tool")
    // The session is fine afterwards.
    expect(await call(session, "my_info")).toMatchObject({ connected: true })
  })

  it("my_info, list_peers, broker_status and disconnect", async () => {
    const a = await open(kind)
    const b = await open(other)
    const aId = await join(a, "backend")
    await join(b, "frontend")
    const sent = await call(b, "send_command", { target: "backend", action: "x" })
    await call(a, "wait_for_command", { timeout: 5 })

    const info = await call(a, "my_info")
    expect(info).toMatchObject({ connected: true, you: { id: aId, role: "backend" }, holding: [{ id: sent.command.id }] })
    const peers = await call(a, "list_peers")
    expect(peers.peers.map((peer: { role: string }) => peer.role).sort()).toEqual(["backend", "frontend"])
    const status = await call(a, "broker_status")
    expect(status.commandCounts.delivered).toBe(1)
    expect(status.recentCommands[0]).toMatchObject({ id: sent.command.id, status: "delivered" })

    expect(await call(a, "disconnect")).toMatchObject({ connected: false, you: { id: aId, status: "offline" } })
    // Leaving hands the command back to the queue.
    const back = ok(await rest(broker.url).get(`/commands/${sent.command.id}/result?timeout=0`))
    expect(back.command.status).toBe("pending")
    expect((await callError(a, "wait_for_command", { timeout: 0 })).code).toBe("not_connected")
  })

  it("reset_broker forgets every identity; tools say to connect again", async () => {
    const a = await open(kind)
    const b = await open(other)
    await join(a, "backend")
    await join(b, "frontend")
    await call(a, "reset_broker")
    const error = await callError(a, "send_message", { channel: "c", message: 1 })
    expect(error.code).toBe("not_connected")
    expect(error.message).toMatch(/connect\(role\)/)
    const gone = await callError(b, "signal", { name: "s" })
    expect(gone.code).toBe("not_connected")
    expect(gone.message).toMatch(/reset/)
    await join(b, "frontend")
    expect(await call(b, "signal", { name: "s" })).toMatchObject({ signal: { fired: true } })
  })
})
