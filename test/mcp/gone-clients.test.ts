import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { client as rest, ok, sendCommand, waitFor } from "../http/client.js"
import { startBroker, type TestBroker } from "../support/broker.js"
import { call, join, openSession, peerStatus } from "./support.js"

/**
 * A client killed outright (SIGKILL, a closed laptop) sends no DELETE: its session lingers until the
 * idle sweep. Its stream closing is the sign it has gone, so its peer stops being kept online and
 * goes stale, then offline, like a silent REST peer; the commands it held return to the queue.
 */
describe("a client that goes away without ending its session", () => {
  let broker: TestBroker
  beforeAll(async () => {
    broker = await startBroker({
      config: { staleAfterMs: 300, offlineAfterMs: 900, sweepIntervalMs: 50, leaseMs: 600_000 },
      mcp: { sweepIntervalMs: 50, sessionIdleMs: 600_000 }
    })
  })
  afterAll(async () => {
    await broker?.close()
  })

  it("its peer goes offline and hands back what it held; a client that stays keeps its peer; one that returns is revived", async () => {
    const staying = await openSession(broker.url, "http")
    const leaving = await openSession(broker.url, "http")
    const stayingId = await join(staying, "stays")
    const leavingId = await join(leaving, "leaves")
    const sessionId = leaving.http!.sessionId!

    const command = await sendCommand(rest(broker.url), { target: "leaves", action: "hold-me" })
    const taken = await call(leaving, "wait_for_command", { timeout: 5 })
    expect(taken.command.id).toBe(command.id)

    // Closing the client object drops its stream and sends no DELETE: the session stays on the broker.
    await leaving.close()
    await waitFor(async () => (await peerStatus(broker.url, leavingId)) === "offline", {
      what: "the gone client's peer offline",
      timeoutMs: 15_000
    })
    const back = ok(await rest(broker.url).get(`/commands/${leavingId}`)) as { commands: Array<{ id: string; status: string }> }
    expect(back.commands.find((c) => c.id === command.id)?.status).toBe("pending")
    // The session is still there (no DELETE came), yet its peer was not kept online.
    expect(await peerStatus(broker.url, stayingId)).toBe("online")

    // The same session id calling again brings its peer back.
    const returned = await openSession(broker.url, "http", { sessionId })
    expect(await call(returned, "my_info")).toMatchObject({ you: { id: leavingId, status: "online" } })
    await returned.close()
    await staying.close()
  })
})
