import { assign, setup, type SnapshotFrom } from "xstate"
import type { ChannelTrimmed, MessageSent } from "../events.js"

/**
 * Where the held messages of a channel live in the log, oldest first: message id `trimmed + 1 + i`
 * is at seq `seqs[i]`, sent at `ats[i]` (epoch ms). The arrays are append-only and shared between
 * snapshots; a snapshot sees only its first `count - trimmed` entries. That keeps a send O(1) and
 * lets old snapshots (checkpoints, time travel) stay valid without copying the history. A trim
 * copies what is kept into fresh arrays, so the dropped front can be collected.
 */
export type SeqIndex = Array<number>

export interface ChannelContext {
  readonly name: string
  /** Messages ever sent: the newest message id. */
  readonly count: number
  /** Messages dropped from the front by retention: ids 1 … trimmed are gone. */
  readonly trimmed: number
  readonly lastAt: string | null
  readonly seqs: SeqIndex
  /** The time (epoch ms) of each held message: the sweeper's age limit needs it without reading the log. */
  readonly ats: Array<number>
  /** Messages sent with an idempotency key in the last 24 hours (by the log's times): few, usually none. */
  readonly keys: ReadonlyArray<KeyedMessage>
}

/** A message sent with an idempotency key: where it is, so a repeat can be answered with it. */
export interface KeyedMessage {
  readonly from: string | null
  readonly key: string
  readonly id: number
  readonly seq: number
  /** Epoch ms. */
  readonly at: number
}

/** How long an idempotency key names its message (as for commands). */
const keyWindowMs = 24 * 60 * 60 * 1000

/** The message a sender's key names on this channel, if it was sent within 24 hours of `nowMs`. */
export const keyedMessage = (context: ChannelContext, from: string | null, key: string, nowMs: number): KeyedMessage | undefined =>
  // `?? []`: a channel restored from a checkpoint written before keys existed.
  (context.keys ?? []).find((k) => k.key === key && k.from === from && nowMs - k.at < keyWindowMs)

type ChannelEvent = (MessageSent | ChannelTrimmed) & { readonly seq: number; readonly at: string }

/** Messages the channel still holds (readable): ids `firstId(context)` … `count`. */
export const heldCount = (context: ChannelContext): number => context.count - context.trimmed

/** The oldest id still held; `count + 1` when retention dropped them all. */
export const firstId = (context: ChannelContext): number => context.trimmed + 1

/** The seqs of the held messages this snapshot can see, oldest first. */
export const heldSeqs = (context: ChannelContext): Array<number> => context.seqs.slice(0, heldCount(context))

/** The message id of the `message.sent` at `seq`, if the channel still holds it. */
export const messageIdAt = (context: ChannelContext, seq: number): number | undefined => {
  const held = heldCount(context)
  const i = countBelow(context.seqs, held, seq)
  return i < held && context.seqs[i] === seq ? context.trimmed + 1 + i : undefined
}

/** How many of the first `held` entries of an ascending index are below `bound` (a binary search). */
export const countBelow = (index: ReadonlyArray<number>, held: number, bound: number): number => {
  let lo = 0
  let hi = held
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (index[mid]! < bound) lo = mid + 1
    else hi = mid
  }
  return lo
}

const append = (index: Array<number>, held: number, value: number): Array<number> => {
  // Another snapshot already extended this array (we are replaying from an older one): diverge.
  const own = index.length === held ? index : index.slice(0, held)
  own.push(value)
  return own
}

const droppedBy = (context: ChannelContext, event: ChannelTrimmed): number =>
  countBelow(context.seqs, heldCount(context), event.data.beforeSeq)

/** A named message stream. Messages stay in the log; the channel keeps where they are. */
export const channelMachine = setup({
  types: {
    context: {} as ChannelContext,
    events: {} as ChannelEvent,
    input: {} as { readonly name: string }
  },
  guards: {
    // A trim that finds nothing older than its bound (decided twice, or before a reset) changes nothing.
    dropsSomething: ({ context, event }) => event.type === "channel.trimmed" && droppedBy(context, event) > 0
  }
}).createMachine({
  id: "channel",
  initial: "open",
  context: ({ input }) => ({ name: input.name, count: 0, trimmed: 0, lastAt: null, seqs: [], ats: [], keys: [] }),
  states: {
    open: {
      on: {
        "message.sent": {
          actions: assign(({ context, event }) => {
            const at = Date.parse(event.at)
            const next = {
              seqs: append(context.seqs, heldCount(context), event.seq),
              ats: append(context.ats, heldCount(context), at),
              count: context.count + 1,
              lastAt: event.at
            }
            const key = event.type === "message.sent" ? event.data.idempotencyKey : undefined
            if (key === undefined) return next
            // Keys older than the window name nothing any more: dropped as new ones come.
            const kept = (context.keys ?? []).filter((k) => at - k.at < keyWindowMs)
            return { ...next, keys: [...kept, { from: event.data.from, key, id: context.count + 1, seq: event.seq, at }] }
          })
        },
        "channel.trimmed": {
          guard: "dropsSomething",
          actions: assign(({ context, event }) => {
            const dropped = droppedBy(context, event as ChannelTrimmed)
            const held = heldCount(context)
            return {
              seqs: context.seqs.slice(dropped, held),
              ats: context.ats.slice(dropped, held),
              trimmed: context.trimmed + dropped
            }
          })
        }
      }
    }
  }
})

export type ChannelSnapshot = SnapshotFrom<typeof channelMachine>
