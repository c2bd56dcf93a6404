/**
 * The event catalogue: every fact the broker records. The log is the store of record, so these
 * shapes are a storage format — add fields and types, never change the meaning of existing ones.
 * docs/events.md describes each type for people.
 */

export interface PeerConnected {
  readonly type: "peer.connected"
  readonly data: {
    readonly peerId: string
    readonly role: string
    readonly capabilities: ReadonlyArray<string>
    readonly name: string | null
  }
}
export interface PeerHeartbeat {
  readonly type: "peer.heartbeat"
  readonly data: { readonly peerId: string }
}
export interface PeerWentStale {
  readonly type: "peer.went_stale"
  readonly data: { readonly peerId: string }
}
export interface PeerWentOffline {
  readonly type: "peer.went_offline"
  readonly data: { readonly peerId: string; readonly reason: "timeout" | "disconnected" | "session_closed" }
}

export interface CommandSent {
  readonly type: "command.sent"
  readonly data: {
    readonly commandId: string
    readonly from: string
    readonly target: string
    readonly action: string
    readonly params: unknown
    /** Milliseconds after which a command nobody acked expires; null for never. */
    readonly ttlMs: number | null
    /**
     * The sender's `Idempotency-Key`, absent when it gave none: a repeat with the same key from the
     * same sender within 24 hours is this command, not a new one (the projection ignores a second
     * `command.sent` with it, so the first in log order wins).
     */
    readonly idempotencyKey?: string
    /**
     * Why the command is held for a person's approval, absent when it is not (most commands, and
     * every command of a log written before the gate): `approval` for a target under
     * `--require-approval`, `loop_guard` for a sender past `--gate-after` sends a minute to it.
     * Decided when it was sent and recorded here, so replay never depends on today's flags.
     */
    readonly held?: HeldReason
  }
}
export type HeldReason = "approval" | "loop_guard"
/** A person let a held command through: it is pending (deliverable) from here. */
export interface CommandApproved {
  readonly type: "command.approved"
  readonly data: { readonly commandId: string; readonly by: string | null }
}
/** A person refused a held command: it is `rejected`, an end, and never delivered. */
export interface CommandRejected {
  readonly type: "command.rejected"
  readonly data: { readonly commandId: string; readonly by: string | null }
}
/** A claim: the first `command.delivered` for a pending command in log order wins. */
export interface CommandDelivered {
  readonly type: "command.delivered"
  readonly data: { readonly commandId: string; readonly peerId: string; readonly leaseMs: number }
}
export interface CommandAcked {
  readonly type: "command.acked"
  readonly data: { readonly commandId: string; readonly ok: boolean; readonly result: unknown; readonly by: string | null }
}
/** The holder kept a command past its lease without acking it: it returns to pending. */
export interface CommandLeaseExpired {
  readonly type: "command.lease_expired"
  readonly data: { readonly commandId: string }
}
export interface CommandExpired {
  readonly type: "command.expired"
  readonly data: { readonly commandId: string }
}
/**
 * A command delivered `deliveries` times, whose holder let the lease lapse or went offline once
 * more with the broker's `--max-deliveries` reached: it stops being redelivered (a dead letter)
 * until a person redelivers it. Decided by the sweeper or the disconnect, appended instead of the
 * return to pending.
 */
export interface CommandDead {
  readonly type: "command.dead"
  readonly data: {
    readonly commandId: string
    readonly reason: "lease_expired" | "holder_offline"
    readonly deliveries: number
  }
}
/** A person put a dead, failed or expired command back to pending; its history stays. */
export interface CommandRedelivered {
  readonly type: "command.redelivered"
  readonly data: { readonly commandId: string; readonly by: string | null }
}
export interface CommandCancelled {
  readonly type: "command.cancelled"
  readonly data: { readonly commandId: string; readonly by: string | null }
}

export interface MessageSent {
  readonly type: "message.sent"
  readonly data: {
    readonly channel: string
    readonly from: string | null
    readonly message: unknown
    /**
     * The sender's `Idempotency-Key`, absent when it gave none: a repeat on the same channel from the
     * same sender within 24 hours is this message (a second `message.sent` with it is ignored).
     */
    readonly idempotencyKey?: string
  }
}

/**
 * Retention, decided by the sweeper: the channel drops (from the projection, not from the log) every
 * message whose `message.sent` has a seq below `beforeSeq`. A seq rather than a message id, so a
 * trim that lands after a reset cannot touch the new channel, whose messages all come later.
 */
export interface ChannelTrimmed {
  readonly type: "channel.trimmed"
  readonly data: {
    readonly channel: string
    readonly beforeSeq: number
    readonly reason: "max_messages" | "max_age"
  }
}

