import { describe, expect, it } from "vitest"
import type { BrokerEvent } from "../../src/core/events.js"
import { Projection } from "../../src/core/projection.js"
import { messageView, stateView } from "../../src/core/views.js"
import { dashboardPath, projectOfPath, routePrefix } from "../../web/src/projectPath.js"
import { frameOf, LogView, parseNdjson, projectsIn, projectToShow, targetsIn, Timeline, toNdjson } from "../../web/src/store.js"
import { generateSessionLog } from "./support/generate.js"

const replayTo = (events: ReadonlyArray<BrokerEvent>, seq: number) => Projection.replay(events.filter((e) => e.seq <= seq))

/** A seeded shuffle of positions: scrubbing jumps back and forth, not only forwards. */
const positions = (last: number, n: number, seed = 7): Array<number> => {
  let s = seed
  const out: Array<number> = [0, last, 1, last - 1]
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648
    out.push(s % (last + 1))
  }
  // Small steps both ways around a point, as a drag does.
  const mid = Math.floor(last / 2)
  for (let d = 0; d < 15; d++) out.push(mid + d, mid - d)
  return out
}

describe("Timeline: the state at any seq is the core projection's", () => {
  const events = generateSessionLog({ count: 2_000, seed: 3, resetAt: 1_200, noise: 0.05 })

  it("matches a fresh replay at every position visited, in any order, with checkpoints and a cursor", () => {
    const timeline = Timeline.of(events, { every: 64, maxCheckpoints: 1_000, fineCheckpoints: 8 })
    for (const seq of positions(events.length, 30)) {
      expect(stateView(timeline.projectionAt(seq), 1_000), `at seq ${seq}`).toEqual(stateView(replayTo(events, seq), 1_000))
    }
  })

  it("keeps its checkpoints bounded by thinning them on a long log", () => {
    const timeline = Timeline.of(events, { every: 16, maxCheckpoints: 20, fineCheckpoints: 4 })
    expect(timeline.checkpointInterval).toBeGreaterThan(16)
    expect(timeline.checkpointCount).toBeLessThanOrEqual(20)
    for (const seq of [0, 5, 777, 1_199, 1_200, 1_201, 1_999, 2_000]) {
      expect(stateView(timeline.projectionAt(seq), 1_000)).toEqual(stateView(replayTo(events, seq), 1_000))
    }
    expect(timeline.checkpointCount).toBeLessThanOrEqual(24)
  })

  it("reads a channel's messages at a past seq from the events it holds", () => {
    const timeline = Timeline.of(events, { every: 50 })
    for (const seq of [400, 1_199, 1_500, 2_000]) {
      const projection = replayTo(events, seq)
      for (const [name, snapshot] of projection.channels) {
        const expected = snapshot.context.seqs
          .slice(0, snapshot.context.count)
          .map((s, i) => messageView(i + 1, events[s - 1] as never))
          .reverse()
          .slice(0, 25)
        expect(timeline.messages(timeline.projectionAt(seq), name, 25)).toEqual(expected)
      }
    }
  })

  it("imports a retention trim and shows a channel's messages as held before and after it", () => {
    const at = (n: number) => `2025-01-01T00:00:0${n}.000Z`
    const sent = (seq: number): BrokerEvent => ({ seq, at: at(seq), type: "message.sent", data: { channel: "a", from: null, message: seq } })
    const log: Array<BrokerEvent> = [1, 2, 3, 4].map(sent)
    log.push({ seq: 5, at: at(5), type: "channel.trimmed", data: { channel: "a", beforeSeq: 3, reason: "max_messages" } })
    const parsed = parseNdjson(toNdjson(log))
    expect(parsed.problems).toEqual([])
    const timeline = Timeline.of(parsed.events)
    const ids = (seq: number) => timeline.messages(timeline.projectionAt(seq), "a", 10).map((m) => m.id)
    expect(ids(4)).toEqual([4, 3, 2, 1])
    expect(ids(5)).toEqual([4, 3])
    expect(frameOf(new LogView(timeline), { channel: "a" }).channel).toMatchObject({ total: 2 })
  })

  it("ignores events it already holds (a replay overlap after a reconnect)", () => {
    const timeline = Timeline.of(events.slice(0, 100))
    expect(timeline.append(events[50]!)).toBe(false)
    expect(timeline.append(events[100]!)).toBe(true)
    expect(timeline.length).toBe(101)
    expect(timeline.lastSeq).toBe(101)
  })

  it("handles a log that starts late and has gaps (a partial export)", () => {
    const partial = events.filter((e) => e.seq > 1_000 && e.seq % 3 !== 0).slice(0, 300)
    const timeline = Timeline.of(partial, { every: 32 })
    expect(timeline.startSeq).toBe(1_000)
    expect(timeline.countAt(1_000)).toBe(0)
    expect(timeline.countAt(1_003)).toBe(2) // 1001, 1003
    expect(timeline.eventBySeq(1_002)).toBeUndefined()
    expect(timeline.eventBySeq(1_003)?.seq).toBe(1_003)
    expect(timeline.stepFrom(1_001, 1)).toBe(1_003)
    expect(timeline.stepFrom(1_002, 1)).toBe(1_003) // 1002 shows the state after 1001
    expect(timeline.stepFrom(1_001, -5)).toBe(1_000)
    const seq = partial[200]!.seq
    expect(stateView(timeline.projectionAt(seq))).toEqual(stateView(Projection.replay(partial.filter((e) => e.seq <= seq))))
  })
})

