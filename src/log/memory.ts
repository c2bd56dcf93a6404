import { Effect, Either, Layer } from "effect"
import { storedAt, type BrokerEvent, type EventDraft } from "../core/events.js"
import { LogUnavailable } from "../core/errors.js"
import { type Appended, EventLog, type EventLogService } from "./EventLog.js"
import { type FeedFaults, LiveFeed, type ListenerFailed, listenerFailures } from "./liveFeed.js"
import { nextTimestamp } from "./timestamps.js"

/** Test hooks: what the log's followers hear (FeedFaults), and reads that fail. */
export interface MemoryLogFaults extends FeedFaults {
  /** Called before each `read`; throwing makes that read fail with LogUnavailable. */
  readonly beforeRead?: () => void
}

export interface MemoryLogOptions {
  readonly faults?: MemoryLogFaults
  readonly listenerFailed?: ListenerFailed
}

/** The log held in memory: for tests and `--memory`. Durable means "in this process". */
export const makeMemoryLog = (options: MemoryLogOptions = {}): EventLogService => {
  const events: Array<BrokerEvent> = []
  const feed = new LiveFeed(options.listenerFailed, options.faults)
  let lastAt = ""

  const store = (drafts: ReadonlyArray<EventDraft>) => {
    const at = (lastAt = nextTimestamp(lastAt))
    const stored = drafts.map((draft, i) => storedAt(events.length + i + 1, at, draft))
    for (const event of stored) events.push(event)
    feed.publish(stored)
    return stored
  }
  const append = (drafts: ReadonlyArray<EventDraft>) => Effect.sync(() => store(drafts))
  const appendWith = (drafts: ReadonlyArray<EventDraft>, done: (stored: Appended) => void) => done(Either.right(store(drafts)))

  const reads = arrayReads(events, feed)
  const beforeRead = options.faults?.beforeRead
  const read: EventLogService["read"] =
    beforeRead === undefined
      ? reads.read
      : (from, to, limit) =>
          Effect.suspend(() => {
            try {
              beforeRead()
            } catch (error) {
              return Effect.fail(new LogUnavailable({ message: `memory log: read failed: ${String(error)}` }))
            }
            return reads.read(from, to, limit)
          })
  return { backend: "memory", append, appendWith, ...reads, read }
}

/** Reading a log held in an array (this one, or a replayed export), followed through `feed`. */
export const arrayReads = (
  events: ReadonlyArray<BrokerEvent>,
  feed: LiveFeed
): Pick<EventLogService, "read" | "readSeqs" | "head" | "tail" | "follow"> => {
  const read = (from: number, to = events.length, limit = Number.MAX_SAFE_INTEGER) =>
    Effect.sync(() => {
      const start = Math.max(1, from) - 1
      const end = Math.min(to, events.length, start + limit)
      return start < end ? events.slice(start, end) : []
    })
  const head = Effect.sync(() => events.length)
  return {
    read,
    readSeqs: (seqs) =>
      Effect.sync(() => seqs.flatMap((seq) => (seq >= 1 && seq <= events.length ? [events[seq - 1]!] : []))),
    head,
    ...feed.readers(read, head)
  }
}

export const memoryLogLayer = (options: Omit<MemoryLogOptions, "listenerFailed"> = {}) =>
  Layer.effect(
    EventLog,
    Effect.map(listenerFailures, (listenerFailed) => makeMemoryLog({ ...options, listenerFailed }))
  )

export const MemoryLogLive = memoryLogLayer()
