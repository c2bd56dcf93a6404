import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { Console, Effect, Option } from "effect"
import type { SignalView } from "../core/views.js"
import { request, segment } from "./client.js"
import { WaitTimedOut } from "./errors.js"
import { clientOptions, connection, describe, fromOption, jsonOption, jsonValueOption, nameArg, postAs, timeoutOption } from "./options.js"
import { shortTime } from "./paint.js"
import { waitUntil } from "./waiting.js"

const signalName = Args.text({ name: "name" }).pipe(Args.withDescription("the signal"), Args.mapEffect(nameArg("signal")))

const signalLine = (signal: SignalView): string =>
  signal.fired
    ? `signal ${signal.name} fired ×${signal.count} at ${shortTime(signal.firedAt)}` +
      `${signal.firedBy === null ? "" : ` by ${signal.firedBy}`}, data ${JSON.stringify(signal.data)}`
    : `signal ${signal.name} armed`

export const signal = Command.make(
  "signal",
  {
    ...clientOptions,
    name: signalName,
    data: jsonValueOption("data", "what waiters get with it, any JSON"),
    from: fromOption,
    json: jsonOption
  },
  (args) =>
    Effect.gen(function* () {
      const fired = yield* postAs<SignalView>(args, `/signals/${segment(args.name)}`, { data: Option.getOrNull(args.data) })
      yield* Console.log(args.json ? JSON.stringify(fired) : signalLine(fired))
    })
).pipe(
  Command.withDescription(
    describe("Fire a named signal: everyone waiting for it is answered, and it stays fired until cleared.", [
      "claude-ipc-broker signal tests-green",
      "claude-ipc-broker signal deploy-done --data '{\"env\":\"staging\"}' --from ci"
    ])
  )
)

export const waitSignal = Command.make(
  "wait-signal",
  { ...clientOptions, name: signalName, timeout: timeoutOption("waiting"), json: jsonOption },
  (args) =>
    Effect.gen(function* () {
      const broker = yield* connection(args)
      const timeoutMs = Option.getOrUndefined(args.timeout)
      const fired = yield* waitUntil("wait-signal", timeoutMs, (waitMs) =>
        Effect.map(
          request<{ signal: SignalView }>(broker, "GET", `/signals/${segment(args.name)}/wait`, { query: { timeout: waitMs } }),
          ({ signal }) => (signal.fired ? Option.some(signal) : Option.none())
        )
      )
      if (Option.isNone(fired)) {
        return yield* new WaitTimedOut({ message: `signal ${args.name} was not fired within ${timeoutMs} ms` })
      }
      yield* Console.log(JSON.stringify(args.json ? fired.value : fired.value.data))
    })
).pipe(
  Command.withDescription(
    describe(
      "Wait until a signal is fired (at once if it is fired already), then print the data it was fired with.",
      [
        "claude-ipc-broker wait-signal tests-green && ./deploy.sh",
        "claude-ipc-broker wait-signal deploy-done --timeout 60000 --json"
      ],
      [
        "If the broker restarts meanwhile, it waits for it to come back and goes on waiting. " +
          "Exit code 3 when --timeout passes first; 1 when the broker cannot be reached at the start, or is still away when --timeout passes."
      ]
    )
  )
)
