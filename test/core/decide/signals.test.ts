import { describe, it } from "vitest"
import * as Signals from "../../../src/core/decide/signals.js"
import { decider } from "../decider.js"
import { cleared, fired, reset } from "../given.js"

const spec = decider<Signals.SignalCommand>(Signals.decide)

describe("deciding signals' requests", () => {
  it("Fire records the firing, with null for absent data", () => {
    spec.given().when({ type: "Fire", name: "ready", by: null }).then(fired("ready", null, null))
    spec.given(fired("ready")).when({ type: "Fire", name: "ready", data: { n: 2 }, by: "p1" }).then(fired("ready", { n: 2 }, "p1"))
  })

  it("Clear re-arms a fired signal", () =>
    spec.given(fired("phase")).when({ type: "Clear", name: "phase" }).then(cleared("phase")))

  it("Clear of a signal that is not fired records nothing", () => {
    spec.given().when({ type: "Clear", name: "never" }).thenNothing()
    spec.given(fired("phase"), cleared("phase")).when({ type: "Clear", name: "phase" }).thenNothing()
    spec.given(fired("phase"), reset()).when({ type: "Clear", name: "phase" }).thenNothing()
  })
})
