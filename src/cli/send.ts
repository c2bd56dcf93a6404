import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Option } from "effect"
import type { CommandView } from "../core/views.js"
import { request, segment, type Connection } from "./client.js"
import { Failed, UsageError, WaitTimedOut } from "./errors.js"
import {
  clientOptions,
  connection,
  describe,
  fromOption,
  jsonOption,
  jsonValueOption,
  nameArg,
  sender,
  timeoutOption,
  wholeNumberOption
} from "./options.js"
import { waitUntil } from "./waiting.js"

// isSettled of src/core/machines/command.ts, kept apart: importing it would load xstate into every client command.
const settled = new Set(["acked", "failed", "expired", "cancelled", "dead", "rejected"])

/** Wait for a command to be settled; the command as it then stands. */
const awaitResult = (broker: Connection, id: string, timeoutMs: number | undefined) =>
  Effect.flatMap(
    waitUntil("send", timeoutMs, (waitMs) =>
      Effect.map(
        request<{ command: CommandView }>(broker, "GET", `/commands/${segment(id)}/result`, { query: { timeout: waitMs } }),
        ({ command }) => (settled.has(command.status) ? Option.some(command) : Option.none())
      )
    ),
    Option.match({
      onSome: Effect.succeed,
      onNone: () => Effect.fail(new WaitTimedOut({ message: `command ${id} is not settled after ${timeoutMs} ms` }))
    })
  )

export const send = Command.make(
  "send",
  {
    ...clientOptions,
    target: Args.text({ name: "target" }).pipe(
      Args.withDescription("a peer id or a role: the command goes to exactly one peer with that id or role"),
      Args.mapEffect(nameArg("target"))
    ),
    action: Args.text({ name: "action" }).pipe(Args.withDescription("what to do, e.g. run_tests")),
    params: jsonValueOption("params", "the command's parameters, any JSON"),
    ttlMs: wholeNumberOption("ttl-ms", "ms", "milliseconds", "expire the command if nobody settles it within this", 1).pipe(
      Options.optional
    ),
    from: fromOption,
    wait: Options.boolean("wait").pipe(
      Options.withDescription("wait until the command is settled and print its result (exit 1 if it failed, expired, was cancelled or is dead)")
    ),
    timeout: timeoutOption("--wait"),
    json: jsonOption
  },
  (args) =>
    Effect.gen(function* () {
      // --timeout bounds the wait for the result; alone it could be read as the command's expiry (--ttl-ms).
      if (!args.wait && Option.isSome(args.timeout)) {
        return yield* new UsageError({
          message: "--timeout only applies to --wait: add --wait to wait for the result (to expire the command instead, use --ttl-ms)"
        })
      }
      const broker = yield* connection(args)
      const from = yield* sender(args.from)
      const sent = yield* request<CommandView>(broker, "POST", "/commands/send", {
        body: {
          target: args.target,
          action: args.action,
          params: Option.getOrNull(args.params),
          ttlMs: Option.getOrNull(args.ttlMs),
          ...(from === undefined ? {} : { from })
        }
      })
      if (!args.wait) return yield* Console.log(args.json ? JSON.stringify(sent) : sent.id)
      const command = yield* awaitResult(broker, sent.id, Option.getOrUndefined(args.timeout))
      yield* Console.log(JSON.stringify(args.json ? command : command.result))
      if (command.status !== "acked") {
        return yield* new Failed({ message: `command ${command.id} ${command.status === "failed" ? "failed" : command.status === "dead" ? "is dead" : `was ${command.status}`}` })
      }
    })
).pipe(
  Command.withDescription(
    describe(
      "Send a command to a peer id or a role. Prints the command id, or with --wait its result (JSON) once a peer acked it.",
      [
        "claude-ipc-broker send worker run_tests --params '{\"path\":\"test/\"}'",
        "claude-ipc-broker send worker-1 build --wait --timeout 600000 --from lead",
        "id=$(claude-ipc-broker send reviewer review --ttl-ms 3600000)"
      ],
      [
        "The sender is --from, else $BROKER_FROM, else the broker's default 'human'. " +
          "With --wait, a broker that restarts meanwhile is waited for. " +
          "--timeout needs --wait. Exit codes: 1 failed/expired/cancelled/dead, 3 --timeout passed."
      ]
    )
  )
)
