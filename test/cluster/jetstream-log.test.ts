import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager, StorageType } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Exit, Fiber, Schedule } from "effect"
import type { BrokerEvent } from "../../src/core/events.js"
import { HeadMoved } from "../../src/log/EventLog.js"
import { makeJetStreamLog } from "../../src/log/jetstream.js"
import { drafts, range, seqs, takeTail } from "../log/fixtures.js"
import { deleteStreams, natsUnavailable, natsUrl, uniqueStream } from "./nats.js"
import { startProxy } from "./proxy.js"

/**
 * What the contract suite cannot show with one log: several logs (broker nodes) on one stream, a
 * node reopening a stream, streams unfit to be the log, and a node losing its NATS connection.
 */

/** A stream name for this test, deleted (after everything else in the scope is closed) with the scope. */
const sharedStream = Effect.acquireRelease(
  Effect.sync(() => uniqueStream("LOGTEST")),
  (stream) => Effect.promise(() => deleteStreams(stream))
)

/** A raw NATS connection for setting up streams and publishing what the broker never would. */
const rawNats = Effect.acquireRelease(
  Effect.promise(async () => {
    const nc = await connect({ servers: natsUrl })
    return { nc, jsm: await jetstreamManager(nc) }
  }),
  ({ nc }) => Effect.promise(() => nc.close())
)

const failureOf = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.flatMap(Effect.exit(effect), (exit) =>
    Exit.isFailure(exit) ? Effect.succeed(exit.cause) : Effect.dieMessage("expected a failure")
  )

const messageOf = (cause: unknown) => JSON.stringify(cause)

