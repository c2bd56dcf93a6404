import { Either } from "effect"
import { describe, expect, it } from "vitest"
import * as Commands from "../../../src/core/decide/commands.js"
import { Conflict, Forbidden, NotFound } from "../../../src/core/errors.js"
import type { BrokerEvent, EventDraft } from "../../../src/core/events.js"
import { Projection } from "../../../src/core/projection.js"
import { decider, stateAfter } from "../decider.js"
import {
  at,
  acked,
  cancelled,
  connected,
  dead,
  delivered,
  expired,
  heartbeat,
  leaseExpired,
  redelivered,
  reset,
  sent,
  store,
  t0,
  wentOffline,
  wentStale
} from "../given.js"

const spec = decider<Commands.CommandCommand>(Commands.decide)
const lease = 60_000

/** boss sent c1 to the role "worker", and p1 (a worker) holds it. */
const heldByP1 = [connected("p1"), connected("p2"), sent("c1", "worker", { from: "boss" }), delivered("c1", "p1")] as const

describe("deciding commands' requests", () => {
  describe("Send", () => {
    it("records the command for its target, absent params and ttl as null", () =>
      spec
        .given()
        .when({ type: "Send", commandId: "c1", from: "boss", target: "worker", action: "run" })
        .then({
          type: "command.sent",
          data: { commandId: "c1", from: "boss", target: "worker", action: "run", params: null, ttlMs: null }
        }))

    it("keeps from, params and ttl as given, whether or not anyone holds the target", () =>
      spec
        .given(connected("p1"))
        .when({ type: "Send", commandId: "c2", from: "p1", target: "nobody-yet", action: "build", params: { n: 1 }, ttlMs: 5_000 })
        .then(sent("c2", "nobody-yet", { from: "p1", action: "build", params: { n: 1 }, ttlMs: 5_000 })))
  })

  describe("Send with an idempotency key", () => {
    const keyed = (key: string): EventDraft => ({
      type: "command.sent",
      data: { commandId: "c1", from: "boss", target: "worker", action: "run", params: null, ttlMs: null, idempotencyKey: key }
    })
    const at = Date.parse("2025-01-01T00:00:00.000Z")

    it("records the key with the command", () =>
      spec
        .given()
        .when({ type: "Send", commandId: "c1", from: "boss", target: "worker", action: "run", idempotencyKey: "k", nowMs: at })
        .then(keyed("k")))

    it("a repeat from the same sender within 24 hours records nothing; another sender's is new", () => {
      spec
        .given(keyed("k"))
        .when({ type: "Send", commandId: "c2", from: "boss", target: "worker", action: "run", idempotencyKey: "k", nowMs: at + 60_000 })
        .thenNothing()
      spec
        .given(keyed("k"))
        .when({ type: "Send", commandId: "c2", from: "other", target: "worker", action: "run", idempotencyKey: "k", nowMs: at + 60_000 })
        .then({ type: "command.sent", data: { commandId: "c2", from: "other", target: "worker", action: "run", params: null, ttlMs: null, idempotencyKey: "k" } })
    })

    it("the projection keeps the first send of a key in log order: a racing repeat is ignored", () => {
      const state = stateAfter(keyed("k"), { ...keyed("k"), data: { ...(keyed("k").data as object), commandId: "c2" } } as EventDraft)
      expect([...state.commands.keys()]).toEqual(["c1"])
    })
  })

  describe("Claim", () => {
    it("by an online peer is one command.delivered under the lease", () =>
      spec
        .given(connected("p1"), sent("c1", "worker"))
        .when({ type: "Claim", commandId: "c1", peerId: "p1", leaseMs: lease })
        .then(delivered("c1", "p1", lease)))

    it("by a waiting peer that looks stale or offline says it is alive first, so the claim cannot lose for that", () => {
      spec
        .given(connected("p1"), sent("c1", "worker"), wentStale("p1"))
        .when({ type: "Claim", commandId: "c1", peerId: "p1", leaseMs: lease })
        .then(heartbeat("p1"), delivered("c1", "p1", lease))
      spec
        .given(connected("p1"), sent("c1", "worker"), wentOffline("p1", "timeout"))
        .when({ type: "Claim", commandId: "c1", peerId: "p1", leaseMs: lease })
        .then(heartbeat("p1"), delivered("c1", "p1", lease))
    })
  })

  describe("SendAndClaim (a command sent to a peer parked waiting for it)", () => {
    const send = { commandId: "c1", from: "boss", target: "worker", action: "run" } as const
    const sentDraft = {
      type: "command.sent",
      data: { commandId: "c1", from: "boss", target: "worker", action: "run", params: null, ttlMs: null }
    } as const

    it("is one batch: command.sent, then the waiting peer's claim", () =>
      spec
        .given(connected("p1"))
        .when({ type: "SendAndClaim", send, claimant: "p1", leaseMs: lease })
        .then(sentDraft, delivered("c1", "p1", lease)))

    it("carries the claimant's heartbeat in front of its claim when it looks stale", () =>
      spec
        .given(connected("p1"), wentStale("p1"))
        .when({ type: "SendAndClaim", send, claimant: "p1", leaseMs: lease })
        .then(sentDraft, heartbeat("p1"), delivered("c1", "p1", lease)))
  })

  describe("Ack", () => {
    const ack = (by: string | null, commandId = "c1"): Commands.Ack => ({ type: "Ack", commandId, ok: true, result: 2, by })

    it("by the holder records the result", () =>
      spec.given(...heldByP1).when(ack("p1")).then(acked("c1", true, 2, "p1")))

    it("by an anonymous caller (curl, the dashboard) records it too", () =>
      spec.given(...heldByP1).when(ack(null)).then(acked("c1", true, 2, null)))

    it("with ok:false records a failure, keeping the result", () =>
      spec
        .given(...heldByP1)
        .when({ type: "Ack", commandId: "c1", ok: false, result: "boom", by: "p1" })
        .then(acked("c1", false, "boom", "p1")))

    it("of a pending command is accepted from anyone: nobody holds it", () =>
      spec.given(connected("p1"), sent("c1", "worker")).when(ack("p2")).then(acked("c1", true, 2, "p2")))

    it("of an unknown command is 404", () =>
      spec.given(...heldByP1).when(ack(null, "no-such-command")).thenFails(NotFound, "no command with id 'no-such-command'"))

    it("of a command removed by a reset is 404", () =>
      spec.given(...heldByP1, reset()).when(ack("p1")).thenFails(NotFound, "no command with id 'c1'"))

    it("by a peer that does not hold the command is 403, naming the holder", () =>
      spec
        .given(...heldByP1)
        .when(ack("p2"))
        .thenFails(Forbidden, "command 'c1' is delivered to peer 'p1'; 'p2' may not have it acked"))

    it("by the sender of a delivered command is 403: only cancelling is the sender's", () =>
      spec
        .given(...heldByP1)
        .when(ack("boss"))
        .thenFails(Forbidden, "command 'c1' is delivered to peer 'p1'; 'boss' may not have it acked"))

    it("of a settled command is 409, whoever asks: acked, failed, cancelled or expired", () => {
      spec.given(...heldByP1, acked("c1")).when(ack("p1")).thenFails(Conflict, "command 'c1' is already acked; it cannot be acked")
      spec
        .given(...heldByP1, acked("c1", false))
        .when(ack(null))
        .thenFails(Conflict, "command 'c1' is already failed; it cannot be acked")
      spec
        .given(...heldByP1, cancelled("c1"))
        .when(ack("p1"))
        .thenFails(Conflict, "command 'c1' is already cancelled; it cannot be acked")
      spec
        .given(connected("p1"), sent("c1", "worker", { ttlMs: 1_000 }), delivered("c1", "p1"), expired("c1"))
        .when(ack("p1"))
        .thenFails(Conflict, "command 'c1' is already expired; it cannot be acked")
    })

    it("is refused as settled (409) before it is refused as not yours (403)", () =>
      spec.given(...heldByP1, acked("c1")).when(ack("p2")).thenFails(Conflict))

    it("by the former holder of a command whose lease lapsed is accepted: nobody holds it now", () =>
      spec.given(...heldByP1, leaseExpired("c1")).when(ack("p1")).then(acked("c1", true, 2, "p1")))

    it("by the holder of a command that went back to pending with its holder is accepted", () =>
      spec.given(...heldByP1, wentOffline("p1")).when(ack("p2")).then(acked("c1", true, 2, "p2")))
  })

  describe("Cancel", () => {
    const cancel = (by: string | null, commandId = "c1"): Commands.Cancel => ({ type: "Cancel", commandId, by })

    it("of a pending command, by anyone, records it", () =>
      spec.given(connected("p1"), sent("c1", "worker")).when(cancel("p2")).then(cancelled("c1", "p2")))

    it("of a delivered command, by the holder, the sender or an anonymous caller, records it", () => {
      spec.given(...heldByP1).when(cancel("p1")).then(cancelled("c1", "p1"))
      spec.given(...heldByP1).when(cancel("boss")).then(cancelled("c1", "boss"))
      spec.given(...heldByP1).when(cancel(null)).then(cancelled("c1", null))
    })

    it("of a delivered command, by another peer, is 403", () =>
      spec
        .given(...heldByP1)
        .when(cancel("p2"))
        .thenFails(Forbidden, "command 'c1' is delivered to peer 'p1'; 'p2' may not have it cancelled"))

    it("of a finished command is 409", () => {
      spec
        .given(...heldByP1, acked("c1"))
        .when(cancel(null))
        .thenFails(Conflict, "command 'c1' is already acked; it cannot be cancelled")
      spec
        .given(...heldByP1, cancelled("c1"))
        .when(cancel("boss"))
        .thenFails(Conflict, "command 'c1' is already cancelled; it cannot be cancelled")
    })

    it("of an unknown command is 404", () =>
      spec.given().when(cancel(null, "no-such-command")).thenFails(NotFound, "no command with id 'no-such-command'"))
  })
})

