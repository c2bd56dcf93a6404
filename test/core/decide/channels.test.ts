import { Either } from "effect"
import { describe, expect, it } from "vitest"
import * as Channels from "../../../src/core/decide/channels.js"
import { recorded } from "../../../src/core/decide/decision.js"
import * as System from "../../../src/core/decide/system.js"
import { Conflict } from "../../../src/core/errors.js"
import type { EventDraft } from "../../../src/core/events.js"
import { decider, stateAfter } from "../decider.js"
import { connected, message, reset, t0 } from "../given.js"

describe("deciding channels' requests", () => {
  const spec = decider<Channels.ChannelCommand>(Channels.decide)

  it("Publish records the message, on a channel new or known, with its sender", () => {
    spec.given().when({ type: "Publish", channel: "log", from: null, message: { any: ["json"] } }).then(message("log", { any: ["json"] }))
    spec.given(message("log", 1)).when({ type: "Publish", channel: "log", from: "p1", message: 2 }).then(message("log", 2, "p1"))
  })

  it("Publish with an idempotency key records it; a repeat by the same sender on the channel within 24 h records nothing", () => {
    const keyed: EventDraft = { type: "message.sent", data: { channel: "log", from: "p1", message: 1, idempotencyKey: "k" } }
    const now = t0 + 60_000
    spec.given().when({ type: "Publish", channel: "log", from: "p1", message: 1, idempotencyKey: "k", nowMs: now }).then(keyed)
    spec.given(keyed).when({ type: "Publish", channel: "log", from: "p1", message: 2, idempotencyKey: "k", nowMs: now }).thenNothing()
    // A day later the key names nothing.
    spec
      .given(keyed)
      .when({ type: "Publish", channel: "log", from: "p1", message: 2, idempotencyKey: "k", nowMs: t0 + 25 * 3_600_000 })
      .then({ type: "message.sent", data: { channel: "log", from: "p1", message: 2, idempotencyKey: "k" } })
    // Two sends of one key that raced into the log: the first is the message, the second nothing.
    const state = stateAfter(keyed, { ...keyed, data: { channel: "log", from: "p1", message: 2, idempotencyKey: "k" } } as EventDraft)
    expect(state.channels.get("log")!.context.count).toBe(1)
  })
})

describe("deciding a reset", () => {
  const spec = decider<System.SystemCommand>(System.decide)

  it("records who reset, whatever the state holds", () => {
    spec.given().when({ type: "Reset", by: null }).then(reset())
    spec.given(connected("p1"), message("log"), reset()).when({ type: "Reset", by: "admin" }).then(reset("admin"))
  })
})

describe("what a request recorded, as the state shows it", () => {
  it("is there, or was cleared by what landed right after it (409)", () => {
    expect(recorded(7, "the message")).toEqual(Either.right(7))
    const cleared = recorded(undefined, "the message", "a reset or a retention trim")
    expect(Either.isLeft(cleared) && cleared.left).toBeInstanceOf(Conflict)
    expect(Either.isLeft(cleared) && cleared.left.message).toBe(
      "the message was recorded, but a reset or a retention trim that landed right after it cleared it"
    )
  })
})