/** Poll until `probe` holds; fail after `timeoutMs`. */
const waitFor = async (probe: () => Promise<boolean>, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const title = (what: string) => (natsUnavailable === undefined ? what : `${what} (skipped: ${natsUnavailable})`)

describe.skipIf(natsUnavailable !== undefined)(title("the JetStream log shared by several nodes"), () => {
  it.scoped(
    "nodes appending concurrently to one stream all see one dense order, their own and the others' events",
    () =>
      Effect.gen(function* () {
        const stream = yield* sharedStream
        const nodes = yield* Effect.all([1, 2, 3].map(() => makeJetStreamLog({ servers: natsUrl, stream })))
        const perNode = 40
        const total = nodes.length * perNode * 2
        const tails = yield* Effect.forEach(nodes, (log) => Effect.fork(takeTail(log, 1, total)))
        const results = yield* Effect.all(
          nodes.flatMap((log, n) =>
            Array.from({ length: perNode }, (_, i) => log.append(drafts(2, `node${n}-${i}`)))
          ),
          { concurrency: "unbounded" }
        )
        const seen = yield* Effect.forEach(tails, Fiber.join)
        const stored = yield* nodes[0]!.read(1)
        expect(seqs(stored)).toEqual(range(1, total))
        for (const tail of seen) expect(tail).toEqual(stored)
        for (const log of nodes) {
          expect(yield* log.head).toBe(total)
          expect(yield* log.read(1)).toEqual(stored)
        }
        // Every append got the seqs at which its events are stored.
        for (const events of results) {
          for (const event of events) expect(stored[event.seq - 1]).toEqual(event)
        }
        // Each node's own appends are in order (its single connection keeps them so).
        for (let n = 0; n < nodes.length; n++) {
          const mine = stored.filter((event) => (event.data as { from: string }).from.startsWith(`node${n}-`))
          const order = mine.map((event) => Number((event.data as { from: string }).from.split("-")[1]))
          expect(order).toEqual([...order].sort((a, b) => a - b))
        }
      }),
    60_000
  )

  it.scoped(
    "a node reopening the stream starts at its end, reads it all back and keeps time moving forward",
    () =>
      Effect.gen(function* () {
        const stream = yield* sharedStream
        const first = yield* Effect.scoped(
          Effect.gen(function* () {
            const log = yield* makeJetStreamLog({ servers: natsUrl, stream })
            // More than one consumer fetch page, so that reading it all back takes several.
            for (let i = 0; i < 100; i++) yield* log.append(drafts(50, `first${i}`))
            return yield* log.read(1)
          })
        )
        const log = yield* makeJetStreamLog({ servers: natsUrl, stream, recentEvents: 4 })
        expect(yield* log.head).toBe(5000)
        expect(yield* log.read(1)).toEqual(first)
        expect(yield* log.read(4000, 4200, 3)).toEqual(first.slice(3999, 4002))
        expect(yield* log.readSeqs([5000, 1, 7, 8, 9, 2500])).toEqual([5000, 1, 7, 8, 9, 2500].map((seq) => first[seq - 1]))
        const [next] = yield* log.append(drafts(1, "second"))
        expect(next!.seq).toBe(5001)
        expect(next!.at >= first[4999]!.at).toBe(true)
        expect(seqs(yield* takeTail(log, 4999, 3))).toEqual([4999, 5000, 5001])
      }),
    60_000
  )

  it.scoped(
    "a node whose consumer vanishes under it follows the stream again, and its position says where it stands",
    () =>
      Effect.gen(function* () {
        const stream = yield* sharedStream
        const { jsm } = yield* rawNats
        const a = yield* makeJetStreamLog({ servers: natsUrl, stream })
        const b = yield* makeJetStreamLog({ servers: natsUrl, stream, heartbeatMs: 200, probeIntervalMs: 200 })
        yield* a.append(drafts(3, "before"))
        yield* Effect.promise(() => waitFor(async () => (await Effect.runPromise(b.head)) === 3))
        expect(b.position()).toMatchObject({ head: 3, streamHead: 3, behind: 0, behindMs: 0, connected: true })
        // Both nodes' consumers are deleted by someone else: B hears no more of A's events through them.
        const consumers = yield* Effect.promise(async () => {
          const names: Array<string> = []
          for await (const info of jsm.consumers.list(stream)) names.push(info.name)
          return names
        })
        expect(consumers.length).toBeGreaterThanOrEqual(2)
        for (const name of consumers) yield* Effect.promise(() => jsm.consumers.delete(stream, name))
        yield* a.append(drafts(5, "after"))
        // B's follower misses its heartbeats (or its probe finds the view stuck) and follows again.
        yield* Effect.promise(() => waitFor(async () => (await Effect.runPromise(b.head)) === 8, 10_000))
        expect(b.position()).toMatchObject({ head: 8, behind: 0 })
        expect(yield* b.read(1)).toEqual(yield* a.read(1))
      }),
    30_000
  )

  it.scoped("a conditional append lands only if nothing was appended since the seq it names", () =>
    Effect.gen(function* () {
      const stream = yield* sharedStream
      const a = yield* makeJetStreamLog({ servers: natsUrl, stream })
      const b = yield* makeJetStreamLog({ servers: natsUrl, stream })
      yield* a.append(drafts(3, "a"))
      expect(seqs(yield* a.appendIfHead!(3, drafts(1, "a-if-3")))).toEqual([4])
      // b decided on the state at 3 too, but 4 is there now.
      const moved = yield* Effect.flip(b.appendIfHead!(3, drafts(1, "b-if-3")))
      expect(moved).toEqual(new HeadMoved({ head: 4 }))
      expect(seqs(yield* b.appendIfHead!(4, drafts(2, "b-if-4")))).toEqual([5, 6])
      // a sees b's events a moment later (its tail waits for them).
      const onA = yield* takeTail(a, 1, 6)
      expect(yield* b.read(1)).toEqual(onA)
      expect(onA.map((event) => (event.data as { from: string }).from)).toEqual([
        "a",
        "a",
        "a",
        "a-if-3",
        "b-if-4",
        "b-if-4"
      ])
    })
  )

  it.scoped("an append of an event larger than the server's max_payload fails with 503, and stores nothing", () =>
    Effect.gen(function* () {
      const stream = yield* sharedStream
      const log = yield* makeJetStreamLog({ servers: natsUrl, stream })
      const huge = { type: "message.sent", data: { channel: "big", from: null, message: "x".repeat(2 * 1024 * 1024) } } as const
      const error = yield* Effect.flip(log.append([huge]))
      expect(error.message).toContain("max_payload")
      expect(yield* log.head).toBe(0)
    })
  )
})

describe.skipIf(natsUnavailable !== undefined)(title("the JetStream log refuses what it cannot trust"), () => {
  it.effect("says clearly that the server cannot be reached", () =>
    Effect.gen(function* () {
      const cause = yield* failureOf(Effect.scoped(makeJetStreamLog({ servers: "nats://127.0.0.1:1", stream: "NOPE" })))
      expect(messageOf(cause)).toContain("cannot reach NATS at nats://127.0.0.1:1")
    })
  )

  it.scoped("refuses a stream that is kept in memory or captures other subjects", () =>
    Effect.gen(function* () {
      const { jsm } = yield* rawNats
      const stream = yield* sharedStream
      yield* Effect.promise(() =>
        jsm.streams.add({ name: stream, subjects: [`${stream}.events`, `${stream}.other`], storage: StorageType.Memory })
      )
      const text = messageOf(yield* failureOf(Effect.scoped(makeJetStreamLog({ servers: natsUrl, stream }))))
      expect(text).toContain("cannot be the broker's log")
      expect(text).toContain("kept in memory")
      expect(text).toContain(`must capture exactly '${stream}.events'`)
    })
  )

  it.scoped("refuses a stream with a gap (a deleted event), since seqs must be dense", () =>
    Effect.gen(function* () {
      const { nc, jsm } = yield* rawNats
      const stream = yield* sharedStream
      yield* Effect.promise(() => jsm.streams.add({ name: stream, subjects: [`${stream}.events`] }))
      const body = JSON.stringify({ at: new Date().toISOString(), type: "message.sent", data: { channel: "c", from: null, message: 1 } })
      yield* Effect.promise(async () => {
        for (let i = 0; i < 3; i++) nc.publish(`${stream}.events`, body)
        await nc.flush()
        await jsm.streams.deleteMessage(stream, 2)
      })
      const text = messageOf(yield* failureOf(Effect.scoped(makeJetStreamLog({ servers: natsUrl, stream }))))
      expect(text).toContain("not dense")
    })
  )

  it.scopedLive("fails loudly on a message on its subject that is not a broker event, and appends no more", () =>
    Effect.gen(function* () {
      const { nc } = yield* rawNats
      const stream = yield* sharedStream
      const log = yield* makeJetStreamLog({ servers: natsUrl, stream, recentEvents: 4 })
      yield* log.append(drafts(2, "fine"))
      yield* Effect.promise(async () => {
        nc.publish(`${stream}.events`, "not an event")
        await nc.flush()
      })
      // The follower finds it at seq 3 and stops trusting the stream: appends fail from then on.
      const error = yield* Effect.flip(log.append(drafts(1, "after"))).pipe(
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(100))))
      )
      expect(error.message).toContain("seq 3 is not a broker event")
      // A node opening the stream later fails as soon as it reads that far (here: at once, for the
      // last event's time).
      const reopened = yield* failureOf(
        Effect.scoped(Effect.flatMap(makeJetStreamLog({ servers: natsUrl, stream, recentEvents: 4 }), (log) => log.read(1)))
      )
      expect(messageOf(reopened)).toContain("seq 3 is not a broker event")
    })
  )
})

