import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Commands from "../../src/core/decide/commands.js"
import type { EventDraft } from "../../src/core/events.js"
import { commandStatus } from "../../src/core/machines/command.js"
import { Projection } from "../../src/core/projection.js"
import { connected, time } from "./given.js"

/**
 * Whatever happens to a command the approval gate holds — claims (decided or racing into the log
 * anyway), approvals, rejections, lapsed leases — it is never delivered while held, and never after
 * it was rejected.
 */

type Step =
  | { readonly kind: "claim"; readonly peer: "p1" | "p2"; readonly racing: boolean }
  | { readonly kind: "approve" }
  | { readonly kind: "reject" }
  | { readonly kind: "lapse" }

const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("claim" as const), peer: fc.constantFrom("p1" as const, "p2" as const), racing: fc.boolean() }), weight: 5 },
  { arbitrary: fc.constant({ kind: "approve" as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: "reject" as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: "lapse" as const }), weight: 2 }
)

describe("the approval gate, whatever the interleaving (fast-check)", () => {
  it("a command is never delivered while held, nor after it was rejected", () => {
    let deliveredAfterApproval = 0
    let rejectedRuns = 0
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const state = new Projection()
        let seq = 0
        const append = (drafts: ReadonlyArray<EventDraft>) => {
          for (const draft of drafts) state.apply({ ...draft, seq: ++seq, at: time(seq * 1_000) } as never)
        }
        append([connected("p1", "deployer"), connected("p2", "deployer")])
        const gate = { requireApproval: ["deployer"], gateAfter: null }
        append(Either.getOrThrow(Commands.decide({ type: "Send", commandId: "c1", from: "boss", target: "deployer", action: "deploy", gate }, state)))
        expect(commandStatus(state.commands.get("c1")!)).toBe("held")
        let everRejected = false
        for (const s of steps) {
          const before = state.commands.get("c1")!
          const wasHeld = commandStatus(before) === "held"
          switch (s.kind) {
            case "claim": {
              const claim = { commandId: "c1", peerId: s.peer, leaseMs: 1_000 }
              // A decided claim takes only what the state offers; a racing one reaches the log regardless.
              if (s.racing) append(Either.getOrThrow(Commands.decide({ type: "Claim", ...claim }, state)))
              else if (Commands.nextClaimable(state, s.peer)?.context.id === "c1") append(Either.getOrThrow(Commands.decide({ type: "Claim", ...claim }, state)))
              break
            }
            case "approve":
            case "reject": {
              const decision = Commands.decide({ type: s.kind === "approve" ? "Approve" : "Reject", commandId: "c1", by: null }, state)
              expect(Either.isRight(decision)).toBe(wasHeld)
              if (Either.isRight(decision)) append(decision.right)
              break
            }
            case "lapse":
              if (commandStatus(before) === "delivered") append([Commands.leaseLapsed(before, 100)])
              break
          }
          const after = state.commands.get("c1")!
          if (commandStatus(after) === "rejected") everRejected = true
          if (after.context.deliveries > before.context.deliveries) {
            expect(wasHeld, "delivered while held").toBe(false)
            expect(everRejected, "delivered after it was rejected").toBe(false)
            deliveredAfterApproval++
          }
        }
        if (everRejected) rejectedRuns++
      }),
      { numRuns: 300 }
    )
    // The runs reached both ends.
    expect(deliveredAfterApproval).toBeGreaterThan(10)
    expect(rejectedRuns).toBeGreaterThan(10)
  })
})
