import { describe, expect, it } from "vitest"
import {
  acked,
  at,
  connected,
  delivered,
  given,
  heartbeat,
  sent,
  time,
  wentOffline,
  wentStale
} from "./given.js"

describe("peers", () => {
  describe("peer.connected", () => {
    it("creates an online peer with its role, capabilities and name", () =>
      given()
        .when(at(5_000, connected("p1", "reviewer", ["git", "review"], "Ada")))
        .then(({ peer, changes }) => {
          expect(peer("p1")).toEqual({
            id: "p1",
            role: "reviewer",
            capabilities: ["git", "review"],
            name: "Ada",
            status: "online",
            connectedAt: time(5_000),
            lastSeenAt: time(5_000)
          })
          expect(changes).toEqual([{ kind: "peer", peerId: "p1" }])
        }))

    it("again with the same id updates role, capabilities, name and times", () =>
      given(at(1_000, connected("p1", "worker", ["a"], "old")))
        .when(at(9_000, connected("p1", "reviewer", ["b", "c"], "new")))
        .then(({ peer, changes, projection }) => {
          expect(peer("p1")).toMatchObject({
            role: "reviewer",
            capabilities: ["b", "c"],
            name: "new",
            status: "online",
            connectedAt: time(9_000),
            lastSeenAt: time(9_000)
          })
          expect(projection.peers.size).toBe(1)
          expect(changes).toEqual([{ kind: "peer", peerId: "p1" }])
        }))

    it("again after going stale brings the peer back online", () =>
      given(connected("p1"), wentStale("p1"))
        .when(connected("p1", "worker"))
        .then(({ peer }) => expect(peer("p1").status).toBe("online")))

    it("again after going offline brings the peer back online with the new role", () =>
      given(connected("p1", "worker"), wentOffline("p1"))
        .when(connected("p1", "reviewer", ["x"]))
        .then(({ peer }) => expect(peer("p1")).toMatchObject({ status: "online", role: "reviewer", capabilities: ["x"] })))

    it("again does not drop the commands the peer holds", () =>
      given(connected("p1"), sent("c1", "worker"), delivered("c1", "p1"))
        .when(connected("p1", "reviewer"))
        .then(({ command, heldBy }) => {
          expect(command("c1").status).toBe("delivered")
          expect(heldBy("p1")).toEqual(["c1"])
        }))
  })

  describe("peer.heartbeat", () => {
    it("updates lastSeenAt and keeps connectedAt", () =>
      given(at(1_000, connected("p1")))
        .when(at(7_000, heartbeat("p1")))
        .then(({ peer, changes }) => {
          expect(peer("p1")).toMatchObject({ status: "online", connectedAt: time(1_000), lastSeenAt: time(7_000) })
          expect(changes).toEqual([{ kind: "peer", peerId: "p1" }])
        }))

    it("revives a stale peer", () =>
      given(connected("p1"), wentStale("p1"))
        .when(at(20_000, heartbeat("p1")))
        .then(({ peer }) => expect(peer("p1")).toMatchObject({ status: "online", lastSeenAt: time(20_000) })))

    it("revives an offline peer", () =>
      given(connected("p1"), wentOffline("p1", "timeout"))
        .when(at(20_000, heartbeat("p1")))
        .then(({ peer }) => expect(peer("p1")).toMatchObject({ status: "online", lastSeenAt: time(20_000) })))
  })

  describe("peer.went_stale", () => {
    it("takes an online peer to stale without touching lastSeenAt", () =>
      given(at(1_000, connected("p1")))
        .when(at(40_000, wentStale("p1")))
        .then(({ peer, changes }) => {
          expect(peer("p1")).toMatchObject({ status: "stale", lastSeenAt: time(1_000) })
          expect(changes).toEqual([{ kind: "peer", peerId: "p1" }])
        }))

    it("keeps a stale peer's commands delivered to it", () =>
      given(connected("p1"), sent("c1", "p1"), delivered("c1", "p1"))
        .when(wentStale("p1"))
        .then(({ command, heldBy, changes }) => {
          expect(command("c1").status).toBe("delivered")
          expect(heldBy("p1")).toEqual(["c1"])
          expect(changes).toEqual([{ kind: "peer", peerId: "p1" }])
        }))

    it("does nothing to an offline peer (stale only comes from online)", () =>
      given(connected("p1"), wentOffline("p1"))
        .when(wentStale("p1"))
        .then(({ peer, before }) => {
          expect(peer("p1").status).toBe("offline")
          expect(before.peers).toEqual([peer("p1")])
        }))

    it("does nothing to a peer already stale", () =>
      given(connected("p1"), wentStale("p1"))
        .when(wentStale("p1"))
        .then(({ peer, before }) => {
          expect(peer("p1").status).toBe("stale")
          expect(before.peers).toEqual([peer("p1")])
        }))
  })

  describe("peer.went_offline", () => {
    it("takes an online peer offline", () =>
      given(connected("p1"))
        .when(wentOffline("p1", "session_closed"))
        .then(({ peer, changes }) => {
          expect(peer("p1").status).toBe("offline")
          expect(changes).toEqual([{ kind: "peer", peerId: "p1" }])
        }))

    it("takes a stale peer offline", () =>
      given(connected("p1"), wentStale("p1"))
        .when(wentOffline("p1", "timeout"))
        .then(({ peer }) => expect(peer("p1").status).toBe("offline")))

    it("releases the commands the peer held: back to pending (queued by send order), one command.pending each", () =>
      given(
        connected("p1", "worker"),
        connected("p2", "worker"),
        sent("c1", "worker"),
        sent("c2", "p1"),
        sent("c3", "worker"),
        sent("c4", "worker"),
        delivered("c3", "p1"),
        delivered("c2", "p1"),
        delivered("c4", "p2"),
        delivered("c1", "p1"),
        acked("c1")
      )
        .when(wentOffline("p1"))
        .then(({ command, changes, heldBy, pendingFor }) => {
          expect(changes).toHaveLength(3)
          expect(changes[0]).toEqual({ kind: "peer", peerId: "p1" })
          expect(changes.slice(1)).toEqual(
            expect.arrayContaining([
              { kind: "command.pending", commandId: "c2", target: "p1" },
              { kind: "command.pending", commandId: "c3", target: "worker" }
            ])
          )
          expect(command("c2")).toMatchObject({ status: "pending", deliveredTo: null, deliveredAt: null, deliveries: 1 })
          expect(command("c3")).toMatchObject({ status: "pending", deliveredTo: null, leaseExpiresAt: null })
          expect(command("c1").status).toBe("acked")
          expect(command("c4").status).toBe("delivered")
          expect(heldBy("p1")).toEqual([])
          expect(heldBy("p2")).toEqual(["c4"])
          expect(pendingFor("p2", "worker")).toEqual(["c3"])
          expect(pendingFor("p1", "worker")).toEqual(["c2", "c3"])
        }))

    it("releases nothing when the peer held nothing", () =>
      given(connected("p1"), sent("c1", "worker"))
        .when(wentOffline("p1"))
        .then(({ changes, command }) => {
          expect(changes).toEqual([{ kind: "peer", peerId: "p1" }])
          expect(command("c1").status).toBe("pending")
        }))

    it("a second time releases nothing more", () =>
      given(connected("p1"), sent("c1", "worker"), delivered("c1", "p1"), wentOffline("p1"), connected("p2"), delivered("c1", "p2"))
        .when(wentOffline("p1"))
        .then(({ command, changes }) => {
          expect(command("c1")).toMatchObject({ status: "delivered", deliveredTo: "p2" })
          expect(changes.filter((c) => c.kind !== "peer")).toEqual([])
        }))
  })

  describe("events for unknown peers are ignored", () => {
    it("heartbeat", () => given(connected("p1")).when(heartbeat("ghost")).thenIgnored())
    it("went_stale", () => given(connected("p1")).when(wentStale("ghost")).thenIgnored())
    it("went_offline", () => given(connected("p1")).when(wentOffline("ghost")).thenIgnored())
    it("on an empty projection", () => given().when(heartbeat("ghost")).thenIgnored())
  })
})
