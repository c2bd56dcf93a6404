import { keyedMessage } from "../machines/channel.js"
import { decided, deciderOf, unchanged, type Decision, type DecisionState } from "./decision.js"

/** A message on a channel, which exists from its first message on. Any JSON value is a message. */
export interface Publish {
  readonly type: "Publish"
  readonly channel: string
  readonly from: string | null
  readonly message: unknown
  /** The sender's idempotency key, if it gave one. */
  readonly idempotencyKey?: string | undefined
  /** Now, for the 24-hour window of idempotency keys (the broker's clock: a request, not replay). */
  readonly nowMs?: number | undefined
}

export type ChannelCommand = Publish

/** The message an earlier send with the same sender and key made on this channel, within 24 hours. */
export const originalMessageOf = (state: DecisionState, { channel, from, idempotencyKey, nowMs }: Omit<Publish, "type" | "message">) => {
  const snapshot = idempotencyKey === undefined ? undefined : state.channels.get(channel)
  return snapshot && keyedMessage(snapshot.context, from, idempotencyKey!, nowMs ?? 0)
}

/** A repeat of a send (same channel, sender and idempotency key, within 24 hours) records nothing. */
export const publish = (request: Publish, state: DecisionState): Decision => {
  const { channel, from, message, idempotencyKey } = request
  if (originalMessageOf(state, request) !== undefined) return unchanged
  return decided({
    type: "message.sent",
    data: idempotencyKey === undefined ? { channel, from, message } : { channel, from, message, idempotencyKey }
  })
}

export const decide = deciderOf<ChannelCommand>()({ Publish: publish })
