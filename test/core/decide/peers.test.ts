import { describe, it } from "vitest"
import * as Peers from "../../../src/core/decide/peers.js"
import { NotFound } from "../../../src/core/errors.js"
import { decider } from "../decider.js"
import { connected, dead, delivered, heartbeat, leaseExpired, reset, sent, wentOffline, wentStale } from "../given.js"

const spec = decider<Peers.PeerCommand>(Peers.decide)

describe("deciding peers' requests", () => {
  describe("Connect", () => {
    it("registers a new peer under the id chosen for it", () =>
      spec
        .given()
        .when({ type: "Connect", peerId: "p1", role: "worker", capabilities: ["build"], name: "Ada" })
        .then(connected("p1", "worker", ["build"], "Ada")))

    it("reconnects a known id, which may change its role and capabilities", () =>
      spec
        .given(connected("p1", "worker", ["build"]), wentOffline("p1"))
        .when({ type: "Connect", peerId: "p1", role: "reviewer", capabilities: [], name: null })
        .then(connected("p1", "reviewer", [], null)))
  })

  describe("Heartbeat", () => {
    it("of an unknown peer is 404", () =>
      spec
        .given(connected("p1"))
        .when({ type: "Heartbeat", peerId: "nobody", news: true })
        .thenFails(NotFound, "no peer with id 'nobody'"))

    it("of a peer removed by a reset is 404", () =>
      spec
        .given(connected("p1"), reset())
        .when({ type: "Heartbeat", peerId: "p1", news: false })
        .thenFails(NotFound, "no peer with id 'p1'"))

    it("of an online peer is noted outside the log and records nothing", () =>
      spec.given(connected("p1")).when({ type: "Heartbeat", peerId: "p1", news: false }).thenNothing())

    it("is recorded when it is news (back online from stale, or due on a shared log)", () =>
      spec.given(connected("p1"), wentStale("p1")).when({ type: "Heartbeat", peerId: "p1", news: true }).then(heartbeat("p1")))
  })

  describe("Disconnect", () => {
    it("of an unknown peer is 404", () =>
      spec
        .given()
        .when({ type: "Disconnect", peerId: "nobody", reason: "disconnected", maxDeliveries: 5 })
        .thenFails(NotFound, "no peer with id 'nobody'"))

    it("takes an online or stale peer offline, with the reason given", () => {
      spec.given(connected("p1")).when({ type: "Disconnect", peerId: "p1", reason: "disconnected", maxDeliveries: 5 }).then(wentOffline("p1"))
      spec
        .given(connected("p1"), wentStale("p1"))
        .when({ type: "Disconnect", peerId: "p1", reason: "session_closed", maxDeliveries: 5 })
        .then(wentOffline("p1", "session_closed"))
    })

    it("kills the commands it holds that were delivered max-deliveries times, before it goes offline; the rest return to pending", () =>
      spec
        .given(
          connected("p1"),
          sent("c1", "worker"),
          delivered("c1", "p1"),
          leaseExpired("c1"),
          delivered("c1", "p1"),
          sent("c2", "worker"),
          delivered("c2", "p1")
        )
        .when({ type: "Disconnect", peerId: "p1", reason: "disconnected", maxDeliveries: 2 })
        .then(dead("c1", 2, "holder_offline"), wentOffline("p1")))

    it("of a peer offline already records nothing", () =>
      spec
        .given(connected("p1"), wentOffline("p1", "timeout"))
        .when({ type: "Disconnect", peerId: "p1", reason: "disconnected", maxDeliveries: 5 })
        .thenNothing())
  })
})
