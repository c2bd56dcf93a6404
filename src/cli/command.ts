import * as Command from "@effect/cli/Command"
import { Console, Effect, Option } from "effect"
import type { CommandDetail } from "../core/views.js"
import { request, segment } from "./client.js"
import { CliIo } from "./io.js"
import { checkCommandId, clientOptions, commandIdArg, connection, describe, jsonOption, seqOption } from "./options.js"
import { counted, paint, shortTime, table, type Paint } from "./paint.js"

/** One command as a person reads it: what it is, where it stands, then every event that moved it. */
const commandLines = (command: CommandDetail, p: Paint = paint(false)): Array<string> => [
  `${p.bold(command.id)} ${command.action} → ${command.target}: ${command.status}, delivered ${counted(command.attempts, "time")}`,
  `${p.dim("from")} ${command.from}, sent ${shortTime(command.createdAt)}` +
    (command.deliveredTo === null ? "" : `; held by ${command.deliveredTo}`) +
    (command.status === "acked" || command.status === "failed" ? `; result ${JSON.stringify(command.result)}` : ""),
  ...table([
    ["SEQ", "AT", "EVENT", "BY"].map(p.dim),
    ...command.history.map((entry) => [String(entry.seq), shortTime(entry.at), entry.type, entry.by ?? "-"])
  ])
]

export const command = Command.make(
  "command",
  {
    ...clientOptions,
    id: commandIdArg("a command id"),
    at: seqOption("at", "the command as it was right after this event"),
    json: jsonOption
  },
  (args) =>
    Effect.gen(function* () {
      yield* checkCommandId(args.id)
      const broker = yield* connection(args)
      const io = yield* CliIo
      const found = yield* request<CommandDetail>(broker, "GET", `/commands/${segment(args.id)}`, {
        query: { at: Option.getOrUndefined(args.at) }
      })
      yield* Console.log(args.json ? JSON.stringify(found, null, 2) : commandLines(found, paint(io.color)).join("\n"))
    })
).pipe(
  Command.withDescription(
    describe("One command: where it stands, how often it was delivered, and every event that moved it, by whom.", [
      "claude-ipc-broker command cmd-c4bgv0yht66j",
      "claude-ipc-broker command cmd-c4bgv0yht66j --at 120     # as it was right after event 120",
      "claude-ipc-broker command cmd-c4bgv0yht66j --json | jq '.history'"
    ])
  )
)