/** The state after `steps`, and the stored events, to judge what an appended event achieved. */
const logOf = (...steps: Parameters<typeof store>[0]) => {
  const events: Array<BrokerEvent> = store(steps)
  return { events, state: Projection.replay(events) }
}

describe("races, settled by log order", () => {
  it("a claim is won only by the first command.delivered in log order", () => {
    // Two claims appended at once by two waiters (or two nodes): seqs 3 and 4.
    const { state } = logOf(connected("p1"), sent("c1", "worker"), delivered("c1", "p1"), delivered("c1", "p1"))
    expect(Commands.wonClaim(state, "c1", 3)?.context.deliveredTo).toBe("p1")
    expect(Commands.wonClaim(state, "c1", 4)).toBeUndefined()
    expect(Commands.wonClaim(state, "no-such-command", 3)).toBeUndefined()
  })

  it("an ack or cancel counts only if it is the settling event; the other is told it lost (409)", () => {
    // An ack (seq 4) and a cancel (seq 5), both decided on the delivered command.
    const { state } = logOf(...heldByP1, acked("c1"), cancelled("c1"))
    expect(Either.map(Commands.settledBy(state, "c1", 5), (c) => c.context.settledSeq)).toEqual(Either.right(5))
    const lost = Commands.settledBy(state, "c1", 6)
    expect(Either.isLeft(lost) && lost.left).toBeInstanceOf(Conflict)
    expect(Either.isLeft(lost) && lost.left.message).toBe("command 'c1' was acked by another request first")
  })

  it("an ack whose command a reset removed right after it is 404", () => {
    const { state } = logOf(...heldByP1, acked("c1"), reset())
    const gone = Commands.settledBy(state, "c1", 5)
    expect(Either.isLeft(gone) && gone.left).toBeInstanceOf(NotFound)
  })
})

