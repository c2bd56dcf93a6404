import * as Command from "@effect/cli/Command"
import { Console, Effect } from "effect"
import type { CommandView } from "../core/views.js"
import { request, segment } from "./client.js"
import { checkCommandId, clientOptions, commandIdArg, connection, describe, jsonOption } from "./options.js"

/**
 * `approve <id>` and `reject <id>`: a person's answer to a command the approval gate holds
 * (`--require-approval`, `--gate-after`). They name no peer, so the broker takes them as a person's;
 * with a token, it must be an admin one.
 */
const decision = (verb: "approve" | "reject", summary: string, example: string) =>
  Command.make(
    verb,
    {
      ...clientOptions,
      id: commandIdArg("a held command's id"),
      json: jsonOption
    },
    (args) =>
      Effect.gen(function* () {
        yield* checkCommandId(args.id)
        const broker = yield* connection(args)
        const command = yield* request<CommandView>(broker, "POST", `/commands/${segment(args.id)}/${verb}`)
        yield* Console.log(args.json ? JSON.stringify(command) : `${command.id} ${command.action} → ${command.target}: ${command.status}`)
      })
  ).pipe(Command.withDescription(describe(summary, [example])))

export const approve = decision(
  "approve",
  "Let a held command through: it becomes pending and a peer of its target may take it.",
  "claude-ipc-broker approve cmd-c4bgv0yht66j"
)

export const reject = decision(
  "reject",
  "Refuse a held command for good: it becomes rejected and is never delivered; its sender's result wait ends.",
  "claude-ipc-broker reject cmd-c4bgv0yht66j"
)
