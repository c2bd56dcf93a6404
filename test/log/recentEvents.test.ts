import { describe, expect, it } from "vitest"
import type { BrokerEvent } from "../../src/core/events.js"
import { RecentEvents } from "../../src/log/recentEvents.js"

const event = (seq: number): BrokerEvent =>
  ({ seq, at: "2026-01-01T00:00:00.000Z", type: "message.sent", data: { channel: "c", from: "p", message: "x" } }) as BrokerEvent

const held = (recent: RecentEvents, seqs: ReadonlyArray<number>) => seqs.filter((seq) => recent.get(seq) !== undefined)

describe("RecentEvents", () => {
  it("keeps the last `capacity` events", () => {
    const recent = new RecentEvents(3)
    for (let seq = 1; seq <= 5; seq++) recent.put(seq, event(seq), 100)
    expect(held(recent, [1, 2, 3, 4, 5])).toEqual([3, 4, 5])
  })

  it("drops the oldest once their records take more than `maxBytes`", () => {
    const recent = new RecentEvents(100, 1000)
    for (let seq = 1; seq <= 10; seq++) recent.put(seq, event(seq), 300)
    expect(held(recent, [7, 8, 9, 10])).toEqual([8, 9, 10])
    // Small records after large ones take little room: 8..10 (900 bytes) and 11..20 fit in 1000.
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
    for (let seq = 11; seq <= 20; seq++) recent.put(seq, event(seq), 10)
    expect(held(recent, range(1, 20))).toEqual(range(8, 20))
    recent.put(21, event(21), 10)
    expect(held(recent, range(1, 21))).toEqual(range(9, 21))
  })

  it("always keeps the newest event, even one larger than `maxBytes`", () => {
    const recent = new RecentEvents(10, 100)
    recent.put(1, event(1), 50)
    recent.put(2, event(2), 500)
    expect(held(recent, [1, 2])).toEqual([2])
    recent.put(3, event(3), 50)
    expect(held(recent, [2, 3])).toEqual([3])
  })

  it("an event left out costs nothing", () => {
    const recent = new RecentEvents(10, 100)
    recent.put(1, event(1), 60)
    recent.put(2, undefined, 1_000_000)
    recent.put(3, event(3), 40)
    expect(held(recent, [1, 2, 3])).toEqual([1, 3])
  })
})