describe("A project's log: its events are a part of the one log, with gaps in their seqs", () => {
  // Alpha's events among default's, as `/p/alpha/log` exports them: alpha's only, with their seqs in the one log.
  const alphaAlone = generateSessionLog({ count: 600, seed: 4, resetAt: 400 })
  const others = generateSessionLog({ count: 900, seed: 5 })
  const whole: Array<BrokerEvent> = []
  for (let a = 0, o = 0; a < alphaAlone.length || o < others.length; ) {
    const takeAlpha = o >= others.length || (a < alphaAlone.length && (a * 7 + o) % 5 < 2)
    const event = takeAlpha ? { ...alphaAlone[a++]!, project: "alpha" } : others[o++]!
    whole.push({ ...event, seq: whole.length + 1 } as BrokerEvent)
  }
  const alpha = whole.filter((event) => event.project === "alpha")
  const timeline = Timeline.of(alpha, { project: "alpha", every: 64, fineCheckpoints: 8 })
  /** The state without its seq: alpha alone numbers its events 1, 2, 3…, the one log does not. */
  const bare = ({ seq: _seq, ...state }: ReturnType<typeof stateView>) => state

  it("shows the project's entities by their names, as a broker of that project alone would", () => {
    for (const n of positions(alpha.length, 25)) {
      const seq = timeline.seqAfter(n)
      expect(timeline.countAt(seq), `after ${n} events`).toBe(n)
      expect(bare(stateView(timeline.stateAt(seq), 1_000)), `after ${n} events`).toEqual(bare(stateView(replayTo(alphaAlone, n), 1_000)))
    }
    expect(stateView(timeline.headState).peers.map((peer) => peer.id).every((id) => !id.includes("/"))).toBe(true)
  })

  it("tells a heartbeat that brought a project's peer back, though default has an online peer of the same id", () => {
    const at = "2025-06-02T09:00:00.000Z"
    const connected = { peerId: "peer-x", role: "backend", capabilities: [], name: null }
    const log: Array<BrokerEvent> = [
      { seq: 1, at, type: "peer.connected", data: connected },
      { seq: 2, at, type: "peer.connected", data: connected, project: "alpha" },
      { seq: 4, at, type: "peer.went_offline", data: { peerId: "peer-x", reason: "timeout" }, project: "alpha" },
      { seq: 7, at, type: "peer.heartbeat", data: { peerId: "peer-x" }, project: "alpha" }
    ]
    expect(Timeline.of(log.slice(1), { project: "alpha" }).revived(7)).toBe(true)
    expect(Timeline.of(log, { project: "alpha" }).revived(7)).toBe(true)
  })

  it("puts the slider on events, not seqs: count 0 is the start, each step one event of the project", () => {
    const view = new LogView(timeline)
    view.scrubToCount(0)
    expect(view.position).toBe(timeline.startSeq)
    expect(frameOf(view).state.peers).toEqual([])
    view.scrubToCount(10)
    expect(view.position).toBe(alpha[9]!.seq)
    expect(frameOf(view)).toMatchObject({ count: 10, total: alpha.length, seq: alpha[9]!.seq })
    view.step(1)
    expect(view.position).toBe(alpha[10]!.seq)
    // A seq between two of the project's events shows the state after the earlier one.
    view.scrubTo(alpha[10]!.seq + 1)
    expect(view.count).toBe(11)
    view.scrubToCount(alpha.length)
    expect(view.following).toBe(true)
  })

  it("reads a channel's messages at a past position from the project's events", () => {
    const n = 450
    const state = timeline.stateAt(timeline.seqAfter(n))
    const alone = replayTo(alphaAlone, n)
    const aloneTimeline = Timeline.of(alphaAlone)
    for (const name of alone.channels.keys()) {
      const strip = (messages: ReadonlyArray<{ readonly id: number; readonly data: unknown; readonly from: string | null }>) =>
        messages.map(({ id, data, from }) => ({ id, data, from }))
      expect(strip(timeline.messages(state, name, 20))).toEqual(strip(aloneTimeline.messages(alone, name, 20)))
    }
  })

  it("finds the projects a file holds, default first, and shows the page's own if it is there", () => {
    expect(projectsIn(whole)).toEqual([
      { name: "default", events: others.length },
      { name: "alpha", events: alphaAlone.length }
    ])
    expect(projectsIn(alpha)).toEqual([{ name: "alpha", events: alphaAlone.length }])
    expect(projectToShow(["default", "alpha", "beta"], "beta")).toBe("beta")
    expect(projectToShow(["alpha", "beta"], "default")).toBe("alpha")
    expect(projectToShow([], "default")).toBe("default")
  })

  it("reads the page's project from its address, and builds a project's addresses", () => {
    expect(projectOfPath("/dashboard")).toBe("default")
    expect(projectOfPath("/dashboard/")).toBe("default")
    expect(projectOfPath("/p/alpha/dashboard")).toBe("alpha")
    expect(projectOfPath("/p/alpha-2/dashboard/")).toBe("alpha-2")
    expect(projectOfPath("/p/Alpha/dashboard")).toBe("default") // not a project name: the broker refuses it
    expect(projectOfPath("/p/alpha/dashboards")).toBe("default")
    expect(routePrefix("default")).toBe("")
    expect(routePrefix("alpha")).toBe("/p/alpha")
    expect(dashboardPath("default")).toBe("/dashboard")
    expect(dashboardPath("alpha")).toBe("/p/alpha/dashboard")
  })
})

