import { mkdtemp, rm } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { client as rest, ok, quietConfig, sendCommand, waitFor, within } from "../http/client.js"
import { openSession, type McpSession } from "../mcp/support.js"
import { startBroker, type TestBroker } from "../support/broker.js"
import { spawnBroker } from "../support/process.js"
import { spawnBridge, validMeta, type BridgeSession } from "./support.js"

/**
 * The stdio bridge (`claude-ipc-broker mcp`) as a harness runs it: the real bin, spawned by the
 * MCP SDK's StdioClientTransport, against a real broker.
 */

const bridges: Array<BridgeSession> = []
const bridge = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const session = await spawnBridge(args, env)
  bridges.push(session)
  return session
}
afterEach(async () => {
  await Promise.all(bridges.splice(0).map((b) => b.close()))
})

type Result = { content: Array<{ type: string; text?: string }>; structuredContent?: Record<string, any>; isError?: boolean }
const call = async (session: BridgeSession, name: string, args: Record<string, unknown> = {}): Promise<Result> =>
  (await session.client.callTool({ name, arguments: args })) as Result
const textOf = (result: Result) => result.content.map((part) => part.text ?? "").join("\n")

const peersOf = async (url: string, role: string) =>
  (ok(await rest(url).get("/peers")).peers as Array<{ id: string; role: string; status: string }>).filter((p) => p.role === role)

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

