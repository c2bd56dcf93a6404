import * as Command from "@effect/cli/Command"
import { Effect, Option, Stream } from "effect"
import { bodyOf, open } from "./client.js"
import { CliIo } from "./io.js"
import { clientOptions, connection, describe, seqOption } from "./options.js"

export const exportLog = Command.make(
  "export",
  {
    ...clientOptions,
    from: seqOption("from", "first event, inclusive (default 1)"),
    to: seqOption("to", "last event, inclusive (default: the head when the export starts)")
  },
  (args) =>
    Effect.gen(function* () {
      const broker = yield* connection(args)
      const io = yield* CliIo
      const response = yield* open(broker, "GET", "/log", {
        query: { from: Option.getOrUndefined(args.from), to: Option.getOrUndefined(args.to) }
      })
      // Bytes as the broker sends them: the export is the stored log, line for line.
      yield* bodyOf(broker, response, "the export").pipe(
        Stream.runForEach((chunk) =>
          Effect.async<void>((resume) => {
            io.stdout.write(chunk, () => resume(Effect.void))
          })
        )
      )
    })
).pipe(
  Command.withDescription(
    describe(
      "Print the event log, or a range of it, as NDJSON: one stored event per line, the same format as the data dir's events.ndjson. " +
        "It is one project's log (default's without --project), with the seqs its events have in the whole log.",
      [
        "claude-ipc-broker export > incident.ndjson",
        "claude-ipc-broker export --from 1 --to 500 > first-500.ndjson",
        "claude-ipc-broker export --project web > web.ndjson",
        "claude-ipc-broker replay incident.ndjson      # inspect it later, anywhere"
      ]
    )
  )
)
