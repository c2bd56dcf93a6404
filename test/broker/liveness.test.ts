import { describe, expect, it } from "vitest"
import { Projection } from "../../src/core/projection.js"
import { Liveness } from "../../src/broker/liveness.js"
import { decodeGossip, encodeGossip, subjectMatches } from "../../src/log/jetstreamLiveness.js"
import type { SignOfLife } from "../../src/log/EventLog.js"
import { at, connected, store, t0, wentStale } from "../core/given.js"

/** Liveness on a shared log, with and without gossip; the peer p1 connected at t0 + 1 s. */
const peerOf = (...steps: Parameters<typeof store>[0]) => Projection.replay(store(steps)).peers.get("p1")!

describe("Liveness on a shared log", () => {
  const online = peerOf(at(1_000, connected("p1")))
  const stale = peerOf(at(1_000, connected("p1")), at(20_000, wentStale("p1")))

  it("without gossip, records a sign of life once the recorded one is recordEveryMs old", () => {
    const liveness = new Liveness(true, 5_000)
    expect(liveness.note(online, t0 + 2_000)).toBe(false)
    expect(liveness.note(online, t0 + 6_000)).toBe(true)
  })

  it("with gossip, records only transitions, and tells what it noted once, as an age", () => {
    const liveness = new Liveness(true, 5_000, true)
    expect(liveness.note(online, t0 + 2_000)).toBe(false)
    expect(liveness.note(online, t0 + 600_000)).toBe(false)
    expect(liveness.note(stale, t0 + 600_000)).toBe(true) // back online: a fact for the log
    expect(liveness.fresh(t0 + 601_000)).toEqual([["p1", 1_000]])
    expect(liveness.fresh(t0 + 602_000)).toEqual([])
  })

  it("merges heard signs of life forward only, from the receiver's clock", () => {
    const liveness = new Liveness(true, 5_000, true)
    liveness.heard("p1", 2_000, t0 + 30_000)
    expect(liveness.lastSeen(online)).toBe(t0 + 28_000)
    liveness.heard("p1", 10_000, t0 + 31_000) // older than what is known: ignored
    expect(liveness.lastSeen(online)).toBe(t0 + 28_000)
    liveness.heard("p1", -5_000, t0 + 32_000) // a negative age is no later than now
    expect(liveness.lastSeen(online)).toBe(t0 + 32_000)
    // What was heard is not told on: each node tells only what it saw.
    expect(liveness.fresh(t0 + 33_000)).toEqual([])
  })

  it("seeds present peers with a fresh window, never moving one back", () => {
    const liveness = new Liveness(true, 5_000, true)
    liveness.heard("p1", 0, t0 + 50_000)
    liveness.seed([online], t0 + 40_000)
    expect(liveness.lastSeen(online)).toBe(t0 + 50_000)
    liveness.seed([online], t0 + 60_000)
    expect(liveness.lastSeen(online)).toBe(t0 + 60_000)
  })
})

describe("liveness gossip on the wire", () => {
  it("splits signs of life into bodies within the limit, all of them decoded again", () => {
    const signs: Array<SignOfLife> = Array.from({ length: 500 }, (_, i) => ["proj", `peer-${i}`, i])
    const bodies = encodeGossip("node1", signs, 1_000)
    expect(bodies.length).toBeGreaterThan(10)
    for (const body of bodies) expect(Buffer.byteLength(body)).toBeLessThanOrEqual(1_000)
    const decoded = bodies.flatMap((body) => decodeGossip(body)!.seen)
    expect(decoded).toEqual(signs)
    expect(decodeGossip(bodies[0]!)!.node).toBe("node1")
  })

  it("ignores what is not gossip", () => {
    expect(decodeGossip("nope")).toBeUndefined()
    expect(decodeGossip(JSON.stringify({ node: "n", seen: [["p", 1, 2], ["p", "q", 3]] }))!.seen).toEqual([["p", "q", 3]])
  })

  it("matches subjects as NATS does", () => {
    expect(subjectMatches("S.events", "claude_ipc_broker_liveness.S")).toBe(false)
    expect(subjectMatches(">", "claude_ipc_broker_liveness.S")).toBe(true)
    expect(subjectMatches("claude_ipc_broker_liveness.*", "claude_ipc_broker_liveness.S")).toBe(true)
    expect(subjectMatches("*", "claude_ipc_broker_liveness.S")).toBe(false)
    expect(subjectMatches("claude_ipc_broker_liveness.S.>", "claude_ipc_broker_liveness.S")).toBe(false)
  })
})
