import { constants, fdatasync } from "node:fs"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { Cause, Effect, Either, Exit, Layer, Option, Runtime, type Scope } from "effect"
import { bodyOf, storedAt, type BrokerEvent, type EventDraft } from "../core/events.js"
import { LogUnavailable } from "../core/errors.js"
import { lockDataDir } from "./dataDirLock.js"
import { type Appended, EventLog, type EventLogService } from "./EventLog.js"
import { io, ioError, readFully, writeFullySync } from "./fileIo.js"
import { scanLog } from "./fileRecovery.js"
import { type FeedFaults, LiveFeed, listenerFailures } from "./liveFeed.js"
import type { OffsetIndex } from "./offsetIndex.js"
import { loadOffsets, offsetsFileName, openOffsetsWriter } from "./offsetsFile.js"
import { ReadBuffers } from "./readBuffers.js"
import { RecentEvents } from "./recentEvents.js"
import { nextTimestamp } from "./timestamps.js"

/** The log and the export format are the same file: one `{"seq","at","type","data"}` per line. */
export const logFileName = "events.ndjson"

/** Appends waiting together are committed with one write and one fsync; this bounds one batch. */
const maxAppendsPerBatch = 1024
/** Keeping a few huge payloads in the cache would pin megabytes for little gain. */
const maxCachedRecordBytes = 64 * 1024
/** Long reads go to disk in pieces so that reading the whole log never needs one giant buffer. */
const maxReadBytes = 4 * 1024 * 1024
/** Reused read buffers fit a catch-up page (500 events) of ordinary records several times over. */
const readBufferBytes = 512 * 1024

/**
 * Test hooks: each is called at its point of the commit path, and throwing simulates that I/O
 * failing; `published` (FeedFaults) changes what the log's followers hear.
 */
export interface FileLogFaults extends FeedFaults {
  readonly beforeWrite?: () => void
  /** After the batch's bytes are written, before fdatasync: leaves bytes that must be undone. */
  readonly beforeSync?: () => void
  /** Before truncating a failed batch away: the undo failing too. */
  readonly beforeTruncate?: () => void
}

export interface FileLogOptions {
  /** How many of the latest events to keep in memory for tails and recent reads (default 4096). */
  readonly recentEvents?: number
  /** The most bytes of records those may take (default 8 MiB); past it the oldest are dropped. */
  readonly recentBytes?: number
  readonly faults?: FileLogFaults
  /** Told how long each batch's fdatasync took, in seconds (the broker's metrics). */
  readonly onSync?: (seconds: number) => void
}

export interface FileLogStats {
  /** Successful fdatasyncs of appended batches: with group commit, fewer than `appends`. */
  readonly fsyncs: number
  /** Append calls made durable. */
  readonly appends: number
  readonly events: number
  /** Records covered by the persisted index at open, so not parsed again (docs/operations.md). */
  readonly indexedAtOpen: number
}

/** The file log adds a little introspection to the contract, for tests and /status. */
export interface FileLogService extends EventLogService {
  readonly path: string
  readonly stats: () => FileLogStats
}

interface PendingAppend {
  readonly drafts: ReadonlyArray<EventDraft>
  /** Serialised by the caller, so that a payload JSON cannot encode fails only its own append. */
  readonly bodies: ReadonlyArray<string>
  /** Told how the append went, once its batch is durable (or failed). */
  readonly done: (stored: Appended) => void
}

/**
 * Appends that will share one write and one fdatasync. An append costs a slot in an array and a
 * callback, not a fiber or a synchronisation object of its own.
 */
interface Batch {
  readonly appends: Array<PendingAppend>
}

/**
 * The embedded log: an NDJSON file in `dataDir`, recovered to its longest valid prefix at open.
 * Appends are group-committed (one write and one fdatasync for everything that queued up while the
 * previous batch was on its way to disk) and become visible only once durable. Reads go to the
 * file through an in-memory index of record offsets, so the log itself is never held in memory.
 */
