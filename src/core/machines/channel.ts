import { assign, setup, type SnapshotFrom } from "xstate"
import type { MessageSent } from "../events.js"

/**
 * Where message `id` of a channel lives in the log: `seqs[id - 1]`. The array is append-only and
 * shared between snapshots; a snapshot sees only its first `count` entries. That keeps a send O(1)
 * and lets old snapshots (checkpoints, time travel) stay valid without copying the history.
 */
export type SeqIndex = Array<number>

export interface ChannelContext {
  readonly name: string
  readonly count: number
  readonly lastAt: string | null
  readonly seqs: SeqIndex
}

const appendSeq = (seqs: SeqIndex, count: number, seq: number): SeqIndex => {
  // Another snapshot already extended this array (we are replaying from an older one): diverge.
  const own = seqs.length === count ? seqs : seqs.slice(0, count)
  own.push(seq)
  return own
}

/** A named message stream. Messages stay in the log; the channel keeps where they are. */
export const channelMachine = setup({
  types: {
    context: {} as ChannelContext,
    events: {} as MessageSent & { readonly seq: number; readonly at: string },
    input: {} as { readonly name: string }
  }
}).createMachine({
  id: "channel",
  initial: "open",
  context: ({ input }) => ({ name: input.name, count: 0, lastAt: null, seqs: [] }),
  states: {
    open: {
      on: {
        "message.sent": {
          actions: assign(({ context, event }) => ({
            seqs: appendSeq(context.seqs, context.count, event.seq),
            count: context.count + 1,
            lastAt: event.at
          }))
        }
      }
    }
  }
})

export type ChannelSnapshot = SnapshotFrom<typeof channelMachine>
