import { assign, setup, type SnapshotFrom } from "xstate"
import type { BrokerEvent, CommandSent } from "../events.js"

export interface CommandContext {
  readonly id: string
  readonly from: string
  readonly target: string
  readonly action: string
  /** A reference to the payload inside the `command.sent` event, not a copy. */
  readonly params: unknown
  readonly ttlMs: number | null
  readonly createdAt: string
  readonly sentSeq: number
  readonly deliveredTo: string | null
  readonly deliveredAt: string | null
  /** The seq of the winning claim: a claimant compares it with its own event to learn if it won. */
  readonly deliveredSeq: number | null
  readonly leaseMs: number | null
  readonly deliveries: number
  readonly result: unknown
  readonly ackedAt: string | null
  readonly settledSeq: number | null
  /**
   * The seqs of the events that moved this command, in log order (a holder going offline counts by
   * its `peer.went_offline`): an index into the log, as a channel's `seqs`, so `GET /commands/<id>`
   * reads its history from the log rather than keeping copies of events.
   */
  readonly history: ReadonlyArray<number>
}

/** The holder of a delivered command went offline: not a log event but a consequence of one. */
export interface HolderGone {
  readonly type: "holder.gone"
  /** The seq of the holder's `peer.went_offline`, for the command's history. */
  readonly seq: number
}

export type CommandEvent =
  | Extract<
      BrokerEvent,
      { type: "command.delivered" | "command.acked" | "command.lease_expired" | "command.expired" | "command.cancelled" }
    >
  | HolderGone

/**
 * One command's lifecycle. Claims and acks that arrive in a state that does not accept them are
 * ignored: that is how "the first in log order wins" falls out of replay.
 */
export const commandMachine = setup({
  types: {
    context: {} as CommandContext,
    events: {} as CommandEvent,
    input: {} as CommandSent["data"] & { readonly at: string; readonly seq: number }
  },
  guards: {
    acknowledgedOk: ({ event }) => event.type === "command.acked" && event.data.ok
  },
  actions: {
    /** On every transition: the event's place in the log joins the command's history. */
    remember: assign({ history: ({ context, event }) => [...context.history, event.seq] }),
    backToPending: assign({ deliveredTo: null, deliveredAt: null, deliveredSeq: null, leaseMs: null }),
    settle: assign(({ event }) =>
      event.type === "command.acked"
        ? { result: event.data.result, ackedAt: event.at, settledSeq: event.seq }
        : event.type === "holder.gone"
          ? {}
          : { settledSeq: event.seq }
    )
  }
}).createMachine({
  id: "command",
  initial: "pending",
  context: ({ input }) => ({
    id: input.commandId,
    from: input.from,
    target: input.target,
    action: input.action,
    params: input.params,
    ttlMs: input.ttlMs,
    createdAt: input.at,
    sentSeq: input.seq,
    deliveredTo: null,
    deliveredAt: null,
    deliveredSeq: null,
    leaseMs: null,
    deliveries: 0,
    result: null,
    ackedAt: null,
    settledSeq: null,
    history: [input.seq]
  }),
  states: {
    pending: {
      on: {
        "command.delivered": {
          target: "delivered",
          actions: [
            "remember",
            assign(({ context, event }) => ({
              deliveredTo: event.data.peerId,
              deliveredAt: event.at,
              deliveredSeq: event.seq,
              leaseMs: event.data.leaseMs,
              deliveries: context.deliveries + 1
            }))
          ]
        },
        "command.acked": [
          { guard: "acknowledgedOk", target: "acked", actions: ["remember", "settle"] },
          { target: "failed", actions: ["remember", "settle"] }
        ],
        "command.expired": { target: "expired", actions: ["remember", "settle"] },
        "command.cancelled": { target: "cancelled", actions: ["remember", "settle"] }
      }
    },
    delivered: {
      on: {
        "command.acked": [
          { guard: "acknowledgedOk", target: "acked", actions: ["remember", "settle"] },
          { target: "failed", actions: ["remember", "settle"] }
        ],
        "command.lease_expired": { target: "pending", actions: ["remember", "backToPending"] },
        "holder.gone": { target: "pending", actions: ["remember", "backToPending"] },
        "command.expired": { target: "expired", actions: ["remember", "settle"] },
        "command.cancelled": { target: "cancelled", actions: ["remember", "settle"] }
      }
    },
    acked: { type: "final" },
    failed: { type: "final" },
    expired: { type: "final" },
    cancelled: { type: "final" }
  }
})

export type CommandSnapshot = SnapshotFrom<typeof commandMachine>
export type CommandStatus = "pending" | "delivered" | "acked" | "failed" | "expired" | "cancelled"
export const commandStatuses: ReadonlyArray<CommandStatus> = [
  "pending",
  "delivered",
  "acked",
  "failed",
  "expired",
  "cancelled"
]
export const commandStatus = (snapshot: CommandSnapshot): CommandStatus => snapshot.value as CommandStatus
export const isSettled = (status: CommandStatus): boolean => status !== "pending" && status !== "delivered"
