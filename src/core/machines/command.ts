import { assign, setup, type SnapshotFrom } from "xstate"
import type { BrokerEvent, CommandSent, HeldReason } from "../events.js"

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
  /** `deliveries` when it was last redelivered (0 before): `--max-deliveries` counts from there. */
  readonly budgetFrom: number
  /** Why it is dead (`command.dead`'s reason); null while it is not. */
  readonly deadReason: "lease_expired" | "holder_offline" | null
  /** Where its ttl runs from: when it was sent, or last redelivered. */
  readonly ttlFrom: string
  /** The sender's idempotency key, null when it gave none. */
  readonly idempotencyKey: string | null
  /** Why it was held for approval (`command.sent`'s `held`), kept after it is approved; null if never held. */
  readonly heldReason: HeldReason | null
}

/** The holder of a delivered command went offline: not a log event but a consequence of one. */
export interface HolderGone {
  readonly type: "holder.gone"
  /** The seq of the holder's `peer.went_offline`, for the command's history. */
  readonly seq: number
}

/**
 * The command was sent held (`command.sent` with `held`): not a log event of its own but a
 * consequence of that one, so its seq is already in the history.
 */
export interface SentHeld {
  readonly type: "sent.held"
}

export type CommandEvent =
  | Extract<
      BrokerEvent,
      {
        type:
          | "command.delivered"
          | "command.acked"
          | "command.lease_expired"
          | "command.expired"
          | "command.cancelled"
          | "command.dead"
          | "command.redelivered"
          | "command.approved"
          | "command.rejected"
      }
    >
  | HolderGone
  | SentHeld

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
    remember: assign({ history: ({ context, event }) => (event.type === "sent.held" ? context.history : [...context.history, event.seq]) }),
    backToPending: assign({ deliveredTo: null, deliveredAt: null, deliveredSeq: null, leaseMs: null }),
    die: assign(({ event }) => (event.type === "command.dead" ? { deadReason: event.data.reason, settledSeq: event.seq } : {})),
    /** Back to pending from an end: a fresh delivery budget and ttl, the history kept. */
    reopen: assign(({ context, event }) => ({
      deliveredTo: null,
      deliveredAt: null,
      deliveredSeq: null,
      leaseMs: null,
      result: null,
      ackedAt: null,
      settledSeq: null,
      deadReason: null,
      budgetFrom: context.deliveries,
      ttlFrom: event.type === "command.redelivered" ? event.at : context.ttlFrom
    })),
    settle: assign(({ event }) =>
      event.type === "command.acked"
        ? { result: event.data.result, ackedAt: event.at, settledSeq: event.seq }
        : event.type === "holder.gone" || event.type === "sent.held"
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
    history: [input.seq],
    budgetFrom: 0,
    deadReason: null,
    ttlFrom: input.at,
    idempotencyKey: input.idempotencyKey ?? null,
    heldReason: input.held ?? null
  }),
  states: {
    pending: {
      on: {
        // Only ever right after `command.sent`: the projection steps a held send here at once.
        "sent.held": { target: "held" },
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
        "command.dead": { target: "dead", actions: ["remember", "die"] },
        "command.expired": { target: "expired", actions: ["remember", "settle"] },
        "command.cancelled": { target: "cancelled", actions: ["remember", "settle"] }
      }
    },
    // Waits for a person: no claim takes it (it is in no pending queue) and no ttl runs out on it.
    held: {
      on: {
        "command.approved": { target: "pending", actions: ["remember"] },
        "command.rejected": { target: "rejected", actions: ["remember", "settle"] },
        "command.cancelled": { target: "cancelled", actions: ["remember", "settle"] }
      }
    },
    rejected: { type: "final" },
    acked: { type: "final" },
    // Ends a person may undo: redelivered, they are pending again.
    failed: { on: { "command.redelivered": { target: "pending", actions: ["remember", "reopen"] } } },
    expired: { on: { "command.redelivered": { target: "pending", actions: ["remember", "reopen"] } } },
    dead: {
      on: {
        "command.redelivered": { target: "pending", actions: ["remember", "reopen"] },
        "command.cancelled": { target: "cancelled", actions: ["remember", "settle"] }
      }
    },
    cancelled: { type: "final" }
  }
})

export type CommandSnapshot = SnapshotFrom<typeof commandMachine>
export type CommandStatus =
  | "pending"
  | "delivered"
  | "acked"
  | "failed"
  | "expired"
  | "cancelled"
  | "dead"
  | "held"
  | "rejected"
export const commandStatuses: ReadonlyArray<CommandStatus> = [
  "pending",
  "delivered",
  "acked",
  "failed",
  "expired",
  "cancelled",
  "dead",
  "held",
  "rejected"
]
export const commandStatus = (snapshot: CommandSnapshot): CommandStatus => snapshot.value as CommandStatus
/**
 * Not pending, delivered or held: a result wait ends. Failed, expired and dead may still be
 * redelivered; a held command is still to be decided, so its sender keeps waiting.
 */
export const isSettled = (status: CommandStatus): boolean => status !== "pending" && status !== "delivered" && status !== "held"
/** The ends a person may undo with a redelivery. */
export const isRedeliverable = (status: CommandStatus): boolean => status === "dead" || status === "failed" || status === "expired"

/** How long a sender's idempotency key names its command: a repeat after this is a new command. */
export const idempotencyWindowMs = 24 * 60 * 60 * 1000
