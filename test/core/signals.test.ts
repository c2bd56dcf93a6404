import { describe, expect, it } from "vitest"
import { signalView } from "../../src/core/views.js"
import { at, cleared, fired, given, time } from "./given.js"

describe("signals", () => {
  it("an unknown signal reads as armed and never fired", () =>
    expect(signalView("nope", undefined)).toEqual({
      name: "nope",
      fired: false,
      data: null,
      firedAt: null,
      firedBy: null,
      count: 0
    }))

  it("signal.fired fires it with its data", () =>
    given()
      .when(at(4_000, fired("ready", { v: 1 }, "p1")))
      .then(({ signal, changes }) => {
        expect(signal("ready")).toEqual({
          name: "ready",
          fired: true,
          data: { v: 1 },
          firedAt: time(4_000),
          firedBy: "p1",
          count: 1
        })
        expect(changes).toEqual([{ kind: "signal", name: "ready" }])
      }))

  it("firing again counts and replaces data, time and author", () =>
    given(at(1_000, fired("ready", "first", "p1")))
      .when(at(2_000, fired("ready", "second", null)))
      .then(({ signal }) =>
        expect(signal("ready")).toMatchObject({ fired: true, data: "second", firedAt: time(2_000), firedBy: null, count: 2 })
      ))

  it("signal.cleared re-arms it from scratch", () =>
    given(fired("ready", "a", "p1"), fired("ready", "b"))
      .when(cleared("ready"))
      .then(({ signal, changes }) => {
        expect(signal("ready")).toEqual({ name: "ready", fired: false, data: null, firedAt: null, firedBy: null, count: 0 })
        expect(changes).toEqual([{ kind: "signal", name: "ready" }])
      }))

  it("firing after a clear counts from 1 again", () =>
    given(fired("ready"), fired("ready"), cleared("ready"))
      .when(fired("ready", "again"))
      .then(({ signal }) => expect(signal("ready")).toMatchObject({ fired: true, count: 1, data: "again" })))

  it("clearing a signal never fired leaves it armed", () =>
    given()
      .when(cleared("ready"))
      .then(({ signal }) => expect(signal("ready")).toMatchObject({ fired: false, count: 0 })))

  it("signals are independent", () =>
    given(fired("a", 1), fired("b", 2), fired("a", 3))
      .when(cleared("b"))
      .then(({ signal }) => {
        expect(signal("a")).toMatchObject({ fired: true, count: 2, data: 3 })
        expect(signal("b")).toMatchObject({ fired: false, count: 0 })
      }))
})
