import { assign, setup, type SnapshotFrom } from "xstate"
import type { SignalCleared, SignalFired } from "../events.js"

export interface SignalContext {
  readonly name: string
  readonly data: unknown
  readonly firedAt: string | null
  readonly firedBy: string | null
  readonly count: number
}

type SignalEvent = (SignalFired | SignalCleared) & { readonly seq: number; readonly at: string }

/** A named event: armed until fired; firing again updates it; clearing re-arms it from scratch. */
export const signalMachine = setup({
  types: {
    context: {} as SignalContext,
    events: {} as SignalEvent,
    input: {} as { readonly name: string }
  }
}).createMachine({
  id: "signal",
  initial: "armed",
  context: ({ input }) => ({ name: input.name, data: null, firedAt: null, firedBy: null, count: 0 }),
  on: {
    "signal.fired": {
      target: ".fired",
      actions: assign(({ context, event }) =>
        event.type === "signal.fired"
          ? { data: event.data.data, firedAt: event.at, firedBy: event.data.by, count: context.count + 1 }
          : {}
      )
    },
    "signal.cleared": {
      target: ".armed",
      actions: assign({ data: null, firedAt: null, firedBy: null, count: 0 })
    }
  },
  states: { armed: {}, fired: {} }
})

export type SignalSnapshot = SnapshotFrom<typeof signalMachine>