describe("LogView: following the head or pinned to a seq", () => {
  const events = generateSessionLog({ count: 500, seed: 9 })

  it("follows the head until moved; End (the last seq) follows again", () => {
    const view = new LogView(Timeline.of(events.slice(0, 400)))
    expect(view.following).toBe(true)
    expect(view.position).toBe(400)
    view.scrubTo(0) // Home
    expect(view.following).toBe(false)
    expect(view.position).toBe(0)
    expect(frameOf(view).state.peers).toEqual([])
    view.scrubTo(400) // End
    expect(view.following).toBe(true)
  })

  it("stays where it is while new events arrive, and counts them", () => {
    const view = new LogView(Timeline.of(events.slice(0, 400)))
    view.scrubTo(123)
    for (const event of events.slice(400)) view.timeline.append(event)
    expect(view.position).toBe(123)
    expect(view.behind).toBe(377)
    expect(frameOf(view).state).toEqual(stateView(replayTo(events, 123)))
    view.goLive()
    expect(view.position).toBe(500)
    expect(view.behind).toBe(0)
  })

  it("steps one event at a time and clamps at both ends", () => {
    const view = new LogView(Timeline.of(events))
    view.scrubTo(-10)
    expect(view.position).toBe(0)
    view.step(-1)
    expect(view.position).toBe(0)
    view.step(2)
    expect(view.position).toBe(2)
    view.scrubTo(499)
    view.step(1)
    expect(view.following).toBe(true)
  })
})

