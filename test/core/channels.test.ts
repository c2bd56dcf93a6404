import { describe, expect, it } from "vitest"
import type { BrokerEvent } from "../../src/core/events.js"
import { encodeCheckpoint } from "../../src/core/checkpointCodec.js"
import { Projection } from "../../src/core/projection.js"
import { channelView, messageView } from "../../src/core/views.js"
import { at, fired, given, message, seqIndexOf, store, time } from "./given.js"

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
})
