import { describe, expect, it } from "vitest"
import type { BrokerEvent } from "../../src/core/events.js"
import { encodeCheckpoint } from "../../src/core/checkpointCodec.js"
import { Projection } from "../../src/core/projection.js"
import { channelView, messageView } from "../../src/core/views.js"
import { at, fired, given, heldAtsOf, message, reset, seqIndexOf, store, t0, time, trimmed } from "./given.js"

const channelOf = (projection: Projection, name: string) => {
  const snapshot = projection.channels.get(name)
  if (!snapshot) expect.fail(`channel ${name} does not exist`)
  return snapshot
}

describe("channels", () => {
  describe("message.sent", () => {
    it("opens a channel on its first message, whose id is 1", () =>
      given()
        .when(at(3_000, message("news", { hello: 1 }, "p1")))
        .then(({ channel, changes, seqIndex, event }) => {
          expect(channel("news")).toEqual({ name: "news", count: 1, firstId: 1, lastId: 1, lastAt: time(3_000) })
          expect(changes).toEqual([{ kind: "message", channel: "news", id: 1 }])
          expect(seqIndex("news")).toEqual([event.seq])
        }))

    it("counts ids from 1 per channel", () =>
      given(message("a"), message("b"), message("a"), message("a"), message("b"))
        .when(message("a"))
        .then(({ channel, changes }) => {
          expect(channel("a")).toMatchObject({ count: 4, lastId: 4 })
          expect(channel("b")).toMatchObject({ count: 2, lastId: 2 })
          expect(changes).toEqual([{ kind: "message", channel: "a", id: 4 }])
        }))

    it("indexes where each message lives in the log: message id n is at seqIndex[n - 1]", () =>
      given(message("a", "one"), fired("s"), message("b", "x"), message("a", "two"), message("a", "three"))
        .when(message("b", "y"))
        .then(({ seqIndex, events, channel }) => {
          expect(seqIndex("a")).toEqual([1, 4, 5])
          expect(seqIndex("b")).toEqual([3, 6])
          expect(channel("a").lastAt).toBe(events[4]!.at)
          const second = events[seqIndex("a")[1]! - 1]!
          expect(second.type === "message.sent" && messageView(2, second)).toEqual({
            id: 2,
            channel: "a",
            from: null,
            at: second.at,
            data: "two"
          })
        }))
  })

  describe("the shared seq index (copy-on-write)", () => {
    const head = store([message("a", 1), message("a", 2)])

    it("a checkpoint taken before more sends still shows only its own messages", () => {
      const live = Projection.replay(head)
      const checkpoint = live.checkpoint()
      for (const event of store([message("a", 3), message("a", 4), message("b", 1)], 3)) live.apply(event)

      const then = checkpoint.channels.get("a")!
      expect(channelView(then)).toMatchObject({ count: 2, lastId: 2, lastAt: head[1]!.at })
      expect(seqIndexOf(then)).toEqual([1, 2])
      expect(checkpoint.channels.has("b")).toBe(false)
      expect(encodeCheckpoint(checkpoint).channels[0]!.context.seqs).toEqual([1, 2])
      expect(seqIndexOf(channelOf(live, "a"))).toEqual([1, 2, 3, 4])
    })

    it("replaying from an older checkpoint does not corrupt the newer live projection", () => {
      const live = Projection.replay(head)
      const checkpoint = live.checkpoint()
      const liveTail = store([message("a", 3), message("a", 4), message("a", 5)], 3)
      for (const event of liveTail) live.apply(event)

      // Another history from the same checkpoint: a different event lands at seq 3.
      const otherTail: Array<BrokerEvent> = store([fired("s"), message("a", "other")], 3)
      const replayed = Projection.replay(otherTail, checkpoint)

      expect(seqIndexOf(channelOf(replayed, "a"))).toEqual([1, 2, 4])
      expect(seqIndexOf(channelOf(live, "a"))).toEqual([1, 2, 3, 4, 5])
      expect(seqIndexOf(checkpoint.channels.get("a")!)).toEqual([1, 2])
    })

    it("replaying from a checkpoint before the live projection moves on leaves both right", () => {
      const live = Projection.replay(head)
      const checkpoint = live.checkpoint()
      const replayed = Projection.replay(store([fired("s"), message("a", "other")], 3), checkpoint)
      for (const event of store([message("a", 3), message("a", 4)], 3)) live.apply(event)
      const again = Projection.replay(store([message("a", "x")], 3), checkpoint)

      expect(seqIndexOf(channelOf(replayed, "a"))).toEqual([1, 2, 4])
      expect(seqIndexOf(channelOf(live, "a"))).toEqual([1, 2, 3, 4])
      expect(seqIndexOf(channelOf(again, "a"))).toEqual([1, 2, 3])
      expect(seqIndexOf(checkpoint.channels.get("a")!)).toEqual([1, 2])
      expect(channelOf(replayed, "a").context.count).toBe(3)
      expect(channelOf(live, "a").context.count).toBe(4)
    })

    it("a send stays O(1): the live projection keeps appending to one array", () => {
      const live = Projection.replay(head)
      const before = channelOf(live, "a").context.seqs
      for (const event of store([message("a", 3), message("a", 4)], 3)) live.apply(event)
      expect(channelOf(live, "a").context.seqs).toBe(before)
    })
  })

  describe("channel.trimmed", () => {
    const four = [message("a", 1), message("a", 2), fired("s"), message("a", 3), message("a", 4)]

    it("drops the messages sent before beforeSeq; ids go on from where they were", () =>
      given(...four)
        .when(trimmed("a", 4))
        .then(({ channel, seqIndex, changes, projection }) => {
          expect(channel("a")).toEqual({ name: "a", count: 2, firstId: 3, lastId: 4, lastAt: time(5_000) })
          expect(seqIndex("a")).toEqual([4, 5])
          expect(heldAtsOf(projection.channels.get("a")!)).toEqual([t0 + 4_000, t0 + 5_000])
          // Nobody waits for fewer messages.
          expect(changes).toEqual([])
        }))

    it("a bound between two messages keeps the later one", () =>
      given(...four)
        .when(trimmed("a", 3, "max_age"))
        .then(({ channel, seqIndex }) => {
          expect(channel("a")).toMatchObject({ count: 2, firstId: 3, lastId: 4 })
          expect(seqIndex("a")).toEqual([4, 5])
        }))

    it("past every message it leaves an empty channel that keeps counting", () =>
      given(...four, trimmed("a", 6))
        .when(message("a", 5))
        .then(({ channel, seqIndex, changes, event }) => {
          expect(channel("a")).toMatchObject({ count: 1, firstId: 5, lastId: 5 })
          expect(seqIndex("a")).toEqual([event.seq])
          expect(changes).toEqual([{ kind: "message", channel: "a", id: 5 }])
        }))

    it("is ignored when nothing held is older than its bound (decided twice)", () =>
      given(...four, trimmed("a", 4)).when(trimmed("a", 4)).thenIgnored())

    it("is ignored for a channel that does not exist", () => given(...four).when(trimmed("b", 5)).thenIgnored())

    it("decided before a reset, it cannot touch the channel that comes after it", () =>
      given(message("a", 1), message("a", 2), reset(), message("a", "new")).when(trimmed("a", 3)).thenIgnored())

    it("leaves a checkpoint taken before it as it was", () => {
      const live = Projection.replay(store(four))
      const checkpoint = live.checkpoint()
      live.apply(store([trimmed("a", 5)], 6)[0]!)
      expect(channelView(checkpoint.channels.get("a")!)).toMatchObject({ count: 4, firstId: 1 })
      expect(seqIndexOf(checkpoint.channels.get("a")!)).toEqual([1, 2, 4, 5])
      expect(seqIndexOf(channelOf(live, "a"))).toEqual([5])
      const encoded = encodeCheckpoint(live.checkpoint()).channels[0]!.context
      expect({ seqs: encoded.seqs, ats: encoded.ats, trimmed: encoded.trimmed }).toEqual({ seqs: [5], ats: [t0 + 5_000], trimmed: 3 })
    })
  })
})
