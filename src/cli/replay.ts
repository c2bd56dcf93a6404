import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { Effect } from "effect"
import { NotALog, readExport } from "../log/replay.js"
import { Failed } from "./errors.js"
import { CliIo } from "./io.js"
import { loggingOptions, withLogging } from "./logging.js"
import { describe, tokenFrom } from "./options.js"
import { listenOptions, runBroker } from "./serve.js"

export const replay = Command.make(
  "replay",
  {
    file: Args.file({ name: "log.ndjson", exists: "yes" }).pipe(
      Args.withDescription("an exported log (claude-ipc-broker export, GET /log, or a data dir's events.ndjson)")
    ),
    ...listenOptions(0),
    ...loggingOptions
  },
  (args) =>
    Effect.gen(function* () {
      const io = yield* CliIo
      const events = yield* Effect.tryPromise({
        try: () => readExport(args.file),
        catch: (error) =>
          new Failed({
            message: `${args.file}: ${error instanceof NotALog ? error.message : `cannot read it (${String(error)})`}`
          })
      })
      yield* runBroker({
        port: args.port,
        host: args.host,
        token: tokenFrom(args.token, io.env),
        allowedOrigins: args.allowedOrigin,
        dataDir: "",
        memory: true,
        replay: { source: args.file, events }
      })
    }).pipe(withLogging(args))
).pipe(
  Command.withDescription(
    describe(
      "Serve an exported log read-only, with the REST API, event stream and dashboard, to inspect an " +
        "incident with the same tools. Every write is refused (405 read_only) and no sweeper runs.",
      [
        "claude-ipc-broker replay incident.ndjson",
        "claude-ipc-broker replay incident.ndjson --port 9200   # then open http://127.0.0.1:9200/dashboard",
        "claude-ipc-broker status --url http://127.0.0.1:9200 --at 120",
        "claude-ipc-broker status --url http://127.0.0.1:9200 --project web   # a project's export: served at /p/web/"
      ],
      [
        "The file must be an export without --from: the log from seq 1, or one project's events from its first " +
          "(gaps are other projects' events). A bad line stops it with the line's number (exit 1).",
        "Each project of the file is served under /p/<project>/, as by the broker it came from; the routes without " +
          "a prefix are project default's. Events keep their seqs, so --at means the same event as there."
      ]
    )
  )
)
