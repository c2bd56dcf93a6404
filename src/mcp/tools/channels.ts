import { Effect, Schema } from "effect"
import { markRead } from "../inbox.js"
import { arg, CountArg, IdempotencyKeyArg, LimitArg, NameArg, SecondsArg } from "./args.js"
import { defineTool, fail, optional, required, type WaitLimits } from "./define.js"
import { me } from "./identity.js"
import { json, messageLine, rolesIn, seconds } from "./render.js"

/** Channels: send_message, read_messages. */
export const channelTools = (limits: WaitLimits) => {
  const max = limits.maxWaitSeconds

  const sendMessage = defineTool({
    name: "send_message",
    description: "Post a message (any JSON) to a channel; everyone can read it.",
    fields: {
      channel: required(NameArg, arg.name("channel name, e.g. results")),
      message: required(Schema.Unknown, arg.json("the message, any JSON")),
      idempotency_key: optional(IdempotencyKeyArg, arg.string("a retry with the same key posts nothing new"))
    },
    run: ({ channel, message, idempotency_key }, context) =>
      Effect.gen(function* () {
        if (message === undefined) return yield* fail("bad_request", "invalid arguments: message is required")
        const peer = yield* me(context)
        const posted = yield* context.broker.publish(channel, peer.id, message, idempotency_key)
        // One's own message is no news: a follower caught up to just before it stays caught up.
        if (context.session.following.channels.get(channel) === posted.id - 1) markRead(context.session.following, channel, posted.id)
        const text = posted.duplicate
          ? `Already posted as #${posted.id} to ${json(channel)} (same idempotency_key): nothing new posted.`
          : `Posted #${posted.id} to ${json(channel)}.`
        return { structured: { message: posted }, text }
      })
  })

  const readMessages = defineTool({
    name: "read_messages",
    description:
      "Messages of a channel after since_id (0 = from the start). With wait > 0, waits that long for a new one. Pass the returned lastId as the next since_id. firstId is the oldest message the broker still holds: if it is above since_id + 1, older messages were dropped by retention.",
    fields: {
      channel: required(NameArg, arg.name("channel name")),
      since_id: optional(CountArg, arg.count("last id already read (default 0)")),
      limit: optional(LimitArg, arg.count("max messages (default 50)")),
      wait: optional(SecondsArg, arg.seconds("seconds to wait for a new message if none (default 0)", max))
    },
    run: ({ channel, since_id, limit, wait }, context) =>
      Effect.gen(function* () {
        const { broker } = context
        const since = since_id ?? 0
        const timeoutMs = wait === undefined || wait === 0 ? 0 : context.waitMs(wait)
        const read = broker.readMessages(channel, { since, limit: limit ?? 50, timeoutMs })
        const { messages, firstId, lastId } = yield* timeoutMs > 0
          ? context.withProgress(`waiting for a message on ${channel}`, timeoutMs)(read)
          : read
        if (messages.length > 0) markRead(context.session.following, channel, messages[messages.length - 1]!.id)
        const roles = rolesIn(broker.projection)
        const structured = { channel, messages, firstId, lastId }
        const more = messages.length > 0 && messages[messages.length - 1]!.id < lastId
        const gone = firstId - 1 === since + 1 ? `Message #${firstId - 1} was` : `Messages #${since + 1} to #${firstId - 1} were`
        const missed = firstId > since + 1 ? [`${gone} dropped by retention before you read it.`] : []
        const text =
          messages.length === 0
            ? [...missed, `No messages on ${json(channel)} after #${since}${timeoutMs > 0 ? ` within ${seconds(timeoutMs)}` : ""} (lastId ${lastId}).`].join("\n")
            : [
                ...missed,
                ...messages.map((message) => messageLine(message, roles)),
                more
                  ? `More to read: call again with since_id ${messages[messages.length - 1]!.id}.`
                  : `lastId ${lastId}: pass it as since_id next time.`
              ].join("\n")
        return { structured, text }
      })
  })

  return { sendMessage, readMessages }
}