describe.skipIf(natsUnavailable !== undefined)(title("a node that loses its NATS connection"), () => {
  it.scopedLive(
    "fails appends fast with 503, and after reconnecting its tail goes on from the next seq with what others appended",
    () =>
      Effect.gen(function* () {
        const stream = yield* sharedStream
        const proxy = yield* Effect.acquireRelease(
          Effect.promise(() => startProxy(natsUrl)),
          (p) => Effect.promise(() => p.close())
        )
        const other = yield* makeJetStreamLog({ servers: natsUrl, stream })
        const node = yield* makeJetStreamLog({ servers: proxy.url, stream, reconnectWaitMs: 100 })
        yield* node.append(drafts(2, "before"))
        const tail = yield* Effect.fork(takeTail(node, 1, 10))

        yield* Effect.promise(() => proxy.cut())
        yield* Effect.sleep("20 millis").pipe(Effect.repeat({ until: () => !node.connected() }))
        const refused = yield* Effect.flip(node.append(drafts(1, "while cut")))
        expect(refused._tag).toBe("LogUnavailable")
        expect(refused.message).toContain("not connected")

        yield* other.append(drafts(5, "meanwhile"))
        yield* Effect.promise(() => proxy.restore())
        yield* Effect.sleep("20 millis").pipe(Effect.repeat({ until: () => node.connected() }))
        yield* node.append(drafts(3, "after"))

        const seen = yield* Fiber.join(tail)
        expect(seqs(seen)).toEqual(range(1, 10))
        // The other node reads from its own view, which hears of the node's last appends a moment later.
        yield* Effect.promise(() => waitFor(async () => (await Effect.runPromise(other.head)) === 10))
        expect(seen).toEqual(yield* other.read(1))
        expect(seen.map((event: BrokerEvent) => (event.data as { from: string }).from)).toEqual([
          ...Array(2).fill("before"),
          ...Array(5).fill("meanwhile"),
          ...Array(3).fill("after")
        ])
      }),
    30_000
  )
})