export const makeFileLog = (
  dataDir: string,
  options: FileLogOptions = {}
): Effect.Effect<FileLogService, LogUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const path = nodePath.join(dataDir, logFileName)
    const faults = options.faults ?? {}
    yield* io("create directory", dataDir, () => fs.mkdir(dataDir, { recursive: true }))
    yield* lockDataDir(dataDir)
    const handle = yield* openLogFile(dataDir, path)
    const offsetsPath = nodePath.join(dataDir, offsetsFileName)
    const recent = new RecentEvents(options.recentEvents ?? 4096, options.recentBytes ?? 8 * 1024 * 1024)
    const { index, lastAt: recoveredAt, trusted } = yield* recover(handle, path, offsetsPath, recent)
    const offsets = yield* openOffsetsWriter(offsetsPath, trusted)

    const feed = new LiveFeed(yield* listenerFailures, faults)
    /** Batches waiting for the committer, oldest first; appends join the last one until it is full. */
    const batches: Array<Batch> = []
    const stats = { fsyncs: 0, appends: 0, events: 0, indexedAtOpen: trusted }
    const runCallback = Runtime.runCallback(yield* Effect.runtime<never>())
    let lastAt = recoveredAt
    let closed = false
    // Set while a failed batch's bytes may still lie past the valid end of the file; the next
    // commit first retries removing them, so they can never resurface after a restart.
    let undoPending = false

    const undoFailedBatch = Effect.gen(function* () {
      yield* io("truncate", path, async () => {
        faults.beforeTruncate?.()
        await handle.truncate(index.byteLength)
      })
      yield* io("fdatasync", path, () => handle.datasync())
      undoPending = false
    })
    /** The rare path, in Effect: `next` hears whether the failed batch's bytes are gone. */
    const undo = (next: (failure: LogUnavailable | undefined) => void): void => {
      runCallback(undoFailedBatch, { onExit: (exit) => next(Exit.isSuccess(exit) ? undefined : failureOf(exit.cause)) })
    }
    const failureOf = (cause: Cause.Cause<LogUnavailable>): LogUnavailable =>
      Option.getOrElse(
        Cause.failureOption(cause),
        () => new LogUnavailable({ message: `file log: append to ${path} failed: ${Cause.pretty(cause)}` })
      )

    /**
     * The batch is written at once, on this thread (a copy into the page cache); only the
     * fdatasync, which waits for the disk, goes to the thread pool. `done` hears the failure, if any.
     */
    const writeDurably = (bytes: Buffer, done: (failure: LogUnavailable | undefined) => void): void => {
      try {
        faults.beforeWrite?.()
        writeFullySync(handle.fd, bytes, index.byteLength)
      } catch (error) {
        return done(ioError("write", path)(error))
      }
      try {
        faults.beforeSync?.()
      } catch (error) {
        return done(ioError("fdatasync", path)(error))
      }
      const started = performance.now()
      // The callback form: no promise, no FileHandle bookkeeping, for the one call per batch.
      fdatasync(handle.fd, (error) => {
        if (error) return done(ioError("fdatasync", path)(error))
        options.onSync?.((performance.now() - started) / 1000)
        done(undefined)
      })
    }

    /** Tell each append of a batch how it went; a callback that throws is a bug of its caller's, not the log's. */
    const answer = (appends: ReadonlyArray<PendingAppend>, outcome: (i: number) => Appended): void => {
      const failures: Array<unknown> = []
      appends.forEach((pending, i) => {
        try {
          pending.done(outcome(i))
        } catch (error) {
          failures.push(error)
        }
      })
      if (failures.length > 0) runCallback(Effect.logError("file log: an append's callback failed", ...failures))
    }

    /** One write and one fdatasync for the whole batch; `finished` once its appends are answered. */
    const commit = ({ appends }: Batch, finished: () => void): void => {
      const at = nextTimestamp(lastAt)
      let seq = index.length
      const lines: Array<string> = []
      const results = appends.map((pending) =>
        pending.drafts.map((draft, i) => {
          seq += 1
          lines.push(`{"seq":${seq},"at":${JSON.stringify(at)},${pending.bodies[i]!.slice(1)}\n`)
          return storedAt(seq, at, draft)
        })
      )
      const settle = (failure: LogUnavailable | undefined) => {
        // Everything below is synchronous, so no reader can see the head moved without the index,
        // and the head always moves before the live feed hears of the batch (LiveFeed.tail relies on it).
        if (failure === undefined) {
          let end = index.byteLength
          for (const line of lines) index.push((end += Buffer.byteLength(line, "utf8")))
          lastAt = at
          const events = results.flat()
          events.forEach((event, i) =>
            recent.put(event.seq, lines[i]!.length <= maxCachedRecordBytes ? event : undefined, lines[i]!.length)
          )
          stats.fsyncs += 1
          stats.appends += results.length
          stats.events += events.length
          feed.publish(events)
          answer(appends, (i) => Either.right(results[i]!))
        } else {
          undoPending = true
          answer(appends, () => Either.left(failure))
        }
        // A failed undo is retried before the next write; the appends have already been answered.
        if (undoPending) undo(finished)
        else finished()
      }
      const bytes = Buffer.from(lines.join(""), "utf8")
      if (undoPending) undo((failure) => (failure === undefined ? writeDurably(bytes, settle) : settle(failure)))
      else writeDurably(bytes, settle)
    }

    // The persisted index trails the log by about a second: what a crash loses of it is scanned.
    yield* Effect.addFinalizer(() => offsets.flush(index))
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep("1 second"), offsets.flush(index))))
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        for (const stranded of batches.splice(0)) answer(stranded.appends, () => Either.left(closedError(path)))
      })
    )

    /**
     * The committer: one batch at a time, in plain callbacks. A fiber here cost more than its work:
     * the long-lived committer fiber kept each batch's appends (and through their callbacks the
     * requests) reachable across young-generation collections, so every request was promoted to
     * the old generation and each scavenge took ~10 ms (docs/benchmarks.md).
     * A batch starts once the event loop has handled every request that arrived with the first one
     * (setImmediate runs after the poll phase), not in the microtask right after it: else the first
     * request of a quiet moment went to disk alone and those beside it waited a whole fdatasync
     * longer for the next batch.
     */
    let committing = false
    let scheduled: NodeJS.Immediate | undefined
    /** The close waiting for the batch in flight to be answered. */
    let whenIdle: (() => void) | undefined
    const commitSoon = (): void => {
      if (committing || closed || batches.length === 0) return
      committing = true
      scheduled = setImmediate(() => {
        scheduled = undefined
        commit(batches.shift()!, committed)
      })
    }
    const committed = (): void => {
      committing = false
      const idle = whenIdle
      whenIdle = undefined
      idle?.()
      commitSoon()
    }
    // Closing lets the batch in flight finish (and answer its appends) before the finalizer above
    // fails whatever is still queued; one not started yet is queued still.
    yield* Effect.addFinalizer(() =>
      Effect.async<void>((resume) => {
        closed = true
        if (scheduled !== undefined) {
          clearImmediate(scheduled)
          scheduled = undefined
          committing = false
        }
        if (!committing) return resume(Effect.void)
        whenIdle = () => resume(Effect.void)
      })
    )

    /** Queue an append for the next group commit. */
    const enqueue = (pending: PendingAppend): void => {
      if (closed) return pending.done(Either.left(closedError(path)))
      let batch = batches[batches.length - 1]
      if (batch === undefined || batch.appends.length >= maxAppendsPerBatch) batches.push((batch = { appends: [] }))
      batch.appends.push(pending)
      commitSoon()
    }

    /** `done` hears how the append went. Throws for a draft that is a bug (see serializeBody). */
    const appendWith = (drafts: ReadonlyArray<EventDraft>, done: (stored: Appended) => void): void => {
      if (drafts.length === 0) return done(Either.right([]))
      enqueue({ drafts, bodies: drafts.map(serializeBody), done })
    }

    const append = (drafts: ReadonlyArray<EventDraft>): Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable> =>
      Effect.suspend(() => {
        if (drafts.length === 0) return Effect.succeed([])
        // Serialised here, so that a bad draft is this fiber's defect.
        const bodies = drafts.map(serializeBody)
        return Effect.async<ReadonlyArray<BrokerEvent>, LogUnavailable>((resume) => enqueue({ drafts, bodies, done: resume }))
      })

    const readRange = readStored(handle, path, index, recent, new ReadBuffers(readBufferBytes, 4))

    const read = (from: number, to?: number, limit?: number) =>
      Effect.suspend(() => {
        const first = Math.max(1, from)
        const last = Math.min(to ?? index.length, index.length, first + (limit ?? Number.MAX_SAFE_INTEGER) - 1)
        return first <= last ? readRange(first, last) : Effect.succeed([])
      })

    const readSeqs = (seqs: ReadonlyArray<number>) =>
      Effect.gen(function* () {
        const head = index.length
        const found: Array<BrokerEvent> = []
        const stored = (seq: number | undefined) => seq !== undefined && Number.isInteger(seq) && seq >= 1 && seq <= head
        for (let i = 0; i < seqs.length; i++) {
          if (!stored(seqs[i])) continue
          // Runs of consecutive positions are read with one positional read.
          const first = seqs[i]!
          while (i + 1 < seqs.length && seqs[i + 1] === seqs[i]! + 1 && stored(seqs[i + 1])) i++
          for (const event of yield* readRange(first, seqs[i]!)) found.push(event)
        }
        return found
      })

    const head = Effect.sync(() => index.length)

    const service: FileLogService = {
      backend: "file",
      path,
      stats: () => ({ ...stats }),
      append,
      appendWith,
      read,
      readSeqs,
      head,
      ...feed.readers(read, head)
    }
    return service
  })