describe("frameOf: what the panels show", () => {
  const events = generateSessionLog({ count: 800, seed: 11 })
  const view = new LogView(Timeline.of(events))

  it("lists the feed newest first up to the position, described for people", () => {
    view.scrubTo(500)
    const frame = frameOf(view, { feedLimit: 20 })
    expect(frame.feed.map((item) => item.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 500 - i))
    expect(frame.current?.seq).toBe(500)
    expect(frame.feed.every((item) => item.text.length > 0 && !item.text.startsWith("{"))).toBe(true)
    expect(frame.seq).toBe(500)
    expect(frame.at).toBe(events[499]!.at)
    expect(frame.following).toBe(false)
    expect(frame.behind).toBe(300)
  })

  it("filters the feed by kind and can hide heartbeats", () => {
    view.goLive()
    const commands = frameOf(view, { feedCategories: new Set(["command"]), feedLimit: 50 })
    expect(commands.feed.length).toBe(50)
    expect(commands.feed.every((item) => item.type.startsWith("command."))).toBe(true)
    const quiet = frameOf(view, { showHeartbeats: false, feedLimit: 100 })
    expect(quiet.feed.some((item) => item.type === "peer.heartbeat" && !view.timeline.revived(item.seq))).toBe(false)
  })

  it("tells a heartbeat that brought a peer back from a routine one, and shows it even with heartbeats hidden", () => {
    const at = "2025-06-02T09:00:00.000Z"
    const log: Array<BrokerEvent> = [
      { seq: 1, at, type: "peer.connected", data: { peerId: "peer-x", role: "backend", capabilities: [], name: null } },
      { seq: 2, at, type: "peer.heartbeat", data: { peerId: "peer-x" } },
      { seq: 3, at, type: "peer.went_offline", data: { peerId: "peer-x", reason: "timeout" } },
      { seq: 4, at, type: "peer.heartbeat", data: { peerId: "peer-x" } },
      { seq: 5, at, type: "peer.heartbeat", data: { peerId: "peer-unknown" } }
    ]
    const timeline = Timeline.of(log)
    expect([1, 2, 3, 4, 5].filter((seq) => timeline.revived(seq))).toEqual([4])
    const hidden = frameOf(new LogView(timeline), { showHeartbeats: false })
    expect(hidden.feed.map((item) => [item.seq, item.text])).toEqual([
      [4, "backend (peer-x) is back online (a sign of life)"],
      [3, "backend (peer-x) went offline: timed out"],
      [1, "backend (peer-x) connected"]
    ])
    expect(frameOf(new LogView(timeline), { showHeartbeats: true }).feed.map((item) => item.seq)).toEqual([5, 4, 3, 2, 1])
  })

  it("filters commands by status and opens a channel", () => {
    const frame = frameOf(view, { commandStatus: "acked", channel: "general", messageLimit: 5 })
    expect(frame.state.commands.length).toBeGreaterThan(0)
    expect(frame.state.commands.every((command) => command.status === "acked")).toBe(true)
    expect(frame.channel?.name).toBe("general")
    expect(frame.channel?.messages.length).toBe(5)
    expect(frame.channel!.messages[0]!.id).toBe(frame.channel!.total)
  })

  it("offers the roles and peers online as command targets", () => {
    const targets = targetsIn(view.timeline.headProjection)
    expect(targets.peers.length).toBeGreaterThan(0)
    expect(targets.roles).toEqual([...new Set(targets.peers.map((p) => p.role))].sort())
  })
})

describe("parseNdjson: importing an exported log", () => {
  const events = generateSessionLog({ count: 20, seed: 5 })

  it("round-trips an export", () => {
    const parsed = parseNdjson(toNdjson(events))
    expect(parsed.events).toEqual(events)
    expect(parsed.problems).toEqual([])
    expect(parsed.lines).toBe(20)
  })

  it("reports bad lines by number and keeps the rest", () => {
    const lines = toNdjson(events).trimEnd().split("\n")
    lines.splice(3, 0, "{not json")
    lines.splice(7, 0, JSON.stringify({ seq: 99, at: "x", type: "made.up", data: {} }))
    lines.splice(9, 0, "", "   ")
    lines.push(JSON.stringify(events[4]))
    const parsed = parseNdjson(lines.join("\r\n"))
    expect(parsed.events.length).toBe(20)
    expect(parsed.problems.map((p) => p.line)).toEqual([4, 8, lines.length])
    expect(parsed.problems[0]!.reason).toMatch(/not JSON/)
    expect(parsed.problems[1]!.reason).toMatch(/not a broker event/)
    expect(parsed.problems[2]!.reason).toMatch(/seq 5 does not follow seq 20/)
    expect(parsed.lineNumbers.slice(0, 4)).toEqual([1, 2, 3, 5])
  })

  it("finds nothing in a file that is not a log", () => {
    const parsed = parseNdjson("hello\nworld\n")
    expect(parsed.events).toEqual([])
    expect(parsed.problems.length).toBe(2)
  })
})

describe("scrubbing cost on a long log", () => {
  it("answers any position of a long log within a few hundred applies", () => {
    const events = generateSessionLog({ count: 20_000, seed: 21 })
    const timeline = Timeline.of(events)
    const times: Array<number> = []
    for (const seq of positions(events.length, 40, 99)) {
      const started = performance.now()
      stateView(timeline.projectionAt(seq))
      times.push(performance.now() - started)
    }
    times.sort((a, b) => a - b)
    const p50 = times[Math.floor(times.length / 2)]!
    // Generous: the point is that it does not grow with the log (a full replay takes seconds).
    expect(p50).toBeLessThan(150)
  }, 60_000)
})
