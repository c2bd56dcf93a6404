import { describe, expect, it } from "vitest"
import { client as rest, ok, quietConfig, sendCommand, waitFor, within } from "../http/client.js"
import { useBroker, useBrokers } from "../support/useBroker.js"
import { call, callError, callRaw, join, openSession, peerStatus, rawSession, textOf } from "./support.js"

/** Session lifecycles: closing, idling, body limits, and a broker restart under a live client. */

describe("closing a session takes its peer offline", () => {
  const broker = useBroker({ config: quietConfig })
  const brokers = useBrokers()

  it("Streamable HTTP: DELETE (terminateSession) ends the session; its held command returns to the queue", async () => {
    const session = await openSession(broker.url, "http")
    const peerId = await join(session, "backend")
    const command = await sendCommand(rest(broker.url), { target: "backend", action: "x" })
    await call(session, "wait_for_command", { timeout: 5 })
    await session.http!.terminateSession()
    await waitFor(async () => (await peerStatus(broker.url, peerId)) === "offline", { what: "peer offline" })
    const state = ok(await rest(broker.url).get(`/commands/${command.id}/result?timeout=0`))
    expect(state.command.status).toBe("pending")
    const events = ok(await rest(broker.url).get("/status")).peers.find((p: { id: string }) => p.id === peerId)
    expect(events.status).toBe("offline")
    await session.close()
  })

  it("legacy SSE: dropping the stream ends the session", async () => {
    const session = await openSession(broker.url, "sse")
    const peerId = await join(session, "frontend")
    expect(await peerStatus(broker.url, peerId)).toBe("online")
    await session.close()
    await waitFor(async () => (await peerStatus(broker.url, peerId)) === "offline", { what: "peer offline" })
    // Its endpoint is gone with it.
    const res = await fetch(`${broker.url}/mcp/messages?sessionId=nope`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" })
    })
    expect(res.status).toBe(404)
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/GET \/mcp\/sse/)
  })

  it("the broker's body limit applies to MCP posts", async () => {
    const small = await brokers.start({ config: { ...quietConfig, maxBodyBytes: 1024 } })
    const res = await fetch(`${small.url}/mcp`, {
      method: "POST",
      headers: { accept: "application/json, text/event-stream", "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { pad: "x".repeat(4096) } })
    })
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ jsonrpc: "2.0", error: { message: expect.stringMatching(/1024 bytes/) } })
    const bad = await fetch(`${small.url}/mcp`, {
      method: "POST",
      headers: { accept: "application/json, text/event-stream", "content-type": "application/json" },
      body: "{not json"
    })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ error: { code: -32700 } })
  })

  it("a request without a session id that is not an initialize is refused", async () => {
    const res = await fetch(`${broker.url}/mcp`, {
      method: "POST",
      headers: { accept: "application/json, text/event-stream", "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" })
    })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ error: { message: expect.stringMatching(/Mcp-Session-Id/) } })
  })
})

describe("idle sessions are swept", () => {
  const broker = useBroker({ config: quietConfig, mcp: { sessionIdleMs: 300, sweepIntervalMs: 50 } })

  it("a session with no stream and no request goes, and its peer with it", async () => {
    const raw = await rawSession(broker.url)
    const joined = await raw.request("tools/call", { name: "connect", arguments: { role: "sleepy" } })
    const peerId = joined.result.structuredContent.you.id as string
    await waitFor(async () => (await peerStatus(broker.url, peerId)) === "offline", { what: "idle peer offline" })
    // A session that keeps its standalone stream open is not idle.
    const live = await openSession(broker.url, "http")
    const liveId = await join(live, "awake")
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(await peerStatus(broker.url, liveId)).toBe("online")
    await live.close()
  })
})

