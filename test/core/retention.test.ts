import { describe, expect, it } from "vitest"
import type { EventDraft } from "../../src/core/events.js"
import { Projection } from "../../src/core/projection.js"
import { channelView } from "../../src/core/views.js"
import type { BrokerConfigShape } from "../../src/broker/Config.js"
import { retentionDecisions, slackOf } from "../../src/broker/retention.js"
import { at, message, store, t0, trimmed, type Step } from "./given.js"

/**
 * retentionDecisions is pure: the state, a clock handed in as a number, and the limits.
 * `retain(...steps).at(ms, limits)` replays the steps and asks what the sweeper would append at time(ms).
 */
type Limits = Pick<BrokerConfigShape, "channelMaxMessages" | "channelMaxAgeMs">
const off: Limits = { channelMaxMessages: null, channelMaxAgeMs: null }

const retain = (...steps: ReadonlyArray<Step>) => {
  const events = store(steps)
  const projection = Projection.replay(events)
  return {
    events,
    at: (ms: number, limits: Partial<Limits>): Array<EventDraft> => retentionDecisions(projection, t0 + ms, { ...off, ...limits }),
    /** The channel after the decisions are applied, as a replay of the log would do. */
    after: (decisions: ReadonlyArray<EventDraft>) => {
      const next = Projection.replay(store(decisions, events.length + 1, Date.parse(events.at(-1)!.at) - t0), projection.checkpoint())
      return channelView(next.channels.get("a")!)
    }
  }
}

const messages = (n: number, channel = "a") => Array.from({ length: n }, (_, i) => at((i + 1) * 1_000, message(channel, i + 1)))

describe("retentionDecisions", () => {
  it("decides nothing with no limit set, however much is held", () => expect(retain(...messages(50)).at(10_000_000, {})).toEqual([]))

  describe("by count", () => {
    it("lets a channel run past its limit by the slack (a tenth) before trimming", () => {
      expect(slackOf(10)).toBe(1)
      expect(retain(...messages(11)).at(20_000, { channelMaxMessages: 10 })).toEqual([])
    })

    it("beyond the slack, keeps the newest `max` messages: the bound is the seq of the first kept", () => {
      const twelve = retain(...messages(12))
      const decisions = twelve.at(20_000, { channelMaxMessages: 10 })
      expect(decisions).toEqual([trimmed("a", 3, "max_messages")])
      expect(twelve.after(decisions)).toMatchObject({ count: 10, firstId: 3, lastId: 12 })
    })

    it("counts what is held, not what was ever sent", () =>
      expect(retain(...messages(12), trimmed("a", 3)).at(20_000, { channelMaxMessages: 10 })).toEqual([]))

    it("decides per channel", () => {
      const two = retain(...messages(5, "a"), ...messages(2, "b"))
      expect(two.at(10_000, { channelMaxMessages: 2 })).toEqual([trimmed("a", 4, "max_messages")])
    })
  })

  describe("by age", () => {
    const limits = { channelMaxAgeMs: 10_000 }

    it("waits until the oldest message is older than the limit by the slack", () => {
      const old = retain(...messages(3))
      expect(old.at(1_000 + 10_000 + slackOf(10_000) - 1, limits)).toEqual([])
      expect(old.at(1_000 + 10_000 + slackOf(10_000), limits)).not.toEqual([])
    })

    it("then drops every message at least the limit old and keeps the younger ones", () => {
      const three = retain(...messages(3))
      // At 12 s, the messages of 1 s and 2 s are 10 s or more old; the one of 3 s is not.
      const decisions = three.at(12_000, limits)
      expect(decisions).toEqual([trimmed("a", 3, "max_age")])
      expect(three.after(decisions)).toMatchObject({ count: 1, firstId: 3, lastId: 3 })
    })

    it("when every message is old, the bound goes past the newest", () => {
      const three = retain(...messages(3))
      const decisions = three.at(60_000, limits)
      expect(decisions).toEqual([trimmed("a", 4, "max_age")])
      expect(three.after(decisions)).toMatchObject({ count: 0, firstId: 4, lastId: 3 })
    })

    it("an empty channel has nothing to trim", () => expect(retain(...messages(3), trimmed("a", 4)).at(60_000, limits)).toEqual([]))
  })

  it("with both limits, one event that cuts as far as the stricter asks", () => {
    const both = retain(...messages(12))
    expect(both.at(20_000, { channelMaxMessages: 10, channelMaxAgeMs: 10_000 })).toEqual([trimmed("a", 11, "max_age")])
    expect(both.at(13_000, { channelMaxMessages: 5, channelMaxAgeMs: 10_000 })).toEqual([trimmed("a", 8, "max_messages")])
  })
})