describe("the stdio bridge against a running broker", () => {
  let broker: TestBroker
  beforeAll(async () => {
    broker = await startBroker({ config: quietConfig, mcp: { progressIntervalMs: 100 } })
  })
  afterAll(async () => {
    await broker?.close()
  })

  it("declares claude/channel and the inbox resource, and lists the broker's own tools", async () => {
    const session = await bridge(["--url", broker.url])
    const capabilities = session.client.getServerCapabilities()
    expect(capabilities?.experimental).toEqual({ "claude/channel": {} })
    expect(capabilities?.resources).toMatchObject({ subscribe: true })
    expect(session.client.getInstructions()).toMatch(/connect\(\)/)
    const direct = await openSession(broker.url, "http")
    try {
      const viaBridge = (await session.client.listTools()).tools
      const fromBroker = (await direct.client.listTools()).tools
      expect(viaBridge).toEqual(fromBroker)
      expect(viaBridge.map((tool) => tool.name)).toEqual(expect.arrayContaining(["connect", "wait_for_command", "subscribe", "unsubscribe"]))
    } finally {
      await direct.close()
    }
    expect((await session.client.listResources()).resources.map((r) => r.uri)).toEqual(["broker://inbox"])
  })

  it("--role registers at start; a REST send is pushed, stays pending, and is taken by wait_for_command and acked", async () => {
    const session = await bridge(["--url", broker.url, "--role", "pusher-1", "--capabilities", "build,test", "--label", "repo a"])
    const [peer] = await waitFor(async () => {
      const peers = await peersOf(broker.url, "pusher-1")
      return peers.length === 1 && peers[0]!.status === "online" ? peers : undefined
    })
    expect(session.client.getInstructions()).toMatch(/registered as pusher-1/)
    const command = await sendCommand(rest(broker.url), { target: "pusher-1", action: "start_server", params: { port: 7400 } })
    const push = await session.nextPush((p) => p.meta.command_id === command.id)
    expect(push.meta).toMatchObject({ kind: "command", command_id: command.id, from: "human" })
    expect(validMeta(push.meta)).toBe(true)
    expect(push.content).toContain("start_server")
    expect(push.content).toMatch(/wait_for_command/)
    // A push is a hint: the command is still pending, for whoever waits first.
    expect(ok(await rest(broker.url).get(`/commands?status=pending`)).commands.map((c: { id: string }) => c.id)).toContain(command.id)
    const taken = await call(session, "wait_for_command", { timeout: 5 })
    expect(taken.structuredContent?.command).toMatchObject({ id: command.id, status: "delivered", deliveredTo: peer!.id })
    const acked = await call(session, "ack_command", { id: command.id, result: { up: true } })
    expect(acked.structuredContent?.command).toMatchObject({ status: "acked", result: { up: true } })
  })

  it("pushes channel messages after subscribe (and --subscribe), signals it watches, and lists them in the inbox", async () => {
    const session = await bridge(["--url", broker.url, "--role", "listener", "--subscribe", "builds"])
    await waitFor(async () => (await peersOf(broker.url, "listener")).length === 1)
    await waitFor(async () => {
      const info = await call(session, "my_info")
      return info.structuredContent?.following.channels.some((c: { channel: string }) => c.channel === "builds")
    })
    ok(await rest(broker.url).post("/channels/builds/send", { text: "build 17 green" }))
    const message = await session.nextPush((p) => p.meta.kind === "message")
    expect(message.meta).toMatchObject({ channel: "builds", message_id: expect.any(String) })
    expect(message.content).toContain("build 17 green")

    const subscribed = await call(session, "subscribe", { channel: "alerts", signal: "deploy-ready" })
    expect(subscribed.isError).toBeFalsy()
    const before = session.pushes().length
    ok(await rest(broker.url).post("/signals/deploy-ready", { data: { build: "abc" } }))
    const fired = await session.nextPush((p) => p.meta.kind === "signal", before)
    expect(fired.meta.signal).toBe("deploy-ready")
    expect(fired.content).toContain("abc")

    ok(await rest(broker.url).post("/channels/alerts/send", { alert: "disk full" }))
    await session.nextPush((p) => p.meta.channel === "alerts")
    // Any tool result now carries the inbox: what is unread, and the fired signal.
    const status = await call(session, "list_peers")
    expect(status.structuredContent?.inbox.channels.map((c: { channel: string }) => c.channel).sort()).toEqual(["alerts", "builds"])
    expect(status.structuredContent?.inbox.signals.map((s: { name: string }) => s.name)).toEqual(["deploy-ready"])
    expect(textOf(status)).toMatch(/Inbox: .*unread on "alerts"/)
    // Reading catches up: the channel leaves the inbox.
    const read = await call(session, "read_messages", { channel: "alerts", since_id: 0 })
    expect(read.structuredContent?.inbox?.channels.map((c: { channel: string }) => c.channel)).toEqual(["builds"])
  })

  it("coalesces a burst of 50 commands into a few pushes; all 50 stay in the inbox", async () => {
    const session = await bridge(["--url", broker.url, "--role", "burst"])
    await waitFor(async () => (await peersOf(broker.url, "burst")).length === 1)
    await waitFor(async () => !(await call(session, "my_info")).isError && (await call(session, "my_info")).structuredContent?.connected)
    const api = rest(broker.url)
    const sent = await Promise.all(Array.from({ length: 50 }, (_, i) => sendCommand(api, { target: "burst", action: `job ${i}` })))
    // Every id was told of, in far fewer pushes than commands.
    const told = await waitFor(() => {
      const ids = new Set(session.pushes().flatMap((p) => (p.meta.command_ids ?? p.meta.command_id ?? "").split(",")))
      return sent.every((c) => ids.has(c.id)) ? session.pushes() : undefined
    })
    expect(told.length).toBeLessThanOrEqual(5)
    expect(told.some((p) => p.meta.count !== undefined && Number(p.meta.count) > 1)).toBe(true)
    const inbox = await session.client.readResource({ uri: "broker://inbox" })
    const parsed = JSON.parse((inbox.contents[0] as { text: string }).text)
    expect(parsed.commands.waiting).toBe(50)
    expect(new Set(parsed.commands.ids)).toEqual(new Set(sent.map((c) => c.id)))
    expect(ok(await api.get("/commands?status=pending&limit=100")).commands.filter((c: { target: string }) => c.target === "burst")).toHaveLength(50)
  })

  it("no push while the session is parked in wait_for_command: the wait takes the command", async () => {
    const session = await bridge(["--url", broker.url, "--role", "parked"])
    const [peer] = await waitFor(async () => {
      const peers = await peersOf(broker.url, "parked")
      return peers.length === 1 ? peers : undefined
    })
    const waiting = call(session, "wait_for_command", { timeout: 10 })
    await waitFor(() => broker.broker.activeWaits(peer!.id) > 0)
    const command = await sendCommand(rest(broker.url), { target: "parked", action: "now" })
    expect((await waiting).structuredContent?.command.id).toBe(command.id)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(session.pushes().filter((p) => p.meta.command_id === command.id)).toEqual([])
  })

  it("relays progress and keeps waits within 110 s", async () => {
    const session = await bridge(["--url", broker.url, "--role", "progress"])
    await waitFor(async () => (await call(session, "my_info")).structuredContent?.connected)
    const tools = (await session.client.listTools()).tools
    const wait = tools.find((tool) => tool.name === "wait_for_command")!
    expect((wait.inputSchema.properties as Record<string, { maximum?: number }>).timeout!.maximum).toBe(110)
    const progress: Array<{ progress: number; total?: number; message?: string }> = []
    const timedOut = (await session.client.callTool({ name: "wait_for_command", arguments: { timeout: 0.5 } }, undefined, {
      onprogress: (p) => progress.push(p)
    })) as Result
    expect(timedOut.structuredContent).toMatchObject({ command: null, timedOut: true })
    expect(textOf(timedOut)).toMatch(/Call wait_for_command again/)
    // The broker's progress, passed on under the client's own token.
    expect(progress.length).toBeGreaterThanOrEqual(2)
    expect(progress[0]).toMatchObject({ total: 0.5, message: expect.stringMatching(/waiting for a command for progress/) })
  })

  it("exits within 2 s when stdin closes, and its peer goes offline", async () => {
    const session = await spawnBridge(["--url", broker.url, "--role", "leaver"])
    await waitFor(async () => (await peersOf(broker.url, "leaver")).some((p) => p.status === "online"))
    const pid = session.transport.pid!
    const exited = new Promise<number>((resolve) => {
      const started = Date.now()
      const poll = setInterval(() => {
        try {
          process.kill(pid, 0)
        } catch {
          clearInterval(poll)
          resolve(Date.now() - started)
        }
      }, 20)
    })
    // Closing the transport ends the child's stdin; the SDK would SIGTERM it after 2 s, so the bridge
    // must be gone sooner, by itself.
    const closing = session.transport.close()
    expect(await exited).toBeLessThan(2_000)
    await closing
    expect(session.stderr()).toMatch(/stopping: stdin closed/)
    await waitFor(async () => (await peersOf(broker.url, "leaver")).every((p) => p.status === "offline"))
  })
})

