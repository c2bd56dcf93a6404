import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as nodePath from "node:path"
import { Chunk, Effect, Stream } from "effect"
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

/** Silences console.warn for the scope and lets the test look at what was warned. */
export const captureWarnings = Effect.acquireRelease(
  Effect.sync(() => vi.spyOn(console, "warn").mockImplementation(() => {})),
  (spy) => Effect.sync(() => spy.mockRestore())
)
