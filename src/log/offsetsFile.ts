import { constants } from "node:fs"
import type { FileHandle } from "node:fs/promises"
import * as fs from "node:fs/promises"
import { endianness } from "node:os"
import { Effect, type Scope } from "effect"
import { isStoredEvent } from "../core/events.js"
import { io, readFully, writeFully } from "./fileIo.js"
import { OffsetIndex } from "./offsetIndex.js"

/**
 * The offset index of the file log, persisted beside it (`events.offsets`: the end of every record
 * as a little-endian float64), so that a start parses only the records written since, instead of
 * every record of a log of hundreds of megabytes. Like a checkpoint it is only an optimisation: it
 * is written without fsync, checked against the log before it is trusted, and a missing, short or
 * foreign one only means a longer scan.
 */
export const offsetsFileName = "events.offsets"

/** Records parsed to check that the persisted index still describes the log (plus the last one). */
const samples = 32
const newline = 0x0a

export interface TrustedPrefix {
  readonly index: OffsetIndex
  /** `at` of the last record covered. */
  readonly lastAt: string
}

/**
 * The part of the persisted index that still describes `logHandle`'s first `fileLength` bytes:
 * ends strictly increasing and inside the file, and evenly spaced sample records (and the last one)
 * whole and carrying the seq their position says. Undefined when there is none.
 */
export const loadOffsets = (
  offsetsPath: string,
  logHandle: FileHandle,
  fileLength: number
): Effect.Effect<TrustedPrefix | undefined> =>
  Effect.gen(function* () {
    if (endianness() !== "LE") return undefined
    const bytes = yield* Effect.promise(() => fs.readFile(offsetsPath).catch(() => undefined))
    if (bytes === undefined || bytes.length < 8) return undefined
    const stored = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + (bytes.length & ~7)))
    let covered = 0
    let previous = 0
    const plausible = (end: number) => Number.isInteger(end) && end > previous && end <= fileLength
    while (covered < stored.length && plausible(stored[covered]!)) {
      previous = stored[covered++]!
    }
    if (covered === 0) return undefined
    const index = OffsetIndex.of(stored.subarray(0, covered), covered + Math.ceil((fileLength - previous) / 128))
    const seqs = new Set<number>([covered])
    for (let i = 1; i <= samples; i++) seqs.add(Math.max(1, Math.floor((covered * i) / samples)))
    let lastAt: string | undefined
    for (const seq of seqs) {
      const record = yield* Effect.either(readRecord(logHandle, index, seq))
      if (record._tag === "Left" || record.right === undefined) {
        yield* Effect.logWarning(`${offsetsPath} does not match the log (record ${seq}); scanning the whole log`)
        return undefined
      }
      if (seq === covered) lastAt = record.right.at
    }
    return { index, lastAt: lastAt! }
  })

/** Record `seq` if it is whole where the index says and carries that seq. */
const readRecord = (handle: FileHandle, index: OffsetIndex, seq: number) =>
  Effect.tryPromise(async () => {
    const start = index.start(seq)
    const length = index.end(seq) - start
    const buffer = Buffer.allocUnsafe(length)
    if ((await readFully(handle, buffer, length, start)) !== length || buffer[length - 1] !== newline) return undefined
    const value: unknown = JSON.parse(buffer.toString("utf8", 0, length - 1))
    return isStoredEvent(value) && value.seq === seq ? value : undefined
  })

export interface OffsetsWriter {
  /** Writes the ends not persisted yet; failures are warnings (the next start scans more). */
  readonly flush: (index: OffsetIndex) => Effect.Effect<void>
}

/** Opens `events.offsets` cut to the first `persisted` entries, which must be those of the index. */
export const openOffsetsWriter = (
  offsetsPath: string,
  persisted: number
): Effect.Effect<OffsetsWriter, never, Scope.Scope> =>
  Effect.gen(function* () {
    const handle = yield* Effect.acquireRelease(
      Effect.option(io("open", offsetsPath, () => fs.open(offsetsPath, constants.O_RDWR | constants.O_CREAT, 0o644))),
      (handle) => Effect.ignore(Effect.tryPromise(() => (handle._tag === "Some" ? handle.value.close() : Promise.resolve())))
    )
    if (handle._tag === "None" || endianness() !== "LE") return { flush: () => Effect.void }
    const file = handle.value
    let written = persisted
    const ready = yield* Effect.either(io("truncate", offsetsPath, () => file.truncate(written * 8)))
    if (ready._tag === "Left") return { flush: () => Effect.void }
    return {
      flush: (index) =>
        Effect.suspend(() => {
          const upTo = index.length
          if (upTo <= written) return Effect.void
          const ends = index.slice(written + 1, upTo)
          const bytes = Buffer.from(ends.buffer, ends.byteOffset, ends.byteLength)
          return io("write", offsetsPath, () => writeFully(file, bytes, written * 8)).pipe(
            Effect.tap(() => Effect.sync(() => (written = upTo))),
            Effect.catchAll((error) => Effect.logWarning(error.message))
          )
        })
    }
  })
