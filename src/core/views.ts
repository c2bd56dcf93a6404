import type { BrokerEvent, MessageSent } from "./events.js"
import { firstId, heldCount, type ChannelSnapshot } from "./machines/channel.js"
import { commandStatus, type CommandSnapshot, type CommandStatus } from "./machines/command.js"
import { peerStatus, type PeerSnapshot, type PeerStatus } from "./machines/peer.js"
import type { SignalSnapshot } from "./machines/signal.js"
import type { ProjectState } from "./projectView.js"

/** The shapes clients see. One module so the server, `/status?at=` and the dashboard render alike. */

export interface PeerView {
  readonly id: string
  readonly role: string
  readonly capabilities: ReadonlyArray<string>
  readonly name: string | null
  readonly status: PeerStatus
  readonly connectedAt: string
  readonly lastSeenAt: string
}

export interface CommandView {
  readonly id: string
  readonly from: string
  readonly target: string
  readonly action: string
  readonly params: unknown
  readonly status: CommandStatus
  readonly createdAt: string
  readonly deliveredTo: string | null
  readonly deliveredAt: string | null
  readonly leaseExpiresAt: string | null
  readonly expiresAt: string | null
  readonly deliveries: number
  readonly result: unknown
  readonly ackedAt: string | null
  /** Why it is dead (`lease_expired`, `holder_offline`); null unless it is. */
  readonly deadReason: "lease_expired" | "holder_offline" | null
  /** Why it was held for a person (`approval`, `loop_guard`), kept once approved; null if it never was. */
  readonly heldReason: "approval" | "loop_guard" | null
}

/** One event that moved a command, as `GET /commands/<command-id>` lists it. */
export interface HistoryEntry {
  readonly seq: number
  readonly at: string
  readonly type: string
  /**
   * Who caused it: the sender, the claiming peer, the peer that acked or cancelled, the holder that
   * went offline. Null for the broker's own decisions (a lapsed lease, a ttl) and anonymous callers.
   */
  readonly by: string | null
}

/** A command with how often it was delivered and every event that moved it. */
export interface CommandDetail extends CommandView {
  /** Times delivered (the same count as `deliveries`). */
  readonly attempts: number
  /**
   * Deliveries (since its last redelivery) after which a lapsed lease or a holder going offline
   * makes it dead: this broker's `--max-deliveries`.
   */
  readonly maxDeliveries: number
  readonly history: ReadonlyArray<HistoryEntry>
}

export interface ChannelView {
  readonly name: string
  /** Messages held: ids `firstId` … `lastId`. Retention drops the oldest; until it does, count = lastId. */
  readonly count: number
  readonly firstId: number
  readonly lastId: number
  readonly lastAt: string | null
}

export interface MessageView {
  readonly id: number
  readonly channel: string
  readonly from: string | null
  readonly at: string
  readonly data: unknown
}

export interface SignalView {
  readonly name: string
  readonly fired: boolean
  readonly data: unknown
  readonly firedAt: string | null
  readonly firedBy: string | null
  readonly count: number
}

/** A project in `GET /projects`: what it holds now. */
export interface ProjectSummary {
  readonly name: string
  /** Peers not offline. */
  readonly peers: number
  readonly commands: Readonly<Record<CommandStatus, number>>
  readonly channels: number
  readonly signals: number
}

export const projectSummary = (name: string, state: ProjectState): ProjectSummary => {
  let peers = 0
  for (const peer of state.peers.values()) if (peer.value !== "offline") peers++
  return { name, peers, commands: state.commandCounts(), channels: state.channels.size, signals: state.signals.size }
}

export interface StateView {
  readonly seq: number
  readonly at: string | null
  readonly peers: ReadonlyArray<PeerView>
  readonly commands: ReadonlyArray<CommandView>
  readonly commandCounts: Readonly<Record<CommandStatus, number>>
  readonly channels: ReadonlyArray<ChannelView>
  readonly signals: ReadonlyArray<SignalView>
}

const plus = (at: string | null, ms: number | null): string | null =>
  at === null || ms === null ? null : new Date(Date.parse(at) + ms).toISOString()

