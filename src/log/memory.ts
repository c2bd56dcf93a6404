import { Effect, Layer } from "effect"
import type { BrokerEvent, EventDraft } from "../core/events.js"
import { EventLog, type EventLogService } from "./EventLog.js"
import { LiveFeed } from "./liveFeed.js"
import { nextTimestamp } from "./timestamps.js"

/** The log held in memory: for tests and `--memory`. Durable means "in this process". */
export const makeMemoryLog = (): EventLogService => {
  const events: Array<BrokerEvent> = []
  const feed = new LiveFeed()
  let lastAt = ""

  const append = (drafts: ReadonlyArray<EventDraft>) =>
    Effect.sync(() => {
      const at = (lastAt = nextTimestamp(lastAt))
      const stored = drafts.map((draft, i) => ({ seq: events.length + i + 1, at, ...draft }) as BrokerEvent)
      for (const event of stored) events.push(event)
      feed.publish(stored)
      return stored
    })

  return { backend: "memory", append, ...arrayReads(events, feed) }
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

export const MemoryLogLive = Layer.sync(EventLog, makeMemoryLog)
