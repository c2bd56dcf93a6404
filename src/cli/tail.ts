import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Option, Schedule, Stream } from "effect"
import { isStoredEvent, type StoredEvent } from "../core/events.js"
import { bodyOf, open, type Connection } from "./client.js"
import { BrokerUnreachable } from "./errors.js"
import { eventLine, typeMatcher } from "./eventLine.js"
import { CliIo } from "./io.js"
import { connection, connectionOptions, describe, seqOption } from "./options.js"
import { paint } from "./paint.js"
import { untilStopped } from "./stop.js"

/** A line of `/events` that matters here: an event (with its raw JSON), or where the stream starts. */
type Frame = { readonly event: StoredEvent; readonly raw: string } | { readonly startsAt: number }

const frameOf = (line: string): Frame | undefined => {
  if (line.startsWith("data: ")) {
    const raw = line.slice(6)
    try {
      const event: unknown = JSON.parse(raw)
      return isStoredEvent(event) ? { event, raw } : undefined
    } catch {
      return undefined
    }
  }
  const start = /^: following the log from seq (\d+)/.exec(line)
  return start ? { startsAt: Number(start[1]) } : undefined
}

/** The frames of one `/events` response, until the broker ends it or the connection drops. */
const frames = (broker: Connection, response: Response): Stream.Stream<Frame, BrokerUnreachable> =>
  bodyOf(broker, response, "the event stream").pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.filterMap((line) => Option.fromNullable(frameOf(line)))
  )

export const tail = Command.make(
  "tail",
  {
    ...connectionOptions,
    from: seqOption("from", "start with this event (1: the whole log); default: only events from now on"),
    type: Options.text("type").pipe(
      Options.withPseudoName("glob"),
      Options.withDescription("only events whose type matches, e.g. 'command.*' (repeatable)"),
      Options.repeated
    ),
    json: Options.boolean("json").pipe(Options.withDescription("print each event as stored, one JSON object per line (NDJSON)"))
  },
  (args) =>
    Effect.gen(function* () {
      const broker = yield* connection(args)
      const io = yield* CliIo
      const matches = typeMatcher(args.type)
      const p = paint(io.color)
      let next = Option.getOrUndefined(args.from)
      const connect = Effect.suspend(() =>
        open(broker, "GET", "/events", { query: { from: next }, headers: { accept: "text/event-stream" } })
      )
      const follow = (response: Response) =>
        Stream.runForEach(frames(broker, response), (frame) => {
          if ("startsAt" in frame) {
            next ??= frame.startsAt
            return Effect.void
          }
          next = frame.event.seq + 1
          return matches(frame.event.type) ? Console.log(args.json ? frame.raw : eventLine(frame.event, p)) : Effect.void
        })
      const note = (text: string) => Effect.sync(() => io.stderr.write(`claude-ipc-broker tail: ${text}\n`))
      // The first connection must work (else exit 1); after that, like EventSource, reconnect and
      // resume after the last event shown for as long as the broker is away.
      let response = yield* connect
      yield* untilStopped(
        Effect.forever(
          Effect.gen(function* () {
            yield* follow(response).pipe(Effect.catchTag("BrokerUnreachable", () => Effect.void))
            yield* note(`lost the broker at ${broker.url}; reconnecting…`)
            response = yield* connect.pipe(
              Effect.retry({ schedule: Schedule.spaced("1 second"), while: (error) => error._tag === "BrokerUnreachable" })
            )
            yield* note(`following again from seq ${next ?? "the head"}`)
          })
        )
      )
    })
).pipe(
  Command.withDescription(
    describe(
      "Follow the event log live: one line per event (seq, time, type, key fields), coloured on a terminal. Ctrl-C stops it.",
      [
        "claude-ipc-broker tail",
        "claude-ipc-broker tail --from 1 --type 'command.*' --type signal.fired",
        "claude-ipc-broker tail --json > live.ndjson"
      ],
      ["If the broker goes away, tail waits for it and resumes after the last event it showed."]
    )
  )
)
