import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Commands from "../../src/core/decide/commands.js"
import * as Peers from "../../src/core/decide/peers.js"
import type { EventDraft } from "../../src/core/events.js"
import { commandStatus } from "../../src/core/machines/command.js"
import { Projection } from "../../src/core/projection.js"
import { connected, sent, time } from "./given.js"

/**
 * Whatever happens to a command — claims, lapsed leases, holders going offline and coming back, a
 * person redelivering it — as the deciders and the sweeper's rule decide it: it is delivered at
 * most max-deliveries times between redeliveries, it is dead only once it was, and a dead command
 * is never delivered until it is redelivered.
 */

type Step =
  | { readonly kind: "claim"; readonly peer: "p1" | "p2" }
  | { readonly kind: "lapse" }
  | { readonly kind: "offline"; readonly peer: "p1" | "p2" }
  | { readonly kind: "reconnect"; readonly peer: "p1" | "p2" }
  | { readonly kind: "redeliver" }

const peer = fc.constantFrom("p1" as const, "p2" as const)
const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: peer.map((p) => ({ kind: "claim" as const, peer: p })), weight: 4 },
  { arbitrary: fc.constant({ kind: "lapse" as const }), weight: 3 },
  { arbitrary: peer.map((p) => ({ kind: "offline" as const, peer: p })), weight: 2 },
  { arbitrary: peer.map((p) => ({ kind: "reconnect" as const, peer: p })), weight: 2 },
  { arbitrary: fc.constant({ kind: "redeliver" as const }), weight: 2 }
)

describe("dead letters, whatever the interleaving (fast-check)", () => {
  it("delivered at most max-deliveries times before dead, dead only then, and never delivered while dead", () => {
    let died = 0
    let redelivered = 0
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(step, { maxLength: 60 }), (max, steps) => {
        const state = new Projection()
        let seq = 0
        const append = (drafts: ReadonlyArray<EventDraft>) => {
          for (const draft of drafts) state.apply({ ...draft, seq: ++seq, at: time(seq * 1_000) } as never)
        }
        append([connected("p1"), connected("p2"), sent("c1", "worker")])
        let deliveredSinceRedelivery = 0
        for (const s of steps) {
          const before = state.commands.get("c1")!
          const wasDead = commandStatus(before) === "dead"
          switch (s.kind) {
            case "claim":
              append(Either.getOrThrow(Commands.decide({ type: "Claim", commandId: "c1", peerId: s.peer, leaseMs: 1_000 }, state)))
              break
            case "lapse":
              if (commandStatus(before) === "delivered") append([Commands.leaseLapsed(before, max)])
              break
            case "offline": {
              const decision = Peers.decide({ type: "Disconnect", peerId: s.peer, reason: "disconnected", maxDeliveries: max }, state)
              append(Either.getOrThrow(decision))
              break
            }
            case "reconnect":
              append([connected(s.peer)])
              break
            case "redeliver": {
              const decision = Commands.decide({ type: "Redeliver", commandId: "c1", by: null }, state)
              if (Either.isRight(decision)) {
                append(decision.right)
                deliveredSinceRedelivery = 0
              }
              break
            }
          }
          const after = state.commands.get("c1")!
          if (after.context.deliveries > before.context.deliveries) {
            expect(wasDead, "delivered while dead").toBe(false)
            deliveredSinceRedelivery++
          }
          expect(deliveredSinceRedelivery).toBeLessThanOrEqual(max)
          if (commandStatus(after) === "dead" && !wasDead) {
            expect(deliveredSinceRedelivery).toBe(max)
            died++
          }
          if (wasDead && commandStatus(after) === "pending") redelivered++
        }
      }),
      { numRuns: 300 }
    )
    // The runs reached the interesting paths.
    expect(died).toBeGreaterThan(10)
    expect(redelivered).toBeGreaterThan(0)
  })
})