export const peerView = (snapshot: PeerSnapshot): PeerView => {
  const { id, role, capabilities, name, connectedAt, lastSeenAt } = snapshot.context
  return { id, role, capabilities, name, status: peerStatus(snapshot), connectedAt, lastSeenAt }
}

export const commandView = (snapshot: CommandSnapshot): CommandView => {
  const c = snapshot.context
  const status = commandStatus(snapshot)
  return {
    id: c.id,
    from: c.from,
    target: c.target,
    action: c.action,
    params: c.params,
    status,
    createdAt: c.createdAt,
    deliveredTo: c.deliveredTo,
    deliveredAt: c.deliveredAt,
    leaseExpiresAt: status === "delivered" ? plus(c.deliveredAt, c.leaseMs) : null,
    expiresAt: plus(c.ttlFrom, c.ttlMs),
    deliveries: c.deliveries,
    result: c.result,
    ackedAt: c.ackedAt,
    deadReason: c.deadReason,
    // Older checkpoints' contexts lack it: they were written before anything could be held.
    heldReason: c.heldReason ?? null
  }
}

const byOf = (event: BrokerEvent): string | null => {
  switch (event.type) {
    case "command.sent":
      return event.data.from
    case "command.delivered":
    case "peer.went_offline":
      return event.data.peerId
    case "command.acked":
    case "command.cancelled":
    case "command.redelivered":
    case "command.approved":
    case "command.rejected":
      return event.data.by
    default:
      return null
  }
}

export const historyEntry = (event: BrokerEvent): HistoryEntry => ({
  seq: event.seq,
  at: event.at,
  type: event.type,
  by: byOf(event)
})

/** `events`: the command's history read from the log (its context's `history` seqs), in log order. */
export const commandDetail = (
  snapshot: CommandSnapshot,
  events: ReadonlyArray<BrokerEvent>,
  maxDeliveries: number
): CommandDetail => ({
  ...commandView(snapshot),
  attempts: snapshot.context.deliveries,
  maxDeliveries,
  history: events.map(historyEntry)
})

export const channelView = (snapshot: ChannelSnapshot): ChannelView => ({
  name: snapshot.context.name,
  count: heldCount(snapshot.context),
  firstId: firstId(snapshot.context),
  lastId: snapshot.context.count,
  lastAt: snapshot.context.lastAt
})

export const messageView = (id: number, event: BrokerEvent & MessageSent): MessageView => ({
  id,
  channel: event.data.channel,
  from: event.data.from,
  at: event.at,
  data: event.data.message
})

export const signalView = (name: string, snapshot: SignalSnapshot | undefined): SignalView =>
  snapshot === undefined
    ? { name, fired: false, data: null, firedAt: null, firedBy: null, count: 0 }
    : {
        name,
        fired: snapshot.value === "fired",
        data: snapshot.context.data,
        firedAt: snapshot.context.firedAt,
        firedBy: snapshot.context.firedBy,
        count: snapshot.context.count
      }

/** Most recent first, as people read a list of commands. */
export const recentCommands = (
  projection: ProjectState,
  limit: number,
  status?: CommandStatus
): Array<CommandView> => {
  const out: Array<CommandView> = []
  if (limit <= 0) return out
  for (const snapshot of projection.recentCommands()) {
    if (status === undefined || commandStatus(snapshot) === status) out.push(commandView(snapshot))
    if (out.length >= limit) break
  }
  return out
}

export const commandCounts = (projection: ProjectState): Record<CommandStatus, number> => projection.commandCounts()

/** The whole state at the projection's position; commands capped to the most recent. */
export const stateView = (projection: ProjectState, recentCommandLimit = 200): StateView => ({
  seq: projection.seq,
  at: projection.at,
  peers: [...projection.peers.values()].map(peerView),
  commands: recentCommands(projection, recentCommandLimit),
  commandCounts: commandCounts(projection),
  channels: [...projection.channels.values()].map(channelView),
  signals: [...projection.signals.entries()].map(([name, s]) => signalView(name, s))
})
