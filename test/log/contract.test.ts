import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, type Scope } from "effect"
import type { LogUnavailable } from "../../src/core/errors.js"
import type { BrokerEvent, EventDraft } from "../../src/core/events.js"
import type { Appended, EventLogService } from "../../src/log/EventLog.js"
import { makeFileLog } from "../../src/log/file.js"
import { makeMemoryLog } from "../../src/log/memory.js"
import { natsUnavailable, scopedJetStreamLog } from "../cluster/nats.js"
import { drafts, range, seqs, takeTail, tempDir } from "./fixtures.js"

/**
 * The contract of src/log/EventLog.ts, run against every backend: one body, many stores (as
 * nats-server's testAllStoreAllPermutations). A new backend is one more line in this list.
 */
interface Backend {
  readonly name: string
  readonly make: Effect.Effect<EventLogService, LogUnavailable, Scope.Scope>
  /** Why this backend cannot be tested here (its tests are reported as skipped), if it cannot. */
  readonly unavailable?: string | undefined
}

const backends: ReadonlyArray<Backend> = [
  { name: "memory", make: Effect.sync(makeMemoryLog) },
  { name: "file", make: Effect.flatMap(tempDir, (dir) => makeFileLog(dir)) },
  // A fresh stream per test, deleted after it (NATS_URL, default nats://127.0.0.1:4222).
  { name: "jetstream", make: scopedJetStreamLog("CONTRACT"), unavailable: natsUnavailable },
  // The same with a tiny cache, so that reads and catch-ups go to the stream (direct gets, consumers).
  {
    name: "jetstream, reading from the stream",
    make: scopedJetStreamLog("CONTRACT", { recentEvents: 8 }),
    unavailable: natsUnavailable
  }
]

const slow = 60_000