describe("what a waiting peer may take", () => {
  it("the oldest pending command for its id or its role, skipping those this node is claiming", () => {
    const state = stateAfter(
      connected("p1", "worker"),
      connected("p2", "reviewer"),
      sent("c1", "worker"),
      sent("c2", "reviewer"),
      sent("c3", "p1"),
      sent("c4", "worker")
    )
    expect(Commands.nextClaimable(state, "p1")?.context.id).toBe("c1")
    expect(Commands.nextClaimable(state, "p1", new Set(["c1"]))?.context.id).toBe("c3")
    expect(Commands.nextClaimable(state, "p1", new Set(["c1", "c3"]))?.context.id).toBe("c4")
    expect(Commands.nextClaimable(state, "p1", new Set(["c1", "c3", "c4"]))).toBeUndefined()
    expect(Commands.nextClaimable(state, "p2")?.context.id).toBe("c2")
  })

  it("nothing held, settled or addressed to others; nothing for an unknown peer", () => {
    const state = stateAfter(
      connected("p1"),
      connected("p2"),
      sent("c1", "worker"),
      delivered("c1", "p2"),
      sent("c2", "worker"),
      acked("c2"),
      sent("c3", "p2")
    )
    expect(Commands.nextClaimable(state, "p1")).toBeUndefined()
    expect(Commands.nextClaimable(state, "nobody")).toBeUndefined()
  })
})