export const FileLogLive = (dataDir: string, options?: FileLogOptions): Layer.Layer<EventLog, LogUnavailable> =>
  Layer.scoped(EventLog, makeFileLog(dataDir, options))

/**
 * `{"type":…,"data":…}` of a draft (`"project"` first when it has one). A record recovery would reject (data not an object) must never
 * reach the file, because recovery drops it and everything after it; such a draft is a bug in the
 * caller, so it is a defect rather than a LogUnavailable.
 */
const serializeBody = (draft: EventDraft): string => {
  if (typeof draft.data !== "object" || draft.data === null) {
    throw new TypeError(`file log: ${draft.type} event data must be an object`)
  }
  return JSON.stringify(bodyOf(draft))
}

const closedError = (path: string) => new LogUnavailable({ message: `file log: ${path} is closed` })

const openLogFile = (dataDir: string, path: string) =>
  Effect.acquireRelease(
    Effect.gen(function* () {
      const handle = yield* io("open", path, () => fs.open(path, constants.O_RDWR | constants.O_CREAT, 0o644))
      // A newly created file is only durable once its directory entry is; best effort, since some
      // platforms cannot fsync a directory.
      yield* Effect.ignore(
        io("fsync", dataDir, async () => {
          const dir = await fs.open(dataDir, constants.O_RDONLY)
          try {
            await dir.sync()
          } finally {
            await dir.close()
          }
        })
      )
      return handle
    }),
    (handle) => Effect.ignore(Effect.tryPromise(() => handle.close()))
  )