for (const { name, make, unavailable } of backends) {
  const title = unavailable === undefined ? `EventLog contract: ${name}` : `EventLog contract: ${name} (skipped: ${unavailable})`
  describe.skipIf(unavailable !== undefined)(title, () => {
    it.scoped("an empty log has head 0 and stores nothing", () =>
      Effect.gen(function* () {
        const log = yield* make
        expect(yield* log.head).toBe(0)
        expect(yield* log.read(1)).toEqual([])
        expect(yield* log.read(0, 10)).toEqual([])
        expect(yield* log.readSeqs([1, 2])).toEqual([])
        expect(yield* log.append([])).toEqual([])
        expect(yield* log.head).toBe(0)
      })
    )

    it.scoped("assigns dense seqs from 1 across batches, each batch contiguous and in order", () =>
      Effect.gen(function* () {
        const log = yield* make
        const a = yield* log.append(drafts(1, "a"))
        const b = yield* log.append(drafts(3, "b"))
        const c = yield* log.append(drafts(2, "c"))
        expect([seqs(a), seqs(b), seqs(c)]).toEqual([[1], [2, 3, 4], [5, 6]])
        expect(b.map((event) => event.data)).toEqual(drafts(3, "b").map((draft) => draft.data))
        expect(b.every((event) => event.type === "message.sent")).toBe(true)
        expect(yield* log.head).toBe(6)
        expect(yield* log.read(1)).toEqual([...a, ...b, ...c])
      })
    )

    it.scoped("stamps each event with a non-decreasing ISO-8601 UTC time", () =>
      Effect.gen(function* () {
        const log = yield* make
        for (let i = 0; i < 20; i++) yield* log.append(drafts(1 + (i % 3), `t${i}`))
        const ats = (yield* log.read(1)).map((event) => event.at)
        for (const at of ats) {
          expect(at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
          expect(new Date(at).toISOString()).toBe(at)
        }
        expect(ats).toEqual([...ats].sort())
      })
    )

    it.scoped("reads ranges bounded by from, to and limit", () =>
      Effect.gen(function* () {
        const log = yield* make
        yield* log.append(drafts(4, "a"))
        yield* log.append(drafts(6, "b"))
        const cases: ReadonlyArray<readonly [from: number, to: number | undefined, limit: number | undefined, expected: Array<number>]> = [
          [1, undefined, undefined, range(1, 10)],
          [3, 5, undefined, [3, 4, 5]],
          [3, undefined, undefined, range(3, 10)],
          [3, undefined, 2, [3, 4]],
          [3, 9, 100, range(3, 9)],
          [0, 2, undefined, [1, 2]],
          [8, 100, undefined, [8, 9, 10]],
          [10, 10, undefined, [10]],
          [1, undefined, 0, []],
          [5, 4, undefined, []],
          [11, undefined, undefined, []],
          [11, 20, 5, []]
        ]
        for (const [from, to, limit, expected] of cases) {
          expect(seqs(yield* log.read(from, to, limit)), `read(${from}, ${to}, ${limit})`).toEqual(expected)
        }
      })
    )

    it.scoped("readSeqs returns events in the order asked, skipping positions not stored", () =>
      Effect.gen(function* () {
        const log = yield* make
        const stored = yield* log.append(drafts(10, "a"))
        const picked = yield* log.readSeqs([7, 2, 3, 4, 10, 1])
        expect(seqs(picked)).toEqual([7, 2, 3, 4, 10, 1])
        expect(picked[0]).toEqual(stored[6])
        expect(seqs(yield* log.readSeqs([0, 11, 5, -1, 12]))).toEqual([5])
        expect(yield* log.readSeqs([])).toEqual([])
      })
    )

    it.scoped("keeps each event's project: a draft with one is stored and read back with it, a draft without one has none", () =>
      Effect.gen(function* () {
        const log = yield* make
        // Read by every path before the events are appended (tail, follow) and after (read, readSeqs).
        const tail = yield* Effect.fork(takeTail(log, 1, 6))
        const followed: Array<BrokerEvent> = []
        const stop = yield* log.follow(1, (batch) => followed.push(...batch))
        const mixed = (tag: string): Array<EventDraft> => [
          { ...drafts(1, tag)[0]!, project: "alpha" },
          drafts(1, tag)[0]!,
          { ...drafts(1, tag)[0]!, project: "beta/web" }
        ]
        const stored = [...(yield* log.append(mixed("a"))), ...(yield* log.append(mixed("b")))]
        const projects = [["alpha", undefined, "beta/web"], ["alpha", undefined, "beta/web"]].flat()
        expect(stored.map((event) => event.project)).toEqual(projects)
        // No project is no key at all, as every event was before projects: old files and exports stay byte for byte.
        expect(stored.map((event) => "project" in event)).toEqual(projects.map((project) => project !== undefined))
        expect(yield* log.read(1)).toEqual(stored)
        expect(yield* log.readSeqs([5, 1, 2])).toEqual([stored[4], stored[0], stored[1]])
        expect(yield* Fiber.join(tail)).toEqual(stored)
        stop()
        expect(followed).toEqual(stored)
        const appendWith = log.appendWith
        if (appendWith !== undefined) {
          const appended = yield* Effect.async<Appended>((resume) => appendWith(mixed("w"), (done) => resume(Effect.succeed(done))))
          expect(Either.getOrThrow(appended).map((event) => event.project)).toEqual(projects.slice(0, 3))
        }
        if (log.appendIfHead !== undefined) {
          const head = yield* log.head
          const conditional = yield* log.appendIfHead(head, mixed("c"))
          expect(conditional.map((event) => event.project)).toEqual(projects.slice(0, 3))
          expect(yield* log.read(head + 1)).toEqual(conditional)
        }
      })
    )

    describe("tail emits what is stored, then each new event, with no gap and no repeat", () => {
      const starts: ReadonlyArray<readonly [label: string, from: number]> = [
        ["from 1", 1],
        ["from the middle", 3],
        ["from head + 1", 6]
      ]
      for (const [label, from] of starts) {
        it.scoped(label, () =>
          Effect.gen(function* () {
            const log = yield* make
            yield* log.append(drafts(2, "stored"))
            yield* log.append(drafts(3, "stored"))
            const tail = yield* Effect.fork(takeTail(log, from, 10 - from + 1))
            for (const count of [1, 3, 1]) {
              yield* log.append(drafts(count, "live"))
              yield* Effect.yieldNow()
            }
            const seen = yield* Fiber.join(tail)
            expect(seqs(seen)).toEqual(range(from, 10))
            expect(seen).toEqual(yield* log.read(from))
          })
        )
      }

      it.scoped(
        "while appends race with the tails' catch-up",
        () =>
          Effect.gen(function* () {
            const log = yield* make
            // More than a catch-up page and more than the file log's cache, so catching up
            // reads the store in several pages while new events keep arriving.
            for (let i = 0; i < 100; i++) yield* log.append(drafts(50, `stored${i}`))
            const racing = Array.from({ length: 150 }, (_, i) => log.append(drafts(1 + (i % 3), `live${i}`)))
            const total = 5000 + racing.reduce((sum, _, i) => sum + 1 + (i % 3), 0)
            const [fromStart, fromMiddle, fromHead] = yield* Effect.all(
              [
                takeTail(log, 1, total),
                takeTail(log, 2500, total - 2499),
                takeTail(log, 5001, total - 5000),
                Effect.all(racing, { concurrency: "unbounded" })
              ],
              { concurrency: "unbounded" }
            )
            expect(seqs(fromStart)).toEqual(range(1, total))
            expect(seqs(fromMiddle)).toEqual(range(2500, total))
            expect(seqs(fromHead)).toEqual(range(5001, total))
            expect(fromStart).toEqual(yield* log.read(1))
          }),
        slow
      )
    })

    it.scoped(
      "concurrent appends get unique dense seqs, each call's events contiguous and in order",
      () =>
        Effect.gen(function* () {
          const log = yield* make
          const sizes = Array.from({ length: 200 }, (_, i) => 1 + (i % 3))
          const results = yield* Effect.all(
            sizes.map((size, call) => log.append(drafts(size, `call${call}`))),
            { concurrency: "unbounded" }
          )
          const total = sizes.reduce((sum, size) => sum + size, 0)
          results.forEach((events, call) => {
            expect(events).toHaveLength(sizes[call]!)
            expect(seqs(events)).toEqual(range(events[0]!.seq, events[0]!.seq + sizes[call]! - 1))
            expect(events.map((event) => event.data)).toEqual(drafts(sizes[call]!, `call${call}`).map((d) => d.data))
          })
          expect(results.flatMap(seqs).sort((x, y) => x - y)).toEqual(range(1, total))
          expect(yield* log.head).toBe(total)
          const stored = yield* log.read(1)
          expect(stored).toEqual(results.flat().sort((x, y) => x.seq - y.seq))
        }),
      slow
    )
  })
}