describe("who may wait for a peer's commands", () => {
  it("the peer itself, or an anonymous caller", () => {
    expect(Either.isRight(Commands.mayWaitFor("p1", "p1"))).toBe(true)
    expect(Either.isRight(Commands.mayWaitFor(null, "p1"))).toBe(true)
  })

  it("not a caller that names itself as another peer: it would take that peer's work", () => {
    const refused = Commands.mayWaitFor("p2", "p1")
    expect(Either.isLeft(refused) && refused.left).toEqual(new Forbidden({ message: "'p2' may not wait for the commands of peer 'p1'" }))
  })

  describe("Redeliver", () => {
    /** c1 died: delivered twice, the second lease lapsed with max-deliveries 2. */
    const deadC1 = [...heldByP1, leaseExpired("c1"), delivered("c1", "p1"), dead("c1", 2)] as const

    it("puts a dead, failed or expired command back to pending for a person (anonymous or no peer)", () => {
      spec.given(...deadC1).when({ type: "Redeliver", commandId: "c1", by: null }).then(redelivered("c1"))
      spec.given(...heldByP1, acked("c1", false)).when({ type: "Redeliver", commandId: "c1", by: "alice" }).then(redelivered("c1", "alice"))
      spec.given(...heldByP1, expired("c1")).when({ type: "Redeliver", commandId: "c1", by: null }).then(redelivered("c1"))
    })

    it("is refused to a peer: agents may not undo a dead letter", () =>
      spec
        .given(...deadC1)
        .when({ type: "Redeliver", commandId: "c1", by: "p2" })
        .thenFails(Forbidden, "'p2' is a peer; only a person (no X-Peer-Id) may redeliver command 'c1'"))

    it("is refused for a command that is pending, delivered, acked or cancelled, and for an unknown one", () => {
      spec
        .given(...heldByP1)
        .when({ type: "Redeliver", commandId: "c1", by: null })
        .thenFails(Conflict, "command 'c1' is delivered; only a dead, failed or expired command can be redelivered")
      spec.given(...heldByP1, acked("c1")).when({ type: "Redeliver", commandId: "c1", by: null }).thenFails(Conflict)
      spec.given(...heldByP1, cancelled("c1")).when({ type: "Redeliver", commandId: "c1", by: null }).thenFails(Conflict)
      spec.given().when({ type: "Redeliver", commandId: "c9", by: null }).thenFails(NotFound, "no command with id 'c9'")
    })

    it("a dead command may be cancelled (by a person or its sender), but not acked", () => {
      spec.given(...deadC1).when({ type: "Cancel", commandId: "c1", by: null }).then(cancelled("c1"))
      spec.given(...deadC1).when({ type: "Cancel", commandId: "c1", by: "boss" }).then(cancelled("c1", "boss"))
      spec
        .given(...deadC1)
        .when({ type: "Ack", commandId: "c1", ok: true, result: 1, by: null })
        .thenFails(Conflict, "command 'c1' is already dead; it cannot be acked")
    })
  })

  describe("dead letters (the sweeper's and a disconnect's decisions)", () => {
    it("a lapsed lease returns the command to pending until it was delivered max-deliveries times, then kills it", () => {
      const once = stateAfter(...heldByP1)
      expect(Commands.leaseLapsed(once.commands.get("c1")!, 2)).toEqual(leaseExpired("c1"))
      const twice = stateAfter(...heldByP1, leaseExpired("c1"), delivered("c1", "p1"))
      expect(Commands.leaseLapsed(twice.commands.get("c1")!, 2)).toEqual(dead("c1", 2))
    })

    it("counts deliveries from the last redelivery, so a redelivered command gets a fresh budget", () => {
      const again = stateAfter(...heldByP1, leaseExpired("c1"), delivered("c1", "p1"), dead("c1", 2), redelivered("c1"), delivered("c1", "p2"))
      const command = again.commands.get("c1")!
      expect(command.context).toMatchObject({ deliveries: 3, budgetFrom: 2, deadReason: null })
      expect(Commands.leaseLapsed(command, 2)).toEqual(leaseExpired("c1"))
    })

    it("a held command killed before its holder goes offline stays dead; nothing else it held does", () => {
      const state = stateAfter(...heldByP1, dead("c1", 1, "holder_offline"), wentOffline("p1"))
      const command = state.commands.get("c1")!
      expect(command.value).toBe("dead")
      expect(command.context.deadReason).toBe("holder_offline")
      expect(Commands.deadLetters(state, "p1", 1, "holder_offline")).toEqual([])
    })
  })

  describe("the approval gate (--require-approval, --gate-after)", () => {
    const gate = { requireApproval: ["deployer"], gateAfter: null }
    const heldSend = (commandId: string, target: string, held: "approval" | "loop_guard", from = "boss"): EventDraft => ({
      type: "command.sent",
      data: { commandId, from, target, action: "run", params: null, ttlMs: null, held }
    })
    const send = (commandId: string, target: string, options: { from?: string; nowMs?: number; gate?: Commands.Gate } = {}) =>
      ({ type: "Send", commandId, from: options.from ?? "boss", target, action: "run", nowMs: options.nowMs ?? 0, gate: options.gate ?? gate }) as const
    const approved = (commandId: string, by: string | null = null): EventDraft => ({ type: "command.approved", data: { commandId, by } })
    const rejected = (commandId: string, by: string | null = null): EventDraft => ({ type: "command.rejected", data: { commandId, by } })

    it("holds a command to a gated role, or to a peer id of that role; others go through as before", () => {
      spec.given().when(send("c1", "deployer")).then(heldSend("c1", "deployer", "approval"))
      spec.given(connected("d1", "deployer")).when(send("c1", "d1")).then(heldSend("c1", "d1", "approval"))
      spec
        .given(connected("w1", "worker"))
        .when(send("c1", "w1"))
        .then({ type: "command.sent", data: { commandId: "c1", from: "boss", target: "w1", action: "run", params: null, ttlMs: null } })
    })

    it("the loop guard holds a sender's sends to one target beyond n in the last minute of the log, counted by event time", () => {
      const loop = { requireApproval: [], gateAfter: 2 }
      const twoSent = [at(0, sent("c1", "worker")), at(30_000, sent("c2", "worker"))] as const
      spec.given(...twoSent).when(send("c3", "worker", { gate: loop, nowMs: t0 + 40_000 })).then(heldSend("c3", "worker", "loop_guard"))
      // Another sender, another target, or the first send out of the window: not held.
      spec
        .given(...twoSent)
        .when(send("c3", "worker", { gate: loop, nowMs: t0 + 40_000, from: "other" }))
        .then({ type: "command.sent", data: { commandId: "c3", from: "other", target: "worker", action: "run", params: null, ttlMs: null } })
      spec
        .given(...twoSent)
        .when(send("c3", "tester", { gate: loop, nowMs: t0 + 40_000 }))
        .then({ type: "command.sent", data: { commandId: "c3", from: "boss", target: "tester", action: "run", params: null, ttlMs: null } })
      spec
        .given(...twoSent)
        .when(send("c3", "worker", { gate: loop, nowMs: t0 + 60_000 }))
        .then({ type: "command.sent", data: { commandId: "c3", from: "boss", target: "worker", action: "run", params: null, ttlMs: null } })
    })

    it("the loop guard forgets the pairs with no send in the last minute, so its index does not grow with every sender ever seen", () => {
      const early = Array.from({ length: 1023 }, (_, i) => at(0, sent(`c${i}`, "worker", { from: `s${i}` })))
      const state = stateAfter(...early, at(120_000, sent("late", "worker", { from: "late" })))
      expect(state.sendsInLastMinute("late", "worker", t0 + 120_001)).toBe(1)
      expect(state.sendsInLastMinute("s5", "worker", t0 + 120_001)).toBe(0)
      // The index itself is private; its size is what this test is about.
      expect((state as unknown as { recentSends: Map<string, unknown> }).recentSends.size).toBe(1)
    })

    it("the loop guard's count survives a restore from a checkpoint (the index is rebuilt from the commands)", () => {
      const live = stateAfter(at(0, sent("c1", "worker")), at(30_000, sent("c2", "worker")), at(50_000, sent("c3", "tester")))
      const restored = Projection.fromCheckpoint(live.checkpoint())
      for (const [target, nowMs] of [["worker", 40_000], ["worker", 70_000], ["tester", 55_000]] as const) {
        expect(restored.sendsInLastMinute("boss", target, t0 + nowMs), `${target} at ${nowMs}`).toBe(live.sendsInLastMinute("boss", target, t0 + nowMs))
      }
      expect(live.sendsInLastMinute("boss", "worker", t0 + 40_000)).toBe(2)
      expect(live.sendsInLastMinute("boss", "worker", t0 + 70_000)).toBe(1)
    })

    it("a held command is in no pending queue: no peer may take it", () => {
      const state = stateAfter(connected("d1", "deployer"), heldSend("c1", "deployer", "approval"))
      expect(state.commands.get("c1")!.value).toBe("held")
      expect(Commands.nextClaimable(state, "d1")).toBeUndefined()
      // A claim that reaches the log anyway changes nothing.
      const claimed = stateAfter(connected("d1", "deployer"), heldSend("c1", "deployer", "approval"), delivered("c1", "d1"))
      expect(claimed.commands.get("c1")!.value).toBe("held")
    })

    it("a person approves a held command: it is pending, and a peer of its target may take it", () => {
      spec.given(heldSend("c1", "deployer", "approval")).when({ type: "Approve", commandId: "c1", by: null }).then(approved("c1"))
      const state = stateAfter(connected("d1", "deployer"), heldSend("c1", "deployer", "approval"), approved("c1"))
      expect(state.commands.get("c1")!.value).toBe("pending")
      expect(state.commands.get("c1")!.context.heldReason).toBe("approval")
      expect(Commands.nextClaimable(state, "d1")?.context.id).toBe("c1")
    })

    it("a person rejects a held command: rejected, an end that no claim and no approval leaves", () => {
      spec.given(heldSend("c1", "deployer", "approval")).when({ type: "Reject", commandId: "c1", by: "alice" }).then(rejected("c1", "alice"))
      const state = stateAfter(connected("d1", "deployer"), heldSend("c1", "deployer", "approval"), rejected("c1"), approved("c1"), delivered("c1", "d1"))
      expect(state.commands.get("c1")!.value).toBe("rejected")
      spec.given(heldSend("c1", "deployer", "approval"), rejected("c1")).when({ type: "Approve", commandId: "c1", by: null }).thenFails(Conflict, "command 'c1' is rejected, not held; it cannot be approved")
    })

    it("is refused to a peer, for a command not held, and for an unknown one", () => {
      spec
        .given(connected("p2"), heldSend("c1", "deployer", "approval"))
        .when({ type: "Approve", commandId: "c1", by: "p2" })
        .thenFails(Forbidden, "'p2' is a peer; only a person (no X-Peer-Id) may have command 'c1' approved")
      spec.given(...heldByP1).when({ type: "Reject", commandId: "c1", by: null }).thenFails(Conflict, "command 'c1' is delivered, not held; it cannot be rejected")
      spec.given().when({ type: "Approve", commandId: "c9", by: null }).thenFails(NotFound, "no command with id 'c9'")
    })

    it("a held command's sender may cancel it; nobody may ack it", () => {
      spec.given(heldSend("c1", "deployer", "approval")).when({ type: "Cancel", commandId: "c1", by: "boss" }).then(cancelled("c1", "boss"))
      spec
        .given(heldSend("c1", "deployer", "approval"))
        .when({ type: "Ack", commandId: "c1", ok: true, result: 1, by: null })
        .thenFails(Conflict, "command 'c1' is held for a person's approval; it cannot be acked")
    })
  })
})
