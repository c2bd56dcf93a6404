import { Effect, Schema } from "effect"
import { markSignalSeen } from "../inbox.js"
import { arg, NameArg, timeoutArg } from "./args.js"
import { defineTool, optional, required, type WaitLimits } from "./define.js"
import { me } from "./identity.js"
import { json, seconds, signalLine } from "./render.js"

/** Signals: signal, wait_for_signal, clear_signal. */
export const signalTools = (limits: WaitLimits) => {
  const timeoutField = () => timeoutArg(limits)

  const signal = defineTool({
    name: "signal",
    description: "Set a named signal (optionally with data); wakes everyone in wait_for_signal.",
    fields: { name: required(NameArg, arg.name("signal name, e.g. ready-for-e2e")), data: optional(Schema.Unknown, arg.json("any JSON")) },
    run: ({ name, data }, context) =>
      Effect.gen(function* () {
        const peer = yield* me(context)
        const fired = yield* context.broker.fire(name, data ?? null, peer.id)
        return { structured: { signal: fired }, text: `${signalLine(fired)}.` }
      })
  })

  const waitForSignal = defineTool({
    name: "wait_for_signal",
    description: "Wait until a signal is set (returns at once if it already is).",
    fields: { name: required(NameArg, arg.name("signal name")), timeout: timeoutField() },
    run: ({ name, timeout }, context) =>
      Effect.gen(function* () {
        const ms = context.waitMs(timeout)
        const { value, timedOut } = yield* context.withProgress(`waiting for signal ${name}`, ms)(
          context.broker.waitForSignal(name, ms)
        )
        if (!timedOut) markSignalSeen(context.session.following, name, context.broker.projection.signals.get(name))
        const structured = { signal: value, timedOut }
        const text = timedOut
          ? `Signal ${json(name)} not set within ${seconds(ms)}. Call wait_for_signal again to keep waiting.`
          : `${signalLine(value!)}${value!.firedBy ? ` (by ${value!.firedBy})` : ""}.`
        return { structured, text }
      })
  })

  const clearSignal = defineTool({
    name: "clear_signal",
    description: "Unset a signal so it can be waited for again.",
    fields: { name: required(NameArg, arg.name("signal name")) },
    run: ({ name }, { broker, session }) =>
      Effect.map(broker.clearSignal(name), (cleared) => {
        markSignalSeen(session.following, name, broker.projection.signals.get(name))
        return { structured: { signal: cleared }, text: `${signalLine(cleared)}.` }
      })
  })

  return { signal, waitForSignal, clearSignal }
}
