import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { logFileName, makeFileLog, type FileLogService } from "../../src/log/file.js"
import { offsetsFileName } from "../../src/log/offsetsFile.js"
import { captureWarnings, drafts, seqs, tempDir } from "./fixtures.js"

const session = <A, E>(dir: string, use: (log: FileLogService) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.flatMap(makeFileLog(dir, { recentEvents: 2 }), use))

const everything = (log: FileLogService) =>
  Effect.map(Effect.all([log.read(1), Effect.sync(log.stats)]), ([events, stats]) => ({ events, stats }))

const filled = (dir: string, count: number) => session(dir, (log) => Effect.zipRight(log.append(drafts(count, "a")), log.read(1)))

describe("the persisted offset index (events.offsets)", () => {
  it.scoped("a restart parses only the records written after the index, and reads the rest through it", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const before = yield* filled(dir, 40)
      const first = yield* session(dir, (log) => Effect.zipLeft(everything(log), log.append(drafts(5, "b"))))
      expect(first.stats.indexedAtOpen).toBe(40)
      expect(first.events).toEqual(before)
      const second = yield* session(dir, everything)
      expect(second.stats.indexedAtOpen).toBe(45)
      expect(seqs(second.events)).toEqual(Array.from({ length: 45 }, (_, i) => i + 1))
    })
  )

  it.scoped("a damaged tail after the indexed records is cut, and appends continue after it", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const before = yield* filled(dir, 20)
      yield* Effect.promise(() => fs.appendFile(nodePath.join(dir, logFileName), '{"seq":21,"at":"2026-01-01T00:0'))
      yield* captureWarnings
      const reopened = yield* session(dir, (log) =>
        Effect.gen(function* () {
          const appended = yield* log.append(drafts(1, "after"))
          return { ...(yield* everything(log)), appended }
        })
      )
      expect(reopened.stats.indexedAtOpen).toBe(20)
      expect(seqs(reopened.appended)).toEqual([21])
      expect(reopened.events.slice(0, 20)).toEqual(before)
    })
  )

  it.scoped("an index that no longer matches the log (replaced, or truncated) is not trusted", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* filled(dir, 30)
      const index = yield* Effect.promise(() => fs.readFile(nodePath.join(dir, offsetsFileName)))

      // Another log of the same length in events, with records of other lengths, under the old index.
      const other = yield* tempDir
      const replacement = yield* session(other, (log) =>
        Effect.zipRight(
          log.append(Array.from({ length: 30 }, (_, i) => ({ type: "signal.fired", data: { name: `s${i}`, data: "x".repeat(i), by: null } }))),
          log.read(1)
        )
      )
      yield* Effect.promise(() => fs.copyFile(nodePath.join(other, logFileName), nodePath.join(dir, logFileName)))
      yield* Effect.promise(() => fs.writeFile(nodePath.join(dir, offsetsFileName), index))
      const replaced = yield* session(dir, everything)
      expect(replaced.stats.indexedAtOpen).toBe(0)
      expect(replaced.events).toEqual(replacement)

      // The log cut short by hand: only the part of the index inside the file is used.
      const lines = (yield* Effect.promise(() => fs.readFile(nodePath.join(dir, logFileName), "utf8"))).split(/(?<=\n)/)
      yield* Effect.promise(() => fs.writeFile(nodePath.join(dir, logFileName), lines.slice(0, 12).join("")))
      const cut = yield* session(dir, (log) => Effect.zipRight(log.append(drafts(3, "c")), everything(log)))
      expect(cut.stats.indexedAtOpen).toBe(12)
      expect(cut.events.slice(0, 12)).toEqual(replacement.slice(0, 12))
      expect(seqs(cut.events)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1))
      // And what was rewritten describes the new log.
      const again = yield* session(dir, everything)
      expect(again.stats.indexedAtOpen).toBe(15)
      expect(again.events).toEqual(cut.events)
    })
  )

  it.scoped("a garbage index is ignored", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const before = yield* filled(dir, 10)
      yield* Effect.promise(() => fs.writeFile(nodePath.join(dir, offsetsFileName), Buffer.alloc(80, 7)))
      const reopened = yield* session(dir, everything)
      expect(reopened.stats.indexedAtOpen).toBe(0)
      expect(reopened.events).toEqual(before)
    })
  )
})
