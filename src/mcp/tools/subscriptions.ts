import { Effect } from "effect"
import { firingOf } from "../inbox.js"
import { arg, NameArg } from "./args.js"
import { defineTool, fail, optional, type WaitLimits } from "./define.js"
import { followed, json } from "./render.js"

/** Following channels and signals: subscribe, unsubscribe. */
export const subscriptionTools = (_limits: WaitLimits) => {
  const followFields = {
    channel: optional(NameArg, arg.name("channel name")),
    signal: optional(NameArg, arg.name("signal name"))
  }

  const needsOne = (channel: string | undefined, signal: string | undefined) =>
    channel === undefined && signal === undefined ? fail("bad_request", "invalid arguments: name a channel or a signal") : Effect.void

  const subscribe = defineTool({
    name: "subscribe",
    description:
      "Follow a channel (new messages) or a signal (firing): you are told at once and in every result's inbox.",
    fields: followFields,
    run: ({ channel, signal }, { broker, session }) =>
      Effect.gen(function* () {
        yield* needsOne(channel, signal)
        const { projection } = broker
        const lines: Array<string> = []
        if (channel !== undefined) {
          const lastId = projection.channels.get(channel)?.context.count ?? 0
          if (!session.following.channels.has(channel)) session.following.channels.set(channel, lastId)
          lines.push(`Following ${json(channel)} from message #${session.following.channels.get(channel)! + 1} on (lastId now ${lastId}).`)
        }
        if (signal !== undefined) {
          const snapshot = projection.signals.get(signal)
          if (!session.following.signals.has(signal)) session.following.signals.set(signal, firingOf(snapshot))
          lines.push(`Watching signal ${json(signal)}; it is ${snapshot?.value === "fired" ? "SET now" : "not set now"}.`)
        }
        lines.push("News is pushed to this session and listed in the inbox of every result.")
        return { structured: { following: followed(session.following) }, text: lines.join("\n") }
      })
  })

  const unsubscribe = defineTool({
    name: "unsubscribe",
    description: "Stop following a channel or a signal.",
    fields: followFields,
    run: ({ channel, signal }, { session }) =>
      Effect.gen(function* () {
        yield* needsOne(channel, signal)
        if (channel !== undefined) session.following.channels.delete(channel)
        if (signal !== undefined) session.following.signals.delete(signal)
        const now = followed(session.following)
        const names = [...now.channels.map((c) => json(c.channel)), ...now.signals.map((name) => `signal ${json(name)}`)]
        return {
          structured: { following: now },
          text: `No longer following ${[channel && json(channel), signal && `signal ${json(signal)}`].filter(Boolean).join(" or ")}. Following: ${names.join(", ") || "nothing"}.`
        }
      })
  })

  return { subscribe, unsubscribe }
}
