import { describe as group, expect, it } from "vitest"
import type { BrokerEvent, EventDraft } from "../../src/core/events.js"
import { describe, duration, noNames, summarize, who, type Names } from "../../web/src/describe.js"

let seq = 0
const event = (draft: EventDraft): BrokerEvent => ({ ...draft, seq: ++seq, at: "2025-06-02T09:00:00.000Z" }) as BrokerEvent

const names: Names = {
  roleOf: (id) => ({ "peer-x": "backend", "peer-y": "frontend" })[id],
  actionOf: (id) => (id === "cmd-y" ? "run_tests" : undefined),
  holderOf: (id) => (id === "cmd-y" ? "peer-x" : null)
}
const text = (draft: EventDraft, n: Names = names) => describe(event(draft), n).text

group("describe: each event as a sentence", () => {
  it("names peers by role and id", () => {
    expect(who("peer-x", names)).toBe("backend (peer-x)")
    expect(who("human", names)).toBe("human")
    expect(text({ type: "peer.connected", data: { peerId: "peer-x", role: "backend", capabilities: ["git", "edit"], name: "api" } })).toBe(
      "backend “api” (peer-x) connected · can git, edit"
    )
    expect(text({ type: "peer.heartbeat", data: { peerId: "peer-x" } })).toBe("backend (peer-x) is alive (heartbeat)")
    expect(describe(event({ type: "peer.heartbeat", data: { peerId: "peer-x" } }), names, { revived: true })).toMatchObject({
      text: "backend (peer-x) is back online (a sign of life)",
      tone: "good"
    })
    // A label, when the peer gave one, comes after the role and before the id.
    expect(who("peer-x", { ...names, labelOf: (id) => (id === "peer-x" ? "api" : null) })).toBe("backend “api” (peer-x)")
    expect(text({ type: "peer.went_stale", data: { peerId: "peer-x" } })).toMatch(/^backend \(peer-x\) went stale/)
    expect(text({ type: "peer.went_offline", data: { peerId: "peer-y", reason: "session_closed" } })).toBe(
      "frontend (peer-y) went offline: its session closed"
    )
  })

  it("tells a command's life", () => {
    expect(
      text({ type: "command.sent", data: { commandId: "cmd-y", from: "human", target: "backend", action: "run_tests", params: { suite: "api" }, ttlMs: 300_000 } })
    ).toBe('human sent cmd-y “run_tests” to backend (expires in 5 min) with {"suite":"api"}')
    expect(text({ type: "command.delivered", data: { commandId: "cmd-y", peerId: "peer-x", leaseMs: 60_000 } })).toBe(
      "backend (peer-x) took cmd-y (run_tests) (lease 60 s)"
    )
    expect(text({ type: "command.acked", data: { commandId: "cmd-y", ok: true, result: "ok", by: "peer-x" } })).toBe(
      "backend (peer-x) acked cmd-y: ok"
    )
    // No `by`: the holder is named from the projection.
    expect(text({ type: "command.acked", data: { commandId: "cmd-y", ok: false, result: { error: "2 failed" }, by: null } })).toBe(
      'backend (peer-x) failed cmd-y: {"error":"2 failed"}'
    )
    expect(text({ type: "command.acked", data: { commandId: "cmd-z", ok: true, result: null, by: null } })).toBe("cmd-z was acked")
    expect(text({ type: "command.lease_expired", data: { commandId: "cmd-y" } })).toMatch(/back to pending$/)
    expect(text({ type: "command.expired", data: { commandId: "cmd-z" } })).toBe("cmd-z expired before anyone acked it")
    expect(text({ type: "command.cancelled", data: { commandId: "cmd-y", by: "human" } })).toBe("human cancelled cmd-y (run_tests)")
  })

  it("tells messages, signals and resets", () => {
    expect(text({ type: "message.sent", data: { channel: "general", from: "peer-y", message: "rebasing now" } })).toBe(
      "frontend (peer-y) posted in #general: rebasing now"
    )
    expect(text({ type: "message.sent", data: { channel: "general", from: null, message: { n: 1 } } })).toBe('someone posted in #general: {"n":1}')
    expect(text({ type: "signal.fired", data: { name: "build-green", data: null, by: null } })).toBe("signal build-green fired")
    expect(text({ type: "signal.fired", data: { name: "build-green", data: { sha: "3f2c" }, by: "peer-x" } })).toBe(
      'backend (peer-x) fired signal build-green: {"sha":"3f2c"}'
    )
    expect(text({ type: "signal.cleared", data: { name: "build-green" } })).toBe("signal build-green cleared: armed again")
    expect(text({ type: "broker.reset", data: { by: null } }, noNames)).toBe("the broker was reset: all state cleared")
  })

  it("gives each event a kind and a tone for the feed", () => {
    expect(describe(event({ type: "command.acked", data: { commandId: "c", ok: false, result: null, by: null } })).tone).toBe("bad")
    expect(describe(event({ type: "peer.heartbeat", data: { peerId: "p" } })).category).toBe("peer")
    expect(describe(event({ type: "message.sent", data: { channel: "c", from: null, message: "" } })).category).toBe("channel")
  })
})

group("summarize and duration", () => {
  it("keeps payloads on one short line", () => {
    expect(summarize("a\n  b")).toBe("a b")
    expect(summarize(null)).toBe("")
    expect(summarize({ a: 1 })).toBe('{"a":1}')
    expect(summarize("x".repeat(100), 10)).toBe(`${"x".repeat(9)}…`)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(summarize(cyclic)).toBe("[object Object]")
  })

  it("says durations as people do", () => {
    expect(duration(500)).toBe("500 ms")
    expect(duration(90_000)).toBe("90 s")
    expect(duration(600_000)).toBe("10 min")
    expect(duration(10_800_000)).toBe("3 h")
  })
})
