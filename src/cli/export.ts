import { Command, Options } from "@effect/cli"
import { Effect, Option, Stream } from "effect"
import { open } from "./client.js"
import { BrokerUnreachable } from "./errors.js"
import { CliIo } from "./io.js"
import { connection, connectionOptions, describe } from "./options.js"

const seqOption = (name: string, description: string) =>
  Options.integer(name).pipe(Options.withPseudoName("seq"), Options.withDescription(description), Options.optional)

export const exportLog = Command.make(
  "export",
  {
    ...connectionOptions,
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
      yield* Stream.fromReadableStream({
        evaluate: () => response.body!,
        onError: (error) => new BrokerUnreachable({ url: broker.url, reason: `the export broke off: ${String(error)}` })
      }).pipe(
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
      "Print the event log, or a range of it, as NDJSON: one stored event per line, the same format as the data dir's events.ndjson.",
      [
        "claude-ipc-broker export > incident.ndjson",
        "claude-ipc-broker export --from 1 --to 500 > first-500.ndjson",
        "claude-ipc-broker replay incident.ndjson      # inspect it later, anywhere"
      ]
    )
  )
)
