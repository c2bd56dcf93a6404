import { describe, expect, it } from "vitest"
import type { EventDraft, StoredEvent } from "../../src/core/events.js"
import { eventLine, typeMatcher } from "../../src/cli/eventLine.js"
import { paint } from "../../src/cli/paint.js"

const at = "2026-11-30T07:20:01.123Z"
const stored = (seq: number, draft: EventDraft | { type: string; data: object }): StoredEvent => ({ seq, at, ...draft })

describe("tail's line for each event", () => {
  it("names the fields a person looks for, for every type in the catalogue", () => {
    const lines: Array<[EventDraft, string]> = [
      [{ type: "peer.connected", data: { peerId: "w1", role: "worker", capabilities: ["build"], name: "term 1" } }, 'worker "term 1" (w1) [build]'],
      [{ type: "peer.heartbeat", data: { peerId: "w1" } }, "w1"],
      [{ type: "peer.went_stale", data: { peerId: "w1" } }, "w1"],
      [{ type: "peer.went_offline", data: { peerId: "w1", reason: "timeout" } }, "w1 (timeout)"],
      [
        { type: "command.sent", data: { commandId: "cmd-1", from: "lead", target: "worker", action: "test", params: { p: 1 }, ttlMs: 5000 } },
        'cmd-1 lead → worker: test {"p":1} ttl 5000 ms'
      ],
      [{ type: "command.delivered", data: { commandId: "cmd-1", peerId: "w1", leaseMs: 600000 } }, "cmd-1 → w1 (lease 600000 ms)"],
      [{ type: "command.acked", data: { commandId: "cmd-1", ok: false, result: "boom", by: "w1" } }, 'cmd-1 FAILED by w1 "boom"'],
      [{ type: "command.lease_expired", data: { commandId: "cmd-1" } }, "cmd-1"],
      [{ type: "command.expired", data: { commandId: "cmd-1" } }, "cmd-1"],
      [{ type: "command.cancelled", data: { commandId: "cmd-1", by: null } }, "cmd-1"],
      [{ type: "message.sent", data: { channel: "builds", from: null, message: { text: "x".repeat(200) } } }, `builds -: {"text":"${"x".repeat(110)}`],
      [{ type: "signal.fired", data: { name: "go", data: 7, by: "ci" } }, "go by ci 7"],
      [{ type: "signal.cleared", data: { name: "go" } }, "go"],
      [{ type: "broker.reset", data: { by: "lead" } }, "everything cleared by lead"],
      [{ type: "token.minted", data: { name: "ci", project: "default", role: "agent", hash: "ab12", boundRole: "ci" } }, "ci: agent of default, bound to role ci"],
      [{ type: "token.revoked", data: { name: "ci" } }, "ci"]
    ]
    for (const [draft, summary] of lines) {
      const line = eventLine(stored(42, draft))
      expect(line, draft.type).toMatch(/^ {4}42 2026-11-30 07:20:01 /)
      expect(line, draft.type).toContain(`${draft.type.padEnd(21)} ${summary}`)
    }
    // Long JSON is cut to keep one event on one line.
    expect(eventLine(stored(1, lines[10]![0])).endsWith("…")).toBe(true)
  })

  it("shows the data of a type this version does not know, and colours only when asked", () => {
    expect(eventLine(stored(7, { type: "peer.renamed", data: { peerId: "w1" } }))).toContain('peer.renamed          {"peerId":"w1"}')
    const coloured = eventLine(stored(1, { type: "signal.cleared", data: { name: "go" } }), paint(true))
    expect(coloured).toContain("\x1b[33msignal.cleared")
  })
})

describe("--type globs", () => {
  it("match a family, a single type or several; no glob matches everything", () => {
    const commands = typeMatcher(["command.*"])
    expect(["command.sent", "command.acked"].every(commands)).toBe(true)
    expect(commands("commandXsent")).toBe(false)
    expect(commands("peer.connected")).toBe(false)
    const two = typeMatcher(["signal.fired", "peer.went_?????"])
    expect(two("signal.fired") && two("peer.went_stale") && !two("peer.went_offline")).toBe(true)
    expect(typeMatcher([])("anything")).toBe(true)
  })
})
