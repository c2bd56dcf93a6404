import { afterEach, describe, expect, it } from "vitest"
import { client as rest, ok, quietConfig, sendCommand, sleep, waitFor, within } from "../http/client.js"
import { useBroker } from "../support/useBroker.js"
import { call, callRaw, join, openSession, rawSession, textOf, type McpSession, type TransportKind } from "./support.js"

/**
 * Long waits as real clients live them: progress while parked, cancellation that claims nothing,
 * a dropped request that ends its wait, and commands that are never lost between the two.
 */

const broker = useBroker({ config: quietConfig, mcp: { progressIntervalMs: 50 } }, { resetBeforeEach: true })
let sessions: Array<McpSession> = []

const open = async (kind: TransportKind) => {
  const session = await openSession(broker.url, kind)
  sessions.push(session)
  return session
}

const commandStatus = async (id: string): Promise<string> =>
  ok(await rest(broker.url).get(`/commands/${id}/result?timeout=0`)).command.status

afterEach(async () => {
  await Promise.all(sessions.map((session) => session.close()))
  sessions = []
})

describe.each(["http", "sse"] as Array<TransportKind>)("over %s", (kind) => {
  it("a wait reports progress while it is parked", async () => {
    const session = await open(kind)
    await join(session, "backend")
    const progress: Array<{ progress: number; total?: number; message?: string }> = []
    const result = await call(session, "wait_for_command", { timeout: 0.5 }, { onprogress: (p) => progress.push(p) })
    expect(result.timedOut).toBe(true)
    expect(progress.length).toBeGreaterThan(0)
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.progress).toBeGreaterThan(progress[i - 1]!.progress)
    expect(progress[0]).toMatchObject({ total: 0.5, message: expect.stringMatching(/waiting for a command/) })
  })

  it("a cancelled wait ends at once and claims nothing; the next waiter gets the command", async () => {
    const first = await open(kind)
    const second = await open(kind)
    const firstId = await join(first, "worker")
    await join(second, "worker")

    const controller = new AbortController()
    const cancelled = callRaw(first, "wait_for_command", { timeout: 60 }, { signal: controller.signal })
    await waitFor(() => broker.broker.activeWaits(firstId) > 0, { what: "the wait is parked" })
    controller.abort()
    await expect(within(cancelled, 10_000, "cancelled call")).rejects.toThrow()
    await waitFor(() => broker.broker.activeWaits(firstId) === 0, { what: "the server-side wait ended" })

    const command = await sendCommand(rest(broker.url), { target: "worker", action: "lint" })
    await sleep(50)
    expect(await commandStatus(command.id)).toBe("pending")
    const got = await call(second, "wait_for_command", { timeout: 10 })
    expect(got.command.id).toBe(command.id)
    // The cancelled session is fine and waits again.
    expect(await call(first, "wait_for_command", { timeout: 0.1 })).toMatchObject({ timedOut: true })
  })

  it("waits for results, signals and messages are cancellable too", async () => {
    const session = await open(kind)
    const peerId = await join(session, "orchestrator")
    const sent = await call(session, "send_command", { target: "nobody", action: "x" })
    for (const [name, args] of [
      ["wait_for_result", { command_id: sent.command.id, timeout: 60 }],
      ["wait_for_signal", { name: "never", timeout: 60 }],
      ["read_messages", { channel: "quiet", wait: 60 }]
    ] as const) {
      const controller = new AbortController()
      const pending = callRaw(session, name, args, { signal: controller.signal })
      await sleep(100)
      controller.abort()
      await expect(within(pending, 10_000, name)).rejects.toThrow()
    }
    expect(await call(session, "my_info")).toMatchObject({ you: { id: peerId } })
  })
})

describe("delivery is at least once", () => {
  it("a dropped Streamable HTTP request ends its wait at once; the command stays queued", async () => {
    const raw = await rawSession(broker.url)
    const joined = await raw.request("tools/call", { name: "connect", arguments: { role: "dropper" } })
    const peerId = joined.result.structuredContent.you.id as string
    const controller = new AbortController()
    const dropped = raw
      .request("tools/call", { name: "wait_for_command", arguments: { timeout: 60 } }, { signal: controller.signal })
      .catch((error: unknown) => error)
    await waitFor(() => broker.broker.activeWaits(peerId) > 0, { what: "the wait is parked" })
    controller.abort()
    await dropped
    await waitFor(() => broker.broker.activeWaits(peerId) === 0, { what: "the dropped wait ended", timeoutMs: 5_000 })
    const command = await sendCommand(rest(broker.url), { target: "dropper", action: "x" })
    await sleep(50)
    expect(await commandStatus(command.id)).toBe("pending")
    const again = await raw.request("tools/call", { name: "wait_for_command", arguments: { timeout: 5 } })
    expect(again.result.structuredContent.command.id).toBe(command.id)
  })

  it("a command this peer holds but the session never showed is handed again before new ones", async () => {
    const session = await open("http")
    const peerId = await join(session, "backend")
    const older = await sendCommand(rest(broker.url), { target: "backend", action: "first" })
    const newer = await sendCommand(rest(broker.url), { target: "backend", action: "second" })
    // Claimed for this peer behind the session's back (as a wait whose answer was lost would).
    const claimed = ok(await rest(broker.url).get(`/commands/${peerId}/wait?timeout=1000`))
    expect(claimed.command.id).toBe(older.id)

    const again = await callRaw(session, "wait_for_command", { timeout: 5 })
    expect(again.structuredContent).toMatchObject({ redelivered: true, command: { id: older.id, status: "delivered" } })
    expect(textOf(again)).toMatch(/not acked/)
    const next = await call(session, "wait_for_command", { timeout: 5 })
    expect(next).toMatchObject({ redelivered: false, command: { id: newer.id } })
    await call(session, "ack_command", { id: older.id, result: 1 })
    await call(session, "ack_command", { id: newer.id, result: 2 })
    expect(await call(session, "wait_for_command", { timeout: 0.1 })).toMatchObject({ timedOut: true })
  })
})