describe("the stdio bridge across broker restarts", () => {
  it("file log: survives a restart under a live bridge as the same peer, and pushes resume", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "bridge-restart-"))
    let broker = await startBroker({ dataDir, memory: false, config: quietConfig })
    const port = Number(new URL(broker.url).port)
    try {
      const session = await bridge(["--url", broker.url, "--role", "survivor", "--subscribe", "news"])
      const [before] = await waitFor(async () => {
        const peers = await peersOf(broker.url, "survivor")
        return peers.length === 1 ? peers : undefined
      })
      await broker.close()
      broker = await startBroker({ dataDir, memory: false, port, config: quietConfig })
      // The bridge finds the broker again on its own: the subscription is renewed, the peer kept.
      await waitFor(async () => (await call(session, "my_info")).structuredContent?.following?.channels?.length === 1, {
        timeoutMs: 15_000
      })
      const after = await peersOf(broker.url, "survivor")
      expect(after.map((p) => p.id)).toEqual([before!.id])
      const count = session.pushes().length
      const command = await sendCommand(rest(broker.url), { target: "survivor", action: "after restart" })
      await session.nextPush((p) => p.meta.command_id === command.id, count)
      ok(await rest(broker.url).post("/channels/news/send", { text: "still here" }))
      await session.nextPush((p) => p.meta.channel === "news", count)
    } finally {
      await broker.close()
      await rm(dataDir, { recursive: true, force: true })
    }
  })

  it("memory log: registers again with its role after a restart", async () => {
    let broker = await startBroker({ config: quietConfig })
    const port = Number(new URL(broker.url).port)
    try {
      const session = await bridge(["--url", broker.url])
      const joined = await call(session, "connect", { role: "phoenix" })
      expect(joined.isError).toBeFalsy()
      await broker.close()
      broker = await startBroker({ port, config: quietConfig })
      await waitFor(async () => (await peersOf(broker.url, "phoenix")).length === 1, { timeoutMs: 15_000 })
      const command = await sendCommand(rest(broker.url), { target: "phoenix", action: "again" })
      const taken = await call(session, "wait_for_command", { timeout: 5 })
      expect(taken.structuredContent?.command?.id).toBe(command.id)
    } finally {
      await broker.close()
    }
  })

  it("a broker killed outright under a call in flight: the call answers broker_unreachable at once, not at its timeout", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "bridge-kill-"))
    const broker = await spawnBroker(["--data-dir", dataDir])
    try {
      const session = await bridge(["--url", broker.url, "--role", "orphan"])
      await waitFor(async () => (await peersOf(broker.url, "orphan")).length === 1, { timeoutMs: 15_000 })
      const inFlight = call(session, "wait_for_command", { timeout: 60 })
      // The wait is parked once the broker counts it.
      await waitFor(async () => /^claude_ipc_broker_waiters [1-9]/m.test(await (await fetch(`${broker.url}/metrics`)).text()), {
        what: "the wait parked"
      })
      await broker.stop("SIGKILL")
      const answered = await within(inFlight, 10_000, "the call in flight when the broker died")
      expect(answered.isError).toBe(true)
      expect(answered.structuredContent?.error.code).toBe("broker_unreachable")
      expect(textOf(answered)).toMatch(/stopped answering while wait_for_command was in flight.*call wait_for_command again/)
    } finally {
      await broker.stop("SIGKILL").catch(() => undefined)
      await rm(dataDir, { recursive: true, force: true })
    }
  })

  it("broker down at start: tools answer a clear error, then it links and registers once the broker is up", async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const session = await bridge(["--url", url, "--role", "early"])
    // The harness still gets a working server: the tool list, and a clear error per call.
    expect((await session.client.listTools()).tools.map((tool) => tool.name)).toContain("wait_for_command")
    const refused = await call(session, "my_info")
    expect(refused.isError).toBe(true)
    expect(refused.structuredContent?.error.code).toBe("broker_unreachable")
    expect(textOf(refused)).toMatch(/cannot be reached .*keeps trying/)
    const sent = { id: "" }
    const broker = await startBroker({ port, config: quietConfig })
    try {
      sent.id = (await sendCommand(rest(url), { target: "early", action: "waiting before the bridge linked" })).id
      await waitFor(async () => (await peersOf(url, "early")).length === 1, { timeoutMs: 15_000 })
      // What waited is told once the link is up.
      const push = await session.nextPush((p) => p.content.includes("waiting"))
      expect(push.meta.command_id).toBe(sent.id)
      expect(session.notifications.some((n) => n.method === "notifications/tools/list_changed")).toBe(true)
      expect((await call(session, "my_info")).structuredContent?.connected).toBe(true)
    } finally {
      await broker.close()
    }
  })
})

