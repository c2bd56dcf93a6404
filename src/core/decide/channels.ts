import { decided, deciderOf, type Decision } from "./decision.js"

/** A message on a channel, which exists from its first message on. Any JSON value is a message. */
export interface Publish {
  readonly type: "Publish"
  readonly channel: string
  readonly from: string | null
  readonly message: unknown
}

export type ChannelCommand = Publish

export const publish = ({ channel, from, message }: Publish): Decision =>
  decided({ type: "message.sent", data: { channel, from, message } })

export const decide = deciderOf<ChannelCommand>()({ Publish: publish })
