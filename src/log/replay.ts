import { Effect, Layer } from "effect"
import { createReadStream } from "node:fs"
import { createInterface } from "node:readline"
import { isStoredEvent, type BrokerEvent } from "../core/events.js"
import { LogUnavailable } from "../core/errors.js"
import { defaultProject, projectOf } from "../core/projects.js"
import { EventLog, type EventLogService } from "./EventLog.js"
import { LiveFeed } from "./liveFeed.js"
import { arrayReads } from "./memory.js"

/**
 * An exported log (`GET /log`, `claude-ipc-broker export`) served as it is, to inspect someone
 * else's incident with the broker's own views. It is evidence, so it never changes: every append
 * is refused, and the broker on it runs no sweeper.
 */

export interface ReplaySource {
  /** The file, as the user named it: shown in the announcement and in refusals. */
  readonly source: string
  readonly events: ReadonlyArray<BrokerEvent>
}

/** Why a file is not a log this broker can replay, at which line (1-based). */
export class NotALog extends Error {
  constructor(
    readonly line: number,
    readonly problem: string
  ) {
    super(`line ${line}: ${problem}`)
  }
}

/**
 * Read an NDJSON export: one stored event per line, `seq` increasing. Gaps are other projects'
 * events: the log is shared by every project, and `/log` (default's) or `/p/<project>/log` holds
 * one project's events with their seqs in that log. The projection starts from the empty state, so
 * a file must start at seq 1 (a range exported with --from would replay as a wrong state), unless
 * it is one project's export whose first event came after other projects' events: every event of
 * one project other than default, or default's with gaps (other projects were there). Such a file
 * cannot be told from that project's export with --from; the announcement says which seqs it holds.
 * Blank lines are skipped; anything else that is not a stored event is refused with its line number.
 */
export const readExport = (path: string): Promise<ReadonlyArray<BrokerEvent>> =>
  new Promise((resolve, reject) => {
    const events: Array<BrokerEvent> = []
    const input = createReadStream(path, { encoding: "utf8" })
    const lines = createInterface({ input, crlfDelay: Infinity })
    let number = 0
    /** The project every event so far is of; null once two differ. */
    let only: string | null | undefined
    let firstLine = 1
    const refuse = (problem: string) => {
      // Settle first: closing emits "close", which would resolve with the lines read so far.
      reject(new NotALog(number, problem))
      lines.close()
      input.destroy()
    }
    input.once("error", reject)
    lines.on("line", (line) => {
      number += 1
      if (line.trim() === "") return
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch {
        return refuse("not JSON")
      }
      if (!isStoredEvent(value)) return refuse('not a stored event ({"seq","at","type","data"})')
      const last = events.at(-1)?.seq ?? 0
      if (value.seq <= last) return refuse(`seq ${value.seq} after seq ${last}: the seqs of a log only increase`)
      const project = projectOf(value)
      only = only === undefined || only === project ? project : null
      if (events.length === 0) firstLine = number
      events.push(value as BrokerEvent)
    })
    lines.once("close", () => {
      const first = events[0]?.seq ?? 1
      const gaps = events.length < (events.at(-1)?.seq ?? 0) - first + 1
      // One project's export starts where that project's first event is; default's without gaps
      // (no other project was there) and a file of several projects are the log from its start.
      const lateStartFits = typeof only === "string" && (only !== defaultProject || gaps)
      if (first > 1 && !lateStartFits) {
        return reject(new NotALog(firstLine, `the log starts at seq ${first}; a replay needs it from seq 1 (export without --from)`))
      }
      resolve(events)
    })
  })

/**
 * What stands in the replayed log for a seq the file does not hold (another project's event): of
 * no project a route can name (`elsewhere` is no project name), of a type no version knows, so the
 * projection passes over it and no view, `/log` or `/events` ever shows it. The broker applies the
 * log in seq order without gaps, and the file's events keep their seqs: `--at 120` means the same
 * event in the replay as in the broker it came from.
 */
const elsewhere = "(not in the file)"
const elidedType = "replay.elided"

const elided = (seq: number, at: string): BrokerEvent =>
  ({ seq, at, type: elidedType, data: {}, project: elsewhere }) as unknown as BrokerEvent

/**
 * Reading a file's events at their seqs, the seqs between them elided: made as they are read, so a
 * project's few events late in a long log cost no more than themselves.
 */
const sparseReads = (
  events: ReadonlyArray<BrokerEvent>,
  feed: LiveFeed
): Pick<EventLogService, "read" | "readSeqs" | "head" | "tail" | "follow"> => {
  const last = events.at(-1)?.seq ?? 0
  /** The index of the first event at `seq` or after it. */
  const indexOf = (seq: number): number => {
    let [low, high] = [0, events.length]
    while (low < high) {
      const middle = (low + high) >>> 1
      if (events[middle]!.seq < seq) low = middle + 1
      else high = middle
    }
    return low
  }
  // An elided event is as late as the last fact before it (the first event's time before the first).
  const atBefore = (i: number) => (events[i - 1] ?? events[0])!.at
  const read = (from: number, to = last, limit = Number.MAX_SAFE_INTEGER) =>
    Effect.sync(() => {
      const start = Math.max(1, from)
      const end = Math.min(to, last, start + limit - 1)
      const page: Array<BrokerEvent> = []
      let i = indexOf(start)
      for (let seq = start; seq <= end; seq++) {
        if (events[i]?.seq === seq) page.push(events[i++]!)
        else page.push(elided(seq, atBefore(i)))
      }
      return page
    })
  const head = Effect.succeed(last)
  return {
    read,
    readSeqs: (seqs) =>
      Effect.sync(() =>
        seqs.flatMap((seq) => {
          if (seq < 1 || seq > last) return []
          const i = indexOf(seq)
          return [events[i]?.seq === seq ? events[i]! : elided(seq, atBefore(i))]
        })
      ),
    head,
    ...feed.readers(read, head)
  }
}

/** Whether the file holds every seq from 1 to its last: a whole log, read as an array. */
const isWhole = (events: ReadonlyArray<BrokerEvent>) => events.length === (events.at(-1)?.seq ?? 0)

export const makeReplayLog = ({ source, events }: ReplaySource): EventLogService => {
  // A feed nobody publishes to: followers get the stored events, then wait for ever.
  const feed = new LiveFeed()
  return {
    backend: "replay",
    append: () => Effect.fail(new LogUnavailable({ message: `this broker replays ${source} read-only; nothing can be recorded` })),
    ...(isWhole(events) ? arrayReads(events, feed) : sparseReads(events, feed))
  }
}

/** What a replayed file holds, for its announcement: how many events, of which projects (default first), from which seq to which. */
export const replayContents = (events: ReadonlyArray<BrokerEvent>) => ({
  events: events.length,
  projects: [...new Set(events.map(projectOf))].sort((a, b) => Number(b === defaultProject) - Number(a === defaultProject)),
  first: events[0]?.seq ?? 0,
  last: events.at(-1)?.seq ?? 0,
  whole: isWhole(events)
})

export const ReplayLogLive = (replay: ReplaySource) => Layer.sync(EventLog, () => makeReplayLog(replay))
