import { Either } from "effect"
import { describe, expect, it } from "vitest"
import * as Channels from "../../../src/core/decide/channels.js"
import { recorded } from "../../../src/core/decide/decision.js"
import * as System from "../../../src/core/decide/system.js"
import { Conflict } from "../../../src/core/errors.js"
import { decider } from "../decider.js"
import { connected, message, reset } from "../given.js"

describe("deciding channels' requests", () => {
  const spec = decider<Channels.ChannelCommand>(Channels.decide)

  it("Publish records the message, on a channel new or known, with its sender", () => {
    spec.given().when({ type: "Publish", channel: "log", from: null, message: { any: ["json"] } }).then(message("log", { any: ["json"] }))
    spec.given(message("log", 1)).when({ type: "Publish", channel: "log", from: "p1", message: 2 }).then(message("log", 2, "p1"))
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
