import type { ChannelTrimmed, EventDraft } from "../core/events.js"
import { countBelow, heldCount, type ChannelContext } from "../core/machines/channel.js"
import type { ProjectState } from "../core/projectView.js"
import type { BrokerConfigShape } from "./Config.js"

/**
 * How far past a limit a channel may run before it is trimmed: a tenth of the limit (at least 1).
 * Trimming in batches keeps the log from gaining a `channel.trimmed` for every message sent.
 */
export const slackOf = (limit: number): number => Math.max(1, Math.ceil(limit / 10))

type Cut = Pick<ChannelTrimmed["data"], "beforeSeq" | "reason">

/** Keep the newest `max` once more than `max` + slack are held. */
const byCount = (context: ChannelContext, max: number): Cut | undefined => {
  const held = heldCount(context)
  return held > max + slackOf(max) ? { beforeSeq: context.seqs[held - max]!, reason: "max_messages" } : undefined
}

/** Drop what is at least `maxAgeMs` old once the oldest is older than that by the slack. */
const byAge = (context: ChannelContext, now: number, maxAgeMs: number): Cut | undefined => {
  const held = heldCount(context)
  if (held === 0 || now - context.ats[0]! < maxAgeMs + slackOf(maxAgeMs)) return undefined
  const kept = countBelow(context.ats, held, now - maxAgeMs + 1)
  // Everything is old: the bound goes just past the newest message.
  const beforeSeq = kept < held ? context.seqs[kept]! : context.seqs[held - 1]! + 1
  return { beforeSeq, reason: "max_age" }
}

/**
 * The sweeper's retention decisions: at most one `channel.trimmed` per channel, cutting as far as
 * the stricter limit asks. Pure, like `sweepDecisions`: the decision goes into the log, so a replay
 * trims the same messages whatever the limits are set to by then.
 */
export const retentionDecisions = (
  projection: ProjectState,
  now: number,
  config: Pick<BrokerConfigShape, "channelMaxMessages" | "channelMaxAgeMs">
): Array<EventDraft> => {
  const { channelMaxMessages, channelMaxAgeMs } = config
  if (channelMaxMessages === null && channelMaxAgeMs === null) return []
  const decisions: Array<EventDraft> = []
  for (const { context } of projection.channels.values()) {
    const count = channelMaxMessages === null ? undefined : byCount(context, channelMaxMessages)
    const age = channelMaxAgeMs === null ? undefined : byAge(context, now, channelMaxAgeMs)
    // The stricter cut; on a tie, the count's.
    const furthest = count && age ? (age.beforeSeq > count.beforeSeq ? age : count) : (count ?? age)
    if (furthest) decisions.push({ type: "channel.trimmed", data: { channel: context.name, ...furthest } })
  }
  return decisions
}