/**
 * Cut the file back to its longest valid prefix before anything is appended after it. `trusted`:
 * how many records the persisted index covered (and were not parsed again).
 */
const recover = (handle: fs.FileHandle, path: string, offsetsPath: string, recent: RecentEvents) =>
  Effect.gen(function* () {
    const { size } = yield* io("stat", path, () => handle.stat())
    const prefix = yield* loadOffsets(offsetsPath, handle, size)
    const trusted = prefix?.index.length ?? 0
    const recovered = yield* scanLog(handle, path, size, recent, prefix)
    const valid = recovered.index.byteLength
    if (valid < size) {
      yield* Effect.logWarning(
        `file log: ${path}: dropped ${size - valid} bytes after event ${recovered.index.length} ` +
          `(torn or invalid records left by a crash); keeping ${valid} bytes`
      )
      yield* io("truncate", path, () => handle.truncate(valid))
      yield* io("fdatasync", path, () => handle.datasync())
    }
    return { ...recovered, trusted }
  })

/** Reads stored events `first..last` (all at most the head): from the cache where it has them, else from disk. */
const readStored =
  (handle: fs.FileHandle, path: string, index: OffsetIndex, recent: RecentEvents, buffers: ReadBuffers) =>
  (first: number, last: number): Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable> =>
    Effect.gen(function* () {
      const events: Array<BrokerEvent> = []
      let seq = first
      while (seq <= last) {
        const cached = recent.get(seq)
        if (cached !== undefined) {
          events.push(cached)
          seq += 1
          continue
        }
        let runEnd = seq
        while (
          runEnd < last &&
          recent.get(runEnd + 1) === undefined &&
          index.end(runEnd + 1) - index.start(seq) <= maxReadBytes
        ) {
          runEnd += 1
        }
        for (const event of yield* readFromDisk(handle, path, index, buffers, seq, runEnd)) events.push(event)
        seq = runEnd + 1
      }
      return events
    })

const readFromDisk = (
  handle: fs.FileHandle,
  path: string,
  index: OffsetIndex,
  buffers: ReadBuffers,
  first: number,
  last: number
) =>
  Effect.gen(function* () {
    const start = index.start(first)
    const length = index.end(last) - start
    const buffer = buffers.take(length)
    // An interrupted read may still fill the buffer from the thread pool: then it is not reused.
    const got = yield* io("read", path, () => readFully(handle, buffer, length, start))
    const events: Array<BrokerEvent> = []
    let lineStart = 0
    let unreadable: number | undefined
    for (let seq = first; seq <= last; seq++) {
      const lineEnd = index.end(seq) - start - 1
      const event = lineEnd < got ? parseStored(buffer.toString("utf8", lineStart, lineEnd)) : undefined
      if (event?.seq !== seq) {
        unreadable = seq
        break
      }
      events.push(event)
      lineStart = lineEnd + 1
    }
    buffers.give(buffer) // the events hold copies of their bytes
    if (unreadable !== undefined) {
      return yield* new LogUnavailable({
        message: `file log: ${path}: record ${unreadable} at byte ${start + lineStart} is unreadable (was the file changed underneath the broker?)`
      })
    }
    return events
  })

const parseStored = (line: string): BrokerEvent | undefined => {
  try {
    return JSON.parse(line) as BrokerEvent
  } catch {
    return undefined
  }
}
