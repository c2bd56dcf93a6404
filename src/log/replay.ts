import { Effect, Layer } from "effect"
import { createReadStream } from "node:fs"
import { createInterface } from "node:readline"
import { isStoredEvent, type BrokerEvent } from "../core/events.js"
import { LogUnavailable } from "../core/errors.js"
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
 * Read an NDJSON export: one stored event per line, `seq` from 1 without gaps (the projection
 * starts from the empty state, so a range that does not start at 1 cannot be replayed). Blank
 * lines are skipped; anything else that is not a stored event is refused with its line number.
 */
export const readExport = (path: string): Promise<ReadonlyArray<BrokerEvent>> =>
  new Promise((resolve, reject) => {
    const events: Array<BrokerEvent> = []
    const input = createReadStream(path, { encoding: "utf8" })
    const lines = createInterface({ input, crlfDelay: Infinity })
    let number = 0
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
      const expected = events.length + 1
      if (value.seq !== expected) {
        return refuse(
          expected === 1
            ? `the log starts at seq ${value.seq}; a replay needs it from seq 1 (export without --from)`
            : `seq ${value.seq} where ${expected} was expected`
        )
      }
      events.push(value as BrokerEvent)
    })
    lines.once("close", () => resolve(events))
  })

export const makeReplayLog = ({ source, events }: ReplaySource): EventLogService => ({
  backend: "replay",
  append: () => Effect.fail(new LogUnavailable({ message: `this broker replays ${source} read-only; nothing can be recorded` })),
  // A feed nobody publishes to: followers get the stored events, then wait for ever.
  ...arrayReads(events, new LiveFeed())
})

export const ReplayLogLive = (replay: ReplaySource) => Layer.sync(EventLog, () => makeReplayLog(replay))
