import type { FileHandle } from "node:fs/promises"
import { Effect } from "effect"
import { isStoredEvent, type BrokerEvent } from "../core/events.js"
import { LogUnavailable } from "../core/errors.js"
import { io, readFully } from "./fileIo.js"
import { OffsetIndex } from "./offsetIndex.js"
import type { TrustedPrefix } from "./offsetsFile.js"
import type { RecentEvents } from "./recentEvents.js"

/** Big reads keep the scan of a large log bounded by disk bandwidth rather than by syscalls. */
const scanChunk = 8 * 1024 * 1024
/**
 * Only records this close to the end seed the cache of recent events: keeping every parsed record
 * for a moment would carry a million short-lived objects into the old generation, which is most of
 * the peak memory of a full scan.
 */
const recentSeedBytes = 4 * 1024 * 1024
const newline = 0x0a
const openBrace = 0x7b

export interface Recovered {
  /** Ends of the records of the longest valid prefix; its length is the head. */
  readonly index: OffsetIndex
  /** `at` of the last valid record, so new timestamps never go backwards across a restart. */
  readonly lastAt: string
  /** The last valid records, to seed the cache of recent events. */
  readonly recent: RecentEvents
}

/**
 * Finds the longest valid prefix of an NDJSON log: complete lines, each a stored event with
 * seq = previous + 1. A crash can leave a torn last line or a tail of NUL bytes (the file length
 * reached the disk before the data did); the caller truncates the file to `index.byteLength`.
 *
 * A crash only ever damages the end. A bad record followed by good ones is damage of another kind
 * (an edit, a disk fault, two files glued together): truncating would silently throw away the
 * good records, so that fails instead and leaves the file as it is for a person to look at.
 *
 * With a `trusted` prefix (the persisted offset index, checked against the file), only the records
 * after it are parsed and validated.
 */
export const scanLog = (
  handle: FileHandle,
  path: string,
  fileLength: number,
  /** Seeded with the last valid records. */
  recent: RecentEvents,
  trusted?: TrustedPrefix
): Effect.Effect<Recovered, LogUnavailable> =>
  Effect.gen(function* () {
    const index = trusted?.index ?? new OffsetIndex(Math.ceil(fileLength / 128))
    let lastAt = trusted?.lastAt ?? ""
    let position = index.byteLength
    let buffer = Buffer.allocUnsafe(Math.min(scanChunk, Math.max(fileLength - position, 1)))
    let damagedAt: number | undefined

    scan: while (position < fileLength) {
      const wanted = Math.min(buffer.length, fileLength - position)
      const got = yield* io("read", path, () => readFully(handle, buffer, wanted, position))
      const view = buffer.subarray(0, got)
      let lineStart = 0
      while (lineStart < got) {
        // Every record starts with "{": this stops at a NUL tail at once instead of searching
        // megabytes of zeros for a newline.
        if (view[lineStart] !== openBrace) {
          damagedAt = position + lineStart
          break scan
        }
        const lineEnd = view.indexOf(newline, lineStart)
        if (lineEnd === -1) break
        const event = parseRecord(view.toString("utf8", lineStart, lineEnd), index.length + 1)
        if (event === undefined) {
          damagedAt = position + lineStart
          break scan
        }
        index.push(position + lineEnd + 1)
        if (fileLength - (position + lineStart) <= recentSeedBytes) recent.put(event.seq, event, lineEnd - lineStart)
        lastAt = event.at
        lineStart = lineEnd + 1
      }
      if (lineStart > 0) {
        position += lineStart
      } else if (position + got >= fileLength) {
        break // a last line without its newline: torn by a crash
      } else {
        buffer = Buffer.allocUnsafe(buffer.length * 2) // one record longer than the buffer
      }
    }
    if (damagedAt !== undefined && (yield* recordAfter(handle, path, damagedAt, fileLength))) {
      return yield* new LogUnavailable({
        message:
          `${path}: the record at byte ${damagedAt} (after event ${index.length}) is damaged but valid records ` +
          `follow it. A crash only tears the end of the log, so this was not a crash: the broker will not ` +
          `truncate it. Move the file aside, or repair or remove that line, and start again.`
      })
    }
    return { index, lastAt, recent }
  })

/** Whether any complete, valid-looking record starts after the damaged one at `from`. */
const recordAfter = (
  handle: FileHandle,
  path: string,
  from: number,
  fileLength: number
): Effect.Effect<boolean, LogUnavailable> =>
  Effect.gen(function* () {
    const buffer = Buffer.allocUnsafe(Math.min(scanChunk, Math.max(fileLength - from, 1)))
    let position = from
    let carry = ""
    while (position < fileLength) {
      const got = yield* io("read", path, () => readFully(handle, buffer, Math.min(buffer.length, fileLength - position), position))
      if (got === 0) break
      position += got
      const lines = (carry + buffer.toString("utf8", 0, got)).split("\n")
      carry = lines.pop() ?? ""
      // The first line is the damaged record itself.
      for (const line of lines.slice(position - got === from ? 1 : 0)) {
        if (line.startsWith("{") && isStoredEvent(safeParse(line))) return true
      }
    }
    return false
  })

const safeParse = (line: string): unknown => {
  try {
    return JSON.parse(line)
  } catch {
    return undefined
  }
}

/** A record of a type this version does not know is kept as it is (the projection skips it). */
const parseRecord = (line: string, expectedSeq: number): BrokerEvent | undefined => {
  const value = safeParse(line)
  return isStoredEvent(value) && value.seq === expectedSeq ? (value as BrokerEvent) : undefined
}
