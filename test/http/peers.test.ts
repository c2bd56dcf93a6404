import { describe, expect, it } from "vitest"
import { useBroker, useBrokers } from "../support/useBroker.js"
import { client, connect, expectError, ISO_UTC, ok, quietConfig, type Peer, waitFor } from "./client.js"

describe("peers", () => {
  const broker = useBroker({ config: quietConfig }, { resetBeforeEach: true })
  const c = broker.client

  it("connect registers an online peer and answers 200 with the Peer", async () => {
    const res = await c.post<Peer>("/peers/connect", { role: "backend", capabilities: ["tcp", "server"] })
    const peer = ok(res, 200)
    // At least the spec's fields (extra fields are allowed).
    expect(peer).toMatchObject({
      id: expect.any(String),
      role: "backend",
      capabilities: ["tcp", "server"],
      name: null,
      status: "online",
      connectedAt: expect.stringMatching(ISO_UTC),
      lastSeenAt: expect.stringMatching(ISO_UTC)
    })
    expect(peer.id.length).toBeGreaterThan(0)

    const listed = ok(await c.get<{ peers: Array<Peer> }>("/peers"))
    expect(listed.peers).toEqual([peer])
  })

  it("keeps the optional name and gives distinct ids to distinct peers", async () => {
    const a = await connect(c, { role: "backend", name: "api server" })
    const b = await connect(c, { role: "backend" })
    expect(a.name).toBe("api server")
    expect(a.id).not.toBe(b.id)
    const { peers } = ok(await c.get<{ peers: Array<Peer> }>("/peers"))
    expect(peers.map((p) => p.id).sort()).toEqual([a.id, b.id].sort())
  })

  it("connect with an unknown id registers a new peer with that id", async () => {
    const peer = await connect(c, { id: "frontend-1", role: "frontend", capabilities: ["browser"] })
    expect(peer.id).toBe("frontend-1")
    expect(peer.status).toBe("online")
    const { peers } = ok(await c.get<{ peers: Array<Peer> }>("/peers"))
    expect(peers.map((p) => p.id)).toEqual(["frontend-1"])
  })

  it("connect with a known id reconnects that peer and may update role and capabilities", async () => {
    const first = await connect(c, { role: "backend", capabilities: ["tcp"] })
    ok(await c.post(`/peers/${first.id}/disconnect`))

    const again = await connect(c, { id: first.id, role: "worker", capabilities: ["tcp", "gpu"] })
    expect(again.id).toBe(first.id)
    expect(again.status).toBe("online")
    expect(again.role).toBe("worker")
    expect(again.capabilities).toEqual(["tcp", "gpu"])

    const { peers } = ok(await c.get<{ peers: Array<Peer> }>("/peers"))
    expect(peers).toHaveLength(1)
    expect(peers[0]).toMatchObject({ id: first.id, role: "worker", status: "online" })
  })

  it("heartbeat answers the Peer and moves lastSeenAt forward", async () => {
    const peer = await connect(c, { role: "backend" })
    const res = await c.post<Peer>(`/peers/${peer.id}/heartbeat`)
    const beat = ok(res)
    expect(beat).toMatchObject({ id: peer.id, role: "backend", status: "online" })
    expect(beat.lastSeenAt).toMatch(ISO_UTC)
    expect(Date.parse(beat.lastSeenAt)).toBeGreaterThanOrEqual(Date.parse(peer.lastSeenAt))
    expect(beat.connectedAt).toBe(peer.connectedAt)
  })

  it("disconnect answers the Peer with status offline, and it stays listed as offline", async () => {
    const peer = await connect(c, { role: "backend" })
    const gone = ok(await c.post<Peer>(`/peers/${peer.id}/disconnect`))
    expect(gone).toMatchObject({ id: peer.id, role: "backend", status: "offline" })

    const { peers } = ok(await c.get<{ peers: Array<Peer> }>("/peers"))
    expect(peers.find((p) => p.id === peer.id)?.status).toBe("offline")
  })

  it("discover lists only online peers and the roles they hold", async () => {
    const backend = await connect(c, { role: "backend", capabilities: ["tcp"] })
    const frontend = await connect(c, { role: "frontend" })
    const tester = await connect(c, { role: "tester" })
    const backend2 = await connect(c, { role: "backend" })
    ok(await c.post(`/peers/${tester.id}/disconnect`))

    const found = ok(await c.get<{ peers: Array<Peer>; roles: Array<string> }>("/peers/discover"))
    expect(found.peers.map((p) => p.id).sort()).toEqual([backend.id, frontend.id, backend2.id].sort())
    expect(found.peers.every((p) => p.status === "online")).toBe(true)
    expect([...found.roles].sort()).toEqual(["backend", "frontend"])
  })

  it("discover on an empty broker is empty, not an error", async () => {
    const found = ok(await c.get("/peers/discover"))
    expect(found).toEqual({ peers: [], roles: [] })
  })

  it("heartbeat and disconnect of an unknown peer are 404", async () => {
    expectError(await c.post("/peers/nobody/heartbeat"), 404, "not_found")
    expectError(await c.post("/peers/nobody/disconnect"), 404, "not_found")
  })
})

describe("peer liveness (tiny thresholds)", () => {
  const broker = useBroker({ config: { staleAfterMs: 200, offlineAfterMs: 1_500, sweepIntervalMs: 50, leaseMs: 600_000 } })
  const c = broker.client
  const brokers = useBrokers()

  const statusOf = async (id: string) => {
    const { peers } = ok(await c.get<{ peers: Array<Peer> }>("/peers"))
    return peers.find((p) => p.id === id)?.status
  }

  it("a silent peer becomes stale, then offline", async () => {
    const peer = await connect(c, { role: "sleeper" })
    const seen = new Set<string | undefined>()
    await waitFor(
      async () => {
        const status = await statusOf(peer.id)
        seen.add(status)
        return status === "offline"
      },
      { timeoutMs: 15_000, intervalMs: 20, what: "peer offline" }
    )
    // It must have gone through stale on the way (the log records both transitions).
    const log = await fetch(`${broker.url}/log`).then((r) => r.text())
    const types = log
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as { type: string; data: { peerId?: string } })
      .filter((e) => e.data.peerId === peer.id)
      .map((e) => e.type)
    expect(types).toEqual(["peer.connected", "peer.went_stale", "peer.went_offline"])

    // An offline peer is not discoverable.
    const found = ok(await c.get<{ peers: Array<Peer> }>("/peers/discover"))
    expect(found.peers.map((p) => p.id)).not.toContain(peer.id)
  }, 20_000)

  it("a stale peer that heart-beats is online again", async () => {
    // A wide stale window so the peer cannot slip through to offline while we look.
    const slow = await brokers.start({
      config: { staleAfterMs: 200, offlineAfterMs: 600_000, sweepIntervalMs: 50, leaseMs: 600_000 }
    })
    const sc = client(slow.url)
    const peer = await connect(sc, { role: "sleeper" })
    await waitFor(
      async () => {
        const { peers } = ok(await sc.get<{ peers: Array<Peer> }>("/peers"))
        return peers.find((p) => p.id === peer.id)?.status === "stale"
      },
      { timeoutMs: 15_000, what: "peer stale" }
    )
    const beat = ok(await sc.post<Peer>(`/peers/${peer.id}/heartbeat`))
    expect(beat.status).toBe("online")
    const { peers } = ok(await sc.get<{ peers: Array<Peer> }>("/peers"))
    expect(peers.find((p) => p.id === peer.id)?.status).toBe("online")
  }, 20_000)
})
