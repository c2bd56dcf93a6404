import { Either } from "effect"
import { Conflict, Forbidden, NotFound } from "../errors.js"
import type { EventDraft, HeldReason } from "../events.js"
import { commandStatus, isRedeliverable, isSettled, type CommandSnapshot } from "../machines/command.js"
import { peerStatus } from "../machines/peer.js"
import { decided, deciderOf, unchanged, type Decision, type DecisionState } from "./decision.js"

/** A command for a peer id or a role. Its id is chosen before deciding. */
export interface Send {
  readonly type: "Send"
  readonly commandId: string
  readonly from: string
  readonly target: string
  readonly action: string
  readonly params?: unknown
  readonly ttlMs?: number | null | undefined
  /** The sender's idempotency key, if it gave one. */
  readonly idempotencyKey?: string | undefined
  /** Now, for the 24-hour window of idempotency keys (the broker's clock: a request, not replay). */
  readonly nowMs?: number | undefined
  /** The broker's approval gate; none holds nothing. */
  readonly gate?: Gate | undefined
}

/** Which sends wait for a person: `--require-approval <role>` and the loop guard `--gate-after <n>`. */
export interface Gate {
  /** Roles whose commands (sent to the role, or to a peer id of that role) are held. */
  readonly requireApproval: ReadonlyArray<string>
  /** A sender's sends to one target in a minute beyond this are held; null for no loop guard. */
  readonly gateAfter: number | null
}

/** A waiting peer takes a pending command, held under a lease until it acks. */
export interface Claim {
  readonly type: "Claim"
  readonly commandId: string
  readonly peerId: string
  readonly leaseMs: number
}

/** A command sent to a peer already parked waiting for it: the claim rides in the same append. */
export interface SendAndClaim {
  readonly type: "SendAndClaim"
  readonly send: Omit<Send, "type">
  readonly claimant: string
  readonly leaseMs: number
}

/** `by` is the caller when it names itself as a peer, null for an anonymous caller. */
export interface Ack {
  readonly type: "Ack"
  readonly commandId: string
  readonly ok: boolean
  readonly result: unknown
  readonly by: string | null
}

export interface Cancel {
  readonly type: "Cancel"
  readonly commandId: string
  readonly by: string | null
}

/**
 * A person puts a dead, failed or expired command back to pending. `by` is the caller when it
 * names itself, null for an anonymous caller.
 */
export interface Redeliver {
  readonly type: "Redeliver"
  readonly commandId: string
  readonly by: string | null
}

/** A person lets a held command through (`approve`) or refuses it for good (`reject`). */
export interface Approve {
  readonly type: "Approve"
  readonly commandId: string
  readonly by: string | null
}

export interface Reject {
  readonly type: "Reject"
  readonly commandId: string
  readonly by: string | null
}

export type CommandCommand = Send | Claim | SendAndClaim | Ack | Cancel | Redeliver | Approve | Reject

export const requireCommand = (state: DecisionState, commandId: string): Either.Either<CommandSnapshot, NotFound> => {
  const command = state.commands.get(commandId)
  return command ? Either.right(command) : Either.left(new NotFound({ message: `no command with id '${commandId}'` }))
}

/**
 * Why a send is held for a person, or undefined when it is not: its target is (or is a peer of) a
 * role under `--require-approval`, or its sender already sent `--gate-after` commands to that
 * target in the last minute of the log (a loop of agents ordering each other).
 */
export const heldReason = (send: Omit<Send, "type">, state: DecisionState): HeldReason | undefined => {
  const gate = send.gate
  if (gate === undefined) return undefined
  if (gate.requireApproval.length > 0) {
    const role = state.peers.get(send.target)?.context.role
    if (gate.requireApproval.includes(send.target) || (role !== undefined && gate.requireApproval.includes(role))) return "approval"
  }
  if (gate.gateAfter !== null && state.sendsInLastMinute(send.from, send.target, send.nowMs ?? 0) >= gate.gateAfter) {
    return "loop_guard"
  }
  return undefined
}

const sentDraft = (send: Omit<Send, "type">, held?: HeldReason): EventDraft => ({
  type: "command.sent",
  data: {
    commandId: send.commandId,
    from: send.from,
    target: send.target,
    action: send.action,
    params: send.params ?? null,
    ttlMs: send.ttlMs ?? null,
    // Absent, not null, without a key: the send event of most commands stays as it was.
    ...(send.idempotencyKey === undefined ? {} : { idempotencyKey: send.idempotencyKey }),
    ...(held === undefined ? {} : { held })
  }
})

