import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Option, Schedule, Stream } from "effect"
import { isStoredEvent, type StoredEvent } from "../core/events.js"
import { bodyOf, open, type ClientError, type Connection } from "./client.js"
import { BrokerUnreachable } from "./errors.js"
import { eventLine, peerIdsOf, typeMatcher } from "./eventLine.js"
import { CliIo } from "./io.js"
import { clientOptions, connection, describe, seqOption } from "./options.js"
import { paint } from "./paint.js"
import { brokerPeers } from "./peerNames.js"
import { untilStopped } from "./stop.js"

/** A line of `/events` that matters here: an event (with its raw JSON), or where the stream starts. */
type Frame = { readonly event: StoredEvent; readonly raw: string } | { readonly startsAt: number }

/** A stored event from its JSON (an SSE frame's data, a line of `/log`). */
const eventOf = (raw: string): StoredEvent | undefined => {
  try {
    const event: unknown = JSON.parse(raw)
    return isStoredEvent(event) ? event : undefined
  } catch {
    return undefined
  }
}

const frameOf = (line: string): Frame | undefined => {
  if (line.startsWith("data: ")) {
    const raw = line.slice(6)
    const event = eventOf(raw)
    return event === undefined ? undefined : { event, raw }
  }
  const start = /^: following the log from seq (\d+)/.exec(line)
  return start ? { startsAt: Number(start[1]) } : undefined
}

/**
 * What tells one log from another: its first event. A new log (a `--memory` broker restarted, a data
 * dir moved aside) begins with an event of its own, at another time; null while a log is empty. The
 * broker names no log id, and its `startedAt` (in `/status`) changes when a file log merely restarts.
 */
type LogIdentity = string | null

const identityOf = (event: StoredEvent): string => JSON.stringify(event)

/**
 * The log we follow was replaced: we knew its first event and the broker's log now starts with
 * another one, or is empty. (A log we only knew empty can only have grown.)
 */
const isNewLog = (known: LogIdentity | undefined, now: LogIdentity): boolean => typeof known === "string" && known !== now

/**
 * The identity of the log we follow, from the first line of `GET /log`: the project's first event,
 * which need not be seq 1 (the log is shared by every project; `/p/<project>/log` holds that
 * project's events only, and the unprefixed one default's). The rest of the answer is not read.
 */
const logIdentity = (broker: Connection): Effect.Effect<LogIdentity, ClientError> =>
  Effect.flatMap(open(broker, "GET", "/log", { query: { from: 1 } }), (response) =>
    bodyOf(broker, response, "the log").pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runHead,
      Effect.map((line) => {
        const first = Option.isSome(line) ? eventOf(line.value) : undefined
        return first === undefined ? null : identityOf(first)
      })
    )
  )

/** Lets go of a response we will not read. */
const discard = (response: Response) => Effect.promise(() => response.body?.cancel().catch(() => undefined) ?? Promise.resolve())

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
    ...clientOptions,
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
      const peers = brokerPeers(broker)
      let next = Option.getOrUndefined(args.from)
      /** The first event of the log we follow, once we know it. */
      let known: LogIdentity | undefined
      /** The stream attached shows the log from its first event: it was empty, and we asked from its start or head. */
      let seesFirst = false
      const connect = Effect.suspend(() =>
        open(broker, "GET", "/events", { query: { from: next }, headers: { accept: "text/event-stream" } })
      )
      const note = (text: string) => Effect.sync(() => io.stderr.write(`claude-ipc-broker tail: ${text}\n`))
      /**
       * The stream from `next` on, of the log we were following. Checked after the stream is open: a
       * broker that restarts after the check ends that stream too, and the next attach checks again.
       * A new log is followed from its first event: all of it came after what we showed.
       */
      const attach: Effect.Effect<Response, ClientError> = Effect.gen(function* () {
        for (;;) {
          const response = yield* connect
          const identity = yield* logIdentity(broker).pipe(Effect.tapError(() => discard(response)))
          const renewed = isNewLog(known, identity)
          known = identity
          seesFirst = identity === null && (next === undefined || next === 1)
          if (!renewed) return response
          yield* discard(response)
          next = 1
          yield* note(`the broker at ${broker.url} has a new log (it restarted without the old one's events)`)
        }
      })
      const follow = (response: Response) =>
        Stream.runForEach(frames(broker, response), (frame) => {
          if ("startsAt" in frame) {
            next ??= frame.startsAt
            return Effect.void
          }
          const { event } = frame
          next = event.seq + 1
          // The log was empty when we looked, and this is its first event: it names the log from now on.
          // (A project's first event is seldom seq 1: every project's events share the one log.)
          if (known === null && (event.seq === 1 || seesFirst)) known = identityOf(event)
          seesFirst = false
          // A connecting peer names itself: MCP sessions' ids are learnt here, without a lookup.
          if (event.type === "peer.connected") {
            const { peerId, role, name } = event.data as { peerId: string; role: string; name: string | null }
            peers.remember(peerId, { role, name })
          }
          if (!matches(event.type)) return Effect.void
          if (args.json) return Console.log(frame.raw)
          return Effect.zipRight(peers.learn(peerIdsOf(event)), Effect.suspend(() => Console.log(eventLine(event, p, peers.lookup))))
        })
      // The first connection must work (else exit 1); after that, like EventSource, reconnect and
      // resume after the last event shown for as long as the broker is away.
      let response = yield* attach
      yield* untilStopped(
        Effect.forever(
          Effect.gen(function* () {
            yield* follow(response).pipe(Effect.catchTag("BrokerUnreachable", () => Effect.void))
            yield* note(`lost the broker at ${broker.url}; reconnecting…`)
            response = yield* attach.pipe(
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
      "Follow the event log live: one line per event (seq, time, type, key fields), coloured on a terminal. Ctrl-C stops it. " +
        "Peers are named by role (and label) first, their id second: reviewer \"Alice\" (mcp-r2mrx25t2a68).",
      [
        "claude-ipc-broker tail",
        "claude-ipc-broker tail --from 1 --type 'command.*' --type signal.fired",
        "claude-ipc-broker tail --json > live.ndjson"
      ],
      [
        "If the broker goes away, tail waits for it and resumes after the last event it showed; " +
          "if it comes back with a new log (a --memory broker restarted), tail follows the new log from its first event."
      ]
    )
  )
)