describe("the peer of a live session stays online", () => {
  const brokers = useBrokers()

  it("with tiny staleness thresholds, an open session keeps its peer online; a silent REST peer goes", async () => {
    const broker = await brokers.start({
      config: { staleAfterMs: 200, offlineAfterMs: 400, sweepIntervalMs: 25 },
      mcp: { sweepIntervalMs: 25 }
    })
    const session = await openSession(broker.url, "sse")
    try {
      const peerId = await join(session, "worker")
      const restPeer = ok(await rest(broker.url).post("/peers/connect", { role: "rest-worker" }))
      await waitFor(async () => (await peerStatus(broker.url, restPeer.id)) === "offline", { what: "REST peer offline" })
      expect(await peerStatus(broker.url, peerId)).toBe("online")
    } finally {
      await session.close()
    }
  })

  it("sessions beyond the configured maximum are refused with 503", async () => {
    const broker = await brokers.start({ config: quietConfig, mcp: { maxSessions: 1 } })
    const first = await openSession(broker.url, "http")
    try {
      await expect(openSession(broker.url, "http")).rejects.toThrow(/503|too many/i)
      const sse = await fetch(`${broker.url}/mcp/sse`, { headers: { accept: "text/event-stream" } })
      expect(sse.status).toBe(503)
      expect(await call(first, "my_info")).toMatchObject({ connected: false })
    } finally {
      await first.close()
    }
  })
})

describe("a broker restart under a live client", () => {
  const brokers = useBrokers()

  it("file log: the old session id keeps working, as the same peer", async () => {
    const dataDir = await brokers.dataDir("mcp-restart-")
    let broker = await brokers.start({ dataDir, memory: false, config: quietConfig })
    const port = Number(new URL(broker.url).port)
    const session = await openSession(broker.url, "http")
    try {
      const peerId = await join(session, "backend")
      const sessionId = session.http!.sessionId!

      // A wait in flight when the broker stops is answered, not left hanging.
      const inFlight = callRaw(session, "wait_for_command", { timeout: 60 })
      await waitFor(() => broker.broker.activeWaits(peerId) > 0, { what: "the wait is parked" })
      await broker.close()
      const answered = await within(inFlight, 10_000, "the in-flight wait")
      expect(answered.isError).toBe(true)
      expect(answered.structuredContent?.error.code).toBe("broker_restarting")

      broker = await brokers.start({ dataDir, memory: false, port, config: quietConfig })
      const info = await call(session, "my_info")
      expect(info).toMatchObject({ connected: true, resumed: true, you: { id: peerId, role: "backend", status: "online" } })

      const waiting = call(session, "wait_for_command", { timeout: 20 })
      const command = await sendCommand(rest(broker.url), { target: "backend", action: "after-restart" })
      expect((await within(waiting, 15_000, "wait after restart")).command.id).toBe(command.id)
      await call(session, "ack_command", { id: command.id, result: "ok" })

      // A client object created afresh with the old session id (no initialize) works as well.
      const again = await openSession(broker.url, "http", { sessionId })
      expect(await call(again, "my_info")).toMatchObject({ you: { id: peerId } })
      await again.close()
    } finally {
      await session.close()
    }
  })

  it("memory log: the session keeps working and tools say to connect(role) again", async () => {
    let broker = await brokers.start({ config: quietConfig })
    const port = Number(new URL(broker.url).port)
    const session = await openSession(broker.url, "http")
    try {
      await join(session, "backend")
      await broker.close()
      broker = await brokers.start({ port, config: quietConfig })
      const info = await callRaw(session, "my_info")
      expect(info.structuredContent).toMatchObject({ connected: false, resumed: true })
      expect(textOf(info)).toMatch(/connect\(role\) again/)
      const error = await callError(session, "wait_for_command", { timeout: 0 })
      expect(error).toMatchObject({ code: "not_connected", message: expect.stringMatching(/restart/) })
      await join(session, "backend")
      expect(await call(session, "wait_for_command", { timeout: 0.1 })).toMatchObject({ timedOut: true })
    } finally {
      await session.close()
    }
  })
})