/** The command an earlier send with the same sender and idempotency key made, within 24 hours. */
export const originalOf = (state: DecisionState, send: Omit<Send, "type">): CommandSnapshot | undefined =>
  send.idempotencyKey === undefined ? undefined : state.idempotentOriginal(send.from, send.idempotencyKey, send.nowMs ?? 0)

/** A repeat of a send (same sender, same idempotency key, within 24 hours) records nothing. */
export const send = (command: Send, state: DecisionState): Decision =>
  originalOf(state, command) === undefined ? decided(sentDraft(command, heldReason(command, state))) : unchanged

/**
 * The first claim in log order wins; a claim by a peer that is not online loses. With several
 * broker nodes, another node's sweeper (which cannot see this node's parked waits) may have found
 * the peer stale: a waiting peer is alive, so its claim says so in the same append rather than
 * losing claim after claim. Whether the command is still pending is not decided here but by log
 * order: the claimant learns from the state whether its claim was the one recorded (`wonClaim`).
 */
export const claim = ({ commandId, peerId, leaseMs }: Omit<Claim, "type">, state: DecisionState): Decision => {
  const peer = state.peers.get(peerId)
  const delivered: EventDraft = { type: "command.delivered", data: { commandId, peerId, leaseMs } }
  return peer && peerStatus(peer) !== "online"
    ? decided({ type: "peer.heartbeat", data: { peerId } }, delivered)
    : decided(delivered)
}

/** One append for the whole hand-over: `command.sent`, then the claim. The caller checked it is not held. */
export const sendAndClaim = ({ send, claimant, leaseMs }: SendAndClaim, state: DecisionState): Decision =>
  Either.map(claim({ commandId: send.commandId, peerId: claimant, leaseMs }, state), (claimDrafts) => [
    sentDraft(send),
    ...claimDrafts
  ])

/**
 * A caller that names itself as a peer may only settle what it holds (or, for a cancel, what it
 * sent); an anonymous caller (a person with curl, the dashboard) may settle anything. A settled
 * command stays settled.
 */
const settle = (
  commandId: string,
  by: string | null,
  verb: "acked" | "cancelled",
  draft: EventDraft,
  state: DecisionState
): Decision<NotFound | Conflict | Forbidden> =>
  Either.flatMap(requireCommand(state, commandId), (command): Decision<Conflict | Forbidden> => {
    const status = commandStatus(command)
    // A dead letter waits for a person: redelivered, or cancelled for good.
    if (isSettled(status) && !(verb === "cancelled" && status === "dead")) {
      return Either.left(new Conflict({ message: `command '${commandId}' is already ${status}; it cannot be ${verb}` }))
    }
    // Nobody holds a held command, so nobody can have done it: only its sender (or a person) may withdraw it.
    if (status === "held" && verb === "acked") {
      return Either.left(new Conflict({ message: `command '${commandId}' is held for a person's approval; it cannot be acked` }))
    }
    const { deliveredTo, from } = command.context
    if (by === null || deliveredTo === null || deliveredTo === by || (verb === "cancelled" && from === by)) {
      return decided(draft)
    }
    return Either.left(
      new Forbidden({ message: `command '${commandId}' is delivered to peer '${deliveredTo}'; '${by}' may not have it ${verb}` })
    )
  })

export const ack = ({ commandId, ok, result, by }: Ack, state: DecisionState) =>
  settle(commandId, by, "acked", { type: "command.acked", data: { commandId, ok, result, by } }, state)

export const cancel = ({ commandId, by }: Cancel, state: DecisionState) =>
  settle(commandId, by, "cancelled", { type: "command.cancelled", data: { commandId, by } }, state)

/**
 * Who may wait for a peer's commands: the peer itself, or an anonymous caller (a person with curl,
 * a supervisor script). A caller that names itself as another peer would take that peer's work.
 */
export const mayWaitFor = (caller: string | null, peerId: string): Either.Either<void, Forbidden> =>
  caller === null || caller === peerId
    ? Either.void
    : Either.left(new Forbidden({ message: `'${caller}' may not wait for the commands of peer '${peerId}'` }))

/**
 * Dead letters are a person's to redeliver: an anonymous caller (the dashboard, the CLI, curl) or
 * one that names no registered peer. A peer — an agent — may not: two agents redelivering what
 * crashes the other would loop for ever, which is what `--max-deliveries` stops.
 */
export const redeliver = ({ commandId, by }: Redeliver, state: DecisionState): Decision<NotFound | Conflict | Forbidden> =>
  Either.flatMap(requireCommand(state, commandId), (command): Decision<Conflict | Forbidden> => {
    if (by !== null && state.peers.has(by)) {
      return Either.left(
        new Forbidden({ message: `'${by}' is a peer; only a person (no X-Peer-Id) may redeliver command '${commandId}'` })
      )
    }
    const status = commandStatus(command)
    return isRedeliverable(status)
      ? decided({ type: "command.redelivered", data: { commandId, by } })
      : Either.left(
          new Conflict({ message: `command '${commandId}' is ${status}; only a dead, failed or expired command can be redelivered` })
        )
  })

