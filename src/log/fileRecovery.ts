import type { FileHandle } from "node:fs/promises"
import { Effect } from "effect"
import { isBrokerEvent, type BrokerEvent } from "../core/events.js"
import type { LogUnavailable } from "../core/errors.js"
import { io, readFully } from "./fileIo.js"
import { OffsetIndex } from "./offsetIndex.js"
import { RecentEvents } from "./recentEvents.js"

/** Big reads keep the scan of a large log bounded by disk bandwidth rather than by syscalls. */
const scanChunk = 8 * 1024 * 1024
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
 * Finds the longest valid prefix of an NDJSON log: complete lines, each a broker event with
 * seq = previous + 1. A crash can leave a torn last line or a tail of NUL bytes (the file length
 * reached the disk before the data did); anything after the first bad line cannot be trusted
 * either, since seqs must stay dense. The caller truncates the file to `index.byteLength`.
 */
export const scanLog = (
  handle: FileHandle,
  path: string,
  fileLength: number,
  recentCapacity: number
): Effect.Effect<Recovered, LogUnavailable> =>
  Effect.gen(function* () {
    const index = new OffsetIndex(Math.ceil(fileLength / 128))
    const recent = new RecentEvents(recentCapacity)
    let lastAt = ""
    let buffer = Buffer.allocUnsafe(Math.min(scanChunk, Math.max(fileLength, 1)))
    let position = 0

    scan: while (position < fileLength) {
      const wanted = Math.min(buffer.length, fileLength - position)
      const got = yield* io("read", path, () => readFully(handle, buffer, wanted, position))
      const view = buffer.subarray(0, got)
      let lineStart = 0
      while (lineStart < got) {
        // Every record starts with "{": this stops at a NUL tail at once instead of searching
        // megabytes of zeros for a newline.
        if (view[lineStart] !== openBrace) break scan
        const lineEnd = view.indexOf(newline, lineStart)
        if (lineEnd === -1) break
        const event = parseRecord(view.toString("utf8", lineStart, lineEnd), index.length + 1)
        if (event === undefined) break scan
        index.push(position + lineEnd + 1)
        recent.put(event.seq, event)
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
    return { index, lastAt, recent }
  })

const parseRecord = (line: string, expectedSeq: number): BrokerEvent | undefined => {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return undefined
  }
  return isBrokerEvent(value) && value.seq === expectedSeq ? value : undefined
}
