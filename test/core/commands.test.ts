import { describe, expect, it } from "vitest"
import {
  acked,
  at,
  cancelled,
  connected,
  delivered,
  expired,
  given,
  leaseExpired,
  sent,
  time,
  wentOffline,
  wentStale
} from "./given.js"

describe("commands", () => {
  describe("command.sent", () => {
    it("creates a pending command and announces it for its target", () =>
      given(connected("p1"))
        .when(at(10_000, sent("c1", "worker", { from: "boss", action: "build", params: { n: 1 }, ttlMs: 5_000 })))
        .then(({ command, changes }) => {
          expect(command("c1")).toEqual({
            id: "c1",
            from: "boss",
            target: "worker",
            action: "build",
            params: { n: 1 },
            status: "pending",
            createdAt: time(10_000),
            deliveredTo: null,
            deliveredAt: null,
            leaseExpiresAt: null,
            expiresAt: time(15_000),
            deliveries: 0,
            result: null,
            ackedAt: null,
            deadReason: null,
            heldReason: null
          })
          expect(changes).toEqual([{ kind: "command.pending", commandId: "c1", target: "worker" }])
        }))

    it("without a ttl never expires", () =>
      given().when(sent("c1", "worker", { ttlMs: null })).then(({ command }) => expect(command("c1").expiresAt).toBeNull()))

    it("keeps a reference to the payload of the event, not a copy", () =>
      given()
        .when(sent("c1", "worker", { params: { big: [1, 2, 3] } }))
        .then(({ projection, event }) => {
          expect(event.type).toBe("command.sent")
          if (event.type === "command.sent") expect(projection.commands.get("c1")!.context.params).toBe(event.data.params)
        }))

    it("a second time with the same id is ignored", () =>
      given(sent("c1", "worker", { params: "first" }))
        .when(sent("c1", "reviewer", { params: "second" }))
        .thenIgnored())

    it("a second time with the id of a settled command is ignored", () =>
      given(connected("p1"), sent("c1", "worker"), delivered("c1", "p1"), acked("c1"))
        .when(sent("c1", "worker"))
        .thenIgnored())
  })

  describe("the pending index", () => {
    const mixed = [
      sent("c1", "worker"),
      sent("c2", "p1"),
      sent("c3", "reviewer"),
      sent("c4", "worker"),
      sent("c5", "p2"),
      sent("c6", "p1")
    ]

    it("pendingFor merges commands for the peer's id and for its role, oldest first", () =>
      given(...mixed)
        .when(connected("p1", "worker"))
        .then(({ pendingFor, oldestPendingFor }) => {
          expect(pendingFor("p1", "worker")).toEqual(["c1", "c2", "c4", "c6"])
          expect(pendingFor("p2", "worker")).toEqual(["c1", "c4", "c5"])
          expect(pendingFor("p3", "reviewer")).toEqual(["c3"])
          expect(pendingFor("p4", "nobody")).toEqual([])
          expect(oldestPendingFor("p1", "worker")).toBe("c1")
          expect(oldestPendingFor("p2", "reviewer")).toBe("c3")
          expect(oldestPendingFor("p4", "nobody")).toBeUndefined()
        }))

    it("oldestPendingFor picks the older of the id queue and the role queue", () =>
      given(...mixed, connected("p2", "worker"))
        .when(delivered("c1", "p2"))
        .then(({ oldestPendingFor, pendingFor }) => {
          expect(oldestPendingFor("p1", "worker")).toBe("c2")
          expect(oldestPendingFor("p2", "worker")).toBe("c4")
          expect(oldestPendingFor("p1", "reviewer")).toBe("c2")
          expect(pendingFor("p1", "worker")).toEqual(["c2", "c4", "c6"])
        }))

    it("a peer whose role is its id sees each command once", () =>
      given(sent("c1", "solo"), sent("c2", "solo"))
        .when(connected("solo", "solo"))
        .then(({ pendingFor, oldestPendingFor }) => {
          expect(pendingFor("solo", "solo")).toEqual(["c1", "c2"])
          expect(oldestPendingFor("solo", "solo")).toBe("c1")
        }))
  })

  describe("command.delivered", () => {
    it("hands a pending command to an online peer under a lease", () =>
      given(connected("p1"), at(10_000, sent("c1", "worker")))
        .when(at(12_000, delivered("c1", "p1", 30_000)))
        .then(({ command, changes, heldBy, pendingFor, projection, event }) => {
          expect(command("c1")).toMatchObject({
            status: "delivered",
            deliveredTo: "p1",
            deliveredAt: time(12_000),
            leaseExpiresAt: time(42_000),
            deliveries: 1,
            ackedAt: null
          })
          expect(projection.commands.get("c1")!.context.deliveredSeq).toBe(event.seq)
          expect(changes).toEqual([{ kind: "command.delivered", commandId: "c1", peerId: "p1" }])
          expect(heldBy("p1")).toEqual(["c1"])
          expect(pendingFor("p1", "worker")).toEqual([])
        }))

    it("a second claim of the same command is ignored: the first in log order wins", () =>
      given(connected("p1"), connected("p2"), sent("c1", "worker"), delivered("c1", "p1"))
        .when(delivered("c1", "p2"))
        .thenIgnored())

    it("deliveredSeq is the seq of the first claim, so a losing claimant can tell it lost", () =>
      given(connected("p1"), connected("p2"), sent("c1", "worker"), delivered("c1", "p1"))
        .when(delivered("c1", "p2"))
        .then(({ projection, events, event, heldBy }) => {
          const context = projection.commands.get("c1")!.context
          expect(context.deliveredSeq).toBe(events[3]!.seq)
          expect(context.deliveredSeq).not.toBe(event.seq)
          expect(context.deliveredTo).toBe("p1")
          expect(context.deliveries).toBe(1)
          expect(heldBy("p2")).toEqual([])
        }))

    it("by the same peer twice is ignored", () =>
      given(connected("p1"), sent("c1", "worker"), delivered("c1", "p1")).when(delivered("c1", "p1")).thenIgnored())

    it("by an unknown peer is ignored", () =>
      given(connected("p1"), sent("c1", "worker")).when(delivered("c1", "ghost")).thenIgnored())

    it("by an offline peer is ignored", () =>
      given(connected("p1"), sent("c1", "worker"), wentOffline("p1")).when(delivered("c1", "p1")).thenIgnored())

    // The projection requires the claimant to be online; a stale peer has to be seen again first.
    it("by a stale peer is ignored", () =>
      given(connected("p1"), sent("c1", "worker"), wentStale("p1")).when(delivered("c1", "p1")).thenIgnored())

    it("of an unknown command is ignored", () =>
      given(connected("p1"), sent("c1", "worker")).when(delivered("nope", "p1")).thenIgnored())

    it("of a settled command is ignored", () =>
      given(connected("p1"), sent("c1", "worker"), acked("c1")).when(delivered("c1", "p1")).thenIgnored())
  })

  describe("command.acked", () => {
    it("ok settles a delivered command as acked with its result", () =>
      given(connected("p1"), sent("c1", "worker"), delivered("c1", "p1"))
        .when(at(50_000, acked("c1", true, { answer: 42 }, "p1")))
        .then(({ command, changes, heldBy, projection, event }) => {
          expect(command("c1")).toMatchObject({
            status: "acked",
            result: { answer: 42 },
            ackedAt: time(50_000),
            deliveredTo: "p1",
            leaseExpiresAt: null
          })
          expect(projection.commands.get("c1")!.context.settledSeq).toBe(event.seq)
          expect(changes).toEqual([{ kind: "command.settled", commandId: "c1" }])
          expect(heldBy("p1")).toEqual([])
        }))

    it("not ok settles it as failed with its result", () =>
      given(connected("p1"), sent("c1", "worker"), delivered("c1", "p1"))
        .when(at(50_000, acked("c1", false, { error: "boom" })))
        .then(({ command, changes, heldBy }) => {
          expect(command("c1")).toMatchObject({ status: "failed", result: { error: "boom" }, ackedAt: time(50_000) })
          expect(changes).toEqual([{ kind: "command.settled", commandId: "c1" }])
          expect(heldBy("p1")).toEqual([])
        }))

    it("straight from pending is allowed and leaves the pending queue", () =>
      given(sent("c1", "worker"), sent("c2", "worker"))
        .when(acked("c1", true, "done"))
        .then(({ command, changes, pendingFor }) => {
          expect(command("c1")).toMatchObject({ status: "acked", result: "done", deliveries: 0, deliveredTo: null })
          expect(changes).toEqual([{ kind: "command.settled", commandId: "c1" }])
          expect(pendingFor("p", "worker")).toEqual(["c2"])
        }))

    it("not ok straight from pending fails the command", () =>
      given(sent("c1", "worker"))
        .when(acked("c1", false))
        .then(({ command }) => expect(command("c1").status).toBe("failed")))

    it("after the command settled is ignored", () =>
      given(connected("p1"), sent("c1", "worker"), delivered("c1", "p1"), acked("c1", true, "first"))
        .when(acked("c1", false, "second"))
        .thenIgnored())

    it("after the command settled leaves settledSeq at the first settlement", () =>
      given(connected("p1"), sent("c1", "worker"), delivered("c1", "p1"), acked("c1", true, "first"))
        .when(acked("c1", true, "second"))
        .then(({ projection, events, command }) => {
          expect(projection.commands.get("c1")!.context.settledSeq).toBe(events[3]!.seq)
          expect(command("c1")).toMatchObject({ result: "first", ackedAt: events[3]!.at })
        }))

    it("of an unknown command is ignored", () => given(sent("c1", "worker")).when(acked("nope")).thenIgnored())
  })

  describe("command.lease_expired", () => {
    it("returns a delivered command to pending, keeping the delivery count", () =>
      given(connected("p1"), sent("c1", "worker"), delivered("c1", "p1"))
        .when(leaseExpired("c1"))
        .then(({ command, changes, heldBy, pendingFor, projection }) => {
          expect(command("c1")).toMatchObject({
            status: "pending",
            deliveredTo: null,
            deliveredAt: null,
            leaseExpiresAt: null,
            deliveries: 1
          })
          expect(projection.commands.get("c1")!.context.deliveredSeq).toBeNull()
          expect(changes).toEqual([{ kind: "command.pending", commandId: "c1", target: "worker" }])
          expect(heldBy("p1")).toEqual([])
          expect(pendingFor("p1", "worker")).toEqual(["c1"])
        }))

    it("puts the command back in its place by send order (older before newer)", () =>
      given(
        connected("p1"),
        sent("c1", "worker"),
        sent("c2", "worker"),
        sent("c3", "worker"),
        sent("c4", "worker"),
        delivered("c1", "p1"),
        delivered("c3", "p1"),
        leaseExpired("c3")
      )
        .when(leaseExpired("c1"))
        .then(({ pendingFor, oldestPendingFor }) => {
          expect(pendingFor("p1", "worker")).toEqual(["c1", "c2", "c3", "c4"])
          expect(oldestPendingFor("p1", "worker")).toBe("c1")
        }))

    it("lets another peer claim the command again, counting the delivery", () =>
      given(connected("p1"), connected("p2"), sent("c1", "worker"), delivered("c1", "p1"), leaseExpired("c1"))
        .when(delivered("c1", "p2"))
        .then(({ command, heldBy, projection, event }) => {
          expect(command("c1")).toMatchObject({ status: "delivered", deliveredTo: "p2", deliveries: 2 })
          expect(projection.commands.get("c1")!.context.deliveredSeq).toBe(event.seq)
          expect(heldBy("p1")).toEqual([])
          expect(heldBy("p2")).toEqual(["c1"])
        }))

    it("of a pending command is ignored", () =>
      given(connected("p1"), sent("c1", "worker")).when(leaseExpired("c1")).thenIgnored())

    it("of a settled command is ignored", () =>
      given(connected("p1"), sent("c1", "worker"), delivered("c1", "p1"), acked("c1")).when(leaseExpired("c1")).thenIgnored())
  })

  describe("the holder going offline", () => {
    it("returns the delivered command to pending where another peer can take it", () =>
      given(connected("p1"), connected("p2"), sent("c0", "worker"), sent("c1", "worker"), delivered("c0", "p1"))
        .when(wentOffline("p1", "timeout"))
        .then(({ command, pendingFor, oldestPendingFor }) => {
          expect(command("c0")).toMatchObject({ status: "pending", deliveredTo: null, deliveries: 1 })
          expect(pendingFor("p2", "worker")).toEqual(["c0", "c1"])
          expect(oldestPendingFor("p2", "worker")).toBe("c0")
        }))
  })

  describe("command.expired and command.cancelled", () => {
    for (const [name, draft, status] of [
      ["command.expired", expired, "expired"],
      ["command.cancelled", (id: string) => cancelled(id, "boss"), "cancelled"]
    ] as const) {
      it(`${name} settles a pending command as ${status}`, () =>
        given(sent("c1", "worker"), sent("c2", "worker"))
          .when(draft("c1"))
          .then(({ command, changes, pendingFor, projection, event }) => {
            expect(command("c1")).toMatchObject({ status, ackedAt: null, result: null })
            expect(projection.commands.get("c1")!.context.settledSeq).toBe(event.seq)
            expect(changes).toEqual([{ kind: "command.settled", commandId: "c1" }])
            expect(pendingFor("p1", "worker")).toEqual(["c2"])
          }))

      it(`${name} settles a delivered command as ${status} and frees the holder`, () =>
        given(connected("p1"), sent("c1", "worker"), delivered("c1", "p1"))
          .when(draft("c1"))
          .then(({ command, changes, heldBy, pendingFor }) => {
            expect(command("c1")).toMatchObject({ status, deliveredTo: "p1", leaseExpiresAt: null })
            expect(changes).toEqual([{ kind: "command.settled", commandId: "c1" }])
            expect(heldBy("p1")).toEqual([])
            expect(pendingFor("p1", "worker")).toEqual([])
          }))

      it(`${name} after an ack is ignored`, () =>
        given(sent("c1", "worker"), acked("c1")).when(draft("c1")).thenIgnored())

      it(`${name} of an unknown command is ignored`, () => given(sent("c1", "worker")).when(draft("nope")).thenIgnored())

      it(`an ack after ${name} is ignored`, () => given(sent("c1", "worker"), draft("c1")).when(acked("c1")).thenIgnored())
    }

    it("a command settled while pending is not released again by its former holder going offline", () =>
      given(connected("p1"), sent("c1", "worker"), delivered("c1", "p1"), leaseExpired("c1"), cancelled("c1"))
        .when(wentOffline("p1"))
        .then(({ command, changes }) => {
          expect(command("c1").status).toBe("cancelled")
          expect(changes).toEqual([{ kind: "peer", peerId: "p1" }])
        }))
  })
})
