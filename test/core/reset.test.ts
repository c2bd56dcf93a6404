import { describe, expect, it } from "vitest"
import {
  connected,
  delivered,
  fired,
  given,
  heartbeat,
  message,
  reset,
  sent,
  wentOffline
} from "./given.js"

const busy = [
  connected("p1", "worker"),
  connected("p2", "worker"),
  sent("c1", "worker"),
  sent("c2", "p2"),
  delivered("c1", "p1"),
  message("news", "a"),
  message("news", "b"),
  fired("ready", 1)
]

describe("broker.reset", () => {
  it("clears peers, commands, channels, signals and the indexes", () =>
    given(...busy)
      .when(reset("admin"))
      .then(({ projection, changes, pendingFor, heldBy, event }) => {
        expect(changes).toEqual([{ kind: "reset" }])
        expect(projection.seq).toBe(event.seq)
        expect(projection.at).toBe(event.at)
        expect(projection.peers.size).toBe(0)
        expect(projection.commands.size).toBe(0)
        expect(projection.channels.size).toBe(0)
        expect(projection.signals.size).toBe(0)
        expect(pendingFor("p2", "worker")).toEqual([])
        expect(heldBy("p1")).toEqual([])
      }))

  it("channel ids restart at 1 after a reset", () =>
    given(...busy, reset())
      .when(message("news", "fresh"))
      .then(({ channel, changes, seqIndex, event }) => {
        expect(channel("news")).toMatchObject({ count: 1, lastId: 1 })
        expect(changes).toEqual([{ kind: "message", channel: "news", id: 1 }])
        expect(seqIndex("news")).toEqual([event.seq])
      }))

  it("a command id used before the reset may be sent again", () =>
    given(...busy, reset())
      .when(sent("c1", "reviewer"))
      .then(({ command, changes, pendingFor }) => {
        expect(command("c1")).toMatchObject({ status: "pending", target: "reviewer", deliveries: 0 })
        expect(changes).toEqual([{ kind: "command.pending", commandId: "c1", target: "reviewer" }])
        expect(pendingFor("x", "worker")).toEqual([])
      }))

  it("peers from before the reset are unknown: their heartbeats are ignored", () =>
    given(...busy, reset()).when(heartbeat("p1")).thenIgnored())

  it("peers from before the reset cannot claim", () =>
    given(...busy, reset(), sent("c9", "worker")).when(delivered("c9", "p1")).thenIgnored())

  it("a peer going offline after the reset releases nothing from before it", () =>
    given(...busy, reset(), connected("p1"), sent("c1", "worker"))
      .when(wentOffline("p1"))
      .then(({ changes, command }) => {
        expect(changes).toEqual([{ kind: "peer", peerId: "p1" }])
        expect(command("c1").status).toBe("pending")
      }))

  it("a signal fired before the reset reads as never fired", () =>
    given(...busy)
      .when(reset())
      .then(({ signal }) => expect(signal("ready")).toMatchObject({ fired: false, count: 0 })))
})