describe("pushes over /mcp (Streamable HTTP)", () => {
  let broker: TestBroker
  let sessions: Array<McpSession> = []
  beforeAll(async () => {
    broker = await startBroker({ config: quietConfig })
  })
  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.close()))
    await broker?.close()
  })

  it("sends claude/channel and resources/updated to a session that subscribed to broker://inbox", async () => {
    const session = await openSession(broker.url, "http")
    sessions.push(session)
    const seen: Array<{ method: string; params?: any }> = []
    session.client.fallbackNotificationHandler = async (n) => {
      seen.push(n)
    }
    const { ResourceUpdatedNotificationSchema } = await import("@modelcontextprotocol/sdk/types.js")
    session.client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => {
      seen.push(n)
    })
    await session.client.callTool({ name: "connect", arguments: { role: "http-worker" } })
    await session.client.subscribeResource({ uri: "broker://inbox" })
    // The standalone stream opens after initialize; give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 200))
    const command = await sendCommand(rest(broker.url), { target: "http-worker", action: "x" })
    await waitFor(() => seen.some((n) => n.method === "notifications/claude/channel" && n.params.meta.command_id === command.id))
    await waitFor(() => seen.some((n) => n.method === "notifications/resources/updated" && n.params.uri === "broker://inbox"))
  })
})

describe("the stdio bridge and the broker's token", () => {
  it("takes BROKER_TOKEN from its env; a wrong token is a clear broker_refused, not a hang", async () => {
    const broker = await startBroker({ config: quietConfig, token: "s3cret" })
    try {
      const good = await bridge(["--url", broker.url, "--role", "with-token"], { BROKER_TOKEN: "s3cret" })
      expect((await call(good, "my_info")).structuredContent?.connected).toBe(true)
      const bad = await bridge(["--url", broker.url], { BROKER_TOKEN: "wrong" })
      const refused = await call(bad, "my_info")
      expect(refused.structuredContent?.error.code).toBe("broker_refused")
      expect(textOf(refused)).toMatch(/401 unauthorized: .*--token or BROKER_TOKEN/)
    } finally {
      await broker.close()
    }
  })
})
