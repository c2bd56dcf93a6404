import { describe, expect, it } from "vitest"
import type { EventDraft } from "../../src/core/events.js"
import { Projection } from "../../src/core/projection.js"
import { defaultConfig, type BrokerConfigShape } from "../../src/broker/Config.js"
import { sweepDecisions } from "../../src/broker/Sweeper.js"
import {
  acked,
  at,
  cancelled,
  connected,
  delivered,
  expired,
  fullView,
  heartbeat,
  sent,
  store,
  t0,
  wentOffline,
  wentStale,
  type Step
} from "./given.js"

/**
 * sweepDecisions is the only code that looks at a clock; here the clock is a number handed in.
 * `sweep(...steps).at(ms)` replays the steps and asks what the sweeper would append at time(ms).
 */
const config: BrokerConfigShape = { ...defaultConfig, staleAfterMs: 10_000, offlineAfterMs: 60_000 }

const sweep = (...steps: ReadonlyArray<Step>) => {
  const projection = Projection.replay(store(steps))
  return {
    projection,
    at: (ms: number, activeWaits: (peerId: string) => number = () => 0): Array<EventDraft> =>
      sweepDecisions(projection, t0 + ms, config, activeWaits)
  }
}

describe("sweepDecisions", () => {
  describe("peers", () => {
    const seenAt1s = sweep(at(1_000, connected("p1")))

    it("decides nothing while a peer is fresh", () => {
      expect(seenAt1s.at(1_000)).toEqual([])
      expect(seenAt1s.at(1_000 + config.staleAfterMs - 1)).toEqual([])
    })

    it("an online peer silent for staleAfterMs goes stale", () =>
      expect(seenAt1s.at(1_000 + config.staleAfterMs)).toEqual([{ type: "peer.went_stale", data: { peerId: "p1" } }]))

    it("a peer silent for offlineAfterMs goes offline (timeout), not stale", () => {
      expect(seenAt1s.at(1_000 + config.offlineAfterMs - 1)).toEqual([{ type: "peer.went_stale", data: { peerId: "p1" } }])
      expect(seenAt1s.at(1_000 + config.offlineAfterMs)).toEqual([
        { type: "peer.went_offline", data: { peerId: "p1", reason: "timeout" } }
      ])
    })

    it("a stale peer is not made stale again, but goes offline in time", () => {
      const stale = sweep(at(1_000, connected("p1")), at(11_000, wentStale("p1")))
      expect(stale.at(30_000)).toEqual([])
      expect(stale.at(1_000 + config.offlineAfterMs)).toEqual([
        { type: "peer.went_offline", data: { peerId: "p1", reason: "timeout" } }
      ])
    })

    it("an offline peer is left alone", () =>
      expect(sweep(at(1_000, connected("p1")), at(2_000, wentOffline("p1"))).at(1_000_000)).toEqual([]))

    it("a heartbeat restarts the clock", () => {
      const beating = sweep(at(1_000, connected("p1")), at(50_000, heartbeat("p1")))
      expect(beating.at(50_000 + config.staleAfterMs - 1)).toEqual([])
      expect(beating.at(50_000 + config.staleAfterMs)).toEqual([{ type: "peer.went_stale", data: { peerId: "p1" } }])
    })

    it("skips peers with active waits", () => {
      const two = sweep(at(1_000, connected("p1")), at(1_000, connected("p2")))
      const waiting = (peerId: string) => (peerId === "p1" ? 1 : 0)
      expect(two.at(1_000 + config.offlineAfterMs, waiting)).toEqual([
        { type: "peer.went_offline", data: { peerId: "p2", reason: "timeout" } }
      ])
      expect(two.at(1_000 + config.staleAfterMs, waiting)).toEqual([{ type: "peer.went_stale", data: { peerId: "p2" } }])
    })

    it("also skips a stale peer with an active wait", () =>
      expect(sweep(at(1_000, connected("p1")), at(20_000, wentStale("p1"))).at(1_000_000, () => 2)).toEqual([]))
  })

  describe("commands", () => {
    // The peer keeps beating so that only the commands are due.
    const alive = (ms: number) => at(ms, heartbeat("p1"))

    it("a lapsed lease returns the command (command.lease_expired)", () => {
      const held = sweep(at(1_000, connected("p1")), at(2_000, sent("c1", "worker")), at(3_000, delivered("c1", "p1", 30_000)), alive(40_000))
      expect(held.at(3_000 + 30_000 - 1)).toEqual([])
      expect(held.at(3_000 + 30_000)).toEqual([{ type: "command.lease_expired", data: { commandId: "c1" } }])
    })

    it("a command past its ttl expires, pending or delivered", () => {
      const due = sweep(
        at(1_000, connected("p1")),
        at(2_000, sent("c1", "worker", { ttlMs: 5_000 })),
        at(2_000, sent("c2", "worker", { ttlMs: 5_000 })),
        at(3_000, delivered("c2", "p1", 600_000))
      )
      expect(due.at(6_999)).toEqual([])
      expect(due.at(7_000)).toEqual([
        { type: "command.expired", data: { commandId: "c1" } },
        { type: "command.expired", data: { commandId: "c2" } }
      ])
    })

    it("when both ttl and lease lapsed, the command expires (once)", () => {
      const both = sweep(
        at(1_000, connected("p1")),
        at(2_000, sent("c1", "worker", { ttlMs: 5_000 })),
        at(3_000, delivered("c1", "p1", 1_000)),
        alive(9_000)
      )
      expect(both.at(9_000)).toEqual([{ type: "command.expired", data: { commandId: "c1" } }])
    })

    it("a pending command without a ttl never expires", () =>
      expect(sweep(at(1_000, sent("c1", "worker"))).at(100_000_000)).toEqual([]))

    it("settled commands are left alone, however late", () => {
      const settled = sweep(
        at(1_000, connected("p1")),
        at(1_000, sent("c1", "worker", { ttlMs: 1_000 })),
        at(1_000, sent("c2", "worker", { ttlMs: 1_000 })),
        at(1_000, sent("c3", "worker", { ttlMs: 1_000 })),
        at(1_000, sent("c4", "worker", { ttlMs: 1_000 })),
        at(1_000, delivered("c1", "p1", 1_000)),
        at(1_000, delivered("c2", "p1", 1_000)),
        at(2_000, acked("c1", true)),
        at(2_000, acked("c2", false)),
        at(2_000, cancelled("c3")),
        at(2_000, expired("c4")),
        alive(1_000_000)
      )
      expect(settled.at(1_000_000)).toEqual([])
    })
  })

  it("is pure: the same projection and time give the same decisions and change nothing", () => {
    const mixed = sweep(
      at(1_000, connected("p1")),
      at(1_000, connected("p2")),
      at(2_000, sent("c1", "worker", { ttlMs: 3_000 })),
      at(2_000, sent("c2", "worker")),
      at(3_000, delivered("c2", "p2", 1_000))
    )
    const before = fullView(mixed.projection)
    const first = mixed.at(70_000)
    expect(mixed.at(70_000)).toEqual(first)
    expect(fullView(mixed.projection)).toEqual(before)
    expect(first).toEqual([
      { type: "peer.went_offline", data: { peerId: "p1", reason: "timeout" } },
      { type: "peer.went_offline", data: { peerId: "p2", reason: "timeout" } },
      { type: "command.expired", data: { commandId: "c1" } },
      { type: "command.lease_expired", data: { commandId: "c2" } }
    ])
  })

  it("its decisions, appended, bring the projection to rest: a second sweep decides nothing new", () => {
    const steps: Array<Step> = [
      at(1_000, connected("p1")),
      at(2_000, sent("c1", "worker", { ttlMs: 3_000 })),
      at(2_000, sent("c2", "worker")),
      at(3_000, delivered("c2", "p1", 1_000))
    ]
    const events = store(steps)
    const projection = Projection.replay(events)
    const decisions = sweepDecisions(projection, t0 + 70_000, config, () => 0)
    for (const event of store(
      decisions.map((d) => at(70_000, d)),
      events.length + 1
    ))
      projection.apply(event)
    expect(projection.commands.get("c1")!.value).toBe("expired")
    expect(projection.commands.get("c2")!.value).toBe("pending")
    expect(projection.peers.get("p1")!.value).toBe("offline")
    expect(sweepDecisions(projection, t0 + 70_000, config, () => 0)).toEqual([])
  })
})
