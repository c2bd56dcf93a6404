import { describe, expect, it } from "vitest"
import { eventTypes, isBrokerEvent } from "../../src/core/events.js"
import { isName } from "../../src/core/names.js"
import { generateLog } from "./generate.js"

describe("isBrokerEvent", () => {
  it("accepts stored events of every type", () => {
    const log = generateLog({ seed: 1, count: 300, resetAt: 150 })
    expect(new Set(log.map((e) => e.type))).toEqual(new Set(eventTypes))
    expect(log.every(isBrokerEvent)).toBe(true)
  })

  const good = { seq: 1, at: "2025-01-01T00:00:00.000Z", type: "peer.heartbeat", data: { peerId: "p1" } }

  it("accepts a minimal event", () => expect(isBrokerEvent(good)).toBe(true))

  for (const [what, value] of [
    ["null", null],
    ["a string", "peer.heartbeat"],
    ["an array", [good]],
    ["no seq", { ...good, seq: undefined }],
    ["seq 0", { ...good, seq: 0 }],
    ["a negative seq", { ...good, seq: -1 }],
    ["a fractional seq", { ...good, seq: 1.5 }],
    ["a NaN seq", { ...good, seq: Number.NaN }],
    ["an unsafe seq", { ...good, seq: 2 ** 53 }],
    ["a string seq", { ...good, seq: "1" }],
    ["no at", { ...good, at: undefined }],
    ["a numeric at", { ...good, at: 0 }],
    ["an unknown type", { ...good, type: "peer.exploded" }],
    ["no data", { ...good, data: undefined }],
    ["null data", { ...good, data: null }],
    ["string data", { ...good, data: "p1" }]
  ] as const) {
    it(`rejects ${what}`, () => expect(isBrokerEvent(value)).toBe(false))
  }
})

describe("isName", () => {
  for (const name of ["a", "p1", "worker-1", "team.alpha", "ns:name", "A_b", "0", "x".repeat(64)]) {
    it(`accepts ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}… (${name.length})` : name)}`, () =>
      expect(isName(name)).toBe(true))
  }
  for (const name of ["", "-a", ".a", "_a", ":a", "a b", "a/b", "é", "x".repeat(65), "a\n"]) {
    it(`rejects ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}… (${name.length})` : name)}`, () =>
      expect(isName(name)).toBe(false))
  }
})
