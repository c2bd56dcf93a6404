import { assign, setup, type SnapshotFrom } from "xstate"
import type { BrokerEvent, PeerConnected } from "../events.js"

export interface PeerContext {
  readonly id: string
  readonly role: string
  readonly capabilities: ReadonlyArray<string>
  readonly name: string | null
  readonly connectedAt: string
  readonly lastSeenAt: string
}

type PeerEvent = Extract<
  BrokerEvent,
  { type: "peer.connected" | "peer.heartbeat" | "peer.went_stale" | "peer.went_offline" }
>

/**
 * A peer's presence. Staleness is decided outside (the sweeper appends `peer.went_stale`), so the
 * machine has no timers and replays the same way forever.
 */
export const peerMachine = setup({
  types: {
    context: {} as PeerContext,
    events: {} as PeerEvent,
    input: {} as PeerConnected["data"] & { readonly at: string }
  },
  actions: {
    /** The projection turns this into "the commands this peer held go back to pending". */
    releaseHeldCommands: () => {}
  }
}).createMachine({
  id: "peer",
  initial: "online",
  context: ({ input }) => ({
    id: input.peerId,
    role: input.role,
    capabilities: input.capabilities,
    name: input.name,
    connectedAt: input.at,
    lastSeenAt: input.at
  }),
  on: {
    "peer.connected": {
      target: ".online",
      actions: assign(({ event }) =>
        event.type === "peer.connected"
          ? {
              role: event.data.role,
              capabilities: event.data.capabilities,
              name: event.data.name,
              connectedAt: event.at,
              lastSeenAt: event.at
            }
          : {}
      )
    },
    "peer.heartbeat": { target: ".online", actions: assign({ lastSeenAt: ({ event }) => event.at }) }
  },
  states: {
    online: { on: { "peer.went_stale": "stale", "peer.went_offline": "offline" } },
    stale: { on: { "peer.went_offline": "offline" } },
    offline: { entry: "releaseHeldCommands" }
  }
})

export type PeerSnapshot = SnapshotFrom<typeof peerMachine>
export type PeerStatus = "online" | "stale" | "offline"
export const peerStatus = (snapshot: PeerSnapshot): PeerStatus => snapshot.value as PeerStatus
