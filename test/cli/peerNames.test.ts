import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventLine } from "../../src/cli/eventLine.js"
import { messageLine } from "../../src/cli/channels.js"
import { paint } from "../../src/cli/paint.js"
import { peerDirectory, who, type PeerLabel } from "../../src/cli/peerNames.js"
import type { StoredEvent } from "../../src/core/events.js"
import type { PeerView } from "../../src/core/views.js"
import { startBroker, type TestBroker } from "../support/broker.js"
import { call, openSession, type McpSession } from "../mcp/support.js"
import { startTool, tool } from "./tool.js"

const at = "2026-11-30T07:20:01.123Z"
const alice: PeerLabel = { role: "reviewer", name: "Alice" }
const lookup = (id: string) => (id === "mcp-r2mrx25t2a68" ? alice : id === "w-1" ? { role: "worker", name: null } : undefined)

describe("who: a peer by role and label first, its id second", () => {
  it("names known peers, and leaves anything else as it is", () => {
    expect(who("mcp-r2mrx25t2a68", alice)).toBe('reviewer "Alice" (mcp-r2mrx25t2a68)')
    expect(who("w-1", { role: "worker", name: null })).toBe("worker (w-1)")
    expect(who("ci", undefined)).toBe("ci")
    // A peer whose id is its role, without a label, is not named twice.
    expect(who("lead", { role: "lead", name: null })).toBe("lead")
    expect(who("w-1", { role: "worker", name: null }, paint(true))).toBe("worker \x1b[2m(w-1)\x1b[0m")
  })

  it("in tail's lines: senders, targets, deliveries and every 'by'", () => {
    const line = (type: string, data: object) => eventLine({ seq: 1, at, type, data } as StoredEvent, paint(false), lookup)
    expect(line("message.sent", { channel: "builds", from: "mcp-r2mrx25t2a68", message: 1 })).toContain(
      'builds reviewer "Alice" (mcp-r2mrx25t2a68): 1'
    )
    expect(line("signal.fired", { name: "go", data: null, by: "mcp-r2mrx25t2a68" })).toContain('go by reviewer "Alice" (mcp-r2mrx25t2a68)')
    expect(
      line("command.sent", { commandId: "c1", from: "mcp-r2mrx25t2a68", target: "w-1", action: "build", params: null, ttlMs: null })
    ).toContain('c1 reviewer "Alice" (mcp-r2mrx25t2a68) → worker (w-1): build')
    expect(line("command.delivered", { commandId: "c1", peerId: "w-1", leaseMs: 10 })).toContain("c1 → worker (w-1) (lease 10 ms)")
    expect(line("command.acked", { commandId: "c1", ok: true, result: null, by: "w-1" })).toContain("c1 ok by worker (w-1)")
    expect(line("peer.went_offline", { peerId: "w-1", reason: "timeout" })).toContain("worker (w-1) (timeout)")
    expect(line("broker.reset", { by: "ci" })).toContain("everything cleared by ci")
  })

  it("in read's lines", () => {
    const message = { id: 3, channel: "builds", at, data: { ok: true } }
    expect(messageLine({ ...message, from: "mcp-r2mrx25t2a68" }, paint(false), lookup)).toBe(
      '#3 2026-11-30 07:20:01 reviewer "Alice" (mcp-r2mrx25t2a68) {"ok":true}'
    )
    expect(messageLine({ ...message, from: "ci" }, paint(false), lookup)).toBe('#3 2026-11-30 07:20:01 ci {"ok":true}')
    expect(messageLine({ ...message, from: null }, paint(false), lookup)).toBe('#3 2026-11-30 07:20:01 - {"ok":true}')
  })
})

describe("peerDirectory", () => {
  it("asks for the peers once per batch of new ids, never again for an id the broker does not know", async () => {
    let asked = 0
    const peers: Array<PeerView> = []
    const directory = peerDirectory(Effect.sync(() => (asked++, peers)))
    peers.push({ id: "w-1", role: "worker", capabilities: [], name: null, status: "online", connectedAt: at, lastSeenAt: at })
    await Effect.runPromise(directory.learn(["w-1", "ci", null]))
    expect(asked).toBe(1)
    expect(directory.lookup("w-1")).toEqual({ role: "worker", name: null })
    await Effect.runPromise(directory.learn(["w-1", "ci"]))
    expect(asked).toBe(1)
    directory.remember("mcp-x", alice)
    await Effect.runPromise(directory.learn(["mcp-x"]))
    expect(asked).toBe(1)
    expect(directory.lookup("mcp-x")).toEqual(alice)
  })

  it("leaves ids as they are when the lookup fails", async () => {
    const directory = peerDirectory(Effect.fail("unreachable"))
    await Effect.runPromise(directory.learn(["w-1"]))
    expect(directory.lookup("w-1")).toBeUndefined()
  })
})

describe("tail and read against a broker with an MCP session", () => {
  let broker: TestBroker
  let session: McpSession
  let id: string

  beforeAll(async () => {
    broker = await startBroker()
    session = await openSession(broker.url, "http")
    const connected = await call(session, "connect", { role: "reviewer", name: "Alice" })
    id = connected.you.id as string
  })
  afterAll(async () => {
    await session.close()
    await broker.close()
  })

  it("read names the MCP sender by role and label, the id second", async () => {
    expect(id).toMatch(/^mcp-/)
    await call(session, "send_message", { channel: "reviews", message: { verdict: "lgtm" } })
    const read = await tool(["read", "reviews", "--url", broker.url])
    expect(read.code).toBe(0)
    expect(read.stdout).toMatch(new RegExp(`^#1 \\S+ \\S+ reviewer "Alice" \\(${id}\\) \\{"verdict":"lgtm"\\}\\n$`))
  })

  it("tail names peers from GET /peers and from the peer.connected events it passes", async () => {
    // From the next event on: Alice's peer.connected is behind it, so her name must come from GET /peers.
    const { log } = (await (await fetch(`${broker.url}/status`)).json()) as { log: { head: number } }
    const tail = startTool(["tail", "--from", String(log.head + 1), "--url", broker.url])
    try {
      await call(session, "signal", { name: "reviewed" })
      await tail.waitFor("signal.fired")
      expect(tail.stdout()).toContain(`reviewed by reviewer "Alice" (${id})`)
      // Connected while tail runs: named by its own peer.connected event.
      const second = await openSession(broker.url, "http")
      try {
        const other = (await call(second, "connect", { role: "tester" })).you.id as string
        await call(second, "send_command", { target: "reviewer", action: "review" })
        await tail.waitFor("command.sent")
        expect(tail.stdout()).toContain(`peer.connected        tester (${other})`)
        expect(tail.stdout()).toMatch(new RegExp(`command\\.sent\\s+\\S+ tester \\(${other}\\) → reviewer: review`))
      } finally {
        await second.close()
      }
    } finally {
      expect((await tail.stop()).code).toBe(0)
    }
  })
})