/**
 * A held command is a person's to approve or reject, as a dead letter is to redeliver: an agent
 * that could approve would defeat the gate.
 */
const gateDecision =
  (verb: "approved" | "rejected") =>
  ({ commandId, by }: Approve | Reject, state: DecisionState): Decision<NotFound | Conflict | Forbidden> =>
    Either.flatMap(requireCommand(state, commandId), (command): Decision<Conflict | Forbidden> => {
      if (by !== null && state.peers.has(by)) {
        return Either.left(
          new Forbidden({ message: `'${by}' is a peer; only a person (no X-Peer-Id) may have command '${commandId}' ${verb}` })
        )
      }
      const status = commandStatus(command)
      return status === "held"
        ? decided({ type: verb === "approved" ? "command.approved" : "command.rejected", data: { commandId, by } })
        : Either.left(new Conflict({ message: `command '${commandId}' is ${status}, not held; it cannot be ${verb}` }))
    })

export const approve = gateDecision("approved")
export const reject = gateDecision("rejected")

/** Deliveries of a command since its last redelivery: what `--max-deliveries` bounds. */
const spent = (command: CommandSnapshot): number => command.context.deliveries - command.context.budgetFrom

/** A delivered command's lease lapsed: back to pending, or dead once it was delivered `max` times. */
export const leaseLapsed = (command: CommandSnapshot, maxDeliveries: number): EventDraft => {
  const { id: commandId, deliveries } = command.context
  return spent(command) >= maxDeliveries
    ? { type: "command.dead", data: { commandId, reason: "lease_expired", deliveries } }
    : { type: "command.lease_expired", data: { commandId } }
}

/**
 * A peer goes offline: the commands it holds that were delivered `max` times die, in the same
 * append and before its `peer.went_offline` (which returns the rest to pending).
 */
export const deadLetters = (
  state: Pick<DecisionState, "heldBy">,
  peerId: string,
  maxDeliveries: number,
  reason: "holder_offline"
): Array<EventDraft> =>
  state
    .heldBy(peerId)
    .filter((command) => spent(command) >= maxDeliveries)
    .map((command) => ({ type: "command.dead", data: { commandId: command.context.id, reason, deliveries: command.context.deliveries } }))

export const decide = deciderOf<CommandCommand>()({
  Send: send,
  Claim: claim,
  SendAndClaim: sendAndClaim,
  Ack: ack,
  Cancel: cancel,
  Redeliver: redeliver,
  Approve: approve,
  Reject: reject
})

// What the state says once a request's events are applied: races are settled by log order, and a
// request learns from the state whether its event was the one that counted.

/** The oldest pending command a peer may take (by its id or its role), skipping those in `busy`. */
export const nextClaimable = (
  state: DecisionState,
  peerId: string,
  busy: ReadonlySet<string> = new Set()
): CommandSnapshot | undefined => {
  const peer = state.peers.get(peerId)
  if (!peer) return undefined
  for (const command of state.pendingOf(peer.context.id, peer.context.role)) {
    if (!busy.has(command.context.id)) return command
  }
  return undefined
}

/** The state keeps the first claim in log order, so a claim is ours only if it recorded our event. */
export const wonClaim = (state: DecisionState, commandId: string, claimSeq: number): CommandSnapshot | undefined => {
  const command = state.commands.get(commandId)
  return command && command.context.deliveredSeq === claimSeq ? command : undefined
}

/** An ack or cancel appended at `seq` counted only if the state recorded it as the settling event. */
export const settledBy = (
  state: DecisionState,
  commandId: string,
  seq: number
): Either.Either<CommandSnapshot, NotFound | Conflict> =>
  Either.flatMap(requireCommand(state, commandId), (command) =>
    command.context.settledSeq === seq
      ? Either.right(command)
      : Either.left(new Conflict({ message: `command '${commandId}' was ${commandStatus(command)} by another request first` }))
  )

/** A redelivery appended at `seq` counted only if the command's history recorded it. */
export const redeliveredBy = (
  state: DecisionState,
  commandId: string,
  seq: number
): Either.Either<CommandSnapshot, NotFound | Conflict> =>
  Either.flatMap(requireCommand(state, commandId), (command) =>
    command.context.history.includes(seq)
      ? Either.right(command)
      : Either.left(new Conflict({ message: `command '${commandId}' was ${commandStatus(command)} by another request first` }))
  )