export interface SignalFired {
  readonly type: "signal.fired"
  readonly data: { readonly name: string; readonly data: unknown; readonly by: string | null }
}
export interface SignalCleared {
  readonly type: "signal.cleared"
  readonly data: { readonly name: string }
}

export interface BrokerReset {
  readonly type: "broker.reset"
  readonly data: { readonly by: string | null }
}

/**
 * The global admin minted a scoped token. Only the sha-256 of its secret is recorded: the secret is
 * shown once, in the answer to the mint, and a log (or an export of it) never holds a credential.
 * `boundRole` (agent tokens only) limits the peers its requests may connect or act as to that role.
 */
export interface TokenMinted {
  readonly type: "token.minted"
  readonly data: {
    readonly name: string
    readonly project: string
    readonly role: "viewer" | "agent" | "admin"
    readonly hash: string
    readonly boundRole?: string
  }
}
/** The token stops working at once, on every node that follows the log. */
export interface TokenRevoked {
  readonly type: "token.revoked"
  readonly data: { readonly name: string }
}

/** What a writer hands to the log: the log assigns `seq` and `at`. */
/**
 * An event before the log stores it. `project` names the project it is of (src/core/projects.ts);
 * events of project `default` have none, as every event had before projects existed.
 */
export type EventDraft = EventBody & { readonly project?: string | undefined }

export type EventBody =
  | PeerConnected
  | PeerHeartbeat
  | PeerWentStale
  | PeerWentOffline
  | CommandSent
  | CommandDelivered
  | CommandAcked
  | CommandLeaseExpired
  | CommandExpired
  | CommandCancelled
  | CommandDead
  | CommandRedelivered
  | CommandApproved
  | CommandRejected
  | MessageSent
  | ChannelTrimmed
  | SignalFired
  | SignalCleared
  | BrokerReset
  | TokenMinted
  | TokenRevoked

export type EventType = EventDraft["type"]

/** A draft as the log stores it, at `seq` and `at`; `project` only where the draft has one. */
export const storedAt = (seq: number, at: string, draft: EventDraft): BrokerEvent =>
  (draft.project === undefined
    ? { seq, at, type: draft.type, data: draft.data }
    : { seq, at, project: draft.project, type: draft.type, data: draft.data }) as BrokerEvent

/** What a log writes of a draft besides its seq and time: its project (if any), type and data. */
export const bodyOf = (draft: EventDraft): { readonly project?: string; readonly type: string; readonly data: object } =>
  draft.project === undefined ? { type: draft.type, data: draft.data } : { project: draft.project, type: draft.type, data: draft.data }

/** An event as stored: dense `seq` from 1, `at` an ISO-8601 UTC timestamp that never goes backwards. */
export type BrokerEvent = EventDraft & { readonly seq: number; readonly at: string }

export const eventTypes: ReadonlyArray<EventType> = [
  "peer.connected",
  "peer.heartbeat",
  "peer.went_stale",
  "peer.went_offline",
  "command.sent",
  "command.delivered",
  "command.acked",
  "command.lease_expired",
  "command.expired",
  "command.cancelled",
  "command.dead",
  "command.redelivered",
  "command.approved",
  "command.rejected",
  "message.sent",
  "channel.trimmed",
  "signal.fired",
  "signal.cleared",
  "broker.reset",
  "token.minted",
  "token.revoked"
]

const knownTypes = new Set<string>(eventTypes)

/** A stored record of any type, this version's or a newer one's. */
export interface StoredEvent {
  readonly project?: string | undefined
  readonly seq: number
  readonly at: string
  readonly type: string
  readonly data: object
}

/**
 * Structural check of a stored record. Crash recovery uses it to find the valid prefix: it accepts
 * types this version does not know, so that running an older broker on a newer log never cuts the
 * log at the first unfamiliar event (the projection ignores those).
 */
export const isStoredEvent = (value: unknown): value is StoredEvent => {
  if (typeof value !== "object" || value === null) return false
  const e = value as Record<string, unknown>
  return (
    typeof e.seq === "number" &&
    Number.isSafeInteger(e.seq) &&
    e.seq >= 1 &&
    typeof e.at === "string" &&
    typeof e.type === "string" &&
    typeof e.data === "object" &&
    e.data !== null &&
    (e.project === undefined || typeof e.project === "string")
  )
}

/** A stored record of a type this version knows. The dashboard checks imported files with it. */
export const isBrokerEvent = (value: unknown): value is BrokerEvent =>
  isStoredEvent(value) && knownTypes.has(value.type)
