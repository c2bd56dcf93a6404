import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as nodePath from "node:path"
import { Chunk, Effect, FiberRef, HashSet, Logger, Stream } from "effect"
import { vi } from "@effect/vitest"
import type { BrokerEvent, EventDraft } from "../../src/core/events.js"
import type { EventLogService } from "../../src/log/EventLog.js"

/** A fresh directory under the OS temp dir, removed with everything in it when the scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(nodePath.join(os.tmpdir(), "broker-log-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

/** `count` distinct drafts; `tag` tells whose they are when appends interleave. */
export const drafts = (count: number, tag: string): Array<EventDraft> =>
  Array.from({ length: count }, (_, i) => ({
    type: "message.sent",
    data: { channel: "test", from: tag, message: { tag, i } }
  }))

export const seqs = (events: ReadonlyArray<BrokerEvent>): Array<number> => events.map((event) => event.seq)

/** [from, from + 1, …, to] */
export const range = (from: number, to: number): Array<number> =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)

/** The first `count` events of `log.tail(from)`. */
export const takeTail = (log: EventLogService, from: number, count: number) =>
  log.tail(from).pipe(Stream.take(count), Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

/**
 * For the rest of the scope, the warnings logged (through Effect's logger, as the logs do) go to the
 * mock returned, one message per call, instead of the console; other log lines are dropped.
 */
export const captureWarnings = Effect.gen(function* () {
  const warnings = vi.fn<(message: string) => void>()
  const logger = Logger.make(({ logLevel, message }) => {
    if (logLevel._tag === "Warning") warnings(String(Array.isArray(message) ? message[0] : message))
  })
  yield* Effect.locallyScopedWith(FiberRef.currentLoggers, () => HashSet.make(logger))
  return warnings
})
