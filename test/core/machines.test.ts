import { describe, expect, it } from "vitest"
import { initialTransition, transition } from "xstate"
import type { BrokerEvent } from "../../src/core/events.js"
import { commandMachine, commandStatus, isSettled, isRedeliverable, type CommandStatus } from "../../src/core/machines/command.js"
import { peerMachine, peerStatus } from "../../src/core/machines/peer.js"
import { connected, heartbeat, store, wentOffline, wentStale } from "./given.js"

/** The machines on their own, as xstate's tests do: the next snapshot and the actions chosen. */

type PeerEvent = Extract<BrokerEvent, { type: `peer.${string}` }>
const peerEvent = (draft: Parameters<typeof store>[0][number], seq = 2): PeerEvent => store([draft], seq)[0] as PeerEvent

const fresh = () => initialTransition(peerMachine, { peerId: "p1", role: "worker", capabilities: [], name: null, at: "2025-01-01T00:00:00.000Z" })

describe("peerMachine", () => {
  it("starts online and chooses no actions", () => {
    const [snapshot, actions] = fresh()
    expect(peerStatus(snapshot)).toBe("online")
    expect(actions.map((a) => a.type)).toEqual([])
  })

  it("chooses releaseHeldCommands on entering offline, from online or stale", () => {
    const [online] = fresh()
    const [offline, direct] = transition(peerMachine, online, peerEvent(wentOffline("p1")))
    expect(peerStatus(offline)).toBe("offline")
    expect(direct.map((a) => a.type)).toEqual(["releaseHeldCommands"])

    const [stale] = transition(peerMachine, online, peerEvent(wentStale("p1")))
    const [, viaStale] = transition(peerMachine, stale, peerEvent(wentOffline("p1"), 3))
    expect(viaStale.map((a) => a.type)).toEqual(["releaseHeldCommands"])
  })

  it("does not choose it again for a peer already offline, nor on the way back", () => {
    const [offline] = transition(peerMachine, fresh()[0], peerEvent(wentOffline("p1")))
    const [same, again] = transition(peerMachine, offline, peerEvent(wentOffline("p1"), 3))
    expect(same).toBe(offline)
    expect(again).toEqual([])
    for (const draft of [heartbeat("p1"), connected("p1")]) {
      const [back, actions] = transition(peerMachine, offline, peerEvent(draft, 3))
      expect(peerStatus(back)).toBe("online")
      expect(actions.map((a) => a.type)).toEqual([])
    }
  })
})

describe("commandMachine", () => {
  const sentAt = { commandId: "c1", from: "boss", target: "worker", action: "run", params: null, ttlMs: null, at: "2025-01-01T00:00:01.000Z", seq: 1 }

  it("starts pending with nothing delivered or settled", () => {
    const [snapshot] = initialTransition(commandMachine, sentAt)
    expect(commandStatus(snapshot)).toBe("pending")
    expect(snapshot.context).toMatchObject({ sentSeq: 1, deliveries: 0, deliveredSeq: null, settledSeq: null })
  })

  it("holder.gone returns a delivered command to pending and is ignored while pending", () => {
    const [pending] = initialTransition(commandMachine, sentAt)
    const [still] = transition(commandMachine, pending, { type: "holder.gone", seq: 2 })
    expect(still).toBe(pending)
    const [held] = transition(commandMachine, pending, {
      type: "command.delivered",
      data: { commandId: "c1", peerId: "p1", leaseMs: 1_000 },
      seq: 2,
      at: "2025-01-01T00:00:02.000Z"
    })
    const [back] = transition(commandMachine, held, { type: "holder.gone", seq: 3 })
    expect(commandStatus(back)).toBe("pending")
    expect(back.context).toMatchObject({ deliveredTo: null, deliveredSeq: null, leaseMs: null, deliveries: 1 })
    // The history indexes what moved it, the holder's going offline included; what did not is left out.
    expect(back.context.history).toEqual([1, 2, 3])
  })

  it("the final states are the settled ones a person cannot redeliver", () => {
    const all: Array<CommandStatus> = ["pending", "delivered", "held", "acked", "failed", "expired", "cancelled", "dead", "rejected"]
    for (const status of all) {
      const node = commandMachine.states[status]!
      expect(node.type === "final", status).toBe(isSettled(status) && !isRedeliverable(status))
    }
  })
})
