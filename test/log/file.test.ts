import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Either, Exit, Fiber } from "effect"
import type { BrokerEvent, EventDraft } from "../../src/core/events.js"
import { lockFileName } from "../../src/log/dataDirLock.js"
import { logFileName, makeFileLog, type FileLogOptions, type FileLogService } from "../../src/log/file.js"
import { captureWarnings, drafts, range, seqs, takeTail, tempDir } from "./fixtures.js"

const slow = 60_000

const fileOf = (dir: string) => nodePath.join(dir, logFileName)
const readLines = (dir: string) =>
  Effect.promise(() => fs.readFile(fileOf(dir), "utf8")).pipe(Effect.map((text) => text.split(/(?<=\n)/)))

/** Opens the log in `dir`, runs `use`, and closes it again: one broker process lifetime. */
const session = <A, E>(
  dir: string,
  use: (log: FileLogService) => Effect.Effect<A, E>,
  options?: FileLogOptions
) => Effect.scoped(Effect.flatMap(makeFileLog(dir, options), use))

/** What a failing disk throws: an Error with an errno code, as Node's fs does. */
const diskError = (code: string, message: string) => Object.assign(new Error(`${code}: ${message}`), { code })

describe("file log", () => {
  it.scoped("keeps every event across a restart and continues the seqs", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      // A tiny cache, so that reads after the restart come from the file.
      const options = { recentEvents: 2 }
      const before = yield* session(
        dir,
        (log) =>
          Effect.gen(function* () {
            yield* log.append(drafts(2, "a"))
            yield* log.append(drafts(3, "b"))
            return yield* log.read(1)
          }),
        options
      )
      const warnings = yield* captureWarnings
      const log = yield* makeFileLog(dir, options)
      expect(yield* log.head).toBe(5)
      expect(yield* log.read(1)).toEqual(before)
      expect(yield* log.readSeqs([4, 1])).toEqual([before[3], before[0]])
      const after = yield* log.append(drafts(2, "c"))
      expect(seqs(after)).toEqual([6, 7])
      expect(after[0]!.at >= before[4]!.at).toBe(true)
      expect(yield* log.read(1)).toEqual([...before, ...after])
      expect(warnings).not.toHaveBeenCalled()

      // The file doubles as the export format: one object per line, keys in a fixed order.
      const lines = yield* readLines(dir)
      expect(lines).toHaveLength(7)
      lines.forEach((line, i) => {
        expect(line.endsWith("\n")).toBe(true)
        const parsed = JSON.parse(line) as BrokerEvent
        expect(Object.keys(parsed)).toEqual(["seq", "at", "type", "data"])
        expect(`${JSON.stringify(parsed)}\n`).toBe(line)
        expect(parsed.seq).toBe(i + 1)
      })
    })
  )

  it.scoped("keeps each event's project across a restart, written as a key between at and type", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const options = { recentEvents: 1 }
      const mixed: Array<EventDraft> = [{ ...drafts(1, "a")[0]!, project: "alpha" }, drafts(1, "b")[0]!]
      const before = yield* session(dir, (log) => log.append(mixed), options)
      const log = yield* makeFileLog(dir, options)
      expect(yield* log.read(1)).toEqual(before)
      expect((yield* log.readSeqs([1]))[0]!.project).toBe("alpha")
      expect(yield* takeTail(log, 1, 2)).toEqual(before)
      const keys = (yield* readLines(dir)).map((line) => Object.keys(JSON.parse(line) as object))
      expect(keys).toEqual([["seq", "at", "project", "type", "data"], ["seq", "at", "type", "data"]])
    })
  )

  it.scoped(
    "reads what the cache no longer holds from the file",
    () =>
      Effect.gen(function* () {
        const log = yield* makeFileLog(yield* tempDir, { recentEvents: 8 })
        const appended: Array<BrokerEvent> = []
        for (let i = 0; i < 60; i++) appended.push(...(yield* log.append(drafts(1 + (i % 4), `b${i}`))))
        expect(yield* log.read(1)).toEqual(appended)
        expect(yield* log.read(10, 30, 7)).toEqual(appended.slice(9, 16))
        expect(yield* log.readSeqs([100, 3, 4, 5, 149, 150])).toEqual(
          [100, 3, 4, 5, 149, 150].map((seq) => appended[seq - 1])
        )
        expect(yield* takeTail(log, 1, appended.length)).toEqual(appended)
      }),
    slow
  )

  describe("one broker per data dir", () => {
    it.scoped("a second log on an open data dir is refused, naming the holder; once closed, the dir opens again", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const lockPath = nodePath.join(dir, lockFileName)
        yield* session(dir, (first) =>
          Effect.gen(function* () {
            yield* first.append(drafts(1, "first"))
            expect((yield* Effect.promise(() => fs.readFile(lockPath, "utf8"))).trim()).toBe(String(process.pid))
            const second = yield* Effect.either(Effect.scoped(makeFileLog(dir)))
            expect(Either.isLeft(second) && second.left.message).toContain(`in use by another broker (pid ${process.pid})`)
            // The refused open changed nothing: the first still appends, and holds the lock.
            expect(seqs(yield* first.append(drafts(1, "first")))).toEqual([2])
          })
        )
        expect(yield* Effect.promise(() => fs.access(lockPath).then(() => true, () => false))).toBe(false)
        expect(yield* session(dir, (again) => again.head)).toBe(2)
      })
    )

    it.scoped("a lock left by a process that is gone is taken over", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        // Above Linux's highest pid: no process has it.
        yield* Effect.promise(() => fs.writeFile(nodePath.join(dir, lockFileName), "99999999\n"))
        expect(yield* session(dir, (log) => Effect.map(log.append(drafts(1, "after-crash")), seqs))).toEqual([1])
      })
    )
  })

  it.scoped(
    "concurrent reads from the file each get their own records (read buffers are reused, never shared)",
    () =>
      Effect.gen(function* () {
        const log = yield* makeFileLog(yield* tempDir, { recentEvents: 1 })
        const appended: Array<BrokerEvent> = []
        // Records of different sizes, so that a buffer reused too early would show other bytes.
        for (let i = 0; i < 40; i++) appended.push(...(yield* log.append(drafts(1 + (i % 5), `r${"x".repeat(i * 7)}`))))
        const ranges = range(1, 30).map((i) => [1 + ((i * 13) % 90), 1 + ((i * 13) % 90) + (i % 11)] as const)
        for (let round = 0; round < 3; round++) {
          const reads = yield* Effect.all(
            ranges.map(([from, to]) => log.read(from, to)),
            { concurrency: "unbounded" }
          )
          reads.forEach((events, i) => expect(events).toEqual(appended.slice(ranges[i]![0] - 1, ranges[i]![1])))
        }
      }),
    slow
  )

  it.scoped(
    "group commit: concurrent appends share fsyncs",
    () =>
      Effect.gen(function* () {
        const log = yield* makeFileLog(yield* tempDir)
        const results = yield* Effect.all(
          range(1, 100).map((i) => log.append(drafts(1, `call${i}`))),
          { concurrency: "unbounded" }
        )
        expect(results.flatMap(seqs).sort((x, y) => x - y)).toEqual(range(1, 100))
        const stats = log.stats()
        expect(stats.appends).toBe(100)
        expect(stats.events).toBe(100)
        // One write + fsync is in flight while the others queue up behind it, so a handful of
        // batches carry all 100 appends.
        expect(stats.fsyncs).toBeLessThan(25)
      }),
    slow
  )

  describe("crash recovery keeps the longest valid prefix", () => {
    const crashes: ReadonlyArray<{
      readonly name: string
      readonly damage: (lines: ReadonlyArray<string>) => string | Buffer
      readonly keep: number
    }> = [
      {
        name: "a torn last record",
        damage: (lines) => `${lines.join("")}{"seq":6,"at":"2025-01-01T00:0`,
        keep: 5
      },
      {
        name: "a zero-filled tail",
        damage: (lines) => Buffer.concat([Buffer.from(lines.join("")), Buffer.alloc(4096)]),
        keep: 5
      },
      {
        name: "garbage as the last line",
        damage: (lines) => [...lines.slice(0, 4), "this is not json\n"].join(""),
        keep: 4
      },
      {
        name: "a seq gap",
        damage: (lines) => [...lines.slice(0, 3), ...lines.slice(4)].join(""),
        keep: 3
      },
      {
        name: "a complete last line that is not a stored event",
        damage: (lines) => [...lines.slice(0, 4), '{"seq":5,"at":"2025-01-01T00:00:00.000Z","type":"x"}\n'].join(""),
        keep: 4
      }
    ]

    for (const { name, damage, keep } of crashes) {
      it.scoped(name, () =>
        Effect.gen(function* () {
          const dir = yield* tempDir
          const original = yield* session(dir, (log) =>
            Effect.gen(function* () {
              yield* log.append(drafts(2, "a"))
              yield* log.append(drafts(3, "b"))
              return yield* log.read(1)
            })
          )
          const lines = yield* readLines(dir)
          yield* Effect.promise(() => fs.writeFile(fileOf(dir), damage(lines)))
          const warnings = yield* captureWarnings

          const appended = yield* session(dir, (log) =>
            Effect.gen(function* () {
              expect(yield* log.head).toBe(keep)
              expect(yield* log.read(1)).toEqual(original.slice(0, keep))
              expect(yield* readLines(dir)).toEqual(lines.slice(0, keep))
              return yield* log.append(drafts(2, "after"))
            })
          )
          expect(seqs(appended)).toEqual([keep + 1, keep + 2])
          // One warning of the cut (the offset index may warn too that it no longer matches).
          const cuts = () => warnings.mock.calls.filter(([message]) => message.startsWith("file log:"))
          expect(cuts()).toHaveLength(1)
          expect(cuts()[0]![0]).toMatch(/dropped \d+ bytes/)

          const reopened = yield* makeFileLog(dir)
          expect(yield* reopened.read(1)).toEqual([...original.slice(0, keep), ...appended])
          expect(cuts()).toHaveLength(1)
        })
      )
    }

    it.scoped("damage followed by valid records is not a crash: the log refuses to open and keeps the file", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        yield* session(dir, (log) => log.append(drafts(5, "a")))
        const lines = yield* readLines(dir)
        const damaged = [...lines.slice(0, 2), "this is not json\n", ...lines.slice(3)].join("")
        yield* Effect.promise(() => fs.writeFile(fileOf(dir), damaged))
        const opened = yield* Effect.either(makeFileLog(dir))
        expect(opened._tag).toBe("Left")
        if (opened._tag === "Left") {
          expect(opened.left._tag).toBe("LogUnavailable")
          expect(opened.left.message).toMatch(/valid records follow it/)
        }
        expect(yield* Effect.promise(() => fs.readFile(fileOf(dir), "utf8"))).toBe(damaged)
      })
    )

    it.scoped("a record of a type this version does not know is kept, not cut off", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        yield* session(dir, (log) => log.append(drafts(2, "a")))
        const future = '{"seq":3,"at":"2099-01-01T00:00:00.000Z","type":"peer.teleported","data":{"peerId":"p"}}\n'
        yield* Effect.promise(() => fs.appendFile(fileOf(dir), future))
        const kept = yield* session(dir, (log) =>
          Effect.gen(function* () {
            expect(yield* log.head).toBe(3)
            return yield* log.append(drafts(1, "b"))
          })
        )
        expect(seqs(kept)).toEqual([4])
        expect((yield* readLines(dir))[2]).toBe(future)
      })
    )

    it.scoped("an empty or missing file is an empty log", () =>
      Effect.gen(function* () {
        const dir = nodePath.join(yield* tempDir, "not", "yet")
        expect(yield* session(dir, (log) => log.head)).toBe(0)
        expect(yield* session(dir, (log) => log.head)).toBe(0)
      })
    )
  })

  describe("a failing disk", () => {
    it.scoped("a failed write fails its append with LogUnavailable; later appends succeed", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        let diskFull = false
        const log = yield* makeFileLog(dir, {
          faults: {
            beforeWrite: () => {
              if (diskFull) throw diskError("ENOSPC", "no space left on device, write")
            }
          }
        })
        const before = yield* log.append(drafts(3, "before"))
        const linesBefore = yield* readLines(dir)

        diskFull = true
        const error = yield* Effect.flip(log.append(drafts(2, "lost")))
        expect(error._tag).toBe("LogUnavailable")
        expect(error.message).toContain("ENOSPC")
        expect(yield* log.head).toBe(3)
        expect(yield* readLines(dir)).toEqual(linesBefore)

        diskFull = false
        const after = yield* log.append(drafts(2, "after"))
        expect(seqs(after)).toEqual([4, 5])
        expect(yield* log.read(1)).toEqual([...before, ...after])
      })
    )

    it.scoped("a failed fdatasync truncates the written bytes away, and tails never see them", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        let ioError = false
        const log = yield* makeFileLog(dir, {
          faults: {
            beforeSync: () => {
              if (ioError) throw diskError("EIO", "i/o error, fdatasync")
            }
          }
        })
        const tail = yield* Effect.fork(takeTail(log, 1, 5))
        const before = yield* log.append(drafts(3, "before"))
        const { size } = yield* Effect.promise(() => fs.stat(fileOf(dir)))

        ioError = true
        const error = yield* Effect.flip(log.append(drafts(2, "lost")))
        expect(error.message).toContain("EIO")
        expect((yield* Effect.promise(() => fs.stat(fileOf(dir)))).size).toBe(size)

        ioError = false
        const after = yield* log.append(drafts(2, "after"))
        expect(seqs(after)).toEqual([4, 5])
        expect(yield* Fiber.join(tail)).toEqual([...before, ...after])
      })
    )

    it.scoped("appends stay unavailable while a failed batch cannot be undone, then recover", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        let syncFails = false
        let truncateFails = false
        // Closed before the restart below: one data dir opens once at a time.
        const { before, after } = yield* Effect.scoped(
          Effect.gen(function* () {
            const log = yield* makeFileLog(dir, {
              faults: {
                beforeSync: () => {
                  if (syncFails) throw diskError("EIO", "i/o error, fdatasync")
                },
                beforeTruncate: () => {
                  if (truncateFails) throw diskError("EROFS", "read-only file system, ftruncate")
                }
              }
            })
            const before = yield* log.append(drafts(3, "before"))

            syncFails = true
            truncateFails = true
            expect((yield* Effect.flip(log.append(drafts(2, "lost")))).message).toContain("EIO")
            syncFails = false
            // The written bytes of the failed batch are still in the file: nothing is appended
            // after them until they are gone.
            expect((yield* Effect.flip(log.append(drafts(1, "blocked")))).message).toContain("EROFS")

            truncateFails = false
            const after = yield* log.append(drafts(2, "after"))
            expect(seqs(after)).toEqual([4, 5])
            return { before, after }
          })
        )

        const warnings = yield* captureWarnings
        const reopened = yield* session(dir, (log) => log.read(1))
        expect(reopened).toEqual([...before, ...after])
        expect(warnings).not.toHaveBeenCalled()
      })
    )

    it.scoped("appends batched with a failing one all fail; the others stay dense", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        let failures = 1
        const log = yield* makeFileLog(dir, {
          faults: {
            beforeWrite: () => {
              if (failures-- > 0) throw diskError("ENOSPC", "no space left on device, write")
            }
          }
        })
        const wave = (name: string) =>
          Effect.all(
            range(1, 20).map((i) => Effect.either(log.append(drafts(1 + (i % 2), `${name}${i}`)))),
            { concurrency: "unbounded" }
          )
        // Appends made together share a batch: the first wave shares the failing write.
        const first = yield* wave("first")
        const outcomes = [...first, ...(yield* wave("second"))]
        const failed = outcomes.filter(Either.isLeft)
        const stored = outcomes.filter(Either.isRight).flatMap((outcome) => outcome.right)
        expect(failed.length).toBeGreaterThan(0)
        expect(failed.every((outcome) => outcome.left._tag === "LogUnavailable")).toBe(true)
        expect(stored.length).toBeGreaterThan(0)
        expect(seqs(stored).sort((x, y) => x - y)).toEqual(range(1, stored.length))
        expect(yield* log.head).toBe(stored.length)
        expect(yield* readLines(dir)).toHaveLength(stored.length)
      })
    )
  })

  it.scoped(
    "closing the log answers every pending append, and what was answered ok is on disk",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const pending = yield* session(dir, (log) =>
          Effect.gen(function* () {
            const wave = (name: string) =>
              Effect.forEach(range(1, 25), (i) => Effect.forkDaemon(Effect.either(log.append(drafts(1, `${name}${i}`)))))
            // Close while one batch is being committed and another is queued behind it.
            const committing = yield* wave("committing")
            yield* Effect.yieldNow()
            const queued = yield* wave("queued")
            yield* Effect.yieldNow()
            return [...committing, ...queued]
          })
        )
        const outcomes = yield* Effect.forEach(pending, Fiber.join)
        expect(outcomes.filter(Either.isLeft).every((outcome) => outcome.left._tag === "LogUnavailable")).toBe(true)
        const stored = outcomes.filter(Either.isRight).flatMap((outcome) => outcome.right)
        expect(yield* session(dir, (log) => log.read(1))).toEqual(stored.sort((x, y) => x.seq - y.seq))
      }),
    slow
  )

  it.scoped("a draft JSON cannot encode fails only its own append, as a defect", () =>
    Effect.gen(function* () {
      const log = yield* makeFileLog(yield* tempDir)
      const bad: EventDraft = { type: "message.sent", data: { channel: "test", from: null, message: 1n } }
      const [failed, ok] = yield* Effect.all([Effect.exit(log.append([bad])), log.append(drafts(2, "ok"))], {
        concurrency: "unbounded"
      })
      expect(Exit.isFailure(failed) && Cause.isDie(failed.cause)).toBe(true)
      expect(seqs(ok)).toEqual([1, 2])
    })
  )

  it.scoped("appends after the log is closed fail with LogUnavailable", () =>
    Effect.gen(function* () {
      const log = yield* session(yield* tempDir, (log) => Effect.succeed(log))
      const error = yield* Effect.flip(log.append(drafts(1, "late")))
      expect(error._tag).toBe("LogUnavailable")
    })
  )
})
