import { describe, expect, it } from "vitest"
import { openSession } from "../mcp/support.js"
import { useBroker, useBrokers } from "../support/useBroker.js"
import { client, ok, sleep, waitFor, type Peer } from "./client.js"

/**
 * Liveness out of the log: a sign of life of an online peer (a heartbeat, a wait, an MCP session
 * kept alive, any tool call) is kept in memory; the log records only transitions. An idle session
 * costs the log nothing, and the peer stays online.
 */

const fast = { staleAfterMs: 600, offlineAfterMs: 3_000, sweepIntervalMs: 50, leaseMs: 600_000 }

const eventsOf = async (url: string, peerId: string): Promise<Array<string>> =>
  (await (await fetch(`${url}/log`)).text())
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as { type: string; data: { peerId?: string } })
    .filter((event) => event.data.peerId === peerId)
    .map((event) => event.type)

describe("liveness", () => {
  const broker = useBroker({ config: fast, mcp: { sweepIntervalMs: 50 } })

  it("heartbeats of an online peer append nothing, keep it online, and show in GET /peers", async () => {
    const c = client(broker.url)
    const peer = ok(await c.post<Peer>("/peers/connect", { role: "beating", capabilities: [] }))
    const head = ok(await c.get<{ log: { head: number } }>("/status")).log.head
    for (let i = 0; i < 8; i++) {
      const beat = ok(await c.post<Peer>(`/peers/${peer.id}/heartbeat`))
      expect(beat.status).toBe("online")
      await sleep(200)
    }
    // 1.6 s of heartbeats, well past the 0.6 s staleness threshold: online, and not one event.
    expect(ok(await c.get<{ log: { head: number } }>("/status")).log.head).toBe(head)
    const seen = ok(await c.get<Peer>(`/peers/${peer.id}`))
    expect(seen.status).toBe("online")
    expect(Date.parse(seen.lastSeenAt)).toBeGreaterThan(Date.parse(peer.lastSeenAt) + 1_000)
    // Silent, it goes stale (an event: a transition), and a heartbeat brings it back (another).
    await waitFor(async () => ok(await c.get<Peer>(`/peers/${peer.id}`)).status === "stale")
    expect(ok(await c.post<Peer>(`/peers/${peer.id}/heartbeat`)).status).toBe("online")
    expect(await eventsOf(broker.url, peer.id)).toEqual(["peer.connected", "peer.went_stale", "peer.heartbeat"])
  })

  it("an idle MCP session keeps its peer online without adding events", async () => {
    const session = await openSession(broker.url, "http")
    try {
      const joined = await session.client.callTool({ name: "connect", arguments: { role: "idle-agent" } })
      const peerId = (joined.structuredContent as { you: Peer }).you.id
      await sleep(2_000)
      expect(ok(await client(broker.url).get<Peer>(`/peers/${peerId}`)).status).toBe("online")
      expect(await eventsOf(broker.url, peerId)).toEqual(["peer.connected"])
    } finally {
      await session.close()
    }
  })

  it("a wait longer than the offline threshold keeps its peer online, without heartbeat events", async () => {
    const c = client(broker.url)
    const peer = ok(await c.post<Peer>("/peers/connect", { role: "waiting", capabilities: [] }))
    const waited = ok(await c.get<{ command: null }>(`/commands/${peer.id}/wait?timeout=3500`))
    expect(waited.command).toBeNull()
    expect(ok(await c.get<Peer>(`/peers/${peer.id}`)).status).toBe("online")
    expect(await eventsOf(broker.url, peer.id)).toEqual(["peer.connected"])
  })
})

describe("liveness across a restart", () => {
  const brokers = useBrokers()

  it("gives every present peer a fresh window: a long-lived peer is not swept the moment the broker is back", async () => {
    const dataDir = await brokers.dataDir("liveness-")
    const first = await brokers.start({ dataDir, memory: false, config: fast })
    const c = client(first.url)
    const peer = ok(await c.post<Peer>("/peers/connect", { role: "old-timer", capabilities: [] }))
    for (let i = 0; i < 6; i++) {
      await sleep(200)
      ok(await c.post(`/peers/${peer.id}/heartbeat`))
    }
    // Its last recorded sign of life is now over a second old, twice the staleness threshold.
    await first.close()
    const again = client((await brokers.start({ dataDir, memory: false, config: fast })).url)
    await sleep(300)
    expect(ok(await again.get<Peer>(`/peers/${peer.id}`)).status).toBe("online")
    await waitFor(async () => ok(await again.get<Peer>(`/peers/${peer.id}`)).status === "stale")
  })
})
