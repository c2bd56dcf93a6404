import { afterEach, describe, expect, it, vi } from "vitest"
import { ViewPosition } from "../../src/log/jetstreamPosition.js"

/** How a node's view stands against the stream: what X-Log-Head, X-Log-Behind and /healthz report. */
describe("ViewPosition", () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it("is level with the stream until it hears of events it has not taken", () => {
    const view = { head: 5 }
    const position = new ViewPosition(view)
    expect(position.now(true)).toEqual({ head: 5, streamHead: 5, behind: 0, behindMs: 0, connected: true })
    position.heardOf(4) // older news changes nothing
    expect(position.behind).toBe(false)
  })

  it("counts how far and how long the view has been behind, and forgets it once caught up", () => {
    vi.useFakeTimers()
    vi.setSystemTime(1_000_000)
    const view = { head: 5 }
    const position = new ViewPosition(view)
    position.heardOf(9)
    vi.setSystemTime(1_001_500)
    expect(position.now(true)).toEqual({ head: 5, streamHead: 9, behind: 4, behindMs: 1_500, connected: true })
    view.head = 8
    position.tookUp()
    expect(position.now(true)).toMatchObject({ behind: 1, behindMs: 1_500 }) // still behind since then
    view.head = 9
    position.tookUp()
    expect(position.now(false)).toEqual({ head: 9, streamHead: 9, behind: 0, behindMs: 0, connected: false })
    // Behind again later: the clock starts afresh.
    position.heardOf(10)
    vi.setSystemTime(1_001_600)
    expect(position.now(true)).toMatchObject({ behind: 1, behindMs: 100 })
  })

  it("does not count events the view took before it heard of them (its own appends)", () => {
    const view = { head: 5 }
    const position = new ViewPosition(view)
    view.head = 7
    position.heardOf(7)
    position.tookUp()
    expect(position.now(true)).toMatchObject({ head: 7, behind: 0, behindMs: 0 })
  })
})
